"""Opening a signed query envelope: the steps counts and linked runs share."""

from __future__ import annotations

from typing import Any

from cryptography import x509

from regiozicht import signing
from regiozicht.errors import PermissionDenied
from regiozicht.identity import QUERY_ROLES, Identity
from regiozicht.query import check_expiry
from regiozicht.signed import decode_envelope
from regiozicht.v1 import regiozicht_pb2 as pb


def open_envelope(signed: pb.Signed, requester: Identity, now: float, known: dict[str, Any]) -> pb.QueryEnvelope:
    """Checks the requester's role and signature and the envelope's expiry."""
    if requester.role not in QUERY_ROLES:
        raise PermissionDenied(f"The certificate is for {requester}, but only the role(s) "
                               f"{', '.join(QUERY_ROLES)} may ask; use a certificate with one of those roles.")
    signing.verify(x509.load_der_x509_certificate(signed.certificate), signed.payload, signed.signature)
    envelope = decode_envelope(signed.payload)
    known.update(query_id=envelope.query_id, query=envelope.body.decode(errors="replace"))
    check_expiry(envelope.issued_at_unix, envelope.expires_at_unix, now)
    return envelope
