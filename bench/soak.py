"""Soak: steady queries for minutes against one node through the coordinator; does memory grow?

Starts a coordinator and one node process as `bench/load.py` does, runs `--clients` analysts
asking the same mix (80% stored releases, 20% fresh, ~1% over budget) at a steady pace for
`--seconds`, and samples the resident memory (RSS, children included) of the coordinator and the
node. The baseline is taken once the warm-up (the first tenth of the run, at most a minute) is
over, so start-up allocations do not count. Afterwards the node's state database is cross-checked
as in the load bench.

    .venv/bin/python bench/soak.py [--seconds 600] [--clients 8] [--pause 0.05]

Last line: `rss_growth=…` (the larger relative growth of the two after the warm-up; target ≤ 0.10).
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil

from analyst.client import AnalystClient, Profile
from bench import consistency
from bench.load import OVERSPEND, OVERSPEND_CAP, SPEC, _ask, one_node_region


def rss(pid: int) -> int:
    """Resident bytes of a process and its children (the node's worker pool)."""
    process = psutil.Process(pid)
    total = process.memory_info().rss
    for child in process.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def _client(profile: Path, tag: str, until: float, pause: float, counts: dict[str, int]) -> None:
    rng = random.Random(tag)
    client = AnalystClient(Profile.load(profile))
    publishers = client.publishers(SPEC["name"])
    serial = 0
    try:
        while time.time() < until:
            serial += 1
            try:
                outcome, _ = _ask(client, publishers, rng, tag, serial)
            except Exception as exc:  # noqa: BLE001 - a bench counts what breaks, whatever it is
                outcome = f"error:{type(exc).__name__}"
            counts[outcome] = counts.get(outcome, 0) + 1
            time.sleep(pause)
    finally:
        client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--pause", type=float, default=0.05, help="seconds each analyst waits between requests")
    args = parser.parse_args()
    _root, files, region, pids = one_node_region("soak")
    counts: dict[str, int] = {}
    try:
        began = time.time()
        until = began + args.seconds
        threads = [threading.Thread(target=_client, args=(files.profile, f"9{i:03d}", until, args.pause, counts))
                   for i in range(args.clients)]
        for thread in threads:
            thread.start()
        time.sleep(min(60.0, args.seconds / 10))
        baseline = {name: rss(pid) for name, pid in pids.items()}
        samples = {name: [size] for name, size in baseline.items()}
        while any(thread.is_alive() for thread in threads):
            time.sleep(5)
            for name, pid in pids.items():
                samples[name].append(rss(pid))
        final = {name: rss(pid) for name, pid in pids.items()}
    finally:
        region.stop()
    state = consistency.read(files.node_configs["soak"].parent / "state.sqlite",
                             {"*": Decimal(1000000), OVERSPEND: Decimal(OVERSPEND_CAP)})
    growth = {name: (final[name] - baseline[name]) / baseline[name] for name in pids}
    errors = sum(n for kind, n in counts.items() if kind.startswith("error")) + len(state.problems)
    print(f"requests={sum(counts.values())} in {args.seconds:.0f} s, outcomes={dict(sorted(counts.items()))}, "
          f"errors={errors}")
    for name in pids:
        print(f"{name}: rss after warm-up {baseline[name] / 2**20:.1f} MiB, at the end {final[name] / 2**20:.1f} MiB, "
              f"peak {max(samples[name]) / 2**20:.1f} MiB, growth {growth[name]:.3f}")
    print(f"rss_growth={max(growth.values()):.3f}")
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
