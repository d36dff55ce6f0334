"""Fan-out: one query to 1, 8 and 32 node processes over mTLS.

200+ fresh queries per region size on warm connections: p50 wall time per
query, CPU milliseconds per node-query (psutil deltas of the node
processes), and for 32 nodes the efficiency

    p50 wall / max(1-node p50, CPU time of all processes per query / cores)

which is 1 for a perfectly concurrent fan-out and 2–3 for a sequential one.

    python bench/fanout.py [--queries 200] [--sizes 1 8 32]

Last line: `efficiency=…` (target ≤ 1.5).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil

from analyst.client import AnalystClient, Profile
from bench.common import DATA_AS_OF, PEILDATUM, dataset, make_sqlite, median
from demo.region import PartnerSetup, RunningRegion, build, demo_covenant
from regiozicht.query import build_count


def _cpu(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def _region(root: Path, nodes: int) -> tuple[RunningRegion, list[PartnerSetup]]:
    spec = dataset("personen")
    partners = [
        PartnerSetup(f"school-{i:02d}", f"school-{i:02d}", "school", make_sqlite(root / f"s{i}.sqlite", 1000),
                     DATA_AS_OF, [spec], covenant=demo_covenant(f"school-{i:02d}", [spec], epsilon="1000000"))
        for i in range(nodes)
    ]
    region = RunningRegion(build(root / "region", partners))
    region.start()
    region.wait_until_online({p.org for p in partners}, timeout=300)
    return region, partners


def measure(nodes: int, queries: int) -> tuple[float, float, float]:
    """(p50 wall seconds, CPU ms per node-query, CPU seconds of all processes per query)."""
    root = Path(tempfile.mkdtemp(prefix=f"regiozicht-fanout-{nodes}-"))
    region, _ = _region(root, nodes)
    try:
        client = AnalystClient(Profile.load(region.files.profile))
        node_processes = [psutil.Process(p.pid) for name, p in region.processes.items() if name != "coordinator"]
        everyone = [*node_processes, psutil.Process(region.processes["coordinator"].pid), psutil.Process(os.getpid())]
        query = build_count("personen", epsilon="1", purpose="rmc-monitor", peildatum=PEILDATUM, by=["gemeente"])
        publishers = client.publishers("personen")  # read once: the timed requests carry no catalog call
        for _ in range(10):  # warm connections, caches and the nodes' Describe re-sends
            client.count(query, refresh=True, publishers=publishers)
        node_cpu, all_cpu = _cpu(node_processes), _cpu(everyone)
        walls = []
        for _ in range(queries):
            started = time.perf_counter()
            result = client.count(query, refresh=True, publishers=publishers)
            walls.append(time.perf_counter() - started)
            assert not result.failures and len(result.nodes) == nodes
        node_ms = (_cpu(node_processes) - node_cpu) * 1000 / (queries * nodes)
        per_query = (_cpu(everyone) - all_cpu) / queries
        client.close()
        return median(walls), node_ms, per_query
    finally:
        region.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 8, 32])
    args = parser.parse_args()
    cores = psutil.cpu_count() or 1
    results = {}
    for nodes in args.sizes:
        wall, node_ms, per_query = measure(nodes, args.queries)
        results[nodes] = (wall, per_query)
        print(f"{nodes:>2} nodes: p50 {wall * 1000:.1f} ms per query, {node_ms:.2f} CPU ms per node-query, "
              f"{per_query * 1000:.1f} CPU ms of all processes per query", flush=True)
    largest = max(args.sizes)
    wall, per_query = results[largest]
    bound = max(results[min(args.sizes)][0], per_query / cores)
    print(f"{largest} nodes: bound max(1-node p50, CPU per query / {cores} cores) = {bound * 1000:.1f} ms")
    print(f"efficiency={wall / bound:.2f}")


if __name__ == "__main__":
    main()
