"""Ledger + audit overhead: one node over mutual TLS, 8 concurrent analysts, every query a fresh release.

Builds a CA and configs with demo/region.py, starts a coordinator and one
node process (1,000 persons, a 10-cell grouped dataset), has 8 analyst
threads ask distinct counts (ε varies slightly, so each is a new release
that reserves, charges, commits and audits durably), and prints releases/s,
p50 and p99 latency and the share of the node's answer time spent inside the
ledger and audit transactions (the node logs it when it stops), both as a
share of the node's answer time and of the analysts' request time. Last
line: `ledger_share=…`, ledger + audit seconds ÷ summed request seconds
(target ≤ 0.3).

    .venv/bin/python bench/ledger.py [--queries 400] [--analysts 8]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analyst.client import AnalystClient, Profile
from demo.region import PartnerSetup, RunningRegion, build, demo_covenant
from regiozicht.query import build_count

BANDS = [f"B{i}" for i in range(9)]  # 9 values + onbekend = 10 cells
DATASET = {
    "name": "bench",
    "description": "1,000 persons in 9 bands",
    "sql": "SELECT bsn AS person, bsn AS link, band, datum FROM persons WHERE datum <= :peildatum",
    "order_by": ["datum"],
    "dimensions": {"band": {"domain": BANDS, "info_class": "DAT", "description": "band"}},
}


def _database(path: Path, persons: int) -> None:
    rng = random.Random(1)
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE persons (bsn TEXT, band TEXT, datum DATE)")
        connection.executemany("INSERT INTO persons VALUES (?, ?, ?)", [
            (str(100000000 + i), rng.choice(BANDS), "2026-01-01") for i in range(persons)])


def _analyst(profile: Path, epsilons: list[str], latencies: list[float], start: threading.Barrier) -> None:
    client = AnalystClient(Profile.load(profile))
    publishers = client.publishers("bench")  # read once: the timed requests carry no catalog call
    start.wait()
    for epsilon in epsilons:
        query = build_count("bench", epsilon=epsilon, purpose="rmc-monitor", peildatum=dt.date(2026, 10, 1),
                            by=["band"])
        began = time.perf_counter()
        result = client.count(query, publishers=publishers)
        latencies.append(time.perf_counter() - began)
        assert not result.failures and not result.nodes[0].from_store, "every query must be a fresh release"
    client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--analysts", type=int, default=8)
    parser.add_argument("--persons", type=int, default=1000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="regiozicht-bench-ledger-"))
    _database(root / "bench.sqlite", args.persons)
    covenant = demo_covenant("bench-school", [DATASET], epsilon="1000000")
    partner = PartnerSetup("bench", "bench-school", "school", f"sqlite:///{root / 'bench.sqlite'}",
                           dt.datetime(2026, 11, 1), [DATASET], covenant)
    files = build(root / "region", [partner])
    region = RunningRegion(files)
    region.start()
    try:
        region.wait_until_online({"bench-school"})
        # distinct ε per query: each is a new release key
        epsilons = [f"0.5{i:06d}1" for i in range(args.queries)]
        latencies: list[float] = []
        barrier = threading.Barrier(args.analysts + 1)
        threads = [threading.Thread(target=_analyst, args=(files.profile, epsilons[i::args.analysts], latencies,
                                                           barrier)) for i in range(args.analysts)]
        for thread in threads:
            thread.start()
        barrier.wait()
        began = time.perf_counter()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - began
    finally:
        region.stop()
    log = (region.log_dir / "node-bench.log").read_text()
    summary = re.findall(r"timing answers=(\d+) answer_seconds=([\d.]+) ledger_audit_seconds=([\d.]+) "
                         r"ledger_share=([\d.]+)", log)
    if len(latencies) != args.queries or not summary:
        print(f"bench failed; see {region.log_dir}", file=sys.stderr)
        return 1
    answers, answer_seconds, ledger_seconds, share = summary[-1]
    ordered = sorted(latencies)
    print(f"node: 1 over mTLS, {args.persons} persons, 10 cells; analysts: {args.analysts}; releases: {len(latencies)}")
    print(f"releases/s={len(latencies) / elapsed:.1f}")
    print(f"latency_p50_ms={statistics.median(ordered) * 1000:.1f}")
    print(f"latency_p99_ms={ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000:.1f}")
    print(f"node_answers={answers} node_answer_seconds={answer_seconds} ledger_audit_seconds={ledger_seconds}")
    # two views of one figure: within the node's own answer time (the stricter one), and within
    # the request time the analysts saw end to end (what the "request time" names)
    print(f"ledger_share_of_node_answer_time={float(share):.3f}")
    print(f"ledger_share={float(ledger_seconds) / sum(latencies):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
