"""The monitor's site for the shipped monitor (deploy/monitor.toml): build time and size.

The run documents are real: the shipped monitor is run (analyst.monitor_run.run, as `regiozicht
monitor run` does) over the synthetic region of five gemeenten with all its partner nodes as
processes, at five quarters (1 October 2025 to 1 October 2026), and stored in a history folder (one
JSON per peildatum, analyst/monitor_history.py). A later call with the same --history reuses the
stored runs. Only building the site from the stored runs is timed.

Usage: .venv/bin/python bench/site.py [--history DIR] [--out DIR] [--scale 0.05]
Last line: build_s=… size_mb=…   (target: build_s ≤ 10)
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analyst import monitor as m
from analyst import monitor_history
from analyst.site import build_site

PERIODS = ("2025-10-15", "2026-01-15", "2026-04-15", "2026-07-15", "2026-10-15")


def run_region(history: Path, work: Path, scale: float) -> None:
    """Runs the shipped monitor at each period over a fresh synthetic region and stores the runs."""
    from analyst.client import AnalystClient, Profile
    from analyst.monitor_run import run
    from demo import synthregion
    from demo.region import RunningRegion, build
    from synth.generate import generate

    manifest = generate(work / "data", scale=scale, seed=7, gemeenten=5)
    partners = synthregion.partners(work / "data", manifest)
    files = build(work / "region", partners)
    region = RunningRegion(files)
    region.start()
    try:
        region.wait_until_online({p.org for p in partners}, timeout=180)
        monitor = m.load(ROOT / "deploy" / "monitor.toml")
        labels = {"gemeente": {g.code: g.name for g in manifest_gemeenten(manifest)}}
        client = AnalystClient(Profile.load(files.profile))
        try:
            nodes = client.catalog()
            for at in PERIODS:
                started = time.perf_counter()
                document = run(client, monitor, nodes, dt.date.fromisoformat(at))
                path = monitor_history.save({**document, "labels": labels}, history)
                print(f"ran the monitor at {at} in {time.perf_counter() - started:.1f} s → {path}", file=sys.stderr)
        finally:
            client.close()
    finally:
        region.stop()


def manifest_gemeenten(manifest: Any) -> list[Any]:
    from synth.region import make_gemeenten

    return make_gemeenten(manifest.n_gemeenten)


def size_of(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and "history" not in p.parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--history", type=Path, help="stored runs to build from (made here when fewer than five)")
    parser.add_argument("--out", type=Path, help="where the site goes (default: a temporary folder)")
    parser.add_argument("--scale", type=float, default=0.05, help="synthetic region size when runs are made")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="regiozicht-site-"))
    history = args.history or work / "history"
    out = args.out or work / "site"
    if len(list(history.glob("*.json"))) < len(PERIODS):
        run_region(history, work, args.scale)
    documents = monitor_history.load_all(history)
    started = time.perf_counter()
    index = build_site(documents, out)
    build_s = time.perf_counter() - started
    size_mb = size_of(out) / 1e6
    print(f"{len(documents)} runs, {len(documents[-1]['indicators'])} indicators, {len(documents[-1].get('labels', {}).get('gemeente', {}))} gemeenten")
    print(f"built in {build_s:.2f} s, {size_mb:.2f} MB: {index}")
    print(f"build_s={build_s:.2f} size_mb={size_mb:.2f}")


if __name__ == "__main__":
    main()
