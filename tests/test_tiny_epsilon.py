"""A tiny valid ε must not be a denial of service: hard floors in the query model, a covenant
minimum checked before any charge, and interval computations bounded for every allowed ε."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from pathlib import Path

import pytest
import rfc8785

from regiozicht import dp
from regiozicht.errors import BadQuery, PermissionDenied
from regiozicht.linkquery import LinkSide, build_linked
from regiozicht.query import build_count, canonical_epsilon
from regiozicht.v1 import regiozicht_pb2 as pb
from tests import tiny
from tests.conftest import node_setup, sign_query


@pytest.mark.parametrize("value", ["0.0003", "1e-17", "1e-400", "0.0009"])
def test_the_query_model_refuses_an_epsilon_below_its_floor(value: str) -> None:
    with pytest.raises(BadQuery, match="below the hard minimum"):
        canonical_epsilon(value)
    assert canonical_epsilon("0.001") == "0.001"


def _spent(setup: object) -> list[tuple[str, str]]:
    import sqlite3

    with sqlite3.connect(setup.files.node_configs["school1"].parent / "state.sqlite") as db:  # type: ignore[attr-defined]
        return db.execute("SELECT pot, epsilon_spent FROM budget_totals ORDER BY pot").fetchall()


def test_a_node_refuses_an_epsilon_below_its_covenant_minimum_before_any_charge(tmp_path: Path) -> None:
    setup = node_setup(tmp_path)
    node = setup.service()
    before = _spent(setup)
    with pytest.raises(PermissionDenied, match="below the per-query minimum of 0.01"):
        node.answer(sign_query(setup.analyst, epsilon="0.005"))
    assert _spent(setup) == before
    node.answer(sign_query(setup.analyst, epsilon="0.01"))  # the minimum itself is allowed
    assert _spent(setup) != before


def test_a_hand_signed_body_below_the_floor_is_refused_before_any_charge(tmp_path: Path) -> None:
    setup = node_setup(tmp_path)
    node = setup.service()
    before = _spent(setup)
    body = build_count("registratie", epsilon="1", purpose="test", peildatum=tiny.PEILDATUM, by=["sex"]).body()
    for epsilon in ("0.0003", "0.00000000000000001"):
        raw = rfc8785.dumps({**body, "epsilon": epsilon})
        now = int(time.time())
        envelope = pb.QueryEnvelope(body=raw, query_id=uuid.uuid4().hex, issued_at_unix=now, expires_at_unix=now + 300)
        with pytest.raises(BadQuery, match="below the hard minimum"):
            node.answer(setup.analyst.sign(envelope.SerializeToString()))
    assert _spent(setup) == before


def test_linked_queries_have_their_own_floors() -> None:
    day = dt.date(2026, 10, 1)
    anchor, other = LinkSide.of("rmc-a", "rmc", "vsv", day), LinkSide.of("wi-b", "wi", "baan", day)
    settings = dict(purpose="p", counter="teller", cells=1)
    with pytest.raises(BadQuery, match="minimum of 0.25 for a linked run"):
        build_linked(anchor, [other], epsilon="0.1", delta="1e-9", **settings)  # type: ignore[arg-type]
    with pytest.raises(BadQuery, match="δ must be between"):
        build_linked(anchor, [other], epsilon="1", delta="1e-13", **settings)  # type: ignore[arg-type]
    build_linked(anchor, [other], epsilon="0.25", delta="1e-12", **settings)  # type: ignore[arg-type]


def test_long_sums_through_the_fft_equal_the_direct_convolution(monkeypatch: pytest.MonkeyPatch) -> None:
    scales = [dp.count_scale(0.05)] * 6
    fast = [dp.sum_half_width(scales, level) for level in (0.9, 0.95, 0.975, 0.99)]
    monkeypatch.setattr(dp, "_DIRECT", 10**12)  # force the direct sum
    direct = [dp.sum_half_width(scales, level) for level in (0.9, 0.95, 0.975, 0.99)]
    assert fast == direct
