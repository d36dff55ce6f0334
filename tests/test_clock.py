"""The test clock is one clock: child processes and PostgreSQL read the time the tests read.

`make test-clock` moves the clock of every process with libfaketime; these checks
make sure it really reached the node/coordinator subprocesses and the database,
so the period the tests compute is the period the node charges.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from typing import Any

import pytest
from sqlalchemy import create_engine, text

pytestmark = [pytest.mark.processes, pytest.mark.postgres]  # real processes and PostgreSQL: left out of `make test-fast`

SKEW = 30  # seconds; process start-up on a busy machine, never a day


def test_a_child_process_reads_the_same_clock() -> None:
    before = time.time()
    out = subprocess.run([sys.executable, "-c", "import time; print(time.time())"],
                         capture_output=True, text=True, timeout=60, check=True)
    assert before - 0.01 <= float(out.stdout) <= time.time() + 0.01  # read between our two readings


def test_postgresql_reads_the_same_clock(postgres: Any) -> None:
    engine = create_engine(postgres.url())
    try:
        with engine.connect() as conn:
            database = float(conn.execute(text("SELECT extract(epoch FROM clock_timestamp())")).scalar_one())
    finally:
        engine.dispose()
    assert abs(database - time.time()) < SKEW


def test_sleeps_and_timed_waits_last_as_long_as_asked() -> None:
    # under libfaketime a wrongly moved monotonic clock makes these fail at once or hang for weeks
    held = threading.Lock()
    held.acquire()
    for wait in (lambda: time.sleep(0.2), lambda: threading.Event().wait(0.2), lambda: held.acquire(timeout=0.2)):
        started = time.monotonic()
        wait()
        assert 0.19 <= time.monotonic() - started < 5
