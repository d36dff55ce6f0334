"""Revocation that does not depend on the coordinator: a node keeps the newest revocation list it
accepted, loads a local copy at start, refuses older lists whoever sends them, and refuses queries
once its list is older than its covenant allows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from node import config as node_config
from node.service import NodeService
from regiozicht import pki
from regiozicht.errors import AuthenticationFailed
from tests.conftest import NodeSetup, node_setup, sign_query


def _revoke_analyst(setup: NodeSetup, now: dt.datetime | None = None) -> bytes:
    """Revokes the analyst's certificate and returns the CA's new list (a higher number)."""
    passphrase = setup.files.passphrase_file.read_bytes().strip()
    pki.revoke(setup.files.ca_dir, passphrase, cert_pem=(setup.files.root / "analyst" / "cert.pem").read_bytes())
    return pki.make_crl(setup.files.ca_dir, passphrase, now=now)


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
    two_hours_ago = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=2)
    node = _bare(setup)
    node.revocation.accept(pki.make_crl(setup.files.ca_dir, passphrase, now=two_hours_ago))  # valid 7 days
    with pytest.raises(AuthenticationFailed, match="older than the 1 hours"):
        node.answer(sign_query(setup.analyst))
    node.revocation.accept(pki.make_crl(setup.files.ca_dir, passphrase))
    node.answer(sign_query(setup.analyst))


def _set(setup: NodeSetup, change: Any) -> None:
    import tomllib

    raw = tomllib.loads(setup.config.read_text())
    change(raw)
    setup.config.write_text(tomli_w.dumps(raw))
