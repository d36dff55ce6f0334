"""A synthetic region whose RMC and W&I nodes may link (shared by the linked-count tests)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analyst.client import AnalystClient, Profile
from demo import synthregion
from demo.region import COUNTER_ORG, PartnerSetup, RegionFiles, RunningRegion, build, demo_covenant
from synth.generate import generate
from synth.manifest import Manifest
from synth.truth import Truth

PURPOSE = "rmc-monitor"
_P, _P0 = dt.date(2026, 10, 1), dt.date(2025, 10, 1)

# (node id, set, reference date, group-by, anchor filter): and, or, not, nesting, both dates,
# cells from the first non-negated dataset and onbekend for persons without a row there
SET_CASES: list[tuple[str, str, dt.date, tuple[str, ...], str | None]] = [
    ("wi-regio", "baan or bijstand", _P, (), None),
    ("wi-regio", "uitkering and not bijstand", _P0, (), None),
    ("wi-regio", "not (not baan or not uitkering)", _P, (), None),
    ("wi-regio", "bijstand_12m and not (bijstand or baan)", _P0, ("gemeente",), None),
    ("rmc", "vsv and not rmc_traject", _P, ("gemeente",), None),
    ("rmc", "rmc_stock and (rmc_traject or rmc_contact)", _P, ("doelgroep",), "not doelgroep = JIKP_PRO"),
    ("rmc", "vsv or jikp_leaver", _P0, ("leeftijd",), "leeftijd in (18-22, onbekend)"),
    ("rmc", "jikp_leaver and not vsv", _P, ("geslacht",), None),
]


def linking_covenant(partner: PartnerSetup, *, kinds: tuple[str, ...] = (), partner_datasets: tuple[str, ...] = (),
                     datasets: tuple[str, ...] = (), max_delta: str = "0.000001",
                     rules: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The demo covenant with linking rules (one from kinds/datasets/partner_datasets, or `rules`),
    a budget for hundreds of runs and room for δ."""
    covenant = demo_covenant(partner.org, partner.datasets, epsilon="5000")
    covenant["budget"]["delta"] = "1"
    covenant["limits"]["max_delta"] = max_delta
    covenant["purposes"][0]["linking"] = rules if rules is not None else {
        "kinds": list(kinds), "datasets": list(datasets), "partner_datasets": list(partner_datasets)}
    covenant["linked"] = {"counters": [COUNTER_ORG]}
    return covenant


@dataclass
class LinkedRegion:
    data: Path
    manifest: Manifest
    truth: Truth
    files: RegionFiles
    running: RunningRegion
    partners: list[PartnerSetup]

    def client(self) -> AnalystClient:
        return AnalystClient(Profile.load(self.files.profile))

    def state_db(self, node_id: str) -> Path:
        return self.files.node_configs[node_id].parent / "state.sqlite"


def synth_partners(data: Path, scale: float = 0.02,
                   rules: dict[str, list[dict[str, Any]]] | None = None) -> tuple[Manifest, list[PartnerSetup]]:
    """RMC and two W&I nodes; `rules` (node id → linking rules) replaces the default rmc_stock/vsv ↔ bijstand."""
    manifest = generate(data, scale=scale, seed=11, gemeenten=2)
    partners = synthregion.partners(data, manifest, only={"rmc", "wi-regio", "wi-gm9001"})
    out = []
    for p in partners:
        if rules is not None:
            cov = linking_covenant(p, rules=rules[p.node_id])
        elif p.kind == "rmc":
            cov = linking_covenant(p, kinds=("wi",), datasets=("vsv", "rmc_stock"), partner_datasets=("bijstand",))
        else:
            cov = linking_covenant(p, kinds=("rmc",), datasets=("bijstand",), partner_datasets=("vsv", "rmc_stock"))
        out.append(dataclasses.replace(p, covenant=cov))
    return manifest, out


def assert_sets_equal_the_truth(partner: PartnerSetup, truth: Truth, expression: str, peildatum: Any,
                                by: tuple[str, ...] = (), where: str | None = None) -> int:
    """The node's one statement for a set (as anchor and as the other side) gives the persons,
    and at the anchor the cells, that the truth's own evaluation gives; returns the set's size."""
    from sqlalchemy import create_engine

    from demo.linkedtruth import set_members
    from node.compile import compile_members
    from node.config import Dataset
    from regiozicht import filters, linksets
    from regiozicht.query import CountQuery

    datasets = {raw["name"]: Dataset.model_validate(raw) for raw in partner.datasets}
    tree = linksets.parse(expression)
    tree_where = filters.parse(where) if where else None
    query = CountQuery(linksets.primary(tree), "1", "check", peildatum, by, tree_where)
    members = set_members(truth, partner.node_id, tree, peildatum)
    dimensions = truth.definition(partner.node_id, query.dataset).dims
    expected = {}
    for key, values in members.items():
        row = values if values is not None else dict.fromkeys(dimensions, "onbekend")
        if tree_where is None or filters.evaluate(tree_where, row):
            expected[key] = tuple(row[name] for name in by)
    engine = create_engine(partner.database_url)
    try:
        with engine.connect() as connection:
            other = connection.execute(compile_members(datasets, tree, query, anchor=False),
                                       {"peildatum": peildatum}).all()
            anchor = connection.execute(compile_members(datasets, tree, query, anchor=True),
                                        {"peildatum": peildatum}).all()
    finally:
        engine.dispose()
    assert sorted(r[0] for r in other) == sorted(members), (partner.node_id, expression, peildatum)
    assert len(anchor) == len(expected) and {r[0]: tuple(r[1:]) for r in anchor} == expected, \
        (partner.node_id, expression, peildatum, by, where)
    return len(members)


@contextmanager
def linked_region(root: Path, scale: float = 0.02,
                  change: Any = None) -> Iterator[LinkedRegion]:
    data = root / "data"
    manifest, partners = synth_partners(data, scale)
    if change is not None:
        partners = change(partners)
    files = build(root / "region", partners)
    running = RunningRegion(files)
    running.start()
    try:
        running.wait_until_online({p.org for p in partners})
        yield LinkedRegion(data, manifest, Truth.load(data), files, running, partners)
    finally:
        running.stop()


@dataclass
class Relay:
    """A region whose coordinator runs in the test's process (to watch and tamper with what it relays)."""

    region: LinkedRegion
    server: Any  # coordinator.server.CoordinatorServer

    def ask(self, anchor: str = "rmc_stock@rmc", other: str = "bijstand@sociale-dienst-regio",
            forge: Any = None, **options: object) -> Any:
        """One linked query as the analyst; `forge(response)` alters what the coordinator returns
        before the CLI checks it (a lying coordinator)."""
        from analyst.linked import anchor_cells, resolve_linked, submit_linked
        from tests.conftest import forge_responses

        client = self.region.client()
        if forge is not None:
            forge_responses(client, forge)
        try:
            nodes = client.catalog()
            settings: dict[str, object] = dict(epsilon="1", delta="1e-6", purpose="rmc-monitor", by=[], where=None,
                                               at=None, with_at=None, counters=client.counters())
            settings.update(options)
            query = resolve_linked(nodes, anchor, other, **settings)  # type: ignore[arg-type]
            return submit_linked(client, query, anchor_cells(nodes, query))
        finally:
            client.close()

    def linked_charges(self, node_id: str) -> list[tuple[str, str]]:
        import sqlite3

        with sqlite3.connect(self.region.state_db(node_id)) as db:
            return db.execute("SELECT charge_id, status FROM ledger_charges WHERE kind = 'linked-run'").fetchall()


@contextmanager
def relayed_region(root: Path, partners: list[PartnerSetup], data: Path, manifest: Manifest) -> Iterator[Relay]:
    """Node processes and an in-process coordinator for `partners` of the generated region in `data`."""
    from coordinator import config as coordinator_config
    from coordinator.server import CoordinatorServer

    files = build(root / "region", partners)
    server = CoordinatorServer(coordinator_config.load(files.coordinator_config))
    server.start()
    running = RunningRegion(files)
    running.start_counter()
    for node_id in files.node_configs:
        running.start_node(node_id)
    try:
        running.wait_until_online({p.org for p in partners})
        yield Relay(LinkedRegion(data, manifest, Truth.load(data), files, running, partners), server)
    finally:
        running.stop()
        server.stop()
