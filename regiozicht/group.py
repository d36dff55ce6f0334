"""ristretto255 group operations for linked counts (libsodium through rbcl).

Batches run in worker processes: the multiplications are pure CPU work and
threads barely scale on it. Every element of every list costs the same:
one hash-to-group and one variable-base multiplication, so the time a list
takes reveals nothing about how many of its elements are real.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import secrets
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor

import rbcl

POINT_BYTES = 32
SCALAR_BYTES = 32
_BASE = rbcl.crypto_scalarmult_ristretto255_base((1).to_bytes(32, "little"))
IDENTITY = bytes(32)
CHUNK = 2048


def new_scalar() -> bytes:
    return bytes(rbcl.crypto_core_ristretto255_scalar_random())


def base_point() -> bytes:
    return bytes(_BASE)


def _hash(domain: bytes, item: bytes) -> bytes:
    return bytes(rbcl.crypto_core_ristretto255_from_hash(hashlib.sha512(domain + b"\x00" + item).digest()))


def _mul(scalar: bytes, point: bytes) -> bytes:
    return bytes(rbcl.crypto_scalarmult_ristretto255(scalar, point))


def blind_items(domain: bytes, scalar: bytes, items: Sequence[bytes]) -> list[bytes]:
    """H(x)^scalar for each item: one hash and one multiplication each."""
    return [_mul(scalar, _hash(domain, item)) for item in items]


def phantom_points(domain: bytes, scalars: Sequence[bytes]) -> list[bytes]:
    """G^r for each r, at the cost of a real element (a wasted hash, one multiplication)."""
    out = []
    for scalar in scalars:
        _hash(domain, scalar)
        out.append(_mul(scalar, _BASE))
    return out


def raise_points(scalar: bytes, points: Sequence[bytes]) -> list[bytes]:
    """p^scalar for each point: one multiplication, like a phantom image or a filler."""
    return [_mul(scalar, p) for p in points]


def raise_base_by(point: bytes, scalars: Sequence[bytes]) -> list[bytes]:
    """point^s for each scalar s (phantom images and fillers)."""
    return [_mul(s, point) for s in scalars]


def is_valid(point: bytes) -> bool:
    return len(point) == POINT_BYTES and point != IDENTITY and bool(rbcl.crypto_core_ristretto255_is_valid_point(point))


def _chunks(items: Sequence[bytes], size: int = CHUNK) -> Iterable[Sequence[bytes]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _warm(_: int) -> bytes:
    return new_scalar()


class GroupPool:
    """Runs batches on worker processes (forkserver: safe to start before gRPC)."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or max(1, os.cpu_count() or 1)
        context = multiprocessing.get_context("forkserver")
        self.executor: Executor = ProcessPoolExecutor(max_workers=self.workers, mp_context=context)

    def start(self) -> GroupPool:
        """Starts the forkserver and every worker now (before gRPC creates its threads)."""
        list(self.executor.map(_warm, range(self.workers)))
        return self

    def blind_items(self, domain: bytes, scalar: bytes, items: Sequence[bytes]) -> list[bytes]:
        return self._map(lambda chunk: (blind_items, domain, scalar, chunk), items)

    def raise_points(self, scalar: bytes, points: Sequence[bytes]) -> list[bytes]:
        return self._map(lambda chunk: (raise_points, scalar, chunk), points)

    def raise_base_by(self, point: bytes, scalars: Sequence[bytes]) -> list[bytes]:
        return self._map(lambda chunk: (raise_base_by, point, chunk), scalars)

    def phantom_points(self, domain: bytes, scalars: Sequence[bytes]) -> list[bytes]:
        return self._map(lambda chunk: (phantom_points, domain, chunk), scalars)

    def _map(self, task, items: Sequence[bytes]) -> list[bytes]:  # type: ignore[no-untyped-def]
        futures = [self.executor.submit(*task(chunk)) for chunk in _chunks(items)]
        out: list[bytes] = []
        for future in futures:
            out.extend(future.result())
        return out

    def close(self) -> None:
        self.executor.shutdown(cancel_futures=True)


def shuffled(items: list[bytes]) -> list[bytes]:
    """A full, cryptographically random shuffle (before the first chunk leaves)."""
    secrets.SystemRandom().shuffle(items)
    return items
