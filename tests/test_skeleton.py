"""The walking skeleton over real processes and sockets: a signed DP count
from analyst to nodes and back, and every bad input refused cleanly — no release
and no change in any node's ledger (the spent figures of every period and pot)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import cast

import grpc
import pytest

from analyst.client import AnalystClient, Profile
from regiozicht import authority, dp, rpc
from regiozicht.errors import AuthenticationFailed, BadQuery, PermissionDenied, Replayed, Unavailable
from regiozicht.identity import Identity
from regiozicht.query import build_count
from regiozicht.v1 import regiozicht_pb2 as pb
from regiozicht.v1 import regiozicht_pb2_grpc as pb_grpc
from tests import tiny
from tests.conftest import TinyRegion

pytestmark = pytest.mark.processes  # starts real processes: left out of `make test-fast`


def _query(by: list[str] | None = None, epsilon: str = "1", where: str | None = None):  # type: ignore[no-untyped-def]
    return build_count("registratie", epsilon=epsilon, purpose="test", peildatum=tiny.PEILDATUM,
                       by=by or ["gemeente", "sex"], where=where)


def _committed(region: TinyRegion) -> int:
    total = 0
    for node_id in region.files.node_configs:
        with sqlite3.connect(region.state_db(node_id)) as connection:
            total += connection.execute("SELECT count(*) FROM releases").fetchone()[0]
    return total


def _spent(region: TinyRegion) -> dict[str, list[tuple[str, str, str, str]]]:
    """Every node's spent figures, per period and pot, as its ledger holds them."""
    spent = {}
    for node_id in region.files.node_configs:
        with sqlite3.connect(region.state_db(node_id)) as connection:
            spent[node_id] = connection.execute(
                "SELECT period, pot, epsilon_spent, delta_spent FROM budget_totals ORDER BY period, pot").fetchall()
    return spent


def _envelope(client: AnalystClient, body: bytes, *, issued: int | None = None, expires: int | None = None) -> pb.Signed:
    now = int(time.time())
    issued = now if issued is None else issued
    envelope = pb.QueryEnvelope(body=body, query_id=f"test-{time.time_ns()}", issued_at_unix=issued,
                                expires_at_unix=issued + 300 if expires is None else expires)
    return client.signer.sign(envelope.SerializeToString())


def _submit(client: AnalystClient, signed: pb.Signed) -> pb.SubmitResponse:
    try:
        response: pb.SubmitResponse = client.stub.Submit(pb.SubmitRequest(envelope=signed), timeout=30)
    except grpc.RpcError as exc:
        raise rpc.error_from_rpc(exc) from None
    return response


def _still_serving(region: TinyRegion) -> None:
    client = region.client()
    try:
        assert {n.org for n in client.catalog() if n.online} == {"school-1", "school-2"}
    finally:
        client.close()


def _issue_analyst(region: TinyRegion, directory: Path, org: str) -> Path:
    """A second analyst with its own key, certificate and profile."""
    directory.mkdir()
    authority.make_request(directory / "key.pem", directory / "request.csr", Identity("analyst", org))
    passphrase = region.files.passphrase_file.read_bytes().strip()
    (directory / "cert.pem").write_bytes(authority.sign_request(
        region.files.ca_dir, passphrase, (directory / "request.csr").read_bytes(), role="analyst", org=org))
    profile = directory / "profile.toml"
    profile.write_text(
        f'coordinator = "localhost:{region.files.port}"\nca = "{region.files.ca_dir / "ca.crt"}"\n'
        f'certificate = "cert.pem"\nkey = "key.pem"\n'
    )
    return profile


# -- the happy path -------------------------------------------------------------


def test_grouped_count_is_summed_over_both_nodes_with_every_cell(region: TinyRegion) -> None:
    client = region.client()
    result = client.count(_query())
    assert [n.org for n in result.nodes] == ["school-1", "school-2"] and not result.failures
    assert len(result.cells) == 12, "every cell of the public domain, with onbekend"
    for cell in result.cells:
        # each cell's noise is a sum of two discrete Laplace(1) draws: |noise| <= 30 has
        # probability 1 - 1e-11, so this cannot fail by chance
        assert abs(cell.value - region.truth[cast("tuple[str, str]", cell.group)]) <= 30  # by gemeente and sex
        # the interval is the claimed one: centred, the exact 95% half-width of a sum of two
        # discrete Laplace(1) noises (an interval from less noise would be narrower)
        assert cell.value - cell.ci_low == cell.ci_high - cell.value == dp.sum_half_width([1.0, 1.0])
    assert ("GM0003", "V") in {c.group for c in result.cells}


def test_asking_again_returns_the_stored_release_at_no_cost(region: TinyRegion) -> None:
    client = region.client()
    query = _query(by=["sex"], epsilon="0.7")
    first = client.count(query)
    before = _committed(region)
    second = client.count(query)
    assert [c.value for c in second.cells] == [c.value for c in first.cells]
    assert all(n.from_store for n in second.nodes)
    assert _committed(region) == before


def test_a_zero_row_cell_is_present_and_noised(region: TinyRegion) -> None:
    client = region.client()
    values = [
        next(c.value for c in client.count(_query(), refresh=True).cells if c.group == ("GM0003", "V"))
        for _ in range(20)
    ]
    # truth is 0; P(all 20 sums of two Laplace(1) draws are 0) ≈ 0.30^20 < 1e-10
    assert any(v != 0 for v in values)


def test_dry_run_spends_nothing(region: TinyRegion) -> None:
    before, spent = _committed(region), _spent(region)
    out = _cli(region, "query", "count", "registratie", "--epsilon", "0.3", "--purpose", "test",
               "--by", "gemeente", "--dry-run", "--format", "json")
    assert out.returncode == 0, out.stderr
    assert '"expected_ci95_half_width"' in out.stdout
    assert _committed(region) == before and _spent(region) == spent


def _cli(region: TinyRegion, *args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "regiozicht"
    return subprocess.run([str(script), *args, "--profile", str(region.files.profile)],
                          capture_output=True, text=True, timeout=60, check=False)


def test_cli_prints_json_with_value_interval_and_epsilon(region: TinyRegion) -> None:
    out = _cli(region, "query", "count", "registratie", "--epsilon", "0.9", "--purpose", "test",
               "--by", "sex", "--format", "json")
    assert out.returncode == 0, out.stderr
    import json

    document = json.loads(out.stdout)
    assert [r["sex"] for r in document["rows"]] == ["M", "V", "onbekend"]
    assert all(len(r["ci95"]) == 2 for r in document["rows"]) and document["epsilon"] == "0.9"


# -- bad input: each refused with one sentence, nothing charged, still serving ------


def test_no_client_certificate_is_refused(region: TinyRegion) -> None:
    before = _spent(region)
    ca = (region.files.ca_dir / "ca.crt").read_bytes()
    with (grpc.secure_channel(f"localhost:{region.files.port}", grpc.ssl_channel_credentials(ca)) as channel,
          pytest.raises(grpc.RpcError) as caught):
        pb_grpc.CoordinatorStub(channel).Catalog(pb.CatalogRequest(), timeout=10)
    error = rpc.error_from_rpc(caught.value)
    # refused in the TLS handshake: the typed error names the handshake and the regional CA
    assert isinstance(error, Unavailable) and "TLS handshake" in error.message
    assert "certificate is from the regional CA" in error.message
    assert _spent(region) == before
    _still_serving(region)


def test_another_cas_certificate_is_refused(region: TinyRegion, tmp_path: Path) -> None:
    other = tmp_path / "other-ca"
    authority.init_ca(other, b"other passphrase")
    authority.make_request(tmp_path / "key.pem", tmp_path / "req.csr", Identity("analyst", "intruder"))
    (tmp_path / "cert.pem").write_bytes(authority.sign_request(
        other, b"other passphrase", (tmp_path / "req.csr").read_bytes(), role="analyst", org="intruder"))
    (tmp_path / "profile.toml").write_text(
        f'coordinator = "localhost:{region.files.port}"\nca = "{region.files.ca_dir / "ca.crt"}"\n'
        'certificate = "cert.pem"\nkey = "key.pem"\n')
    before = _spent(region)
    with pytest.raises(AuthenticationFailed, match="not issued by the regional CA"):
        AnalystClient(Profile.load(tmp_path / "profile.toml"))
    # and the coordinator's TLS refuses it even when the client does not check itself
    ca = (region.files.ca_dir / "ca.crt").read_bytes()
    credentials = rpc.channel_credentials(ca, (tmp_path / "cert.pem").read_bytes(), (tmp_path / "key.pem").read_bytes())
    with (grpc.secure_channel(f"localhost:{region.files.port}", credentials) as channel,
          pytest.raises(grpc.RpcError) as caught):
        pb_grpc.CoordinatorStub(channel).Catalog(pb.CatalogRequest(), timeout=10)
    # refused in the TLS handshake (the server is up, see below): no connection, so UNAVAILABLE
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE, caught.value
    assert isinstance(rpc.error_from_rpc(caught.value), Unavailable)
    assert _spent(region) == before
    _still_serving(region)


def test_the_wrong_role_is_refused(region: TinyRegion, tmp_path: Path) -> None:
    node_dir = region.files.node_configs["school1"].parent
    (tmp_path / "profile.toml").write_text(
        f'coordinator = "localhost:{region.files.port}"\nca = "{node_dir / "ca.crt"}"\n'
        f'certificate = "{node_dir / "cert.pem"}"\nkey = "{node_dir / "key.pem"}"\n')
    client = AnalystClient(Profile.load(tmp_path / "profile.toml"))
    before = _spent(region)
    with pytest.raises(PermissionDenied, match="role"):
        client.catalog()
    analyst = region.client()
    # an analyst key cannot pose as a node on the node stream
    responses = analyst.stub.Connect(iter([pb.NodeMessage(describe=analyst.signer.sign(b""))]), timeout=10)
    with pytest.raises(grpc.RpcError) as caught:
        next(responses)
    assert isinstance(rpc.error_from_rpc(caught.value), PermissionDenied)
    assert _spent(region) == before
    _still_serving(region)


def test_a_tampered_signed_query_is_refused(region: TinyRegion) -> None:
    client = region.client()
    signed = _envelope(client, _query().canonical())
    envelope = pb.QueryEnvelope.FromString(signed.payload)
    envelope.body = envelope.body.replace(b'"epsilon":"1"', b'"epsilon":"9"')
    signed.payload = envelope.SerializeToString()
    before, spent = _committed(region), _spent(region)
    with pytest.raises(AuthenticationFailed, match="does not verify"):
        _submit(client, signed)
    assert _committed(region) == before and _spent(region) == spent
    _still_serving(region)


def test_a_replayed_signed_query_is_refused_by_the_nodes(region: TinyRegion) -> None:
    client = region.client()
    signed = _envelope(client, _query(by=["gemeente"], epsilon="0.35").canonical())
    first = _submit(client, signed)
    assert all(r.HasField("answer") for r in first.count.results)
    before, spent = _committed(region), _spent(region)
    second = _submit(client, signed)
    assert [r.error.kind for r in second.count.results] == ["Replayed", "Replayed"]
    assert "already used" in second.count.results[0].error.message
    assert _committed(region) == before and _spent(region) == spent


def test_an_expired_signed_query_is_refused(region: TinyRegion) -> None:
    client = region.client()
    now = int(time.time())
    signed = _envelope(client, _query().canonical(), issued=now - 1000, expires=now - 500)
    before, spent = _committed(region), _spent(region)
    with pytest.raises(Replayed, match="expired"):
        _submit(client, signed)
    assert _committed(region) == before and _spent(region) == spent


def test_an_answer_altered_in_transit_is_caught_by_the_cli(region: TinyRegion) -> None:
    client = region.client()
    query = _query(by=["sex"], epsilon="0.45")
    body = query.canonical()
    signed = _envelope(client, body)
    query_id = pb.QueryEnvelope.FromString(signed.payload).query_id
    response = _submit(client, signed)
    answer = pb.Answer.FromString(response.count.results[0].answer.payload)
    answer.cells[0].value += 5
    response.count.results[0].answer.payload = answer.SerializeToString()
    with pytest.raises(AuthenticationFailed, match="does not verify"):
        client._verify(query, query_id, body, response, [])
    fresh = _submit(client, _envelope(client, body))
    fresh.count.combined[0].value += 1
    with pytest.raises(AuthenticationFailed):
        client._verify(query, pb.Answer.FromString(fresh.count.results[0].answer.payload).query_id, body, fresh, [])


def test_a_coordinator_cannot_forge_another_querys_answer(region: TinyRegion) -> None:
    client = region.client()
    query = _query(by=["sex"], epsilon="0.55")
    response = _submit(client, _envelope(client, query.canonical()))
    with pytest.raises(AuthenticationFailed, match="not its answer to this query"):
        client._verify(query, "some-other-id", query.canonical(), response, [])


@pytest.mark.parametrize("dataset,by,where,message", [
    ("nonexistent", [], None, "No node publishes"),
    ("registratie", ["age"], None, "no dimension 'age'"),
    ("registratie", ["sex"], "gemeente = GM0546", "not in the domain"),
])
def test_unknown_dataset_dimension_or_value_is_refused(region: TinyRegion, dataset: str, by: list[str],
                                                       where: str | None, message: str) -> None:
    client = region.client()
    query = build_count(dataset, epsilon="1", purpose="test", peildatum=tiny.PEILDATUM, by=by, where=where)
    before, spent = _committed(region), _spent(region)
    with pytest.raises(BadQuery, match=message):
        client.check(query, client.publishers(dataset))
    # a client that skips the check is refused by the coordinator or by every node
    try:
        response = _submit(client, _envelope(client, query.canonical()))
    except BadQuery as exc:
        assert message in exc.message
    else:
        assert [r.error.kind for r in response.count.results] == ["BadQuery", "BadQuery"]
        assert message in response.count.results[0].error.message
    assert _committed(region) == before and _spent(region) == spent
    _still_serving(region)


@pytest.mark.parametrize("args,message", [
    (["--epsilon", "0"], "greater than 0"),
    (["--epsilon", "-1"], "greater than 0"),
    (["--epsilon", "1", "--where", "sex = = M"], "filter"),
    (["--epsilon", "1", "--at", "2027-10-01"], "data-as-of"),
])
def test_cli_refusals_exit_2_with_one_sentence(region: TinyRegion, args: list[str], message: str) -> None:
    before, spent = _committed(region), _spent(region)
    out = _cli(region, "query", "count", "registratie", "--purpose", "test", *args)
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith("error: ") and message in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert _committed(region) == before and _spent(region) == spent


def test_a_revoked_analyst_is_refused_after_the_new_list_arrives(region: TinyRegion, tmp_path: Path) -> None:
    profile = _issue_analyst(region, tmp_path / "leaver", "vertrokken-analist")
    leaver = AnalystClient(Profile.load(profile))
    assert leaver.catalog()
    passphrase = region.files.passphrase_file.read_bytes().strip()
    authority.revoke(region.files.ca_dir, passphrase, cert_pem=(tmp_path / "leaver" / "cert.pem").read_bytes())
    region.files.crl.write_bytes(authority.make_crl(region.files.ca_dir, passphrase))
    deadline = time.monotonic() + 15
    while True:
        try:
            leaver.catalog()
        except AuthenticationFailed as exc:
            assert "revoked" in exc.message
            break
        assert time.monotonic() < deadline, "the coordinator did not reload the revocation list"
        time.sleep(0.3)
    _still_serving(region)


def test_node_config_pointing_at_a_missing_database_is_refused(region: TinyRegion, tmp_path: Path) -> None:
    config = region.files.node_configs["school1"]
    broken = config.parent / "broken.toml"
    broken.write_text(config.read_text().replace(str(region.databases["school1"]), str(tmp_path / "gone.sqlite")))
    node = Path(sys.executable).parent / "regiozicht-node"
    for command in ("check", "serve"):
        out = subprocess.run([str(node), command, "--config", str(broken)], capture_output=True, text=True,
                             timeout=60, check=False)
        assert out.returncode == 2, out.stderr
        assert "gone.sqlite does not exist" in out.stderr
    assert not (tmp_path / "gone.sqlite").exists(), "a missing database is never created empty"
    ok = subprocess.run([str(node), "check", "--config", str(config)], capture_output=True, text=True, timeout=60,
                        check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "template runs" in ok.stdout
