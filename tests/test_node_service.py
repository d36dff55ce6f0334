"""The node verifies everything itself: the coordinator is not trusted.

These tests hand envelopes straight to a node's service, as a malicious
coordinator could, and check the node refuses them without charging: no release
and the ledger's spent figures (the pool of the node's current period and every
purpose's charges) unchanged.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from analyst.client import AnalystClient, Profile
from demo.region import RegionFiles, build
from node import config as node_config
from node.service import NodeService
from regiozicht import authority
from regiozicht.errors import AuthenticationFailed, BadQuery, PermissionDenied, Replayed
from regiozicht.query import build_count
from regiozicht.v1 import regiozicht_pb2 as pb
from tests import tiny
from tests.conftest import current_period, tiny_partners


@dataclass
class Setup:
    files: RegionFiles
    node: NodeService
    analyst: AnalystClient
    passphrase: bytes


@pytest.fixture()
def setup(tmp_path: Path) -> Iterator[Setup]:
    partners, _, _ = tiny_partners(tmp_path, persons=50)
    files = build(tmp_path / "region", partners[:1])
    node = NodeService(node_config.load(files.node_configs["school1"]))
    node.trust.update_crl(files.crl.read_bytes())
    analyst = AnalystClient(Profile.load(files.profile))
    yield Setup(files, node, analyst, files.passphrase_file.read_bytes().strip())
    analyst.close()


def _signed(setup: Setup, *, epsilon: str = "1", query_id: str | None = None, expires_in: int = 300) -> pb.Signed:
    body = build_count("registratie", epsilon=epsilon, purpose="test", peildatum=tiny.PEILDATUM,
                       by=["sex"]).canonical()
    now = int(time.time())
    envelope = pb.QueryEnvelope(body=body, query_id=query_id or f"q-{time.time_ns()}", issued_at_unix=now,
                                expires_at_unix=now + expires_in)
    return setup.analyst.signer.sign(envelope.SerializeToString())


def _releases(setup: Setup) -> int:
    return setup.node.store.count_committed()


def _spent(setup: Setup) -> tuple[object, ...]:
    """The ledger's spent figures: the pool of the period the node charges now, and every purpose's sum."""
    node = setup.node
    with node.state.reading() as conn:
        return node.ledger.pool_spent(conn, current_period(node).id), node.ledger.spent_by_purpose(conn)


def test_a_valid_query_is_answered_and_signed(setup: Setup) -> None:
    signed = setup.node.answer(_signed(setup))
    answer = pb.Answer.FromString(signed.payload)
    assert [list(c.group) for c in answer.cells] == [["M"], ["V"], ["onbekend"]]
    assert answer.epsilon == "1" and not answer.from_store
    assert _releases(setup) == 1


def test_a_tampered_envelope_is_refused_by_the_node(setup: Setup) -> None:
    signed = _signed(setup)
    signed.payload = signed.payload.replace(b'"epsilon":"1"', b'"epsilon":"2"')
    before = _spent(setup)
    with pytest.raises(AuthenticationFailed, match="does not verify"):
        setup.node.answer(signed)
    assert _releases(setup) == 0 and _spent(setup) == before


def test_a_replayed_envelope_is_refused_by_the_node(setup: Setup) -> None:
    signed = _signed(setup)
    setup.node.answer(signed)
    before = _spent(setup)
    with pytest.raises(Replayed, match="already used"):
        setup.node.answer(signed)
    assert _releases(setup) == 1 and _spent(setup) == before


def test_an_expired_envelope_is_refused_by_the_node(setup: Setup) -> None:
    signed = _signed(setup, expires_in=60)
    before = _spent(setup)
    with pytest.raises(Replayed, match="expired"):
        setup.node.answer(signed, now=time.time() + 60 + 121)
    assert _releases(setup) == 0 and _spent(setup) == before


def test_a_node_key_cannot_sign_queries(setup: Setup) -> None:
    envelope = pb.QueryEnvelope.FromString(_signed(setup).payload)
    forged = setup.node.signer.sign(envelope.SerializeToString())
    before = _spent(setup)
    with pytest.raises(PermissionDenied, match="role"):
        setup.node.answer(forged)
    assert _releases(setup) == 0 and _spent(setup) == before


def test_a_revoked_analyst_is_refused_by_the_node(setup: Setup) -> None:
    authority.revoke(setup.files.ca_dir, setup.passphrase, cert_pem=(setup.files.root / "analyst" / "cert.pem").read_bytes())
    setup.node.trust.update_crl(authority.make_crl(setup.files.ca_dir, setup.passphrase))
    before = _spent(setup)
    with pytest.raises(AuthenticationFailed, match="revoked"):
        setup.node.answer(_signed(setup))
    assert _releases(setup) == 0 and _spent(setup) == before


def test_a_stale_revocation_list_stops_the_node_answering(setup: Setup) -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=8)
    setup.node.trust.update_crl(authority.make_crl(setup.files.ca_dir, setup.passphrase, days=7, now=past))
    before = _spent(setup)
    with pytest.raises(AuthenticationFailed, match="pki crl"):
        setup.node.answer(_signed(setup))
    assert _releases(setup) == 0 and _spent(setup) == before


def test_a_revocation_list_from_another_ca_is_refused(setup: Setup, tmp_path: Path) -> None:
    authority.init_ca(tmp_path / "other", b"other")
    with pytest.raises(AuthenticationFailed, match="not signed by the regional CA"):
        setup.node.trust.update_crl(authority.make_crl(tmp_path / "other", b"other"))


def test_a_reference_date_after_data_as_of_is_refused(setup: Setup) -> None:
    body = build_count("registratie", epsilon="1", purpose="test", peildatum=dt.date(2027, 10, 1)).canonical()
    now = int(time.time())
    envelope = pb.QueryEnvelope(body=body, query_id="late", issued_at_unix=now, expires_at_unix=now + 60)
    before = _spent(setup)
    with pytest.raises(BadQuery, match="data-as-of"):
        setup.node.answer(setup.analyst.signer.sign(envelope.SerializeToString()))
    assert _releases(setup) == 0 and _spent(setup) == before


def test_a_vanished_partner_database_is_refused_and_nothing_is_charged(setup: Setup) -> None:
    database = Path(setup.node.partner.url.database.split("file:")[1].split("?")[0])  # type: ignore[union-attr]
    database.rename(database.with_suffix(".moved"))
    setup.node.partner.dispose()
    from regiozicht.errors import Unavailable

    before = _spent(setup)
    with pytest.raises(Unavailable, match="regiozicht-node check"):
        setup.node.answer(_signed(setup))
    assert _releases(setup) == 0 and _spent(setup) == before, "refunded: no noise was drawn"
    database.with_suffix(".moved").rename(database)
    setup.node.answer(_signed(setup))
    assert _releases(setup) == 1
