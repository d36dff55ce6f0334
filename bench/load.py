"""Load: many concurrent analysts against one node through the coordinator, real processes over mTLS.

Starts a coordinator and one node process (1,000 persons, a 10-cell dataset), stores 20 releases,
then runs `--clients` analysts (threads spread over `--processes` client processes, each its own
connection) for `--seconds`: 80% ask one of the stored releases again, 20% a fresh release (a new ε,
charged), ~1% a fresh release under a purpose whose small ε cap runs out within seconds (refused
as over budget: expected, not an error). Afterwards, with every process stopped, it reads the node's
state database: the audit chain intact, every charge audited, every release charged, the spent
figures equal to the charges, no pot over its limit, and every fresh answer a client received
charged. Prints p50/p99 latency, the error count (anything but the expected refusals, plus every
consistency problem) and the throughput of the last 10 s over the first 10 s.

    .venv/bin/python bench/load.py [--seconds 60] [--clients 200] [--processes 4]

Last line: `p99_ms=… errors=… throughput_drift=…` (targets: errors 0, p99_ms ≤ 1000, drift ≥ 0.9).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import sys
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analyst.client import AnalystClient, NodeInfo, Profile
from bench import consistency
from bench.common import DATA_AS_OF, PEILDATUM, dataset, make_sqlite, percentile
from demo.region import PartnerSetup, RegionFiles, RunningRegion, build, demo_covenant
from regiozicht.errors import BudgetExhausted, RegiozichtError
from regiozicht.query import CountQuery, build_count

ORG, DATASET, STORED = "load-school", "load", 20
OVERSPEND, OVERSPEND_CAP = "overspend", "1"  # a purpose whose ε cap pays two fresh releases of ε 0.5
SPEC = dataset(DATASET)


def _query(epsilon: str, purpose: str = "rmc-monitor") -> CountQuery:
    return build_count(DATASET, epsilon=epsilon, purpose=purpose, peildatum=PEILDATUM, by=["gemeente", "sex"])


def _stored(index: int) -> CountQuery:
    return _query(f"0.4{index:02d}")


def _covenant() -> dict[str, object]:
    covenant = demo_covenant(ORG, [SPEC], epsilon="1000000")
    main = covenant["purposes"][0]
    covenant["purposes"].append({**main, "id": OVERSPEND, "epsilon_cap": OVERSPEND_CAP})
    for party in covenant["parties"]:
        party["purposes"].append(OVERSPEND)
    return covenant


def _ask(client: AnalystClient, publishers: list[NodeInfo], rng: random.Random, tag: str, serial: int) -> tuple[str, str]:
    """One request; (outcome, query id of a fresh answer or "")."""
    roll = rng.random()
    if roll < 0.01:
        query, expected = _query(f"0.5{tag}{serial}1", OVERSPEND), BudgetExhausted
    elif roll < 0.21:
        query, expected = _query(f"0.3{tag}{serial}1"), None
    else:
        query, expected = _stored(rng.randrange(STORED)), None
    try:
        result = client.count(query, publishers=publishers, timeout=60)
    except RegiozichtError as exc:
        return ("refused" if expected is not None and isinstance(exc, expected) else f"error:{exc.kind}"), ""
    if result.failures:
        return f"error:{result.failures[0].error_kind}", ""
    fresh = not result.nodes[0].from_store
    return "ok", result.query_id if fresh else ""


def _client(profile: Path, tag: str, until: float, out: list[tuple[float, float, str, str]]) -> None:
    rng = random.Random(tag)
    client = AnalystClient(Profile.load(profile))
    try:
        publishers = client.publishers(DATASET)
        serial = 0
        while time.time() < until:
            serial += 1
            began = time.time()
            try:
                outcome, fresh = _ask(client, publishers, rng, tag, serial)
            except Exception as exc:  # noqa: BLE001 - a bench counts what breaks, whatever it is
                outcome, fresh = f"error:{type(exc).__name__}", ""
            out.append((time.time(), time.time() - began, outcome, fresh))
    finally:
        client.close()


def _process(profile: str, index: int, threads: int, until: float, result_file: str) -> None:
    out: list[tuple[float, float, str, str]] = []
    workers = [threading.Thread(target=_client, args=(Path(profile), f"{index:02d}{t:03d}", until, out))
               for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    Path(result_file).write_text(json.dumps({"rows": out, "cpu_s": time.process_time()}))


def run_clients(profile: Path, clients: int, processes: int, seconds: float, root: Path,
                ) -> tuple[list[tuple[float, float, str, str]], float]:
    """Every request of `clients` analysts over `seconds` (finished at, latency s, outcome, fresh id),
    and the CPU seconds the client processes used."""
    spawn = multiprocessing.get_context("spawn")
    until = time.time() + seconds + 5  # the processes need a few seconds to start
    files = [root / f"clients-{i}.json" for i in range(processes)]
    started = [spawn.Process(target=_process, args=(str(profile), i, len(range(i, clients, processes)), until,
                                                    str(files[i]))) for i in range(processes)]
    for process in started:
        process.start()
    for process in started:
        process.join()
    results = [json.loads(f.read_text()) for f in files if f.exists()]
    rows = [tuple(row) for result in results for row in result["rows"]]
    return rows, sum(result["cpu_s"] for result in results)


def drift(rows: list[tuple[float, float, str, str]], window: float = 10.0) -> float:
    """Completions in the last `window` seconds over those in the first, counted from the first completion."""
    times = sorted(r[0] for r in rows)
    if not times:
        return 0.0
    start, end = times[0], times[-1]
    first = sum(1 for t in times if t < start + window)
    last = sum(1 for t in times if t > end - window)
    return last / first if first else 0.0


def one_node_region(name: str) -> tuple[Path, RegionFiles, RunningRegion, dict[str, int]]:
    """A coordinator and one school node of 1,000 persons as processes, online and holding the STORED
    releases (the load and soak benches); also the two processes' pids."""
    root = Path(tempfile.mkdtemp(prefix=f"regiozicht-bench-{name}-"))
    partner = PartnerSetup(name, ORG, "school", make_sqlite(root / f"{name}.sqlite", 1000), DATA_AS_OF, [SPEC],
                           _covenant())
    files = build(root / "region", [partner])
    region = RunningRegion(files)
    region.start_coordinator()
    region.start_node(name)
    try:
        region.wait_until_online({ORG})
        warm = AnalystClient(Profile.load(files.profile))
        try:
            for index in range(STORED):
                warm.count(_stored(index))
        finally:
            warm.close()
    except BaseException:
        region.stop()
        raise
    pids = {"coordinator": region.processes["coordinator"].pid, "node": region.processes[f"node-{name}"].pid}
    return root, files, region, pids


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--processes", type=int, default=4, help="client processes the analysts are spread over")
    args = parser.parse_args()
    root, files, region, pids = one_node_region("load")
    try:
        cpu_before = {name: _cpu(pid) for name, pid in pids.items()}
        rows, client_cpu = run_clients(files.profile, args.clients, max(1, min(args.processes, args.clients)), args.seconds, root)
        cpu = {name: _cpu(pid) - cpu_before[name] for name, pid in pids.items()}
        cpu["clients"] = client_cpu
    finally:
        region.stop()
    if rows:  # where the time went: the machine's cores are shared by the clients, the coordinator and the node
        print("cpu_ms_per_request " + " ".join(f"{name}={seconds / len(rows) * 1000:.1f}"
                                                 for name, seconds in cpu.items()))
    return report(rows, files.node_configs["load"].parent / "state.sqlite", args.clients)


def _cpu(pid: int) -> float:
    import psutil

    process = psutil.Process(pid)
    times = process.cpu_times()
    return times.user + times.system + sum(c.cpu_times().user + c.cpu_times().system
                                           for c in process.children(recursive=True))


def report(rows: list[tuple[float, float, str, str]], state_db: Path, clients: int) -> int:
    state = consistency.read(state_db, {"*": Decimal(1000000), OVERSPEND: Decimal(OVERSPEND_CAP)})
    fresh = {r[3] for r in rows if r[3]}
    state.problems += [f"query {q} was answered fresh but never charged" for q in sorted(fresh - set(state.charged))]
    outcomes: dict[str, int] = {}
    for row in rows:
        outcomes[row[2]] = outcomes.get(row[2], 0) + 1
    errors = sum(n for kind, n in outcomes.items() if kind.startswith("error")) + len(state.problems)
    latencies = [r[1] for r in rows]
    for problem in state.problems[:20]:
        print(f"problem: {problem}", file=sys.stderr)
    span = (max(r[0] for r in rows) - min(r[0] for r in rows)) if rows else 0.0
    print(f"clients={clients} requests={len(rows)} outcomes={json.dumps(outcomes, sort_keys=True)}")
    print(f"node state: {len(state.charged)} charges, {len(state.committed)} releases, "
          f"audit {dict(sorted(state.decisions.items()))}, {len(state.problems)} consistency problems")
    print(f"throughput={len(rows) / span if span else 0:.1f}/s p50_ms={percentile(latencies, 0.5) * 1000:.0f}")
    print(f"p99_ms={percentile(latencies, 0.99) * 1000:.0f} errors={errors} throughput_drift={drift(rows):.2f}")
    return 0 if rows else 1


if __name__ == "__main__":
    sys.exit(main())
