"""Sealed list chunks: a relay cannot alter, reorder, drop, replay or misroute them."""

from __future__ import annotations

import dataclasses

import pytest

from regiozicht import group, sealing
from regiozicht.errors import AuthenticationFailed

BINDING = sealing.Binding("query", "query:wi-regio", "rmc-regio", "wi-regio", "L")


def _points(count: int) -> list[bytes]:
    return group.raise_base_by(group.base_point(), [group.new_scalar() for _ in range(count)])


@pytest.fixture()
def sealed() -> tuple[list[bytes], object, list[sealing.SealedChunk]]:
    key = sealing.new_key()
    points = _points(7)
    return points, key, sealing.seal_list(points, sealing.public_bytes(key), BINDING, chunk_points=3)


def test_round_trip_in_chunks(sealed) -> None:  # type: ignore[no-untyped-def]
    points, key, chunks = sealed
    assert len(chunks) == 3
    assert sealing.open_list(chunks, key, BINDING) == points


def test_an_empty_list_round_trips() -> None:
    key = sealing.new_key()
    assert sealing.open_list(sealing.seal_list([], sealing.public_bytes(key), BINDING), key, BINDING) == []


@pytest.mark.parametrize("attack", ["alter", "reorder", "drop", "duplicate", "other list", "misroute", "other step",
                                    "other run"])
def test_relay_tampering_fails(sealed, attack: str) -> None:  # type: ignore[no-untyped-def]
    _, key, chunks = sealed
    binding = BINDING
    if attack == "alter":
        raw = bytearray(chunks[1].ciphertext)
        raw[-1] ^= 1
        chunks[1] = dataclasses.replace(chunks[1], ciphertext=bytes(raw))
    elif attack == "reorder":
        chunks[0], chunks[1] = chunks[1], chunks[0]
    elif attack == "drop":
        del chunks[2]
    elif attack == "duplicate":
        chunks[2] = chunks[1]
    elif attack == "other list":
        other = sealing.seal_list(_points(7), sealing.public_bytes(key), BINDING, chunk_points=3)
        chunks[1] = other[1]
    elif attack == "misroute":
        binding = dataclasses.replace(BINDING, recipient="school-1")
    elif attack == "other step":
        binding = dataclasses.replace(BINDING, step="Z")
    else:
        binding = dataclasses.replace(BINDING, run_id="query:wi-gm0002")
    with pytest.raises(AuthenticationFailed):
        sealing.open_list(chunks, key, binding)


def test_another_recipients_key_cannot_open(sealed) -> None:  # type: ignore[no-untyped-def]
    _, _, chunks = sealed
    with pytest.raises(AuthenticationFailed):
        sealing.open_list(chunks, sealing.new_key(), BINDING)
