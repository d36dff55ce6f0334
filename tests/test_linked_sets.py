"""Linked counts, part 2: each side a boolean set over its node's datasets,
several peers summed, and shares of the anchor with a joint interval.

Node processes and an in-process coordinator, on a small synthetic region
(scale 0.02, two gemeenten): the RMC and two W&I nodes.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from typer.testing import CliRunner

from coordinator.cli.main import app
from demo.linkedtruth import linked_truth
from demo.region import COUNTER_ORG
from regiozicht import linknoise
from regiozicht.errors import BadQuery, PermissionDenied
from tests.linked_region import SET_CASES, Relay, assert_sets_equal_the_truth, relayed_region, synth_partners

pytestmark = pytest.mark.processes  # starts real processes: left out of `make test-fast`

P, P0 = dt.date(2026, 10, 1), dt.date(2025, 10, 1)
RMC, WI, WI_GM = "rmc-regio", "sociale-dienst-regio", "werk-inkomen-gm9001"
RMC_SETS = ["vsv", "rmc_stock", "rmc_traject"]
WI_SETS = ["baan", "bijstand", "uitkering"]
RULES = {
    "rmc": [{"kinds": ["wi"], "datasets": RMC_SETS, "partner_datasets": WI_SETS}],
    # allows one more dataset on each side than the RMC does, so that the RMC alone refuses those
    "wi-regio": [{"kinds": ["rmc"], "datasets": [*WI_SETS, "bijstand_12m"], "partner_datasets": [*RMC_SETS,
                                                                                                  "rmc_contact"]}],
    # this W&I node may not link uitkering with anyone
    "wi-gm9001": [{"kinds": ["rmc"], "datasets": ["baan", "bijstand"], "partner_datasets": RMC_SETS}],
}


@pytest.fixture(scope="module")
def relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Relay]:
    root = tmp_path_factory.mktemp("linked-sets")
    data = root / "data"
    manifest, partners = synth_partners(data, rules=RULES)
    with relayed_region(root, partners, data, manifest) as running:
        yield running


def _truth(relay: Relay, result, layer: str = "recorded"):  # type: ignore[no-untyped-def]
    partner_ids = {p.org: p.node_id for p in relay.region.partners}
    return linked_truth(relay.region.truth, partner_ids, result.query, layer=layer)


# -- the node's set evaluation against the truth ---------------------------------------------------


def test_boolean_sets_equal_the_truths_own_evaluation(relay: Relay) -> None:
    """The node's ONE statement per side (and, or, not; cells and filter from the first
    non-negated dataset, onbekend for persons without a row there; each side its own
    reference date) gives exactly the persons and cells the truth's Python evaluation gives."""
    partners = {p.node_id: p for p in relay.region.partners}
    sizes = [assert_sets_equal_the_truth(partners[node], relay.region.truth, text, day, by, where)
             for node, text, day, by, where in SET_CASES]
    assert sum(1 for size in sizes if size > 0) >= 6, sizes  # the region is big enough to mean something


def test_a_union_set_equals_the_truths_union_of_sources(relay: Relay) -> None:
    """Both truth paths agree: Truth.linked over a union of sources, and the general evaluation."""
    from demo import linkedtruth
    from regiozicht.linkquery import LinkSide, build_linked

    query = build_linked(LinkSide.of(RMC, "rmc", "rmc_stock", P),
                         [LinkSide.of(WI, "wi", "baan or bijstand", P0), LinkSide.of(WI_GM, "wi", "baan or bijstand", P0)],
                         epsilon="1", delta="1e-6", purpose="rmc-monitor", by=["gemeente"], counter=COUNTER_ORG,
                         cells=3)
    ids = {p.org: p.node_id for p in relay.region.partners}
    general = linkedtruth._evaluated(relay.region.truth, ids, query, query.others, None, "recorded")
    assert linked_truth(relay.region.truth, ids, query) == general
    assert sum(inter for inter, _ in general.values()) > 0


def test_both_sides_sets_end_to_end_with_their_own_reference_dates(relay: Relay) -> None:
    """A set on each side, grouped and filtered, through the real protocol: each estimate is
    within the truncated noise's hard bound (±2T per draw) of the truth's own evaluation."""
    result = relay.ask(anchor="rmc_stock and not rmc_traject@rmc", other=f"uitkering or baan@{WI}",
                       by=["gemeente"], where="not geslacht = V", with_at=P0)
    assert not result.failures
    assert result.query.others[0].peildatum == P0 and result.query.anchor.peildatum == P
    truth = _truth(relay, result)
    shift = linknoise.shift_for(1.0, 1e-6)
    assert [c.group for c in result.cells] == list(truth)
    for cell in result.cells:
        inter, only = truth[cell.group]
        assert abs(cell.inter - inter) <= 2 * shift and abs(cell.only - only) <= 2 * shift, (cell, inter, only)
    assert sum(i for i, _ in truth.values()) > 0 and sum(o for _, o in truth.values()) > 0


# -- several peers: K runs, K·ε at the anchor, intervals that cover --------------------------------


def test_two_peers_sum_charge_the_anchor_twice_and_cover_the_truth(relay: Relay) -> None:
    """400 queries of rmc_stock against "bijstand and not baan" at both W&I nodes (K = 2 runs each,
    fresh secrets, each charged). Per query the anchor spends 2ε and 2δ, each peer ε and δ.
    At least 366 of the 400 95% intervals of ∩, of ∖ and of the share must cover the recorded
    truth. With coverage exactly 95%, fewer than 366 happen with probability 0.11% for each
    (binomial); the intervals cover at least 95% (exact convolution, and a region of the joint
    noise of mass ≥ 95%), so the false-failure rate of the test is below 0.35%."""
    before = len(relay.linked_charges("rmc"))
    with ThreadPoolExecutor(3) as pool:  # 6 runs at once at the anchor, below its limit of 8
        results = list(pool.map(lambda _: relay.ask(other="bijstand and not baan@wi", delta="1e-7"), range(400)))
    assert not any(r.failures for r in results), [f for r in results for f in r.failures][:3]
    truth = _truth(relay, results[0])[()]
    assert truth[0] > 0 and truth[1] > 0, truth
    share = truth[0] / (truth[0] + truth[1])
    cells = [r.cells[0] for r in results]
    covered_inter = sum(c.inter_ci[0] <= truth[0] <= c.inter_ci[1] for c in cells)
    covered_only = sum(c.only_ci[0] <= truth[1] <= c.only_ci[1] for c in cells)
    covered_share = sum(c.share_ci[0] - 1e-12 <= share <= c.share_ci[1] + 1e-12 for c in cells)
    assert min(covered_inter, covered_only, covered_share) >= 366, (covered_inter, covered_only, covered_share)
    for result in results:
        assert [run.costs[RMC] for run in result.runs] == [("1", "0.0000001")] * 2
        assert {run.peer for run in result.runs} == {WI, WI_GM}
    assert len(relay.linked_charges("rmc")) - before == 800


def test_the_dry_run_shows_k_epsilon_for_a_set_and_the_covenant_bounds_it(relay: Relay) -> None:
    runner = CliRunner()
    profile = str(relay.region.files.profile)
    dry = runner.invoke(app, ["query", "linked-share", "vsv and not rmc_traject@rmc", "--with", "baan or bijstand@wi",
                              "--epsilon", "1.5", "--delta", "1e-7", "--purpose", "rmc-monitor", "--dry-run",
                              "--format", "json", "--profile", profile])
    assert dry.exit_code == 0, dry.output
    shown = json.loads(dry.output)
    anchor = next(row for row in shown["rows"] if row["role"] == "anchor")
    assert (anchor["epsilon"], anchor["delta"], anchor["set"]) == ("3", "0.0000002", "vsv and not rmc_traject")
    assert shown["runs"] == 2 and {r["set"] for r in shown["rows"] if r["role"] == "other"} == {"baan or bijstand"}
    # K·δ above the anchor's per-query limit (1e-6): refused before anything is read or sent
    before = relay.linked_charges("rmc"), relay.linked_charges("wi-regio")
    with pytest.raises(PermissionDenied, match=r"2 run\(s\)"):
        relay.ask(other="baan or bijstand@wi", delta="6e-7")
    assert (relay.linked_charges("rmc"), relay.linked_charges("wi-regio")) == before


def test_the_cli_prints_a_linked_share_with_its_interval(relay: Relay) -> None:
    runner = CliRunner()
    out = runner.invoke(app, ["query", "linked-share", "rmc_stock@rmc", "--with", f"baan or bijstand@{WI}",
                              "--by", "gemeente", "--epsilon", "1", "--delta", "1e-6", "--purpose", "rmc-monitor",
                              "--format", "json", "--profile", str(relay.region.files.profile)])
    assert out.exit_code == 0, out.output
    shown = json.loads(out.output)
    assert {"gemeente", "in_other", "anchor", "share", "ci95", "percent", "ci_low", "ci_high"} <= set(shown["rows"][0])
    for row in shown["rows"]:
        low, high = row["ci95"]
        assert 0 <= low <= high <= 1
        if row["share"] is not None:
            assert low <= row["share"] <= high
    assert shown["others"][0]["set"] == {"or": [{"dataset": "baan"}, {"dataset": "bijstand"}]}


# -- refusals: covenant and bad sets cost nothing -----------------------------------------------------


def _watching(relay: Relay) -> tuple[list[str], object]:
    seen: list[str] = []
    tap = lambda run_id, message: seen.append(message.WhichOneof("payload"))
    relay.server.links.taps.append(tap)
    return seen, tap


@pytest.mark.parametrize("anchor,other,where", [
    # the other node's covenant lets baan and bijstand be linked, not uitkering
    ("rmc_stock@rmc", f"bijstand or uitkering@{WI_GM}", "werk-inkomen-gm9001 does not let dataset 'uitkering'"),
    # the anchor's covenant does not allow the partner dataset bijstand_12m
    ("vsv@rmc", f"baan and not bijstand_12m@{WI}", "partner dataset 'bijstand_12m'"),
    # the anchor's own set names a dataset its covenant does not let be linked
    ("vsv and not rmc_contact@rmc", f"baan@{WI}", "rmc-regio does not let dataset 'rmc_contact'"),
])
def test_a_covenant_forbidding_a_dataset_inside_a_set_refuses_before_any_list(relay: Relay, anchor: str, other: str,
                                                                              where: str) -> None:
    seen, tap = _watching(relay)
    before = [relay.linked_charges(n) for n in ("rmc", "wi-regio", "wi-gm9001")]
    try:
        with pytest.raises(PermissionDenied, match=where) as caught:
            relay.ask(anchor=anchor, other=other)
    finally:
        relay.server.links.taps.remove(tap)
    assert caught.value.message.count(";") <= 1 and caught.value.message.endswith(".")
    assert "chunk" not in seen and "announce" not in seen and "z_chunk" not in seen
    assert [relay.linked_charges(n) for n in ("rmc", "wi-regio", "wi-gm9001")] == before


@pytest.mark.parametrize("anchor,other,match", [
    ("vsv@rmc", "baan or nope@wi", "publishes dataset 'nope'"),
    ("vsv@rmc", "not baan@wi", "holds for persons in none of its datasets"),
    ("not vsv@rmc", "baan@wi", "holds for persons in none of its datasets"),
    ("vsv@rmc", "baan or not bijstand@wi", "holds for persons in none of its datasets"),
    ("vsv@rmc", "@wi", "is not SET@KIND or SET@ORG"),
    ("vsv@rmc", "()@wi", "expects a dataset name"),
    ("vsv@rmc", "baan and (bijstand@wi", r"expects `\)`"),
    ("vsv@rmc", "baan or bijstand or uitkering or jikp_leaver@wi", "publishes dataset 'jikp_leaver'"),
])
def test_bad_sets_are_refused_in_one_sentence_and_cost_nothing(relay: Relay, anchor: str, other: str,
                                                               match: str) -> None:
    before = [relay.linked_charges(n) for n in ("rmc", "wi-regio", "wi-gm9001")]
    with pytest.raises(BadQuery, match=match) as caught:
        relay.ask(anchor=anchor, other=other)
    assert caught.value.message.count(";") <= 1 and caught.value.message.endswith(".")
    assert [relay.linked_charges(n) for n in ("rmc", "wi-regio", "wi-gm9001")] == before


def test_a_hand_signed_bare_not_never_reaches_a_node(relay: Relay) -> None:
    """A body the CLI would not write (a bare `not`) is refused by the coordinator's parse, and
    would be by each node's; nothing is charged."""
    import rfc8785

    body = rfc8785.dumps({
        "v": 1, "aggregate": "linked_count", "by": [], "where": None, "epsilon": "1", "delta": "0.000001",
        "purpose": "rmc-monitor", "counter": COUNTER_ORG, "cells": 1, "split": None,
        "anchor": {"org": RMC, "kind": "rmc", "set": {"dataset": "vsv"}, "peildatum": "2026-10-01"},
        "others": [{"org": WI, "kind": "wi", "set": {"not": {"dataset": "baan"}}, "peildatum": "2026-10-01"}]})
    before = relay.linked_charges("rmc"), relay.linked_charges("wi-regio")
    client = relay.region.client()
    try:
        with pytest.raises(BadQuery, match="holds for persons in none of its datasets"):
            client.submit(body, timeout=60)
    finally:
        client.close()
    assert (relay.linked_charges("rmc"), relay.linked_charges("wi-regio")) == before
