"""Sealing linked-count lists to the peer node, through an untrusted relay.

Each node makes a fresh X25519 key per run and announces it signed with its
certificate key, so the coordinator cannot swap keys. Lists travel in chunks
of packed 32-byte points, each sealed with HPKE single-shot whose `info`
binds query id, run id, sender, recipient, step, chunk i/n and the hash of
the whole list: a relay that alters, reorders, drops, replays or misroutes a
chunk makes opening or reassembly fail.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import x25519
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from regiozicht.errors import AuthenticationFailed
from regiozicht.group import POINT_BYTES

SUITE = Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.AES_128_GCM)
CHUNK_POINTS = 8192


@dataclass(frozen=True)
class Binding:
    """What a sealed chunk is bound to; any mismatch fails to open."""

    query_id: str
    run_id: str
    sender: str
    recipient: str
    step: str

    def info(self, index: int, count: int, list_hash: bytes) -> bytes:
        return "|".join([
            "regiozicht/v1/seal", self.query_id, self.run_id, self.sender, self.recipient, self.step,
            f"{index}/{count}", list_hash.hex(),
        ]).encode()


def new_key() -> x25519.X25519PrivateKey:
    return x25519.X25519PrivateKey.generate()


def public_bytes(key: x25519.X25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def list_hash(points: Sequence[bytes]) -> bytes:
    digest = hashlib.sha256()
    for point in points:
        digest.update(point)
    return digest.digest()


def pack(points: Sequence[bytes]) -> bytes:
    return b"".join(points)


def unpack(data: bytes) -> list[bytes]:
    if len(data) % POINT_BYTES:
        raise AuthenticationFailed("A list chunk is not a whole number of points; the run is aborted.")
    return [data[i:i + POINT_BYTES] for i in range(0, len(data), POINT_BYTES)]


@dataclass(frozen=True)
class SealedChunk:
    index: int
    count: int
    list_hash: bytes
    ciphertext: bytes


def seal_list(points: Sequence[bytes], recipient_public: bytes, binding: Binding,
              chunk_points: int = CHUNK_POINTS) -> list[SealedChunk]:
    """Seals a (shuffled) list in chunks; an empty list is one empty chunk."""
    key = x25519.X25519PublicKey.from_public_bytes(recipient_public)
    whole = list_hash(points)
    pieces = [points[i:i + chunk_points] for i in range(0, len(points), chunk_points)] or [[]]
    return [
        SealedChunk(i, len(pieces), whole, SUITE.encrypt(pack(piece), key, info=binding.info(i, len(pieces), whole)))
        for i, piece in enumerate(pieces)
    ]


def open_list(chunks: Sequence[SealedChunk], key: x25519.X25519PrivateKey, binding: Binding) -> list[bytes]:
    """Opens and reassembles a list; refuses anything out of order, missing or altered."""
    if not chunks:
        raise AuthenticationFailed("No chunks arrived for a list; the run is aborted.")
    count, whole = chunks[0].count, chunks[0].list_hash
    if len(chunks) != count or [c.index for c in chunks] != list(range(count)):
        raise AuthenticationFailed("List chunks are missing, repeated or out of order; the run is aborted.")
    points: list[bytes] = []
    for chunk in chunks:
        if chunk.count != count or chunk.list_hash != whole:
            raise AuthenticationFailed("List chunks belong to different lists; the run is aborted.")
        try:
            plain = SUITE.decrypt(chunk.ciphertext, key, info=binding.info(chunk.index, count, whole))
        except Exception:  # noqa: BLE001 - any failure to open is a tampered or misrouted chunk
            raise AuthenticationFailed("A list chunk does not open: altered, replayed or misrouted; "
                                       "the run is aborted.") from None
        points.extend(unpack(plain))
    if list_hash(points) != whole:
        raise AuthenticationFailed("The reassembled list does not match its hash; the run is aborted.")
    return points
