"""Reading what PKI files hold: certificates, revocation lists and private keys (PEM or DER),
and writing new private files. Shared by the trust store (every party) and the offline CA."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from regiozicht.errors import AuthenticationFailed, ConfigError

T = TypeVar("T")


def utcnow(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        return now.replace(tzinfo=dt.UTC)
    return now


def write_private(path: Path, data: bytes) -> None:
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



def crl_number(crl: x509.CertificateRevocationList) -> int:
    """The list's CRL number (lists only ever move to a higher one)."""
    try:
        return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        raise AuthenticationFailed(
            "The revocation list has no CRL number; use a list made by `regiozicht pki crl`."
        ) from None
