"""Detached ECDSA P-256 / SHA-256 signatures over exact bytes.

Used for signed queries, answers and audit heads: the signer signs the bytes
it sends and the verifier checks those same bytes, never a re-serialisation.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from regiozicht.errors import AuthenticationFailed
from regiozicht.identity import identity_of

_ALGORITHM = ec.ECDSA(hashes.SHA256())


def sign(private_key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    """Sign ``data``; returns a DER-encoded ECDSA signature."""
    return private_key.sign(data, _ALGORITHM)


def verify(cert: x509.Certificate, data: bytes, signature: bytes) -> None:
    """Check that the key of ``cert`` signed ``data``.

    This does not check the certificate itself; do that with ``TrustStore.verify``.

    Raises:
        AuthenticationFailed: The signature does not match.
    """
    public_key = cert.public_key()
    try:
        if not isinstance(public_key, ec.EllipticCurvePublicKey):
            raise InvalidSignature
        public_key.verify(signature, data, _ALGORITHM)
    except (InvalidSignature, ValueError):
        try:
            signer = str(identity_of(cert))
        except AuthenticationFailed:
            signer = cert.subject.rfc4514_string()
        raise AuthenticationFailed(
            f"The signature by {signer} does not verify; the message was altered or signed by another key."
        ) from None
