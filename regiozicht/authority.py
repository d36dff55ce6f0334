"""The regional CA (run offline by the CA operator) and the certificate requests it signs.

Keys are made where they are used: a party makes its key and request (`make_request`), the CA
operator checks the identity and signs (`sign_request`), revokes and issues revocation lists.
Profile (docs/pki.md): ECDSA P-256 keys, SHA-256 signatures, one SAN URI
``urn:regiozicht:v1:<role>:<org>[:<kind>]``, an optional legal entity in the subject's
organizationIdentifier, leaf certificates for both serverAuth and clientAuth, 30-day
certificates, 7-day revocation lists.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import getpass
import ipaddress
import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from regiozicht.errors import ConfigError
from regiozicht.identity import Identity, entity_of, identity_uris
from regiozicht.pemfiles import load_certificate, read_file, utcnow, write_private

PASSPHRASE_ENV = "REGIOZICHT_CA_PASSPHRASE"
CA_CERT_FILE = "ca.crt"
CA_KEY_FILE = "ca.key"
CA_STATE_FILE = "state.json"
# Leaf certificates start a little in the past: BoringSSL allows no skew.
BACKDATE = dt.timedelta(minutes=5)
REASONS = {flag.name: flag for flag in x509.ReasonFlags} | {
    flag.value: flag for flag in x509.ReasonFlags
}
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    """Signatures for every certificate; signing certificates and lists for the CA's own only."""
    return x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                         data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                         encipher_only=False, decipher_only=False)


def load_passphrase(passphrase_file: Path | None, *, confirm: bool = False) -> bytes:
    """The CA passphrase: from a file, else $REGIOZICHT_CA_PASSPHRASE, else a prompt.

    Args:
        passphrase_file: A file holding the passphrase (one trailing newline is ignored).
        confirm: Ask twice when prompting (used when creating the CA).
    """
    if passphrase_file is not None:
        passphrase = read_file(passphrase_file, "passphrase file").rstrip(b"\r\n")
    elif os.environ.get(PASSPHRASE_ENV):
        passphrase = os.environ[PASSPHRASE_ENV].encode()
    else:
        passphrase = getpass.getpass("CA passphrase: ").encode()
        if confirm and getpass.getpass("Repeat the CA passphrase: ").encode() != passphrase:
            raise ConfigError("The two passphrases differ; run the command again and type the same one twice.")
    if not passphrase:
        raise ConfigError(
            f"The CA passphrase is empty; type one, or set --passphrase-file or ${PASSPHRASE_ENV}."
        )
    return passphrase


# ------------------------------------------------------------------ CA state


@contextmanager
def _ca_state(ca_dir: Path) -> Iterator[dict[str, Any]]:
    """Lock, read and (on success) atomically rewrite the CA's state file."""
    state_path = Path(ca_dir) / CA_STATE_FILE
    if not state_path.exists():
        raise ConfigError(f"{ca_dir} holds no regional CA; check --ca-dir or run `regiozicht pki init-ca`.")
    with open(Path(ca_dir) / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state: dict[str, Any] = json.loads(state_path.read_text())
        yield state
        tmp = state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        os.replace(tmp, state_path)


def _open_ca(ca_dir: Path, passphrase: bytes) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert = load_certificate(read_file(Path(ca_dir) / CA_CERT_FILE, "CA certificate"))
    data = read_file(Path(ca_dir) / CA_KEY_FILE, "CA key")
    try:
        key = serialization.load_pem_private_key(data, passphrase)
    except (ValueError, TypeError):
        raise ConfigError("The CA passphrase is wrong; check it and try again.") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
        raise ConfigError(f"{ca_dir}/ca.key does not belong to ca.crt; restore the CA directory from backup.")
    return cert, key


def init_ca(
    ca_dir: Path, passphrase: bytes, name: str = "Regiozicht regional CA", days: int = 3650
) -> x509.Certificate:
    """Create the regional CA: ``ca.crt``, ``ca.key`` (encrypted, 0600), ``state.json``.

    Raises:
        ConfigError: A CA already exists in ``ca_dir`` or the passphrase is empty.
    """
    ca_dir = Path(ca_dir)
    if not passphrase:
        raise ConfigError("The CA passphrase is empty; choose a long random passphrase.")
    for existing in (CA_KEY_FILE, CA_CERT_FILE, CA_STATE_FILE):
        if (ca_dir / existing).exists():
            raise ConfigError(f"{ca_dir} already holds a CA ({existing}); use another --ca-dir.")
    ca_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, name[:64]),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Regiozicht"),
    ])
    now = utcnow(None)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    write_private(
        ca_dir / CA_KEY_FILE,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(passphrase),
        ),
    )
    (ca_dir / CA_CERT_FILE).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    state = {"crl_number": 0, "issued": [], "revoked": []}
    (ca_dir / CA_STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")
    return cert


# ---------------------------------------------------------- requests, signing


def _check_names(identity: Identity, dns_names: Iterable[str], ips: Iterable[IpAddress]) -> None:
    has_names = bool(list(dns_names)) or bool(list(ips))
    if identity.role != "coordinator" and has_names:
        raise ConfigError(
            f"Only a coordinator certificate carries DNS names or IP addresses, not {identity}; drop --dns/--ip."
        )
    if identity.role == "coordinator" and not has_names:
        raise ConfigError(
            "A coordinator certificate needs the DNS names or IP addresses nodes dial; add --dns/--ip."
        )


def _parse_ips(ip_addresses: Iterable[str | IpAddress]) -> list[IpAddress]:
    try:
        return [ipaddress.ip_address(str(ip)) for ip in ip_addresses]
    except ValueError as exc:
        raise ConfigError(f"{exc}; give IP addresses like 127.0.0.1 or ::1.") from None


def _san(identity: Identity, dns_names: Iterable[str], ips: Iterable[IpAddress]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(identity.uri)]
    names += [x509.DNSName(name) for name in dns_names]
    names += [x509.IPAddress(ip) for ip in ips]
    return x509.SubjectAlternativeName(names)


def _subject(identity: Identity) -> x509.Name:
    attributes = [
        x509.NameAttribute(NameOID.COMMON_NAME, identity.common_name),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, identity.org),
    ]
    if identity.entity is not None:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, identity.entity))
    return x509.Name(attributes)


def make_request(
    key_path: Path,
    csr_path: Path,
    identity: Identity,
    dns_names: Iterable[str] = (),
    ip_addresses: Iterable[str | IpAddress] = (),
) -> None:
    """Make a new key (0600, unencrypted PEM) where it is used, and a CSR for it.

    Raises:
        ConfigError: The key file exists already, or DNS/IP names are wrong for the role.
    """
    dns_names, ips = list(dns_names), _parse_ips(ip_addresses)
    _check_names(identity, dns_names, ips)
    if Path(key_path).exists():
        raise ConfigError(f"{key_path} already exists; use the request you made with it, or choose another --key.")
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(_subject(identity))
        .add_extension(_san(identity, dns_names, ips), critical=False)
        .sign(key, hashes.SHA256())
    )
    write_private(
        Path(key_path),
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )
    Path(csr_path).parent.mkdir(parents=True, exist_ok=True)
    Path(csr_path).write_bytes(csr.public_bytes(serialization.Encoding.PEM))


def request_node_certificate(
    key_path: Path, csr_path: Path, org: str, kind: str, entity: str | None = None
) -> None:
    """Make a node's key and certificate request (for `regiozicht-node request-cert`)."""
    try:
        identity = Identity("node", org, kind, entity)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    make_request(key_path, csr_path, identity)


def _load_csr(csr_pem: bytes) -> x509.CertificateSigningRequest:
    try:
        if csr_pem.lstrip().startswith(b"-----BEGIN"):
            csr = x509.load_pem_x509_csr(csr_pem)
        else:
            csr = x509.load_der_x509_csr(csr_pem)
    except ValueError:
        raise ConfigError("The request is not a PEM or DER certificate request; pass the file `regiozicht pki request` wrote.") from None
    if not csr.is_signature_valid:
        raise ConfigError("The request's signature is invalid; ask for a new request made with `regiozicht pki request`.")
    public_key = csr.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or public_key.curve.name != "secp256r1":
        raise ConfigError("The request's key is not ECDSA P-256; ask for a new request made with `regiozicht pki request`.")
    return csr


def sign_request(
    ca_dir: Path,
    passphrase: bytes,
    csr_pem: bytes,
    *,
    role: str,
    org: str,
    kind: str | None = None,
    entity: str | None = None,
    dns_names: Iterable[str] = (),
    ip_addresses: Iterable[str | IpAddress] = (),
    days: int = 30,
    now: dt.datetime | None = None,
) -> bytes:
    """Sign a certificate request for the identity the CA operator states.

    The request must name the same legal entity (or none when ``entity`` is None).
    DNS names and IP addresses (coordinator only) default to those in the request.

    Returns:
        The certificate, PEM.

    Raises:
        ConfigError: Wrong passphrase, invalid request, or the request's identity
            disagrees with the stated one.
    """
    try:
        identity = Identity(role, org, kind, entity)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    csr = _load_csr(csr_pem)
    try:
        csr_names = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        csr_names = x509.SubjectAlternativeName([])
    uris = csr_names.get_values_for_type(x509.UniformResourceIdentifier)
    if uris != [identity.uri]:
        found = ", ".join(identity_uris(csr_names)) or "none"
        raise ConfigError(
            f"The request asks for identity {found}, not {identity.uri}; check --role/--org/--kind "
            "or ask the requester for a new request."
        )
    try:
        csr_entity = entity_of(csr.subject)
    except ValueError as exc:
        raise ConfigError(
            f"The request names an invalid legal entity ({exc}); ask the requester for a new request."
        ) from None
    if csr_entity != identity.entity:
        raise ConfigError(
            f"The request asks for legal entity {csr_entity or 'none'}, not {identity.entity or 'none'}; "
            "check --entity or ask the requester for a new request."
        )
    dns_names, ips = list(dns_names), _parse_ips(ip_addresses)
    if not dns_names and not ips:
        dns_names = csr_names.get_values_for_type(x509.DNSName)
        ips = [ip for ip in csr_names.get_values_for_type(x509.IPAddress)
               if isinstance(ip, (ipaddress.IPv4Address, ipaddress.IPv6Address))]
    _check_names(identity, dns_names, ips)
    if days <= 0:
        raise ConfigError(f"--days must be positive, not {days}; certificates normally live 30 days.")

    ca_cert, ca_key = _open_ca(ca_dir, passphrase)
    start = utcnow(now)
    not_after = min(start + dt.timedelta(days=days), ca_cert.not_valid_after_utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_subject(identity))
        .issuer_name(ca_cert.subject)
        .public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start - BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(_san(identity, dns_names, ips), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(csr.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    with _ca_state(ca_dir) as state:
        state["issued"].append({
            "serial": cert.serial_number,
            "identity": identity.uri,
            "entity": identity.entity,
            "not_before": cert.not_valid_before_utc.isoformat(),
            "not_after": cert.not_valid_after_utc.isoformat(),
        })
    return cert.public_bytes(serialization.Encoding.PEM)


def issued_certificates(ca_dir: Path) -> list[dict[str, Any]]:
    """The CA's records of issued certificates, each with an ``entity`` and a ``revoked`` date, or None."""
    state_path = Path(ca_dir) / CA_STATE_FILE
    state = json.loads(read_file(state_path, "CA state"))
    revoked = {entry["serial"]: entry["revoked_at"] for entry in state["revoked"]}
    return [
        entry | {"entity": entry.get("entity"), "revoked": revoked.get(entry["serial"])}
        for entry in state["issued"]
    ]


# ------------------------------------------------------------------ revocation


def revoke(
    ca_dir: Path,
    passphrase: bytes,
    cert_pem: bytes | None = None,
    serial: int | None = None,
    reason: str = "unspecified",
    now: dt.datetime | None = None,
) -> None:
    """Record a certificate as revoked; it appears in the next `make_crl`.

    Give either the certificate or its serial number. Revoking twice is harmless.

    Raises:
        ConfigError: Wrong passphrase, unknown serial, or a certificate of another CA.
    """
    if (cert_pem is None) == (serial is None):
        raise ConfigError("Give either a certificate file or --serial to revoke, not both or neither.")
    reason_key = reason.replace("-", "_")
    if reason_key not in REASONS:
        raise ConfigError(f"Unknown revocation reason {reason!r}; use one of {', '.join(f.name for f in x509.ReasonFlags)}.")
    ca_cert, _ = _open_ca(ca_dir, passphrase)
    if cert_pem is not None:
        cert = load_certificate(cert_pem)
        try:
            cert.verify_directly_issued_by(ca_cert)
        except (ValueError, TypeError, InvalidSignature):
            raise ConfigError("This certificate was not issued by this CA; check --ca-dir.") from None
        serial = cert.serial_number
    with _ca_state(ca_dir) as state:
        if not any(entry["serial"] == serial for entry in state["issued"]):
            raise ConfigError(f"This CA issued no certificate with serial {serial}; check with `regiozicht pki list`.")
        if any(entry["serial"] == serial for entry in state["revoked"]):
            return
        state["revoked"].append({
            "serial": serial,
            "revoked_at": utcnow(now).isoformat(),
            "reason": REASONS[reason_key].name,
        })


def make_crl(ca_dir: Path, passphrase: bytes, days: int = 7, now: dt.datetime | None = None) -> bytes:
    """Sign a new revocation list (PEM) with all revoked serials and the next CRL number."""
    if days <= 0:
        raise ConfigError(f"--days must be positive, not {days}; revocation lists normally live 7 days.")
    ca_cert, ca_key = _open_ca(ca_dir, passphrase)
    start = utcnow(now)
    with _ca_state(ca_dir) as state:
        state["crl_number"] += 1
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(ca_cert.subject)
            .last_update(start)
            .next_update(start + dt.timedelta(days=days))
            .add_extension(x509.CRLNumber(state["crl_number"]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
            )
        )
        for entry in state["revoked"]:
            revoked = (
                x509.RevokedCertificateBuilder()
                .serial_number(entry["serial"])
                .revocation_date(dt.datetime.fromisoformat(entry["revoked_at"]))
            )
            flag = x509.ReasonFlags[entry["reason"]]
            if flag is not x509.ReasonFlags.unspecified:  # RFC 5280 5.3.1: omit unspecified
                revoked = revoked.add_extension(x509.CRLReason(flag), critical=False)
            builder = builder.add_revoked_certificate(revoked.build())
        crl = builder.sign(ca_key, hashes.SHA256())
    return crl.public_bytes(serialization.Encoding.PEM)
