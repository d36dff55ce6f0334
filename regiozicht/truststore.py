"""The trust store: the regional CA certificate and its current revocation list, which every
party uses to check whom a certificate or signature speaks for.

Profile (docs/pki.md): ECDSA P-256 keys, one SAN URI ``urn:regiozicht:v1:<role>:<org>[:<kind>]``,
leaf certificates only, revocation lists numbered and never going back.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Collection
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from regiozicht.errors import AuthenticationFailed, ConfigError, PermissionDenied
from regiozicht.identity import Identity, identity_of
from regiozicht.pemfiles import crl_number, load_certificate, load_crl, read_file, utcnow

CLOCK_SKEW = dt.timedelta(seconds=120)

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
        return crl_number(crl) if crl is not None else 0

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
        if crl.last_update_utc > utcnow(now) + CLOCK_SKEW:
            raise AuthenticationFailed(
                f"The revocation list starts in the future ({crl.last_update_utc.isoformat()}); check this machine's clock."
            )
        number = crl_number(crl)
        with self._lock:
            newest = max(self.newest_seen, crl_number(self._crl) if self._crl is not None else 0)
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
        moment = utcnow(now)
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
