"""A dataset published by several nodes: summed, and a missing node is named."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from regiozicht.query import build_count
from tests import tiny
from tests.conftest import TinyRegion

pytestmark = pytest.mark.processes  # starts real processes: left out of `make test-fast`


def test_an_offline_node_is_named_never_silently_left_out(region: TinyRegion) -> None:
    client = region.client()
    region.running.stop_process("node-school2")
    deadline = time.monotonic() + 30
    while any(n.online for n in client.catalog() if n.org == "school-2"):
        assert time.monotonic() < deadline, "the coordinator did not notice the node leaving"
        time.sleep(0.2)
    try:
        result = client.count(build_count("registratie", epsilon="0.61", purpose="test", peildatum=tiny.PEILDATUM))
        assert [n.org for n in result.failures] == ["school-2"]
        assert "offline" in result.failures[0].error
        assert [n.org for n in result.nodes if not n.error] == ["school-1"]
        cli = subprocess.run(
            [str(Path(sys.executable).parent / "regiozicht"), "query", "count", "registratie", "--epsilon", "0.62",
             "--purpose", "test", "--profile", str(region.files.profile)],
            capture_output=True, text=True, timeout=60, check=False)
        assert cli.returncode == 6, cli.stderr
        assert "missing: school-2" in cli.stderr
    finally:
        region.running.start_node("school2")
        region.running.wait_until_online({"school-1", "school-2"})


def _charged(region: TinyRegion, node_id: str) -> Decimal:
    """What the node's ledger holds as charged, summed over all its charges."""
    with sqlite3.connect(region.state_db(node_id)) as db:
        return sum((Decimal(e) for (e,) in db.execute("SELECT epsilon FROM ledger_charges WHERE status = 'charged'")),
                   Decimal(0))


def test_refresh_recomputes_and_is_charged(region: TinyRegion) -> None:
    """A stored release costs nothing; every --refresh costs its ε again at every node (else fresh
    noise could be had for free and averaged away)."""
    client = region.client()
    query = build_count("registratie", epsilon="0.63", purpose="test", peildatum=tiny.PEILDATUM, by=["sex"])
    client.count(query)
    before = {n: _charged(region, n) for n in ("school1", "school2")}
    again = client.count(query)
    assert all(n.from_store for n in again.nodes)
    assert {n: _charged(region, n) for n in before} == before
    refreshed = client.count(query, refresh=True)
    assert not any(n.from_store for n in refreshed.nodes) and all(n.epsilon == "0.63" for n in refreshed.nodes)
    assert {n: _charged(region, n) for n in before} == {n: spent + Decimal("0.63") for n, spent in before.items()}
    client.count(query, refresh=True)
    assert {n: _charged(region, n) for n in before} == {n: spent + Decimal("1.26") for n, spent in before.items()}


def test_cli_share_prints_a_share_and_what_each_count_cost(region: TinyRegion) -> None:
    script = Path(sys.executable).parent / "regiozicht"
    base = [str(script), "query", "share", "registratie", "--where", "sex = M", "--of", "registratie",
            "--epsilon", "0.64", "--purpose", "test", "--by", "gemeente", "--profile", str(region.files.profile)]
    table = subprocess.run(base, capture_output=True, text=True, timeout=60, check=False)
    assert table.returncode == 0, table.stderr
    assert "as a share of registratie" in table.stdout
    assert "registratie at school-1: spent ε 0.64" in table.stderr
    again = subprocess.run([*base, "--format", "json"], capture_output=True, text=True, timeout=60, check=False)
    assert again.returncode == 0, again.stderr
    import json

    document = json.loads(again.stdout)
    assert len(document["rows"]) == 4
    assert all(0 <= r["ci95"][0] <= r["ci95"][1] <= 1 for r in document["rows"])
    assert all(c["from_store"] for c in document["costs"]), "asked again: both counts come from the store"
