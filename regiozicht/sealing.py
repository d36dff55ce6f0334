"""Sealing linked-count messages to one party, through an untrusted relay.

Each party makes a fresh hybrid post-quantum key per run (ML-KEM-768 +
X25519, HPKE's `MLKEM768_X25519`) and announces it signed with its
certificate key, so the coordinator cannot swap keys; a run's key lives in
memory only, so recorded traffic stays closed once the run is over (forward
secrecy), and the ML-KEM half keeps it closed against a later quantum
computer (harvest now, decrypt later). Content travels in chunks of packed
fixed-size records, each sealed with HPKE single-shot whose `info` binds
query id, run id, sender, recipient, step, chunk i/n and the hash of the
whole content: a relay that alters, reorders, drops, replays or misroutes a
chunk makes opening or reassembly fail.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import mlkem, x25519
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, MLKEM768X25519PrivateKey, MLKEM768X25519PublicKey, Suite
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from regiozicht.errors import AuthenticationFailed
from regiozicht.group import POINT_BYTES

SUITE = Suite(KEM.MLKEM768_X25519, KDF.HKDF_SHA256, AEAD.AES_256_GCM)
MLKEM_PUBLIC_BYTES = 1184
PUBLIC_BYTES = MLKEM_PUBLIC_BYTES + 32
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


class RunKey:
    """A run's private key and its public bytes (the hybrid key object does not serialise)."""

    def __init__(self) -> None:
        self._mlkem = mlkem.MLKEM768PrivateKey.generate()
        self._x25519 = x25519.X25519PrivateKey.generate()
        self.private = MLKEM768X25519PrivateKey(self._mlkem, self._x25519)
        self.public = (self._mlkem.public_key().public_bytes_raw()
                       + self._x25519.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))


def new_key() -> RunKey:
    return RunKey()


def public_bytes(key: RunKey) -> bytes:
    return key.public


def _public_key(data: bytes) -> MLKEM768X25519PublicKey:
    if len(data) != PUBLIC_BYTES:
        raise AuthenticationFailed("A run key has the wrong length; the run is aborted.")
    try:
        return MLKEM768X25519PublicKey(mlkem.MLKEM768PublicKey.from_public_bytes(data[:MLKEM_PUBLIC_BYTES]),
                                       x25519.X25519PublicKey.from_public_bytes(data[MLKEM_PUBLIC_BYTES:]))
    except ValueError:
        raise AuthenticationFailed("A run key cannot be read; the run is aborted.") from None


def list_hash(points: Sequence[bytes]) -> bytes:
    digest = hashlib.sha256()
    for point in points:
        digest.update(point)
    return digest.digest()


def pack(points: Sequence[bytes]) -> bytes:
    return b"".join(points)


def unpack(data: bytes, size: int = POINT_BYTES) -> list[bytes]:
    """Fixed-size records; size 0: the data is one record."""
    if size == 0:
        return [data]
    if len(data) % size:
        raise AuthenticationFailed("A chunk is not a whole number of records; the run is aborted.")
    return [data[i:i + size] for i in range(0, len(data), size)]


@dataclass(frozen=True)
class SealedChunk:
    index: int
    count: int
    list_hash: bytes
    ciphertext: bytes


def seal_list(points: Sequence[bytes], recipient_public: bytes, binding: Binding,
              chunk_points: int = CHUNK_POINTS) -> list[SealedChunk]:
    """Seals a (shuffled) list in chunks; an empty list is one empty chunk."""
    key = _public_key(recipient_public)
    whole = list_hash(points)
    pieces = [points[i:i + chunk_points] for i in range(0, len(points), chunk_points)] or [[]]
    return [
        SealedChunk(i, len(pieces), whole, SUITE.encrypt(pack(piece), key, info=binding.info(i, len(pieces), whole)))
        for i, piece in enumerate(pieces)
    ]


def open_list(chunks: Sequence[SealedChunk], key: RunKey, binding: Binding, size: int = POINT_BYTES) -> list[bytes]:
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
            plain = SUITE.decrypt(chunk.ciphertext, key.private, info=binding.info(chunk.index, count, whole))
        except Exception:  # noqa: BLE001 - any failure to open is a tampered or misrouted chunk
            raise AuthenticationFailed("A list chunk does not open: altered, replayed or misrouted; "
                                       "the run is aborted.") from None
        points.extend(unpack(plain, size))
    if list_hash(points) != whole:
        raise AuthenticationFailed("The reassembled list does not match its hash; the run is aborted.")
    return points
