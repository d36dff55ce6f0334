"""BSN (burgerservicenummer) validation and deterministic generation."""
from __future__ import annotations

from collections.abc import Iterator

_WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2, -1)
# 90_000_000 eight-digit prefixes; the multiplier is coprime with it, so
# i -> prefix is a bijection and generated BSNs never repeat.
_SPAN = 90_000_000
_MULTIPLIER = 7_919_311


def is_valid_bsn(s: str) -> bool:
    """True when `s` is nine digits passing the elfproef."""
    if len(s) != 9 or not s.isdigit():
        return False
    if s.isascii():  # fast path: byte b is digit b - 48; the weights sum to 43
        b = s.encode()
        return (9 * b[0] + 8 * b[1] + 7 * b[2] + 6 * b[3] + 5 * b[4] + 4 * b[5] + 3 * b[6] + 2 * b[7] - b[8]
                - 48 * 43) % 11 == 0
    return sum(w * int(d) for w, d in zip(_WEIGHTS, s)) % 11 == 0


def _check_digit(prefix: str) -> int | None:
    total = sum(w * int(d) for w, d in zip(_WEIGHTS, prefix)) % 11
    return total if total < 10 else None


def valid_bsns(seed: int) -> Iterator[str]:
    """Endless stream of distinct valid BSNs, fixed by `seed`."""
    i = 0
    offset = (seed * 1_234_567) % _SPAN
    while i < _SPAN:
        prefix = str(10_000_000 + (i * _MULTIPLIER + offset) % _SPAN)
        i += 1
        check = _check_digit(prefix)
        if check is not None:
            yield prefix + str(check)


def break_bsn(bsn: str, position: int) -> str:
    """A typo of `bsn`: one digit changed so that the elfproef fails.

    Changing one digit by k changes the checksum by w*k, never 0 mod 11 for
    k in 1..9, so the result is always invalid.
    """
    position %= 9
    digit = (int(bsn[position]) + 1 + position % 8) % 10
    broken = bsn[:position] + str(digit) + bsn[position + 1:]
    assert not is_valid_bsn(broken)
    return broken
