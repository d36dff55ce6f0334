"""The same synthetic partners in SQLite, in PostgreSQL and as CSV and Parquet extracts give the node
the same exact numbers, and those are the synthetic truth: each node's own exact counts (the function
whose output the noise is added to) for every dataset, total and per dimension, the shares made of
them, and the linked counts made of each node's own member lists (the lists it blinds in a linked
run). No noise is involved, so every comparison is exact."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator

import pytest

from demo import synthregion
from demo.region import build
from node import config as node_config
from node.compile import count_cells
from node.linkmembers import read_members
from node.service import NodeService
from regiozicht import filters, linksets
from regiozicht.query import CountQuery
from synth.extracts import extracts_folder, write_extracts
from synth.generate import generate
from synth.manifest import Manifest
from synth.truth import Truth
from tests.pg_fixture import PostgresCluster

pytestmark = pytest.mark.postgres  # needs PostgreSQL: left out of `make test-fast`

PARTNERS = ("rmc", "wi-regio")
BACKENDS = ("sqlite", "postgresql", "csv", "parquet")
PEILDATA = (dt.date(2026, 10, 1), dt.date(2025, 10, 1))
SEED, SCALE, GEMEENTEN = 17, 0.02, 3


@dataclasses.dataclass
class Backends:
    truth: Truth
    manifest: Manifest
    nodes: dict[tuple[str, str], NodeService]  # (partner id, backend) → the node over that backend


@pytest.fixture(scope="module")
def backends(postgres: PostgresCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backends]:
    root = tmp_path_factory.mktemp("backends")
    manifest = generate(root / "sqlite", scale=SCALE, seed=SEED, gemeenten=GEMEENTEN)
    urls = {pid: postgres.url(f"backends_{pid.replace('-', '_')}") for pid in PARTNERS}
    # the same seed writes the same region: PostgreSQL gets the same rows as SQLite
    generate(root / "pg", scale=SCALE, seed=SEED, gemeenten=GEMEENTEN, urls=urls)
    setups = []
    for partner in synthregion.partners(root / "sqlite", manifest, only=set(PARTNERS)):
        source = next(p for p in manifest.partners if p.id == partner.node_id)
        for backend in BACKENDS:
            org = f"{partner.org}-{backend}"
            changed = dataclasses.replace(partner, node_id=f"{partner.node_id}@{backend}", org=org,
                                          covenant={**(partner.covenant or {}), "organisation": org})
            if backend == "postgresql":
                changed = dataclasses.replace(changed, database_url=urls[partner.node_id])
            elif backend != "sqlite":
                folder = extracts_folder(root / "sqlite", backend, partner.node_id)
                write_extracts(partner.database_url, source.kind, folder, backend)  # type: ignore[arg-type]
                changed = dataclasses.replace(changed, extracts=folder)
            setups.append(changed)
    files = build(root / "region", setups)
    nodes = {}
    for setup in setups:
        partner_id, backend = setup.node_id.split("@")
        nodes[partner_id, backend] = NodeService(node_config.load(files.node_configs[setup.node_id]))
    yield Backends(Truth.load(root / "sqlite"), manifest, nodes)
    for node in nodes.values():
        node.partner.dispose()


def _truth_counts(backends: Backends, partner_id: str, query: CountQuery, cells: list[tuple[str, ...]]) -> list[int]:
    partner = next(p for p in backends.manifest.partners if p.id == partner_id)
    condition = query.where
    where = (lambda row: filters.evaluate(condition, row)) if condition is not None else None
    truth = backends.truth.count(partner_id, query.dataset, query.peildatum, by=query.by,
                                 where=synthregion.within(backends.manifest, partner, where))
    return [truth[cell] for cell in cells]


def test_every_backend_counts_the_truth_exactly(backends: Backends) -> None:
    compared = 0
    for partner_id in PARTNERS:
        config = backends.nodes[partner_id, "sqlite"].config
        for dataset in config.datasets:
            for peildatum in PEILDATA:
                for by in [()] + [(d,) for d in sorted(dataset.dimensions)]:
                    query = CountQuery(dataset.name, "1", "check", peildatum, by)
                    expected = _truth_counts(backends, partner_id, query, count_cells(dataset, by))
                    for backend in BACKENDS:
                        got = backends.nodes[partner_id, backend]._exact_counts(query)
                        assert got == expected, (partner_id, backend, dataset.name, peildatum, by)
                    compared += sum(expected)
    assert compared > 1000  # not a comparison of empty answers


def test_every_backend_gives_the_true_share(backends: Backends) -> None:
    """The demo's shares of the RMC stock (in a trajectory, reached) per gemeente: numerator and
    denominator from the node's exact counts on each backend, against the truth's."""
    for where in ("traject = J", "bereikt = J"):
        for peildatum in PEILDATA:
            numerator = CountQuery("rmc_stock", "1", "check", peildatum, ("gemeente",), filters.parse(where))
            denominator = CountQuery("rmc_stock", "1", "check", peildatum, ("gemeente",))
            cells = count_cells(backends.nodes["rmc", "sqlite"].config.dataset("rmc_stock"),  # type: ignore[arg-type]
                                ("gemeente",))
            expected = list(zip(_truth_counts(backends, "rmc", numerator, cells),
                                _truth_counts(backends, "rmc", denominator, cells)))
            assert any(0 < num < den for num, den in expected), (where, expected)  # a share that is not 0 or 1
            for backend in BACKENDS:
                node = backends.nodes["rmc", backend]
                got = list(zip(node._exact_counts(numerator), node._exact_counts(denominator)))
                assert got == expected, (backend, where, peildatum)


def _linked(anchor: NodeService, other: NodeService, anchor_set: str, other_set: str, peildatum: dt.date,
            by: tuple[str, ...]) -> dict[tuple[str, ...], tuple[int, int]]:
    """Per anchor cell (found in the other node's set, not found) from the two nodes' own member lists."""
    tree = linksets.parse(anchor_set)
    query = CountQuery(linksets.primary(tree), "1", "check", peildatum, by)
    dataset = anchor.config.dataset(query.dataset)
    assert dataset is not None
    cells = count_cells(dataset, by)
    datasets = {d.name: d for d in anchor.config.datasets}
    anchored = read_members(anchor.partner, datasets, tree, query, cells, anchor.config.node.org)
    other_tree = linksets.parse(other_set)
    other_query = CountQuery(linksets.primary(other_tree), "1", "check", peildatum, ())
    found = set(read_members(other.partner, {d.name: d for d in other.config.datasets}, other_tree, other_query,
                             None, other.config.node.org).by_cell[0])
    out = {}
    for cell, members in zip(cells, anchored.by_cell):
        inside = sum(1 for m in members if m in found)
        out[cell] = (inside, len(members) - inside)
    return out


@pytest.mark.parametrize(("anchor_set", "other_set"), [("rmc_stock", "bijstand"), ("vsv", "baan or bijstand")])
def test_every_backend_gives_the_true_linked_counts(backends: Backends, anchor_set: str, other_set: str) -> None:
    found = 0
    for peildatum in PEILDATA:
        others = [("wi-regio", name) for name in other_set.split(" or ")]
        truth = backends.truth.linked(("rmc", anchor_set), others, peildatum, by=("gemeente",))
        expected = {tuple(cell): counts for cell, counts in truth.items()}
        found += sum(inside for inside, _ in expected.values())
        for backend in BACKENDS:
            got = _linked(backends.nodes["rmc", backend], backends.nodes["wi-regio", backend], anchor_set,
                          other_set, peildatum, ("gemeente",))
            assert got == expected, (backend, anchor_set, other_set, peildatum)
    assert found > 0  # some of the anchor's persons are found: not a comparison of empty intersections
