"""openmined-psi's PSI cardinality on the bench sets, run in a venv of its own.

openmined-psi 2.0.6 requires protobuf==6.30.2 and we run protobuf 7, so it lives
in .venv-openmined (`make bench-peer-openmined`, made here on first use) and runs as a
child process: the two sets go over in a temporary JSON file, the child times
the protocol and prints its seconds and the cardinality as JSON.

    python -m bench.openmined_peer 20000
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from synth.bsn import valid_bsns

VENV = ROOT / ".venv-openmined"
PYTHON = VENV / "bin" / "python"
STAMP = VENV / ".installed"  # written by `make bench-peer-openmined` once the import works

# Runs under .venv-openmined/bin/python; the protocol calls are those bench/psi.py made in-process.
CHILD = r"""
import json, sys, time
import private_set_intersection.python as om
with open(sys.argv[1]) as f:
    anchor_set, other_set = json.load(f)
started = time.perf_counter()
client, server = om.client.CreateWithNewKey(False), om.server.CreateWithNewKey(False)
setup = server.CreateSetupMessage(1e-9, len(anchor_set), other_set, om.DataStructure.RAW)
request = client.CreateRequest(anchor_set)
response = server.ProcessRequest(request)
found = client.GetIntersectionSize(setup, response)
elapsed = time.perf_counter() - started
print(json.dumps({"seconds": elapsed, "cardinality": found}))
"""


class Timing(NamedTuple):
    seconds: float  # client request → server setup + response → client cardinality, timed in the child
    cardinality: int  # checked equal to the true intersection size


def sets(size: int, seed: int = 7) -> tuple[list[str], list[str]]:
    """The sets of bench/psi.py: anchor `size` persons, other `size` persons, half shared."""
    stream = valid_bsns(seed)
    pool = [next(stream) for _ in range(size + size // 2)]
    return pool[:size], pool[size // 2:]


def ensure_venv() -> bool:
    """Make .venv-openmined if it is missing; False (with the reason on stderr) if that fails."""
    if STAMP.exists():
        return True
    print("openmined-psi: making .venv-openmined (make bench-peer-openmined)", file=sys.stderr)
    try:
        done = subprocess.run(["make", "-C", str(ROOT), "bench-peer-openmined"], stdout=sys.stderr, check=False)
    except OSError as exc:
        print(f"openmined-psi comparison skipped: cannot run make bench-peer-openmined: {exc}", file=sys.stderr)
        return False
    if done.returncode != 0 or not STAMP.exists():
        print(f"openmined-psi comparison skipped: make bench-peer-openmined failed (exit {done.returncode})",
              file=sys.stderr)
        return False
    return True


def measure(size: int, seed: int = 7) -> Timing | None:
    """openmined-psi's PSI cardinality (exact, semi-honest) on the bench sets of `size`.

    None only when .venv-openmined cannot be made; a failing or inexact run raises.
    """
    if not ensure_venv():
        return None
    anchor_set, other_set = sets(size, seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sets.json"
        path.write_text(json.dumps([anchor_set, other_set]))
        done = subprocess.run([str(PYTHON), "-c", CHILD, str(path)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"openmined-psi child failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    expected = len(set(anchor_set) & set(other_set))
    if result["cardinality"] != expected:
        raise RuntimeError(f"openmined-psi cardinality {result['cardinality']} != true {expected}")
    return Timing(float(result["seconds"]), int(result["cardinality"]))


if __name__ == "__main__":
    print(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000))
