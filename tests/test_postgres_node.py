"""Nodes on PostgreSQL: the same statements and answers as on SQLite.

The partner databases and the node's own state database live in a
PostgreSQL cluster the tests start themselves (tests/pg_fixture.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from analyst.client import AnalystClient, Profile
from demo import synthregion
from demo.region import RunningRegion, build
from node.compile import cells, compile_count
from node.config import Dataset
from regiozicht.query import CountQuery, build_count
from synth.generate import generate
from synth.manifest import Manifest
from synth.truth import Truth
from tests.linked_region import SET_CASES, assert_sets_equal_the_truth
from tests.pg_fixture import PostgresCluster

pytestmark = [pytest.mark.processes, pytest.mark.postgres]  # real processes and PostgreSQL: left out of `make test-fast`

PG_PARTNERS = ("rmc", "wi-regio")
PEILDATUM = dt.date(2026, 10, 1)


@pytest.fixture(scope="module")
def pg_region(postgres: PostgresCluster, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Manifest, Truth]:
    data = tmp_path_factory.mktemp("pg-synth")
    urls = {pid: postgres.url(f"node_{pid.replace('-', '_')}") for pid in PG_PARTNERS}
    manifest = generate(data, scale=0.02, seed=5, gemeenten=3, urls=urls)
    return data, manifest, Truth.load(data)


def test_node_statements_on_postgresql_equal_the_truth(pg_region: tuple[Path, Manifest, Truth]) -> None:
    data, manifest, truth = pg_region
    for partner in synthregion.partners(data, manifest, only=set(PG_PARTNERS)):
        assert partner.database_url.startswith("postgresql")
        engine = create_engine(partner.database_url)
        for raw in partner.datasets:
            dataset = Dataset.model_validate(raw)
            for by in [()] + [(d,) for d in sorted(dataset.dimensions)]:
                query = CountQuery(dataset.name, "1", "check", PEILDATUM, by)
                with engine.connect() as connection:
                    rows = connection.execute(compile_count(dataset, query), {"peildatum": PEILDATUM}).all()
                got = {tuple(r[:-1]): r[-1] for r in rows}
                expected = truth.count(partner.node_id, dataset.name, PEILDATUM, by=by)
                assert {c: got.get(c, 0) for c in cells(dataset, by)} == {tuple(c): n for c, n in expected.items()}, \
                    (partner.node_id, dataset.name, by)
        engine.dispose()


def test_linked_sets_on_postgresql_equal_the_truth(pg_region: tuple[Path, Manifest, Truth]) -> None:
    """The one statement of a linked side's set (and, or, not) on PostgreSQL gives the truth's persons and cells."""
    data, manifest, truth = pg_region
    partners = {p.node_id: p for p in synthregion.partners(data, manifest, only=set(PG_PARTNERS))}
    assert all(p.database_url.startswith("postgresql") for p in partners.values())
    sizes = [assert_sets_equal_the_truth(partners[node], truth, text, day, by, where)
             for node, text, day, by, where in SET_CASES]
    assert sum(1 for size in sizes if size > 0) >= 5, sizes


@pytest.fixture(scope="module")
def pg_nodes(pg_region: tuple[Path, Manifest, Truth], postgres: PostgresCluster,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AnalystClient, RunningRegion]]:
    data, manifest, _ = pg_region
    root = tmp_path_factory.mktemp("pg-region")
    partners = synthregion.partners(data, manifest, only=set(PG_PARTNERS))
    files = build(root, partners)
    # the node's own store on PostgreSQL too; its high-water mark stays a local file
    for partner in partners:
        config = files.node_configs[partner.node_id]
        state_url = postgres.url(f"state_{partner.node_id.replace('-', '_')}")
        config.write_text(config.read_text().replace(
            'url = "sqlite:///state.sqlite"', f'url = "{state_url}"\nhigh_water_mark = "state.high-water-mark.json"'))
    region = RunningRegion(files)
    region.start()
    try:
        region.wait_until_online({p.org for p in partners})
        client = AnalystClient(Profile.load(files.profile))
        yield client, region
        client.close()
    finally:
        region.stop()


def test_a_count_over_processes_with_postgresql_partner_and_state(
    pg_region: tuple[Path, Manifest, Truth], pg_nodes: tuple[AnalystClient, RunningRegion]
) -> None:
    _data, _manifest, truth = pg_region
    client, _ = pg_nodes
    query = build_count("vsv", epsilon="1", purpose="rmc-monitor", peildatum=PEILDATUM, by=["gemeente"])
    first = client.count(query)
    assert not first.failures
    expected = truth.count("rmc", "vsv", PEILDATUM, by=("gemeente",))
    for cell in first.cells:
        # discrete Laplace(1): |noise| > 25 has probability below 1e-10
        assert abs(cell.value - expected[cell.group]) <= 25
    again = client.count(query)
    assert all(n.from_store for n in again.nodes), "the release is stored in the PostgreSQL state database"
    assert [c.value for c in again.cells] == [c.value for c in first.cells]
