"""Time `python -m synth --scale 10` and report persons/s and peak RSS.

Usage: .venv/bin/python bench/synth_scale.py [SCALE]   (default 10; not run by the tests)
"""
from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from synth.manifest import Manifest


def main() -> None:
    scale = sys.argv[1] if len(sys.argv) > 1 else "10"
    with tempfile.TemporaryDirectory(prefix="synth-bench-") as out:
        started = time.monotonic()
        subprocess.run([sys.executable, "-m", "synth", "--out", out, "--scale", scale, "--quiet"], check=True)
        seconds = time.monotonic() - started
        persons = Manifest.load(Path(out)).persons
        size = sum(p.stat().st_size for p in Path(out).iterdir())
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"scale {scale}: {persons} persons in {seconds:.1f}s = {persons / seconds:.0f} persons/s; "
          f"peak RSS {peak_kb / 1024:.0f} MiB; output {size / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
