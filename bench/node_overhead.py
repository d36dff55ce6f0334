"""What a node adds on top of the partner database's own work.

For a 1,000,000-person dataset, the DP count end to end (analyst CLI client
→ coordinator → node over mTLS → one statement → noise → durable commit →
signed answer → verification) versus the identical compiled statement run
directly on the same database; warm, alternated runs, medians; SQLite and
PostgreSQL; and the same table as a folder of CSV and of Parquet extracts read
through DuckDB (node/extracts.py): there `person_ratio` is the compiled
statement (one row per person) against a raw grouped count on that engine, and
the end-to-end time is set against the SQLite node's. Then the fixed cost: p50 of a 10-cell grouped count on 1,000
persons end to end, release durably committed.

    python bench/node_overhead.py [--persons 1000000] [--runs 15] [--fixed-runs 200]

Last line: `ratio=… fixed_ms=…` (targets: ratio ≤ 1.1, fixed ≤ 20 ms).
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine

from analyst.client import AnalystClient, Profile
from bench.common import DATA_AS_OF, PEILDATUM, dataset, make_postgres, make_sqlite, median, percentile
from demo.postgres import start_cluster
from demo.region import PartnerSetup, RunningRegion, build, demo_covenant
from node.compile import compile_count
from node.config import Dataset
from regiozicht.query import build_count


def _partner(node_id: str, url: str, name: str) -> PartnerSetup:
    spec = dataset(name)
    return PartnerSetup(node_id, node_id, "school", url, DATA_AS_OF, [spec],
                        covenant=demo_covenant(node_id, [spec], epsilon="1000000"))


def _direct(url: str, name: str) -> float:
    spec = Dataset.model_validate(dataset(name))
    query = build_count(name, epsilon="1", purpose="rmc-monitor", peildatum=PEILDATUM, by=["gemeente", "sex"])
    engine = create_engine(url.replace("sqlite:///", "sqlite:///file:") + "?mode=ro&uri=true"
                           if url.startswith("sqlite") else url)
    started = time.perf_counter()
    with engine.connect() as connection:
        connection.execute(compile_count(spec, query), {"peildatum": PEILDATUM}).all()
    elapsed = time.perf_counter() - started
    engine.dispose()
    return elapsed


def _direct_files(folder: Path, name: str, raw: bool) -> float:
    """The compiled statement (or, `raw`, a plain grouped count) on the node's own engine over a folder."""
    from sqlalchemy import text

    from node.config import DatabaseSection
    from node.store import make_partner_engine

    spec = Dataset.model_validate(dataset(name))
    query = build_count(name, epsilon="1", purpose="rmc-monitor", peildatum=PEILDATUM, by=["gemeente", "sex"])
    statement = text("SELECT gemeente, sex, count(*) FROM person WHERE datum <= :peildatum GROUP BY gemeente, sex") \
        if raw else compile_count(spec, query)
    engine = make_partner_engine(DatabaseSection(folder=folder))
    with engine.connect() as connection:
        connection.execute(text("SELECT 1")).all()  # the views are made at connect, outside the timing
        started = time.perf_counter()
        connection.execute(statement, {"peildatum": PEILDATUM}).all()
        elapsed = time.perf_counter() - started
    engine.dispose()
    return elapsed


def _files_figures(client: AnalystClient, folder: Path, name: str, runs: int) -> tuple[float, float, float]:
    """Medians of (compiled statement, raw grouped count, end to end) over a folder of extracts."""
    for _ in range(2):
        _direct_files(folder, name, raw=False)
        _end_to_end(client, name)
    compiled, raw, e2e = [], [], []
    for _ in range(runs):
        compiled.append(_direct_files(folder, name, raw=False))
        raw.append(_direct_files(folder, name, raw=True))
        e2e.append(_end_to_end(client, name))
    return median(compiled), median(raw), median(e2e)


def _extracts(sqlite_url: str, root: Path, fmt: str) -> Path:
    from sqlalchemy import MetaData

    from synth.extracts import write_tables

    metadata = MetaData()
    metadata.reflect(create_engine(sqlite_url), only=["person"])
    folder = root / f"extracts-{fmt}"
    # fmt is "csv" or "parquet" (main), a str to mypy
    write_tables(sqlite_url, list(metadata.tables.values()), folder, fmt)  # type: ignore[arg-type]
    return folder


def _end_to_end(client: AnalystClient, name: str, epsilon: str = "1") -> float:
    query = build_count(name, epsilon=epsilon, purpose="rmc-monitor", peildatum=PEILDATUM, by=["gemeente", "sex"])
    publishers = client.publishers(name)  # outside the timing: the catalog is read once per analyst session
    started = time.perf_counter()
    result = client.count(query, refresh=True, publishers=publishers)
    elapsed = time.perf_counter() - started
    assert not result.failures, result.failures
    return elapsed


def _ratio(client: AnalystClient, url: str, name: str, runs: int) -> tuple[float, float, float]:
    for _ in range(2):  # warm caches and connections on both paths
        _direct(url, name)
        _end_to_end(client, name)
    direct, e2e = [], []
    for _ in range(runs):
        direct.append(_direct(url, name))
        e2e.append(_end_to_end(client, name))
    return median(e2e) / median(direct), median(direct), median(e2e)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--fixed-runs", type=int, default=200)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="regiozicht-bench-"))
    cluster = start_cluster()
    print(f"building {args.persons:,}-person tables (SQLite{', PostgreSQL' if cluster else ''}) …", file=sys.stderr)
    partners = [_partner("big-sqlite", make_sqlite(root / "big.sqlite", args.persons), "personen_sqlite"),
                _partner("tiny", make_sqlite(root / "tiny.sqlite", 1000), "personen_klein")]
    folders = {fmt: _extracts(partners[0].database_url, root, fmt) for fmt in ("csv", "parquet")}
    for fmt, folder in folders.items():
        partners.append(dataclasses.replace(_partner(f"big-{fmt}", partners[0].database_url, f"personen_{fmt}"),
                                            extracts=folder))
    if cluster:
        partners.append(_partner("big-pg", make_postgres(cluster.url("bench_big"), args.persons), "personen_pg"))
    files = build(root / "region", partners)
    region = RunningRegion(files)
    region.start()
    try:
        region.wait_until_online({p.org for p in partners})
        client = AnalystClient(Profile.load(files.profile))
        ratios = []
        sqlite_e2e = 0.0
        for partner in partners:
            name = partner.datasets[0]["name"]
            if name == "personen_klein":
                continue
            if partner.extracts is not None:
                compiled, raw, e2e = _files_figures(client, partner.extracts, name, args.runs)
                print(f"{name.removeprefix('personen_').upper()} via DuckDB: compiled statement p50 "
                      f"{compiled * 1000:.1f} ms, raw grouped count p50 {raw * 1000:.1f} ms, person_ratio "
                      f"{compiled / raw:.3f}; end to end p50 {e2e * 1000:.1f} ms, ratio {e2e / compiled:.3f} "
                      f"({e2e / sqlite_e2e:.2f}× the SQLite node)")
                continue
            ratio, direct, e2e = _ratio(client, partner.database_url, name, args.runs)
            ratios.append(ratio)
            if "sqlite" in partner.database_url:
                sqlite_e2e = e2e
            engine = "SQLite" if "sqlite" in partner.database_url else "PostgreSQL"
            print(f"{engine}: direct statement p50 {direct * 1000:.1f} ms, end to end p50 {e2e * 1000:.1f} ms, "
                  f"ratio {ratio:.3f}")
        _end_to_end(client, "personen_klein")
        fixed = [_end_to_end(client, "personen_klein") for _ in range(args.fixed_runs)]
        print(f"fixed cost, 10-cell count on 1,000 persons over mTLS, durable commit: p50 "
              f"{median(fixed) * 1000:.1f} ms, p99 {percentile(fixed, 0.99) * 1000:.1f} ms ({len(fixed)} releases)")
        client.close()
        print(f"ratio={max(ratios):.3f} fixed_ms={median(fixed) * 1000:.1f}")
    finally:
        region.stop()
        if cluster:
            cluster.stop()
        shutil.rmtree(root, ignore_errors=True)  # a 1M-person SQLite database and its CSV and Parquet copies


if __name__ == "__main__":
    main()
