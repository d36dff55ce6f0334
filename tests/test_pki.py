"""Regional CA, certificate profile, trust store, signatures and `regiozicht pki`."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
import stat
from concurrent import futures
from pathlib import Path
from typing import Any, cast

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from typer.testing import CliRunner

from coordinator.cli.pki import app
from node.cli import app as node_app
from regiozicht import authority, pemfiles, signing, truststore
from regiozicht.errors import AuthenticationFailed, ConfigError, PermissionDenied
from regiozicht.identity import QUERY_ROLES, Identity, identity_of

PASSPHRASE = b"correct horse battery staple"
DAY = dt.timedelta(days=1)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Ca:
    """A regional CA in a temporary directory, issuing certificates on demand."""

    def __init__(self, root: Path, name: str = "Test CA") -> None:
        self.dir = root / "ca"
        self.root = root
        self.cert = authority.init_ca(self.dir, PASSPHRASE, name=name)

    def issue(self, identity: Identity, *, dns: tuple[str, ...] = (), ips: tuple[str, ...] = (),
              days: int = 30, now: dt.datetime | None = None) -> tuple[Path, bytes]:
        """Make a key + request as the participant, sign it as the CA."""
        stem = f"{identity.role}-{identity.org}"
        key_path, csr_path = self.root / f"{stem}.key", self.root / f"{stem}.csr"
        authority.make_request(key_path, csr_path, identity, dns_names=dns, ip_addresses=ips)
        cert_pem = authority.sign_request(
            self.dir, PASSPHRASE, csr_path.read_bytes(), role=identity.role, org=identity.org,
            kind=identity.kind, entity=identity.entity, days=days, now=now,
        )
        return key_path, cert_pem

    def store(self, require_crl: bool = False) -> truststore.TrustStore:
        return truststore.TrustStore(self.cert, require_crl=require_crl)


@pytest.fixture
def ca(tmp_path: Path) -> Ca:
    return Ca(tmp_path)


NODE = Identity("node", "rmc-hollands-midden", "rmc")
COORDINATOR = Identity("coordinator", "regio-hollands-midden")
ANALYST = Identity("analyst", "gemeente-leiden")
SERVICE = Identity("service", "dashboard-hm")
COUNTER = Identity("counter", "telpunt-hm")
OIN = "OIN:00000001123456789000"
KVK = "KVK:12345678"

# ----------------------------------------------------------------- identity


def test_identity_uri_round_trip_and_str() -> None:
    assert NODE.uri == "urn:regiozicht:v1:node:rmc-hollands-midden:rmc"
    assert Identity.parse(NODE.uri) == NODE
    assert Identity.parse(ANALYST.uri) == ANALYST
    assert str(NODE) == "node rmc-hollands-midden (rmc)"
    assert str(ANALYST) == "analyst gemeente-leiden"


@pytest.mark.parametrize("uri", [
    "urn:regiozicht:v1:node:rmc-x",            # node without kind
    "urn:regiozicht:v1:analyst:org:rmc",       # kind on a non-node
    "urn:regiozicht:v1:admin:org",             # unknown role
    "urn:regiozicht:v1:node:Org:rmc",          # upper case org
    "urn:regiozicht:v1:node:org:bank",         # unknown kind
    "urn:regiozicht:v2:node:org:rmc",          # other version
    "urn:regiozicht:v1:node:org:rmc:extra",
    "urn:regiozicht:v1:node:-org:rmc",
    "urn:regiozicht:v1:counter:org:rmc",       # kind on a counter
])
def test_identity_parse_rejects(uri: str) -> None:
    with pytest.raises(ValueError):
        Identity.parse(uri)


# ----------------------------------------------------------- CA and profile


def test_ca_files_and_encrypted_key(ca: Ca) -> None:
    key_file = ca.dir / "ca.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert b"ENCRYPTED PRIVATE KEY" in key_file.read_bytes()
    with pytest.raises(TypeError):  # needs a password
        serialization.load_pem_private_key(key_file.read_bytes(), None)
    key = serialization.load_pem_private_key(key_file.read_bytes(), PASSPHRASE)
    assert key.public_key() == ca.cert.public_key()
    constraints = ca.cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca


def test_init_ca_refuses_to_overwrite(ca: Ca) -> None:
    with pytest.raises(ConfigError):
        authority.init_ca(ca.dir, PASSPHRASE)


@pytest.mark.parametrize("identity", [NODE, COORDINATOR, ANALYST, SERVICE, COUNTER], ids=str)
def test_round_trip_all_roles(ca: Ca, identity: Identity) -> None:
    dns = ("localhost",) if identity.role == "coordinator" else ()
    ips = ("127.0.0.1",) if identity.role == "coordinator" else ()
    key_path, cert_pem = ca.issue(identity, dns=dns, ips=ips)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert ca.store().verify(cert_pem) == identity
    cert = pemfiles.load_certificate(cert_pem)
    assert pemfiles.load_certificate(cert.public_bytes(serialization.Encoding.DER)) == cert
    assert identity_of(cert) == identity
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert.not_valid_after_utc - _now() < dt.timedelta(days=30, minutes=1)
    ext = cert.extensions
    assert ext.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert ext.get_extension_for_class(x509.KeyUsage).value.digital_signature
    assert set(ext.get_extension_for_class(x509.ExtendedKeyUsage).value) == {
        ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    ext.get_extension_for_class(x509.SubjectKeyIdentifier)
    aki = ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    san = ext.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == list(dns)
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address(i) for i in ips]
    assert cert.subject.rfc4514_string() == f"O={identity.org},CN={identity.role} {identity.org}"
    records = authority.issued_certificates(ca.dir)
    assert [(r["serial"], r["identity"], r["revoked"]) for r in records] == [
        (cert.serial_number, identity.uri, None)]


def test_make_request_refuses_existing_key(ca: Ca, tmp_path: Path) -> None:
    key_path, _ = ca.issue(NODE)
    before = key_path.read_bytes()
    with pytest.raises(ConfigError):
        authority.make_request(key_path, tmp_path / "again.csr", NODE)
    assert key_path.read_bytes() == before


def test_dns_names_only_for_coordinator(ca: Ca, tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        authority.make_request(tmp_path / "n.key", tmp_path / "n.csr", NODE, dns_names=["localhost"])
    with pytest.raises(ConfigError):
        authority.make_request(tmp_path / "c.key", tmp_path / "c.csr", COORDINATOR)
    authority.make_request(tmp_path / "n.key", tmp_path / "n.csr", NODE)
    with pytest.raises(ConfigError):
        authority.sign_request(ca.dir, PASSPHRASE, (tmp_path / "n.csr").read_bytes(),
                         role="node", org=NODE.org, kind="rmc", dns_names=["evil.example"])


def test_operator_dns_names_override_request(ca: Ca, tmp_path: Path) -> None:
    authority.make_request(tmp_path / "c.key", tmp_path / "c.csr", COORDINATOR, dns_names=["localhost"])
    cert_pem = authority.sign_request(ca.dir, PASSPHRASE, (tmp_path / "c.csr").read_bytes(),
                                role="coordinator", org=COORDINATOR.org, dns_names=["hub.example"])
    san = pemfiles.load_certificate(cert_pem).extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.value.get_values_for_type(x509.DNSName) == ["hub.example"]


def test_wrong_passphrase(ca: Ca, tmp_path: Path) -> None:
    authority.make_request(tmp_path / "n.key", tmp_path / "n.csr", NODE)
    with pytest.raises(ConfigError, match="passphrase is wrong"):
        authority.sign_request(ca.dir, b"wrong", (tmp_path / "n.csr").read_bytes(),
                         role="node", org=NODE.org, kind="rmc")
    with pytest.raises(ConfigError, match="passphrase is wrong"):
        authority.make_crl(ca.dir, b"wrong")
    assert authority.issued_certificates(ca.dir) == []


@pytest.mark.parametrize("stated", [
    dict(role="node", org="wi-leiden", kind="rmc"),
    dict(role="node", org=NODE.org, kind="wi"),
    dict(role="analyst", org=NODE.org),
])
def test_csr_identity_mismatch(ca: Ca, tmp_path: Path, stated: dict[str, Any]) -> None:
    authority.make_request(tmp_path / "n.key", tmp_path / "n.csr", NODE)
    with pytest.raises(ConfigError, match="asks for identity"):
        authority.sign_request(ca.dir, PASSPHRASE, (tmp_path / "n.csr").read_bytes(), **stated)


@pytest.mark.parametrize("stated", [
    dict(role="admin", org="x"),
    dict(role="node", org="x"),
    dict(role="analyst", org="x", kind="rmc"),
    dict(role="analyst", org="Not A Slug"),
])
def test_sign_rejects_invalid_role_or_kind(ca: Ca, tmp_path: Path, stated: dict[str, Any]) -> None:
    authority.make_request(tmp_path / "n.key", tmp_path / "n.csr", NODE)
    with pytest.raises(ConfigError):
        authority.sign_request(ca.dir, PASSPHRASE, (tmp_path / "n.csr").read_bytes(), **stated)


def test_csr_with_bad_signature_refused(ca: Ca, tmp_path: Path) -> None:
    authority.make_request(tmp_path / "n.key", tmp_path / "n.csr", NODE)
    der = bytearray(x509.load_pem_x509_csr((tmp_path / "n.csr").read_bytes())
                    .public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0x01  # inside the signature's s value: still valid DER
    with pytest.raises(ConfigError, match="signature is invalid"):
        authority.sign_request(ca.dir, PASSPHRASE, bytes(der), role="node", org=NODE.org, kind="rmc")


# ------------------------------------------------------------ legal entity


@pytest.mark.parametrize("identity", [
    Identity("node", "rmc-hollands-midden", "rmc", OIN),
    Identity("analyst", "gemeente-leiden", entity=OIN),
    Identity("counter", "telpunt-hm", entity=KVK),
], ids=str)
def test_entity_round_trip(ca: Ca, identity: Identity) -> None:
    _, cert_pem = ca.issue(identity)
    cert = pemfiles.load_certificate(cert_pem)
    [attribute] = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)
    assert attribute.oid.dotted_string == "2.5.4.97" and attribute.value == identity.entity
    verified = ca.store().verify(cert_pem)
    assert verified.entity == identity_of(cert).entity == identity.entity
    assert verified.legal_entity == identity.entity
    # equality stays (role, org, kind): code comparing against entity-less identities keeps working
    assert verified == Identity(identity.role, identity.org, identity.kind)
    assert Identity.parse(identity.uri).entity is None
    [record] = authority.issued_certificates(ca.dir)
    assert record["entity"] == identity.entity


def test_certificate_without_entity(ca: Ca) -> None:
    _, cert_pem = ca.issue(ANALYST)
    cert = pemfiles.load_certificate(cert_pem)
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER) == []
    verified = ca.store().verify(cert_pem)
    assert verified.entity is None and verified.legal_entity == "org:gemeente-leiden"
    assert verified.legal_entity == Identity("service", "gemeente-leiden").legal_entity
    assert verified.legal_entity != SERVICE.legal_entity
    assert verified.legal_entity != Identity("analyst", "gemeente-leiden", entity=KVK).legal_entity
    assert authority.issued_certificates(ca.dir)[0]["entity"] is None


def test_records_from_before_entities_list_none(ca: Ca) -> None:
    ca.issue(NODE)
    state_path = ca.dir / authority.CA_STATE_FILE
    state = json.loads(state_path.read_text())
    del state["issued"][0]["entity"]
    state_path.write_text(json.dumps(state))
    assert authority.issued_certificates(ca.dir)[0]["entity"] is None


@pytest.mark.parametrize("entity", [
    "OIN:123", "KVK:1234567", "KVK:123456789", "kvk:12345678", "OIN:0000000112345678900a",
    "KVK:12345678 ", "12345678", "NTRNL-12345678", "RSIN:123456789", "",
    "KVK:\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668",  # Arabic-Indic digits are not digits here
])
def test_malformed_entity_refused(entity: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError) as refusal:
        Identity("analyst", "gemeente-leiden", entity=entity)
    message = str(refusal.value)
    assert message.endswith(" or KVK:<8 digits>.") and message.count(".") == 1  # one sentence
    assert "neither an OIN nor a KvK number" in message
    with pytest.raises(ConfigError, match="neither an OIN nor a KvK number"):
        authority.request_node_certificate(tmp_path / "n.key", tmp_path / "n.csr", "wi-leiden", "wi", entity)
    assert not (tmp_path / "n.key").exists()


@pytest.mark.parametrize(("requested", "stated"), [
    (OIN, "OIN:00000001123456789001"),
    (OIN, KVK),
    (OIN, None),
    (None, KVK),
])
def test_request_and_sign_entity_mismatch(ca: Ca, tmp_path: Path, requested: str | None,
                                          stated: str | None) -> None:
    requester = Identity("analyst", "gemeente-leiden", entity=requested)
    authority.make_request(tmp_path / "a.key", tmp_path / "a.csr", requester)
    refusal = f"asks for legal entity {requested or 'none'}, not {stated or 'none'}; check --entity"
    with pytest.raises(ConfigError, match=refusal):
        authority.sign_request(ca.dir, PASSPHRASE, (tmp_path / "a.csr").read_bytes(),
                         role="analyst", org="gemeente-leiden", entity=stated)
    assert authority.issued_certificates(ca.dir) == []


def _csr_with_subject(identity: Identity, entities: list[str]) -> bytes:
    """A request whose subject carries `entities` as given, bypassing Identity's checks."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, identity.common_name)]
                        + [x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, e) for e in entities])
    san = x509.SubjectAlternativeName([x509.UniformResourceIdentifier(identity.uri)])
    csr = (x509.CertificateSigningRequestBuilder().subject_name(subject)
           .add_extension(san, critical=False).sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.PEM)


@pytest.mark.parametrize("entities", [["OIN:1"], [KVK, OIN], [KVK, KVK]])
def test_request_with_invalid_entity_refused(ca: Ca, entities: list[str]) -> None:
    csr_pem = _csr_with_subject(ANALYST, entities)
    with pytest.raises(ConfigError, match="invalid legal entity"):
        authority.sign_request(ca.dir, PASSPHRASE, csr_pem, role="analyst", org=ANALYST.org, entity=KVK)


def test_certificate_with_two_entities_is_not_an_identity() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, e) for e in (KVK, OIN)])
    now = _now()
    san = x509.SubjectAlternativeName([x509.UniformResourceIdentifier(ANALYST.uri)])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + DAY)
            .add_extension(san, critical=False).sign(key, hashes.SHA256()))
    with pytest.raises(AuthenticationFailed, match="invalid legal entity .*2 legal entities"):
        identity_of(cert)


# -------------------------------------------------------------- trust store


def test_other_ca_certificate_rejected(ca: Ca, tmp_path: Path) -> None:
    other = Ca(tmp_path / "other", name="Test CA")  # same name on purpose
    _, cert_pem = other.issue(NODE)
    with pytest.raises(AuthenticationFailed, match="not issued by the regional CA"):
        ca.store().verify(cert_pem)


def test_ca_certificate_is_not_a_participant(ca: Ca) -> None:
    with pytest.raises(AuthenticationFailed):
        ca.store().verify(ca.cert)


def test_expired_and_not_yet_valid(ca: Ca) -> None:
    _, cert_pem = ca.issue(NODE)
    store = ca.store()
    store.verify(cert_pem, now=_now() + dt.timedelta(days=30))
    with pytest.raises(AuthenticationFailed, match="expired"):
        store.verify(cert_pem, now=_now() + dt.timedelta(days=31))
    with pytest.raises(AuthenticationFailed, match="not valid until"):
        store.verify(cert_pem, now=_now() - DAY)


def test_revoked_certificate_rejected_after_crl(ca: Ca) -> None:
    _, cert_pem = ca.issue(NODE)
    _, other_pem = ca.issue(ANALYST)
    store = ca.store(require_crl=True)
    store.update_crl(authority.make_crl(ca.dir, PASSPHRASE))
    store.verify(cert_pem)
    authority.revoke(ca.dir, PASSPHRASE, cert_pem=cert_pem, reason="key_compromise")
    store.verify(cert_pem)  # not yet published
    crl_pem = authority.make_crl(ca.dir, PASSPHRASE)
    store.update_crl(crl_pem)
    with pytest.raises(AuthenticationFailed, match="revoked"):
        store.verify(cert_pem)
    assert store.verify(other_pem) == ANALYST
    entry = pemfiles.load_crl(crl_pem).get_revoked_certificate_by_serial_number(
        pemfiles.load_certificate(cert_pem).serial_number)
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.key_compromise
    assert [r["revoked"] is not None for r in authority.issued_certificates(ca.dir)] == [True, False]


def test_revoke_by_serial_and_unknown_serial(ca: Ca) -> None:
    _, cert_pem = ca.issue(SERVICE)
    serial = pemfiles.load_certificate(cert_pem).serial_number
    authority.revoke(ca.dir, PASSPHRASE, serial=serial)
    authority.revoke(ca.dir, PASSPHRASE, serial=serial)  # twice is harmless
    store = ca.store()
    store.update_crl(authority.make_crl(ca.dir, PASSPHRASE))
    with pytest.raises(AuthenticationFailed, match="revoked"):
        store.verify(cert_pem)
    with pytest.raises(ConfigError):
        authority.revoke(ca.dir, PASSPHRASE, serial=serial + 1)
    with pytest.raises(ConfigError):
        authority.revoke(ca.dir, PASSPHRASE, serial=serial, reason="bored")


def test_stale_crl_when_required(ca: Ca) -> None:
    _, cert_pem = ca.issue(NODE)
    store = ca.store(require_crl=True)
    with pytest.raises(AuthenticationFailed, match="No revocation list"):
        store.verify(cert_pem)
    store.update_crl(authority.make_crl(ca.dir, PASSPHRASE, days=7))
    store.verify(cert_pem, now=_now() + dt.timedelta(days=6))
    with pytest.raises(AuthenticationFailed, match="revocation list expired at .*regiozicht pki crl"):
        store.verify(cert_pem, now=_now() + dt.timedelta(days=8))
    # Without require_crl a stale list still revokes but is not an error.
    lax = ca.store()
    lax.update_crl(authority.make_crl(ca.dir, PASSPHRASE, days=7))
    lax.verify(cert_pem, now=_now() + dt.timedelta(days=8))


def test_crl_from_other_ca_refused(ca: Ca, tmp_path: Path) -> None:
    other = Ca(tmp_path / "other", name="Test CA")
    with pytest.raises(AuthenticationFailed, match="not signed by the regional CA"):
        ca.store().update_crl(authority.make_crl(other.dir, PASSPHRASE))
    with pytest.raises(AuthenticationFailed, match="not signed by the regional CA"):
        truststore.TrustStore(ca.cert, pemfiles.load_crl(authority.make_crl(other.dir, PASSPHRASE)))


def test_older_crl_number_refused(ca: Ca) -> None:
    first = authority.make_crl(ca.dir, PASSPHRASE)
    second = authority.make_crl(ca.dir, PASSPHRASE)
    numbers = [pemfiles.load_crl(c).extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
               for c in (first, second)]
    assert numbers == [1, 2]
    store = ca.store()
    store.update_crl(second)
    store.update_crl(second)  # reloading the same list is fine
    with pytest.raises(AuthenticationFailed, match="older"):
        store.update_crl(first)


def test_crl_from_the_future_refused(ca: Ca) -> None:
    crl_pem = authority.make_crl(ca.dir, PASSPHRASE, now=_now() + DAY)
    store = ca.store()
    with pytest.raises(AuthenticationFailed, match="clock"):
        store.update_crl(crl_pem)
    store.update_crl(crl_pem, now=_now() + DAY)


def test_request_node_certificate(ca: Ca, tmp_path: Path) -> None:
    authority.request_node_certificate(tmp_path / "wi.key", tmp_path / "wi.csr", "wi-leiden", "wi")
    cert_pem = authority.sign_request(ca.dir, PASSPHRASE, (tmp_path / "wi.csr").read_bytes(),
                                role="node", org="wi-leiden", kind="wi")
    assert ca.store().verify(cert_pem, roles={"node"}) == Identity("node", "wi-leiden", "wi")
    with pytest.raises(ConfigError):
        authority.request_node_certificate(tmp_path / "x.key", tmp_path / "x.csr", "wi-leiden", "bank")


def test_crl_dates(ca: Ca) -> None:
    now = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)
    crl = pemfiles.load_crl(authority.make_crl(ca.dir, PASSPHRASE, days=7, now=now))
    assert crl.last_update_utc == now
    assert crl.next_update_utc == now + dt.timedelta(days=7)
    ca_key = ca.cert.public_key()
    assert isinstance(ca_key, ec.EllipticCurvePublicKey)
    assert crl.is_signature_valid(ca_key)


def test_role_not_allowed(ca: Ca) -> None:
    _, cert_pem = ca.issue(NODE)
    store = ca.store()
    assert store.verify(cert_pem, roles={"node"}) == NODE
    with pytest.raises(PermissionDenied, match="node rmc-hollands-midden.*analyst, service"):
        store.verify(cert_pem, roles=("service", "analyst"))


def test_counter_role(ca: Ca, tmp_path: Path) -> None:
    assert COUNTER.uri == "urn:regiozicht:v1:counter:telpunt-hm"
    assert Identity.parse(COUNTER.uri) == COUNTER
    assert "counter" not in QUERY_ROLES
    _, cert_pem = ca.issue(COUNTER)
    store = ca.store()
    assert store.verify(cert_pem, roles={"counter"}).role == "counter"
    for roles in (("node",), ("analyst",), ("node", "analyst"), QUERY_ROLES):
        with pytest.raises(PermissionDenied, match="counter telpunt-hm"):
            store.verify(cert_pem, roles=roles)
    with pytest.raises(ConfigError, match="Only a coordinator"):
        authority.make_request(tmp_path / "k.key", tmp_path / "k.csr", COUNTER, dns_names=["counter.example"])
    with pytest.raises(ValueError, match="Only nodes have a kind"):
        Identity("counter", "telpunt-hm", "rmc")


def test_trust_store_from_files(ca: Ca, tmp_path: Path) -> None:
    _, cert_pem = ca.issue(NODE)
    crl_path = tmp_path / "ca.crl"
    crl_path.write_bytes(authority.make_crl(ca.dir, PASSPHRASE))
    store = truststore.TrustStore.from_files(ca.dir / "ca.crt", crl_path, require_crl=True)
    assert store.verify(cert_pem) == NODE
    with pytest.raises(AuthenticationFailed):
        store.verify(b"not a certificate")


# --------------------------------------------------------------- signatures


def test_sign_and_verify(ca: Ca) -> None:
    key_path, cert_pem = ca.issue(ANALYST)
    _, other_pem = ca.issue(SERVICE)
    key = pemfiles.load_private_key(key_path)
    cert = pemfiles.load_certificate(cert_pem)
    signature = signing.sign(key, b"query")
    signing.verify(cert, b"query", signature)
    with pytest.raises(AuthenticationFailed, match="altered or signed by another key"):
        signing.verify(cert, b"querY", signature)
    with pytest.raises(AuthenticationFailed):
        signing.verify(pemfiles.load_certificate(other_pem), b"query", signature)
    with pytest.raises(AuthenticationFailed):
        signing.verify(cert, b"query", b"garbage")


# ---------------------------------------------------------------- passphrase


def test_load_passphrase(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(authority.PASSPHRASE_ENV, "from-env")
    assert authority.load_passphrase(None) == b"from-env"
    secret = tmp_path / "pass"
    secret.write_text("from-file\n")
    assert authority.load_passphrase(secret) == b"from-file"
    monkeypatch.delenv(authority.PASSPHRASE_ENV)
    answers = iter(["typed", "typo"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert authority.load_passphrase(None) == b"typed"
    answers = iter(["typed", "typo"])
    with pytest.raises(ConfigError, match="differ"):
        authority.load_passphrase(None, confirm=True)
    with pytest.raises(ConfigError):
        authority.load_passphrase(tmp_path / "missing")


# ----------------------------------------------------------------------- CLI


def test_cli_workflow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(authority.PASSPHRASE_ENV, PASSPHRASE.decode())
    runner = CliRunner()
    ca_dir = tmp_path / "ca"

    def run(*args: str | Path) -> tuple[int, str, str]:
        result = runner.invoke(app, [str(a) for a in args])
        # stderr is normalised: rich may wrap a long message at the terminal width
        return result.exit_code, result.stdout, " ".join(result.stderr.split())

    code, out, _ = run("init-ca", "--ca-dir", ca_dir)
    assert code == 0 and "fingerprint" in out
    code, _, err = run("init-ca", "--ca-dir", ca_dir)
    assert code == 2 and err.startswith("error: ") and "already holds a CA" in err

    code, _, _ = run("request", "--role", "node", "--org", NODE.org, "--kind", "rmc",
                     "--key", tmp_path / "n.key", "--out", tmp_path / "n.csr")
    assert code == 0
    assert stat.S_IMODE((tmp_path / "n.key").stat().st_mode) == 0o600
    code, _, _ = run("request", "--role", "coordinator", "--org", COORDINATOR.org, "--dns", "localhost",
                     "--ip", "127.0.0.1", "--key", tmp_path / "c.key", "--out", tmp_path / "c.csr")
    assert code == 0
    code, _, err = run("request", "--role", "node", "--org", "x", "--key", tmp_path / "x.key",
                       "--out", tmp_path / "x.csr")
    assert code == 2 and "kind" in err

    code, _, err = run("sign", tmp_path / "n.csr", "--role", "node", "--org", "wi-leiden", "--kind", "wi",
                       "--ca-dir", ca_dir, "--out", tmp_path / "n.crt")
    assert code == 2 and "asks for identity" in err
    code, out, _ = run("sign", tmp_path / "n.csr", "--role", "node", "--org", NODE.org, "--kind", "rmc",
                       "--ca-dir", ca_dir, "--out", tmp_path / "n.crt")
    assert code == 0, out
    code, _, _ = run("sign", tmp_path / "c.csr", "--role", "coordinator", "--org", COORDINATOR.org,
                     "--ca-dir", ca_dir, "--out", tmp_path / "c.crt", "--days", "10")
    assert code == 0
    coordinator_cert = pemfiles.load_certificate((tmp_path / "c.crt").read_bytes())
    assert coordinator_cert.extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName) == ["localhost"]

    secret = tmp_path / "wrong-pass"
    secret.write_text("wrong\n")
    code, _, err = run("crl", "--ca-dir", ca_dir, "--out", tmp_path / "ca.crl", "--passphrase-file", secret)
    assert code == 2 and "passphrase is wrong" in err

    code, _, _ = run("revoke", tmp_path / "n.crt", "--ca-dir", ca_dir)
    assert code == 0
    serial = str(coordinator_cert.serial_number)
    code, _, _ = run("revoke", "--serial", serial, "--ca-dir", ca_dir, "--reason", "superseded")
    assert code == 0
    code, _, _ = run("crl", "--ca-dir", ca_dir, "--out", tmp_path / "ca.crl")
    assert code == 0
    code, out, _ = run("list", "--ca-dir", ca_dir, "--format", "csv")
    assert code == 0 and out.count("\n") == 3 and serial in out

    store = truststore.TrustStore.from_files(ca_dir / "ca.crt", tmp_path / "ca.crl", require_crl=True)
    with pytest.raises(AuthenticationFailed, match="revoked"):
        store.verify((tmp_path / "n.crt").read_bytes())


def _cli(*args: str | Path) -> tuple[int, str, str]:
    """Runs `regiozicht pki`; stderr normalised as in test_cli_workflow."""
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, " ".join(result.stderr.split())


def test_cli_counter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(authority.PASSPHRASE_ENV, PASSPHRASE.decode())
    ca_dir = tmp_path / "ca"
    assert _cli("init-ca", "--ca-dir", ca_dir)[0] == 0
    code, out, _ = _cli("request", "--role", "counter", "--org", COUNTER.org,
                        "--key", tmp_path / "t.key", "--out", tmp_path / "t.csr")
    assert code == 0 and "counter telpunt-hm" in out
    code, _, err = _cli("request", "--role", "counter", "--org", COUNTER.org, "--dns", "localhost",
                        "--key", tmp_path / "u.key", "--out", tmp_path / "u.csr")
    assert code == 2 and "Only a coordinator" in err
    code, _, err = _cli("sign", tmp_path / "t.csr", "--role", "service", "--org", COUNTER.org,
                        "--ca-dir", ca_dir, "--out", tmp_path / "t.crt")
    assert code == 2 and "asks for identity" in err
    code, out, _ = _cli("sign", tmp_path / "t.csr", "--role", "counter", "--org", COUNTER.org,
                        "--ca-dir", ca_dir, "--out", tmp_path / "t.crt")
    assert code == 0, out
    assert truststore.TrustStore.from_files(ca_dir / "ca.crt").verify((tmp_path / "t.crt").read_bytes()) == COUNTER
    code, out, _ = _cli("list", "--ca-dir", ca_dir, "--format", "json")
    assert code == 0 and COUNTER.uri in out


def test_cli_entity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(authority.PASSPHRASE_ENV, PASSPHRASE.decode())
    ca_dir = tmp_path / "ca"
    assert _cli("init-ca", "--ca-dir", ca_dir)[0] == 0
    code, out, _ = _cli("request", "--role", "counter", "--org", COUNTER.org, "--entity", KVK,
                        "--key", tmp_path / "t.key", "--out", tmp_path / "t.csr")
    assert code == 0 and KVK in out
    code, _, err = _cli("request", "--role", "analyst", "--org", "x", "--entity", "KVK:123",
                        "--key", tmp_path / "x.key", "--out", tmp_path / "x.csr")
    assert code == 2 and "neither an OIN nor a KvK number" in err and not (tmp_path / "x.key").exists()
    for stated in ((), ("--entity", OIN)):
        code, _, err = _cli("sign", tmp_path / "t.csr", "--role", "counter", "--org", COUNTER.org, *stated,
                            "--ca-dir", ca_dir, "--out", tmp_path / "t.crt")
        assert code == 2 and "asks for legal entity KVK:12345678" in err
    code, out, _ = _cli("sign", tmp_path / "t.csr", "--role", "counter", "--org", COUNTER.org, "--entity", KVK,
                        "--ca-dir", ca_dir, "--out", tmp_path / "t.crt")
    assert code == 0 and KVK in out
    verified = truststore.TrustStore.from_files(ca_dir / "ca.crt").verify((tmp_path / "t.crt").read_bytes())
    assert (verified.role, verified.entity) == ("counter", KVK)

    runner = CliRunner()
    done = runner.invoke(node_app, ["request-cert", "--org", "wi-leiden", "--kind", "wi", "--entity", OIN,
                                    "--key", str(tmp_path / "n.key"), "--out", str(tmp_path / "n.csr")])
    assert done.exit_code == 0, done.output
    code, _, _ = _cli("sign", tmp_path / "n.csr", "--role", "node", "--org", "wi-leiden", "--kind", "wi",
                      "--entity", OIN, "--ca-dir", ca_dir, "--out", tmp_path / "n.crt")
    assert code == 0
    assert identity_of(pemfiles.load_certificate((tmp_path / "n.crt").read_bytes())).entity == OIN
    bad = runner.invoke(node_app, ["request-cert", "--org", "wi-leiden", "--kind", "wi", "--entity", "OIN:1",
                                   "--key", str(tmp_path / "m.key"), "--out", str(tmp_path / "m.csr")])
    assert bad.exit_code == 2

    code, out, _ = _cli("list", "--ca-dir", ca_dir, "--format", "csv")
    assert code == 0
    assert out.splitlines()[0] == "serial,identity,entity,not_before,not_after,revoked"
    assert f"{COUNTER.uri},{KVK}," in out and f"urn:regiozicht:v1:node:wi-leiden:wi,{OIN}," in out


def test_cli_exit_codes_documented() -> None:
    """Each exit code's row in the table names the error class that carries that code."""
    doc = (Path(__file__).parent.parent / "docs" / "pki.md").read_text()
    rows = {line.split("|")[1].strip(): line for line in doc.splitlines() if re.match(r"^\| \d+ \|", line)}
    for error in (ConfigError, AuthenticationFailed, PermissionDenied):
        assert f"(`{error.__name__}`)" in rows[str(error.exit_code)], (error, rows.get(str(error.exit_code)))


# ---------------------------------------------------------------------- gRPC


def _echo_server(ca: Ca, seen: list[Identity]) -> tuple[grpc.Server, int]:
    key_path, cert_pem = ca.issue(COORDINATOR, dns=("localhost",), ips=("127.0.0.1",))
    store = ca.store()

    def echo(request: bytes, context: grpc.ServicerContext) -> bytes:
        # the stub types an auth context's values as bytes; at run time each is a list of them
        peer_pem = cast("list[bytes]", context.auth_context()["x509_pem_cert"])[0]
        seen.append(identity_of(pemfiles.load_certificate(peer_pem)))
        seen.append(store.verify(peer_pem, roles={"node"}))
        return request

    handler = grpc.method_handlers_generic_handler(
        "regiozicht.test.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(echo)})
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((handler,))
    credentials = grpc.ssl_server_credentials(
        [(key_path.read_bytes(), cert_pem)], root_certificates=ca.cert.public_bytes(serialization.Encoding.PEM),
        require_client_auth=True)
    port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    return server, port


def _call(ca_pem: bytes, key_path: Path, cert_pem: bytes, port: int) -> bytes:
    credentials = grpc.ssl_channel_credentials(ca_pem, key_path.read_bytes(), cert_pem)
    with grpc.secure_channel(f"localhost:{port}", credentials) as channel:
        echo: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary("/regiozicht.test.Echo/Echo")
        return echo(b"hallo", timeout=5)


def test_grpc_mutual_tls(ca: Ca, tmp_path: Path) -> None:
    seen: list[Identity] = []
    server, port = _echo_server(ca, seen)
    try:
        ca_pem = ca.cert.public_bytes(serialization.Encoding.PEM)
        key_path, cert_pem = ca.issue(NODE)
        assert _call(ca_pem, key_path, cert_pem, port) == b"hallo"
        assert seen == [NODE, NODE]

        other = Ca(tmp_path / "other")
        other_key, other_cert = other.issue(NODE)
        with pytest.raises(grpc.RpcError) as failure:
            _call(ca_pem, other_key, other_cert, port)
        assert failure.value.code() == grpc.StatusCode.UNAVAILABLE
        assert len(seen) == 2
    finally:
        server.stop(None)
