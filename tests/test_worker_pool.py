"""The node's worker processes (linked-count group operations) exit with the node, even when the
node is killed with SIGKILL and runs no clean-up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

STARTER = """
import sys
from regiozicht.group import GroupPool
import pytest

pytestmark = pytest.mark.processes  # starts real processes: left out of `make test-fast`
pool = GroupPool(2).start()
print(" ".join(str(pid) for pid in pool.executor._processes), flush=True)
sys.stdin.read()
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is gone for our purpose
        return stat.read().split()[2] != "Z"


def test_workers_exit_when_the_node_is_killed() -> None:
    node = subprocess.Popen([sys.executable, "-c", STARTER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert node.stdout is not None
    workers = [int(pid) for pid in node.stdout.readline().split()]
    assert len(workers) == 2 and all(_alive(pid) for pid in workers)
    node.send_signal(signal.SIGKILL)
    node.wait()
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers), "worker processes outlived the killed node"
