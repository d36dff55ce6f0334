"""Loaded into every Python process of `make test-clock` (scripts/test-clock.sh puts this folder on PYTHONPATH).

Debian's libfaketime 0.9.10 moves CLOCK_REALTIME only when told FAKETIME_DONT_FAKE_MONOTONIC=1,
which the suite needs: with a faked monotonic clock, CPython's timed lock waits (sem_clockwait,
not intercepted by 0.9.10) sleep for the whole offset, weeks. But 0.9.10 then converts absolute
CLOCK_MONOTONIC deadlines of clock_nanosleep as if they were faked wall-clock times, so CPython's
time.sleep fails with EINVAL. This replaces time.sleep with a relative wait that libfaketime leaves
alone; nothing else changes, and outside `make test-clock` this file is never on the path.
"""

import os
import select
import time

if os.environ.get("FAKETIME") and "libfaketime" in os.environ.get("LD_PRELOAD", ""):
    _monotonic = time.monotonic

    def _sleep(seconds: float) -> None:
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")
        deadline = _monotonic() + seconds
        while (left := deadline - _monotonic()) > 0:
            select.select([], [], [], left)

    _sleep.__doc__ = time.sleep.__doc__
    time.sleep = _sleep
