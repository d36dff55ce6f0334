"""Signed wire messages: sign exact bytes, verify them, then parse them."""

from __future__ import annotations

import threading
from collections.abc import Collection

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from regiozicht import signing
from regiozicht.errors import AuthenticationFailed, BadQuery
from regiozicht.identity import Identity
from regiozicht.truststore import TrustStore
from regiozicht.v1 import regiozicht_pb2 as pb


class Signer:
    """A private key with its certificate: signs payloads into `Signed` messages."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, certificate: x509.Certificate) -> None:
        self._lock = threading.Lock()
        self.replace(key, certificate)

    def replace(self, key: ec.EllipticCurvePrivateKey, certificate: x509.Certificate) -> None:
        """A renewed key and certificate, from the next signature on (everyone holding this signer)."""
        der = certificate.public_bytes(serialization.Encoding.DER)
        with self._lock:
            self.key, self.certificate, self.certificate_der = key, certificate, der

    def sign(self, payload: bytes) -> pb.Signed:
        with self._lock:  # key and certificate always of one pair
            key, der = self.key, self.certificate_der
        return pb.Signed(payload=payload, signature=signing.sign(key, payload), certificate=der)


def open_signed(signed: pb.Signed, trust: TrustStore, roles: Collection[str]) -> tuple[bytes, Identity]:
    """Verifies the signer's certificate (chain, validity, revocation, role) and
    the signature; returns the exact signed bytes and the signer's identity."""
    if not signed.certificate or not signed.signature:
        raise AuthenticationFailed("The message is not signed; sign it with a certificate of the regional CA.")
    identity = trust.verify(signed.certificate, roles=roles)
    certificate, _ = trust.issued(signed.certificate)  # read and checked once per certificate
    signing.verify(certificate, signed.payload, signed.signature)
    return signed.payload, identity


def decode_envelope(payload: bytes) -> pb.QueryEnvelope:
    """The query envelope inside signed bytes; the same refusal at the coordinator and every node."""
    envelope = pb.QueryEnvelope()
    try:
        envelope.ParseFromString(payload)
    except Exception:  # noqa: BLE001 - protobuf raises DecodeError subclasses
        raise BadQuery("The signed envelope cannot be decoded; rebuild the query with the CLI.") from None
    return envelope
