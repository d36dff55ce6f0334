"""Hostile but authenticated input: every malformed body is a BadQuery (audited, costs nothing),
never INTERNAL, and a refusal never echoes more than a short part of what it was sent."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import rfc8785

from regiozicht import filters
from regiozicht.errors import BadQuery, RegiozichtError
from regiozicht.query import build_count, parse_body
from regiozicht.v1 import regiozicht_pb2 as pb
from tests import tiny
from tests.conftest import node_setup


def _body(**changes: Any) -> bytes:
    body = build_count("registratie", epsilon="1", purpose="test", peildatum=tiny.PEILDATUM, by=["sex"]).body()
    return rfc8785.dumps({**body, **changes})


@pytest.mark.parametrize("changes, message", [
    ({"peildatum": "20261001"}, "YYYY-MM-DD"),
    ({"peildatum": "2026-W40-4"}, "YYYY-MM-DD"),
    ({"v": True}, "unknown or missing fields"),
])
def test_bodies_python_would_parse_but_that_are_not_canonical_are_refused(changes: dict[str, object],
                                                                         message: str) -> None:
    with pytest.raises(BadQuery, match=message):
        parse_body(_body(**changes))


def _deep(depth: int) -> dict[str, object]:
    tree: dict[str, object] = {"cmp": ["sex", "=", "M"]}
    for _ in range(depth):
        tree = {"not": tree}
    return tree


@pytest.mark.parametrize("depth", [40, 5000])
def test_a_deeply_nested_filter_is_refused_as_bad_input(depth: int) -> None:
    with pytest.raises(BadQuery, match="nests"):
        parse_body(_body(where=_deep(depth)) if depth < 900 else _raw_deep(depth))
    with pytest.raises(BadQuery, match="nests deeper"):
        filters.parse("not " * 40 + "sex = M")
    with pytest.raises(BadQuery, match="nests deeper"):
        filters.parse("(" * 40 + "sex = M" + ")" * 40)
    assert filters.parse("(sex = M) and (sex = V) and " * 20 + "sex = M")  # many brackets side by side are fine


def _raw_deep(depth: int) -> bytes:
    """A body too deep for a JSON library to build as objects: written as text."""
    body = _body().decode()
    inner = '{"cmp":["sex","=","M"]}'
    return body.replace('"where":null', '"where":' + '{"not":' * depth + inner + "}" * depth).encode()


def test_a_node_refuses_a_deep_filter_at_no_cost_and_audits_it(tmp_path: Path) -> None:
    setup = node_setup(tmp_path)
    node = setup.service()
    now = int(time.time())
    envelope = pb.QueryEnvelope(body=_raw_deep(5000), query_id=uuid.uuid4().hex, issued_at_unix=now,
                                expires_at_unix=now + 300)
    with pytest.raises(BadQuery):
        node.answer(setup.analyst.sign(envelope.SerializeToString()))
    with node.state.reading() as conn:
        from sqlalchemy import select

        from node.state import audit_entries, budget_totals

        assert conn.execute(select(budget_totals)).all() == [] or all(
            row.epsilon_spent == "0" for row in conn.execute(select(budget_totals)))
        entries = [row.entry for row in conn.execute(select(audit_entries))]
    assert any('"refused"' in entry and "BadQuery" in entry for entry in entries)


def test_an_undecodable_envelope_is_bad_input(tmp_path: Path) -> None:
    setup = node_setup(tmp_path)
    with pytest.raises(BadQuery, match="cannot be decoded"):
        setup.service().answer(setup.analyst.sign(b"\xff\xff\xff not a protobuf"))


def test_a_refusal_never_echoes_a_large_value() -> None:
    with pytest.raises(RegiozichtError) as caught:
        parse_body(_body(dataset="x" * 1_000_000))
    assert len(caught.value.message) <= RegiozichtError.MAX_MESSAGE


def test_a_refused_revocation_list_is_refused_once_until_the_file_changes(tmp_path: Path) -> None:
    """The watcher reads its file every second: a bad file is refused (and logged) once, not every second."""
    from coordinator.hub import Hub
    from coordinator.server import RevocationWatcher
    from regiozicht.authority import init_ca
    from regiozicht.pemfiles import load_certificate
    from regiozicht.truststore import TrustStore

    ca = tmp_path / "ca"
    init_ca(ca, b"passphrase", name="test CA")
    trust = TrustStore(load_certificate((ca / "ca.crt").read_bytes()))
    bad = tmp_path / "crl.pem"
    bad.write_bytes(b"not a revocation list")
    watcher = RevocationWatcher(bad, trust, Hub())
    refusals = 0
    for _ in range(3):
        try:
            watcher.load()
        except RegiozichtError:
            refusals += 1
    assert refusals == 1


def test_a_message_larger_than_any_legitimate_one_is_refused_unread(region: object) -> None:
    """An authenticated analyst sending 20 MB: gRPC refuses it before the coordinator reads it."""
    import grpc

    from regiozicht import rpc
    from regiozicht.v1 import regiozicht_pb2_grpc as pb_grpc

    files = region.files  # type: ignore[attr-defined]
    analyst = files.root / "analyst"
    credentials = rpc.channel_credentials((analyst / "ca.crt").read_bytes(), (analyst / "cert.pem").read_bytes(),
                                          (analyst / "key.pem").read_bytes())
    big = [("grpc.max_send_message_length", 64 * 1024 * 1024)]
    with grpc.secure_channel(f"localhost:{files.port}", credentials, options=big) as channel:
        stub = pb_grpc.CoordinatorStub(channel)
        request = pb.SubmitRequest(envelope=pb.Signed(payload=b"x" * (20 * 1024 * 1024)))
        with pytest.raises(grpc.RpcError) as caught:
            stub.Submit(request, timeout=60)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert rpc.MAX_MESSAGE_BYTES < 20 * 1024 * 1024
