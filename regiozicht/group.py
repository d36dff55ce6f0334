"""ristretto255 group operations for linked counts (libsodium through rbcl).

Points and scalars are 32-byte strings. Hash-to-group follows RFC 9380:
expand_message_xmd with SHA-512 to 64 bytes, then ristretto255's one-way
map (libsodium's `from_hash`), under a domain separation tag that names the
query and the run.

Batches run in worker processes: the multiplications are pure CPU work and
threads barely scale on it. Every element a node blinds costs the same (one
hash-to-group and one multiplication), so the time a list takes reveals
nothing about how many of its elements are real.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from functools import reduce
from typing import Any, Protocol

import rbcl

POINT_BYTES = 32
SCALAR_BYTES = 32
_BASE = bytes(rbcl.crypto_scalarmult_ristretto255_base((1).to_bytes(32, "little")))
IDENTITY = bytes(32)
CHUNK = 2048
ORDER = 2**252 + 27742317777372353535851937790883648493  # ℓ, the group order


# -- scalars ------------------------------------------------------------------

def new_scalar() -> bytes:
    return bytes(rbcl.crypto_core_ristretto255_scalar_random())


def scalar_from_hash(data: bytes) -> bytes:
    """A uniform scalar from 64 bytes of hash output (reduced mod ℓ)."""
    return bytes(rbcl.crypto_core_ristretto255_scalar_reduce(hashlib.sha512(data).digest()))


def scalar_add(x: bytes, y: bytes) -> bytes:
    return bytes(rbcl.crypto_core_ristretto255_scalar_add(x, y))


def scalar_sub(x: bytes, y: bytes) -> bytes:
    return bytes(rbcl.crypto_core_ristretto255_scalar_sub(x, y))


def scalar_mul(x: bytes, y: bytes) -> bytes:
    return bytes(rbcl.crypto_core_ristretto255_scalar_mul(x, y))


def is_scalar(value: bytes) -> bool:
    """A canonical, non-zero scalar (< ℓ)."""
    return len(value) == SCALAR_BYTES and 0 < int.from_bytes(value, "little") < ORDER


# -- points -------------------------------------------------------------------

def base_point() -> bytes:
    return _BASE


def expand_message_xmd(message: bytes, dst: bytes, length: int = 64) -> bytes:
    """RFC 9380 §5.3.1 with SHA-512 (b_in_bytes 64, s_in_bytes 128)."""
    if len(dst) > 255:
        dst = hashlib.sha512(b"H2C-OVERSIZE-DST-" + dst).digest()
    dst_prime = dst + bytes([len(dst)])
    ell = -(-length // 64)
    b0 = hashlib.sha512(bytes(128) + message + length.to_bytes(2, "big") + b"\x00" + dst_prime).digest()
    blocks = [hashlib.sha512(b0 + b"\x01" + dst_prime).digest()]
    for i in range(2, ell + 1):
        mixed = bytes(a ^ b for a, b in zip(b0, blocks[-1]))
        blocks.append(hashlib.sha512(mixed + bytes([i]) + dst_prime).digest())
    return b"".join(blocks)[:length]


def hash_to_group(dst: bytes, item: bytes) -> bytes:
    """RFC 9380 hash_to_ristretto255 of one item under the tag `dst`."""
    return bytes(rbcl.crypto_core_ristretto255_from_hash(expand_message_xmd(item, dst)))


def mul(scalar: bytes, point: bytes) -> bytes:
    return bytes(rbcl.crypto_scalarmult_ristretto255(scalar, point))


def mul_base(scalar: bytes) -> bytes:
    return bytes(rbcl.crypto_scalarmult_ristretto255_base(scalar))


def add(p: bytes, q: bytes) -> bytes:
    return bytes(rbcl.crypto_core_ristretto255_add(p, q))


def sub(p: bytes, q: bytes) -> bytes:
    return bytes(rbcl.crypto_core_ristretto255_sub(p, q))


def is_valid(point: bytes) -> bool:
    return len(point) == POINT_BYTES and point != IDENTITY and bool(rbcl.crypto_core_ristretto255_is_valid_point(point))


# -- batches (module functions: they run in worker processes) -------------------

def blind_items(dst: bytes, scalar: bytes, items: Sequence[bytes]) -> list[bytes]:
    """scalar·H(x) for each item: one hash and one multiplication each."""
    return [mul(scalar, hash_to_group(dst, item)) for item in items]


def raise_points(scalar: bytes, points: Sequence[bytes]) -> list[bytes]:
    """scalar·p for each point."""
    return [mul(scalar, p) for p in points]


def raise_base_by(point: bytes, scalars: Sequence[bytes]) -> list[bytes]:
    """s·point for each scalar s."""
    return [mul(s, point) for s in scalars]


def weighted_sum(weights: Sequence[bytes], points: Sequence[bytes]) -> bytes:
    """Σ w_j·p_j (naive multi-scalar multiplication: libsodium has no MSM)."""
    return reduce(add, (mul(w, p) for w, p in zip(weights, points)))


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class GroupOps(Protocol):
    def blind_items(self, dst: bytes, scalar: bytes, items: Sequence[bytes]) -> list[bytes]: ...
    def raise_points(self, scalar: bytes, points: Sequence[bytes]) -> list[bytes]: ...
    def weighted_sum(self, weights: Sequence[bytes], points: Sequence[bytes]) -> bytes: ...


class LocalOps:
    """Group operations in this process (tests, small lists)."""

    blind_items = staticmethod(blind_items)
    raise_points = staticmethod(raise_points)
    weighted_sum = staticmethod(weighted_sum)


def _warm(_: int) -> bytes:
    return new_scalar()


def _die_with(parent: int) -> None:
    """In each worker: exit as soon as the node that started the pool is gone, even after kill -9
    (which runs no clean-up: the workers would otherwise live on, holding memory)."""
    def watch() -> None:
        while True:
            time.sleep(0.5)
            try:
                os.kill(parent, 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:  # the pid now belongs to another user's process: ours is gone
                os._exit(0)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


class GroupPool:
    """Runs batches on worker processes (forkserver: safe to start before gRPC)."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or max(1, os.cpu_count() or 1)
        context = multiprocessing.get_context("forkserver")
        self.executor: Executor = ProcessPoolExecutor(max_workers=self.workers, mp_context=context,
                                                      initializer=_die_with, initargs=(os.getpid(),))

    def start(self) -> GroupPool:
        """Starts the forkserver and every worker now (before gRPC creates its threads)."""
        list(self.executor.map(_warm, range(self.workers)))
        return self

    def blind_items(self, dst: bytes, scalar: bytes, items: Sequence[bytes]) -> list[bytes]:
        return self._concat([self.executor.submit(blind_items, dst, scalar, c) for c in _chunks(items)])

    def raise_points(self, scalar: bytes, points: Sequence[bytes]) -> list[bytes]:
        return self._concat([self.executor.submit(raise_points, scalar, c) for c in _chunks(points)])

    def weighted_sum(self, weights: Sequence[bytes], points: Sequence[bytes]) -> bytes:
        futures = [self.executor.submit(weighted_sum, w, p) for w, p in zip(_chunks(weights), _chunks(points))]
        return reduce(add, (f.result() for f in futures))

    @staticmethod
    def _concat(futures: list[Any]) -> list[bytes]:
        out: list[bytes] = []
        for future in futures:
            out.extend(future.result())
        return out

    def close(self) -> None:
        self.executor.shutdown(cancel_futures=True)


def ops_for(pool: GroupOps | None, list_length: int, threshold: int = 4096) -> GroupOps:
    """The pool for long lists, this process for short ones. Chosen on a list length the
    other parties see anyway, never on the true member count (no timing channel)."""
    return pool if pool is not None and list_length >= threshold else LocalOps()


