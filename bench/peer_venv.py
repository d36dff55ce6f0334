"""A benchmark peer's own virtual environment, made by its make target on first use.

The peers' pins conflict with ours (protobuf 6, SQLAlchemy 2.1, psycopg2), so each
lives in a venv of its own that a Makefile target makes and stamps; a bench calls
`ensure` before it measures, so a fresh clone compares instead of printing n/a.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# make target → the venv it makes (each target's recipe touches <venv>/.installed once the peer imports)
TARGETS = {
    "bench-peer-openmined": ROOT / ".venv-openmined",
    "bench-peer-smartnoise": ROOT / ".venv-smartnoise",
    "bench-peer-flower": ROOT / ".venv-flower",
}


def ensure(target: str) -> Path:
    """Run `make <target>` (a no-op once made) and return the venv's bin folder.

    Raises SystemExit with one sentence if the venv cannot be made: a comparison
    that cannot run stops the bench rather than printing n/a.
    """
    venv = TARGETS[target]
    if not (venv / ".installed").exists():
        print(f"making {venv.name} (make {target}) …", file=sys.stderr, flush=True)
    try:
        done = subprocess.run(["make", "-C", str(ROOT), "--no-print-directory", target],
                              stdout=sys.stderr, check=False)
    except OSError as exc:
        raise SystemExit(f"cannot run `make {target}` ({exc}); install make, or run it by hand in {ROOT}.") from exc
    if done.returncode != 0 or not (venv / ".installed").exists():
        raise SystemExit(f"`make {target}` failed (exit {done.returncode}); run it by hand in {ROOT} to see why, "
                         "it needs PyPI and python3-venv.")
    return venv / "bin"
