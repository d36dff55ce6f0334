"""Coverage-aware linked runs: with the W&I nodes covering disjoint gemeenten, each peer's run holds
only the vsv'ers of its gemeenten, so every anchor person is in one run and the anchor spends ε once
for the whole query (parallel composition) — over real processes."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
import rfc8785

from analyst.linked import anchor_cells, resolve_linked, submit_linked
from regiozicht import linknoise
from regiozicht.errors import BadQuery, RegiozichtError
from regiozicht.linkquery import parse_linked_body
from tests.linked_region import LinkedRegion, linked_region

pytestmark = pytest.mark.processes  # starts real processes: left out of `make test-fast`

P = dt.date(2026, 10, 1)
EPSILON, DELTA = "10", "0.000001"


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LinkedRegion]:
    with linked_region(tmp_path_factory.mktemp("split")) as running:
        yield running


def _ask(region: LinkedRegion, split: bool, epsilon: str = EPSILON, delta: str = DELTA) -> Any:
    client = region.client()
    try:
        nodes = client.catalog()
        query = resolve_linked(nodes, "vsv@rmc", "bijstand@wi", epsilon=epsilon, delta=delta, purpose="rmc-monitor",
                               by=["gemeente"], where=None, at=P, with_at=P, counters=client.counters(), split=split)
        return submit_linked(client, query, anchor_cells(nodes, query))
    finally:
        client.close()


def _pots(region: LinkedRegion, node_id: str) -> dict[str, float]:
    with sqlite3.connect(region.state_db(node_id)) as db:
        return {pot: float(eps) for pot, eps in db.execute("SELECT pot, epsilon_spent FROM budget_totals")}


def test_each_vsver_is_looked_up_at_the_node_covering_its_gemeente(region: LinkedRegion) -> None:
    before = _pots(region, "rmc")
    result = _ask(region, split=True)
    assert not result.failures
    split = result.query.split
    assert split is not None and split.dimension == "gemeente"
    assert dict(split.runs) == {"sociale-dienst-regio": ("GM9002",), "werk-inkomen-gm9001": ("GM9001",)}
    shift = linknoise.shift_for(float(EPSILON), float(DELTA))
    ids = {p.org: p.node_id for p in region.partners}
    for cell in result.cells:
        (gemeente,) = cell.group
        peer = ids[split.run_of(gemeente) or ""]
        found, missed = region.truth.linked(("rmc", "vsv", P), [(peer, "bijstand", P)], P, by=("gemeente",))[cell.group]
        # the protocol's noise is truncated: one run's estimate lies within 2T of the truth
        assert abs(cell.inter - found) <= 2 * shift and abs(cell.only - missed) <= 2 * shift, (cell, found, missed)
    # no peer covers `onbekend`: those vsv'ers are in no run and their cell has no estimate
    assert [c.group for c in result.cells] == [("GM9001",), ("GM9002",)]
    after = _pots(region, "rmc")
    # ε once in the anchor's pool for both runs; each partner's pair budget gets its run's ε
    assert after["*"] - before.get("*", 0) == pytest.approx(10)
    for org in split.runs:
        assert after[f"pair:{org[0]}"] - before.get(f"pair:{org[0]}", 0) == pytest.approx(10)


def test_without_a_split_the_anchor_spends_once_per_run(region: LinkedRegion) -> None:
    before = _pots(region, "rmc")
    with pytest.raises(RegiozichtError, match="per-query limit"):  # two full runs at ε 10 are above the limit of 10
        _ask(region, split=False)
    assert _pots(region, "rmc") == before
    result = _ask(region, split=False, epsilon="1", delta="0.0000005")
    assert not result.failures and result.query.split is None
    assert _pots(region, "rmc")["*"] - before.get("*", 0) == pytest.approx(2)  # both runs hold every vsv'er


def test_a_split_sharing_a_value_between_peers_is_refused() -> None:
    body: dict[str, Any] = {"v": 1, "aggregate": "linked_count", "by": ["gemeente"], "where": None, "epsilon": "1",
            "delta": "0.000001", "purpose": "rmc-monitor", "counter": "regio-teller", "cells": 3,
            "split": {"dimension": "gemeente", "runs": {"wi-a": ["GM9001"], "wi-b": ["GM9001", "GM9002"]}},
            "anchor": {"org": "rmc-regio", "kind": "rmc", "set": {"dataset": "vsv"}, "peildatum": "2026-10-01"},
            "others": [{"org": org, "kind": "wi", "set": {"dataset": "bijstand"}, "peildatum": "2026-10-01"}
                       for org in ("wi-a", "wi-b")]}
    with pytest.raises(BadQuery, match="none shared"):
        parse_linked_body(rfc8785.dumps(body))
    body["split"] = {"dimension": "leeftijd", "runs": {"wi-a": ["18-22"], "wi-b": ["23-26"]}}
    with pytest.raises(BadQuery, match="grouped by it"):
        parse_linked_body(rfc8785.dumps(body))
    body["split"] = {"dimension": "gemeente", "runs": {"wi-a": ["GM9001"], "wi-b": ["GM9002"]}}
    assert parse_linked_body(rfc8785.dumps(body)).split is not None
