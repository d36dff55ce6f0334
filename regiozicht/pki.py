"""The regional CA and the trust store that checks its certificates.

Profile (docs/pki.md): ECDSA P-256 keys, SHA-256 signatures, one SAN URI
``urn:regiozicht:v1:<role>:<org>[:<kind>]``, an optional legal entity in the
subject's organizationIdentifier, leaf certificates for both serverAuth and
clientAuth, 30-day certificates, 7-day revocation lists.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import getpass
import ipaddress
import json
import os
import threading
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from regiozicht.errors import AuthenticationFailed, ConfigError, PermissionDenied
from regiozicht.identity import Identity, entity_of, identity_of, identity_uris

PASSPHRASE_ENV = "REGIOZICHT_CA_PASSPHRASE"
CA_CERT_FILE = "ca.crt"
CA_KEY_FILE = "ca.key"
CA_STATE_FILE = "state.json"
T = TypeVar("T")
CLOCK_SKEW = dt.timedelta(seconds=120)
# Leaf certificates start a little in the past: BoringSSL allows no skew.
BACKDATE = dt.timedelta(minutes=5)
REASONS = {flag.name: flag for flag in x509.ReasonFlags} | {
    flag.value: flag for flag in x509.ReasonFlags
}
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# --------------------------------------------------------------- file helpers


def _utcnow(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return dt.datetime.now(dt.timezone.utc)
    if now.tzinfo is None:
        return now.replace(tzinfo=dt.timezone.utc)
    return now


def _write_private(path: Path, data: bytes) -> None:
    """Write a new 0600 file; never overwrite one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(
            f"{path} already exists; move it away first if you really mean to replace it."
        ) from None
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def read_file(path: Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"Cannot read the {what} {path} ({exc.strerror}); check the path.") from None


def load_certificate(data: bytes) -> x509.Certificate:
    """Load a certificate from PEM or DER bytes.

    Raises:
        ConfigError: The bytes are not a certificate.
    """
    return _pem_or_der(data, x509.load_pem_x509_certificate, x509.load_der_x509_certificate,
                       "The data is not a PEM or DER certificate; pass the .crt file the CA signed.")


def load_crl(data: bytes) -> x509.CertificateRevocationList:
    """Load a revocation list from PEM or DER bytes."""
    return _pem_or_der(data, x509.load_pem_x509_crl, x509.load_der_x509_crl,
                       "The data is not a PEM or DER revocation list; pass the file `regiozicht pki crl` wrote.")


def _pem_or_der(data: bytes, pem: Callable[[bytes], T], der: Callable[[bytes], T], refusal: str) -> T:
    """Parses PEM (recognised by its armour) or else DER; ConfigError with `refusal` when neither."""
    try:
        return pem(data) if data.lstrip().startswith(b"-----BEGIN") else der(data)
    except ValueError:
        raise ConfigError(refusal) from None


def load_private_key(path: Path, passphrase: bytes | None = None) -> ec.EllipticCurvePrivateKey:
    """Load a P-256 private key from a PEM file.

    Raises:
        ConfigError: Missing file, wrong passphrase or not a P-256 key.
    """
    data = read_file(path, "private key")
    try:
        key = serialization.load_pem_private_key(data, passphrase)
    except (ValueError, TypeError):
        if passphrase is not None:
            raise ConfigError(
                f"Cannot open {path}: the passphrase is wrong or the file is damaged; "
                "check the passphrase and try again."
            ) from None
        raise ConfigError(
            f"{path} is not an unencrypted PEM private key; make a new key with "
            "`regiozicht pki request`."
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ConfigError(f"{path} is not an ECDSA P-256 key; make a new key with `regiozicht pki request`.")
    return key


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
    now = _utcnow(None)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_private(
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
    _write_private(
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
    start = _utcnow(now)
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
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
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
            "revoked_at": _utcnow(now).isoformat(),
            "reason": REASONS[reason_key].name,
        })


def make_crl(ca_dir: Path, passphrase: bytes, days: int = 7, now: dt.datetime | None = None) -> bytes:
    """Sign a new revocation list (PEM) with all revoked serials and the next CRL number."""
    if days <= 0:
        raise ConfigError(f"--days must be positive, not {days}; revocation lists normally live 7 days.")
    ca_cert, ca_key = _open_ca(ca_dir, passphrase)
    start = _utcnow(now)
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


# ----------------------------------------------------------------- trust store


def _crl_number(crl: x509.CertificateRevocationList) -> int:
    try:
        return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        raise AuthenticationFailed(
            "The revocation list has no CRL number; use a list made by `regiozicht pki crl`."
        ) from None


_ISSUED_KEPT = 4096  # certificates remembered as checked; a region has a few hundred


class TrustStore:
    """The regional CA certificate plus its current revocation list.

    Thread-safe: the coordinator reloads the list while servers verify peers.
    """

    def __init__(
        self,
        ca_cert: x509.Certificate,
        crl: x509.CertificateRevocationList | None = None,
        *,
        require_crl: bool = False,
    ) -> None:
        ca_key = ca_cert.public_key()
        if not isinstance(ca_key, ec.EllipticCurvePublicKey):
            raise ConfigError("The CA certificate has no ECDSA key; use the ca.crt of the regional CA.")
        self.ca_cert = ca_cert
        self._ca_key = ca_key
        self.require_crl = require_crl
        self._crl: x509.CertificateRevocationList | None = None
        self._lock = threading.Lock()
        # the newest list number ever accepted (a node keeps it across restarts): never go back to an older one
        self.newest_seen = 0
        # a list older than this (since its lastUpdate) counts as expired even before its nextUpdate
        self.max_crl_age: dt.timedelta | None = None
        # certificate bytes → (certificate, identity) already checked as issued by the CA
        self._issued: dict[bytes, tuple[x509.Certificate, Identity]] = {}
        if crl is not None:
            self.update_crl(crl.public_bytes(serialization.Encoding.DER))

    @classmethod
    def from_files(cls, ca_path: Path, crl_path: Path | None = None, *, require_crl: bool = False) -> TrustStore:
        """Load the CA certificate and, if given, the revocation list from files."""
        store = cls(load_certificate(read_file(ca_path, "CA certificate")), require_crl=require_crl)
        if crl_path is not None:
            store.update_crl(read_file(crl_path, "revocation list"))
        return store

    @property
    def crl(self) -> x509.CertificateRevocationList | None:
        return self._crl

    @property
    def crl_number(self) -> int:
        """The loaded list's number (0: none loaded)."""
        crl = self._crl
        return _crl_number(crl) if crl is not None else 0

    @property
    def ca_pem(self) -> bytes:
        return self.ca_cert.public_bytes(serialization.Encoding.PEM)

    def update_crl(self, crl_pem: bytes, now: dt.datetime | None = None) -> None:
        """Replace the revocation list with a newer one signed by the CA.

        Raises:
            AuthenticationFailed: Not signed by the CA, issued in the future, or
                older than the list already loaded.
        """
        try:
            crl = load_crl(crl_pem)
        except ConfigError as exc:
            raise AuthenticationFailed(exc.message) from None
        if crl.issuer != self.ca_cert.subject or not crl.is_signature_valid(self._ca_key):
            raise AuthenticationFailed(
                "The revocation list is not signed by the regional CA; use a list made by "
                "`regiozicht pki crl` with this region's CA."
            )
        if crl.last_update_utc > _utcnow(now) + CLOCK_SKEW:
            raise AuthenticationFailed(
                f"The revocation list starts in the future ({crl.last_update_utc.isoformat()}); check this machine's clock."
            )
        number = _crl_number(crl)
        with self._lock:
            newest = max(self.newest_seen, _crl_number(self._crl) if self._crl is not None else 0)
            if number < newest:
                raise AuthenticationFailed(
                    f"The revocation list number {number} is older than number {newest}, the newest this party "
                    "has seen; use the newest list from `regiozicht pki crl`."
                )
            self._crl = crl
            self.newest_seen = number

    def verify(
        self,
        cert: x509.Certificate | bytes,
        *,
        roles: Collection[str] | None = None,
        now: dt.datetime | None = None,
    ) -> Identity:
        """Check a peer's certificate and return whom it speaks for.

        Raises:
            AuthenticationFailed: Not from the regional CA, outside its validity,
                revoked, or the revocation list is missing or expired while required.
            PermissionDenied: The identity's role is not in ``roles``.
        """
        if isinstance(cert, bytes):
            cert, identity = self.issued(cert)
        else:
            identity = self._check_issued(cert)
        moment = _utcnow(now)
        self._check_leaf(cert, identity, moment)
        self._check_revocation(cert, identity, moment)
        if roles is not None and identity.role not in roles:
            raise PermissionDenied(
                f"The certificate is for {identity}, but only the role(s) {', '.join(sorted(roles))} "
                "may do this; use a certificate with one of those roles."
            )
        return identity

    def issued(self, der: bytes) -> tuple[x509.Certificate, Identity]:
        """A certificate read and checked as a leaf issued by the regional CA.

        What this checks never changes for given bytes, so each certificate is checked once (every
        signed message carries its signer's certificate); validity and revocation, which change with
        time and the list, are checked by `verify` on every use.
        """
        known = self._issued.get(der)
        if known is None:
            try:
                cert = x509.load_der_x509_certificate(der)
            except ValueError:
                try:
                    cert = load_certificate(der)  # PEM
                except ConfigError:
                    raise AuthenticationFailed("The signer's certificate cannot be read; sign with a certificate of "
                                               "the regional CA.") from None
            known = (cert, self._check_issued(cert))
            if len(self._issued) >= _ISSUED_KEPT:
                self._issued.clear()
            self._issued[der] = known
        return known

    def _check_issued(self, cert: x509.Certificate) -> Identity:
        who = cert.subject.rfc4514_string()
        try:
            cert.verify_directly_issued_by(self.ca_cert)
        except (ValueError, TypeError, InvalidSignature):
            raise AuthenticationFailed(
                f"The certificate of {who!r} was not issued by the regional CA; "
                "use a certificate signed by this region's CA."
            ) from None
        try:
            is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            is_ca = False
        if is_ca:
            raise AuthenticationFailed("A CA certificate cannot act as a participant; use a leaf certificate.")
        return identity_of(cert)

    def _check_leaf(self, cert: x509.Certificate, identity: Identity, moment: dt.datetime) -> None:
        if moment < cert.not_valid_before_utc - CLOCK_SKEW:
            raise AuthenticationFailed(
                f"The certificate of {identity} is not valid until "
                f"{cert.not_valid_before_utc.isoformat()}; check the clocks of both machines."
            )
        if moment > cert.not_valid_after_utc + CLOCK_SKEW:
            raise AuthenticationFailed(
                f"The certificate of {identity} expired at {cert.not_valid_after_utc.isoformat()}; "
                "make a new request with `regiozicht pki request` and have the CA sign it."
            )

    def _check_revocation(self, cert: x509.Certificate, identity: Identity, moment: dt.datetime) -> None:
        crl = self._crl
        if crl is None:
            if self.require_crl:
                raise AuthenticationFailed(
                    "No revocation list is loaded; ask the CA operator to run `regiozicht pki crl` and load it."
                )
            return
        next_update = crl.next_update_utc
        if self.require_crl and self.max_crl_age is not None and moment > crl.last_update_utc + self.max_crl_age \
                + CLOCK_SKEW:
            raise AuthenticationFailed(
                f"The revocation list dates from {crl.last_update_utc.isoformat()}, older than the "
                f"{self.max_crl_age.total_seconds() / 3600:g} hours this node's covenant allows; the CA operator runs "
                "`regiozicht pki crl` and the coordinator passes it on (or place it in [tls] revocation_list).")
        if self.require_crl and (next_update is None or moment > next_update + CLOCK_SKEW):
            raise AuthenticationFailed(
                f"The revocation list expired at {next_update.isoformat() if next_update else 'an unknown time'}; "
                "ask the CA operator to run `regiozicht pki crl` and reload it."
            )
        entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
        if entry is not None:
            raise AuthenticationFailed(
                f"The certificate of {identity} was revoked on "
                f"{entry.revocation_date_utc.date().isoformat()}; make a new request with "
                "`regiozicht pki request` and have the CA sign it."
            )
