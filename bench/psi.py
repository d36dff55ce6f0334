"""Linked count end to end against the physical limit and openmined-psi.

    python bench/psi.py --size 100000

Two node processes (anchor and other, `--size` persons each, half shared),
the counter and the coordinator as processes over mutual TLS: linked counts
v2 with every proof. Prints records/s and the bytes through the coordinator
and into the counter; then, in the same run, the raw rate of two worker
processes doing libsodium ristretto255 hash-to-group + multiplication (and
multiplication, and addition) on the element operations the protocol needs, and openmined-psi's
PSI-cardinality time on the same sets (it runs in its own venv, .venv-openmined,
which this bench makes first with `make bench-peer-openmined`). Last line:
raw_fraction=… vs_openmined=…

raw_fraction = time the protocol's hash-to-group and multiplications alone
take at the raw rate ÷ end-to-end time; vs_openmined = its time ÷ ours.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sqlite3
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analyst.client import AnalystClient, Profile
from analyst.linked import anchor_cells, resolve_linked, submit_linked
from bench import openmined_peer, peer_venv
from demo.region import COUNTER_ORG, PartnerSetup, RunningRegion, build, demo_covenant
from regiozicht import group
from regiozicht.linknoise import shift_for
from synth.bsn import valid_bsns

AS_OF = dt.datetime(2026, 11, 1)
EPSILON, DELTA = "1", "0.000000001"
DATASET = {
    "name": "personen", "description": "bench persons",
    "sql": "SELECT bsn AS person, bsn AS link, gemeente, datum FROM personen WHERE datum <= :peildatum",
    "order_by": ["datum"],
    "dimensions": {"gemeente": {"domain": ["GM0001"], "info_class": "DAT", "description": "municipality"}},
}


def sets(size: int) -> tuple[list[str], list[str]]:
    stream = valid_bsns(7)
    pool = [next(stream) for _ in range(size + size // 2)]
    return pool[:size], pool[size // 2:]


def write(path: Path, bsns: list[str]) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE personen (bsn TEXT, gemeente TEXT, datum DATE)")
        db.executemany("INSERT INTO personen VALUES (?, 'GM0001', '2026-01-01')", ((b,) for b in bsns))


def partner(node_id: str, kind: str, database: Path) -> PartnerSetup:
    covenant = demo_covenant(node_id, [DATASET], epsilon="1000")
    covenant["budget"]["delta"] = "0.001"
    covenant["purposes"][0]["linking"] = {"kinds": ["wi" if kind == "rmc" else "rmc"], "datasets": ["personen"],
                                          "partner_datasets": ["personen"]}
    covenant["linked"] = {"counters": [COUNTER_ORG]}
    return PartnerSetup(node_id, node_id, kind, f"sqlite:///{database}", AS_OF, [DATASET], covenant)


def end_to_end(root: Path, size: int) -> tuple[float, int, int]:
    """Seconds, bytes through the coordinator and bytes of those into the counter, for one run."""
    anchor_set, other_set = sets(size)
    write(root / "a.sqlite", anchor_set)
    write(root / "b.sqlite", other_set)
    files = build(root / "region", [partner("rmc-bench", "rmc", root / "a.sqlite"),
                                    partner("wi-bench", "wi", root / "b.sqlite")])
    running = RunningRegion(files)
    running.start()
    try:
        running.wait_until_online({"rmc-bench", "wi-bench"})
        client = AnalystClient(Profile.load(files.profile))
        nodes = client.catalog()
        query = resolve_linked(nodes, "personen@rmc", "personen@wi", epsilon=EPSILON, delta=DELTA,
                               purpose="rmc-monitor", by=[], where=None, at=None, with_at=None,
                               counters=client.counters())
        started = time.perf_counter()
        result = submit_linked(client, query, anchor_cells(nodes, query))
        elapsed = time.perf_counter() - started
        client.close()
    finally:
        running.stop()
    if result.failures:
        raise SystemExit(f"run failed: {result.failures[0].error}")
    cell = result.cells[0]
    print(f"estimate: ∩ {cell.inter} {cell.inter_ci} (true {size // 2}), ∖ {cell.only} {cell.only_ci} "
          f"(true {size - size // 2})")
    return elapsed, result.runs[0].bytes_relayed, result.runs[0].bytes_to_counter


def _hash_mul(count: int) -> int:
    scalar = group.new_scalar()
    group.blind_items(b"bench", scalar, [str(i).encode() for i in range(count)])
    return count


def _mul(count: int) -> int:
    scalar = group.new_scalar()
    point = group.base_point()
    group.raise_points(scalar, [point] * count)
    return count


def _add(count: int) -> int:
    point = group.base_point()
    for _ in range(count):
        group.add(point, point)
    return count


def raw_rates(elements: int) -> tuple[float, float, float]:
    """Elements/s of hash+multiplication, of multiplication and of addition, two worker processes."""
    rates = []
    with ProcessPoolExecutor(2, mp_context=get_context("forkserver")) as pool:
        list(pool.map(_mul, [10, 10]))
        for task in (_hash_mul, _mul, _add):
            started = time.perf_counter()
            list(pool.map(task, [elements // 2, elements - elements // 2]))
            rates.append(elements / (time.perf_counter() - started))
    return rates[0], rates[1], rates[2]


def openmined(size: int) -> float:
    timing = openmined_peer.measure(size)
    if timing is None:  # main() made the venv first; only a venv deleted mid-run gets here
        raise SystemExit("openmined-psi's venv went missing during the run; run `make bench-peer-openmined`.")
    print(f"openmined-psi cardinality: {timing.cardinality} in {timing.seconds:.2f} s "
          "(one process in .venv-openmined, exact, no DP)")
    return timing.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000, help="persons per node")
    size = parser.parse_args().size
    peer_venv.ensure("bench-peer-openmined")  # before the minutes of our run: the comparison always runs
    with tempfile.TemporaryDirectory() as tmp:
        elapsed, relayed, to_counter = end_to_end(Path(tmp), size)
    shift = shift_for(float(EPSILON), float(DELTA))
    # The element operations v2 needs (one cell): each node blinds its members and about 2T dummies
    # (hash + mul); each list of about size + 4T..6T elements is imaged by the peer (mul), summed with
    # weights by its owner (mul + add) and by the counter (mul + add); each of the 2T A-slots costs
    # about 8 mul to make and 8 mul + 4 add to verify, each of the 2T B-slots 2 mul.
    blinded = 2 * (size + 2 * shift)
    listed = 2 * (size + 5 * shift)
    slot_mul, slot_add = 2 * shift * 18, 2 * shift * 4
    hash_rate, mul_rate, add_rate = raw_rates(blinded)
    raw_time = blinded / hash_rate + (3 * listed + slot_mul) / mul_rate + (2 * listed + slot_add) / add_rate
    print(f"end to end: {2 * size} records in {elapsed:.2f} s = {2 * size / elapsed:,.0f} records/s; "
          f"{relayed / 1e6:.1f} MB through the coordinator, {to_counter / 1e6:.1f} MB of it to the counter")
    print(f"raw libsodium, 2 processes: {hash_rate:,.0f} hash+mul/s, {mul_rate:,.0f} mul/s, {add_rate:,.0f} add/s; "
          f"the protocol's group work alone takes {raw_time:.2f} s")
    theirs = openmined(size)
    print(f"raw_fraction={raw_time / elapsed:.2f} vs_openmined={theirs / elapsed:.2f}")


if __name__ == "__main__":
    main()
