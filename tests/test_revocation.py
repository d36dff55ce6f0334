"""Revocation that does not depend on the coordinator: a node keeps the newest revocation list it
accepted, loads a local copy at start, refuses older lists whoever sends them, and refuses queries
once its list is older than its covenant allows. The last test runs a real coordinator and node
process: a new list reaches the node over its connection and the node refuses on it by itself."""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from analyst.client import AnalystClient, Profile
from demo.region import RunningRegion, build
from node import config as node_config
from node.service import NodeService
from regiozicht import authority
from regiozicht.errors import AuthenticationFailed
from regiozicht.query import build_count
from tests import tiny
from tests.conftest import NodeSetup, node_setup, sign_query, tiny_partners

pytestmark = pytest.mark.processes  # starts real processes: left out of `make test-fast`


def _revoke_analyst(setup: NodeSetup, now: dt.datetime | None = None) -> bytes:
    """Revokes the analyst's certificate and returns the CA's new list (a higher number)."""
    passphrase = setup.files.passphrase_file.read_bytes().strip()
    authority.revoke(setup.files.ca_dir, passphrase, cert_pem=(setup.files.root / "analyst" / "cert.pem").read_bytes())
    return authority.make_crl(setup.files.ca_dir, passphrase, now=now)


def _bare(setup: NodeSetup) -> NodeService:
    """The node as it starts, before the coordinator has passed it any list."""
    return NodeService(node_config.load(setup.config))


def test_a_restarted_node_keeps_the_newest_list_and_refuses_an_older_one(tmp_path: Path) -> None:
    setup = node_setup(tmp_path)
    old = setup.files.crl.read_bytes()
    node = _bare(setup)
    node.revocation.accept(old)
    node.answer(sign_query(setup.analyst))  # not revoked yet
    node.revocation.accept(_revoke_analyst(setup))
    with pytest.raises(AuthenticationFailed, match="revoked"):
        node.answer(sign_query(setup.analyst))
    restarted = _bare(setup)  # no coordinator has spoken yet: the stored list is loaded
    with pytest.raises(AuthenticationFailed, match="revoked"):
        restarted.answer(sign_query(setup.analyst))
    # a coordinator sending the old list after the restart is refused; the revocation stands
    with pytest.raises(AuthenticationFailed, match="older than number"):
        restarted.revocation.accept(old)
    with pytest.raises(AuthenticationFailed, match="revoked"):
        restarted.answer(sign_query(setup.analyst))


def test_a_local_copy_is_loaded_at_start(tmp_path: Path) -> None:
    setup = node_setup(tmp_path)
    newest = _revoke_analyst(setup)
    local = setup.config.parent / "crl.pem"
    local.write_bytes(newest)
    _set(setup, lambda raw: raw["tls"].update(revocation_list="crl.pem"))
    with pytest.raises(AuthenticationFailed, match="revoked"):
        _bare(setup).answer(sign_query(setup.analyst))


def test_a_list_older_than_the_covenant_allows_stops_every_query(tmp_path: Path) -> None:
    setup = node_setup(tmp_path, lambda covenant: covenant["limits"].update(crl_max_age_hours=1))
    passphrase = setup.files.passphrase_file.read_bytes().strip()
    two_hours_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    node = _bare(setup)
    node.revocation.accept(authority.make_crl(setup.files.ca_dir, passphrase, now=two_hours_ago))  # valid 7 days
    with pytest.raises(AuthenticationFailed, match="older than the 1 hours"):
        node.answer(sign_query(setup.analyst))
    node.revocation.accept(authority.make_crl(setup.files.ca_dir, passphrase))
    node.answer(sign_query(setup.analyst))


def _set(setup: NodeSetup, change: Any) -> None:
    import tomllib

    raw = tomllib.loads(setup.config.read_text())
    change(raw)
    setup.config.write_text(tomli_w.dumps(raw))


# -- over the connection: a real coordinator passes a new list to a running node process -------------


def _newest_at_node(state: Path) -> int:
    """The newest list number the node process keeps in its state."""
    with sqlite3.connect(state) as db:
        return int(db.execute("SELECT coalesce(max(number), 0) FROM revocation_lists").fetchone()[0])


def _wait(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.3)


def test_a_new_list_reaches_the_node_over_the_connection_and_the_node_refuses_on_it(tmp_path: Path) -> None:
    """The coordinator reloads its list file and passes the new list on; the node process keeps it. A
    restarted coordinator that only has the old list again lets the revoked analyst's query through
    — and the node refuses it itself."""
    partners, _, _ = tiny_partners(tmp_path, persons=50)
    files = build(tmp_path / "region", partners[:1])
    state = files.node_configs["school1"].parent / "state.sqlite"
    running = RunningRegion(files)
    running.start_coordinator()
    running.start_node("school1")
    try:
        running.wait_until_online({"school-1"})
        query = build_count("registratie", epsilon="1", purpose="test", peildatum=tiny.PEILDATUM, by=["sex"])
        client = AnalystClient(Profile.load(files.profile))
        assert not client.count(query).failures
        client.close()
        _wait(lambda: _newest_at_node(state) > 0, "the node never kept the coordinator's first list")
        first = _newest_at_node(state)

        old = files.crl.read_bytes()
        passphrase = files.passphrase_file.read_bytes().strip()
        authority.revoke(files.ca_dir, passphrase, cert_pem=(files.root / "analyst" / "cert.pem").read_bytes())
        files.crl.write_bytes(authority.make_crl(files.ca_dir, passphrase))
        _wait(lambda: _newest_at_node(state) > first, "the new list did not reach the node over its connection")

        # the coordinator restarts with the old list: it no longer knows of the revocation
        running.stop_process("coordinator")
        files.crl.write_bytes(old)
        running.start_coordinator()
        running.wait_until_online({"school-1"})
        client = AnalystClient(Profile.load(files.profile))
        try:
            result = client.count(query)
        finally:
            client.close()
        (refused,) = result.failures
        assert refused.org == "school-1" and refused.error_kind == "AuthenticationFailed", refused
        assert "revoked" in refused.error
        assert _newest_at_node(state) > first, "the node kept the newest list, refusing the old one"
    finally:
        running.stop()
