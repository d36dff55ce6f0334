"""Differential-privacy maths shared by nodes and clients.

Nodes add discrete Laplace noise with OpenDP (scale Δ/ε, computed directly);
intervals come from OpenDP's accuracy function for one release, and from the
exact convolution of the noise distributions for a sum over nodes.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
import opendp.prelude as dp

dp.enable_features("contrib")

CI_LEVEL = 0.95
_TAIL = 1e-15


def count_scale(epsilon: float, sensitivity: int = 1) -> float:
    """Discrete Laplace scale for a count whose one-person change moves it by `sensitivity`."""
    return sensitivity / epsilon


def noisy_counts(counts: Sequence[int], epsilon: float, sensitivity: int = 1) -> list[int]:
    """Adds independent discrete Laplace noise to each cell of a vector of counts.

    One person lands in at most one cell, so the vector's L1 sensitivity is
    `sensitivity` and the whole vector costs ε.
    """
    measurement = dp.m.make_laplace(
        dp.vector_domain(dp.atom_domain(T=int)),
        dp.l1_distance(T=int),
        scale=count_scale(epsilon, sensitivity),
    )
    noisy: list[int] = measurement(list(counts))
    return noisy


@functools.lru_cache(maxsize=4096)
def half_width(scale: float, level: float = CI_LEVEL) -> int:
    """Integer half-width h with P(|noise| ≤ h) ≥ level for one release."""
    if scale == 0:
        return 0
    return math.floor(float(dp.discrete_laplacian_scale_to_accuracy(scale, 1.0 - level)))


def _pmf(scale: float) -> np.ndarray:
    """Discrete Laplace(scale) PMF on −k..k, tails beyond k below 1e-15."""
    q = math.exp(-1.0 / scale)
    k = max(1, math.ceil(math.log(_TAIL) / math.log(q)))
    support = np.arange(-k, k + 1)
    pmf = (1 - q) / (1 + q) * q ** np.abs(support)
    return np.asarray(pmf / pmf.sum())


def sum_pmf(scales: Sequence[float]) -> np.ndarray:
    """Exact PMF (centred, odd length) of the sum of independent discrete Laplace noises."""
    total = np.array([1.0])
    for scale in scales:
        total = _convolve(total, _pmf(scale))
        # trim negligible tails symmetrically so long sums stay small
        keep = np.nonzero(total > _TAIL)[0]
        cut = min(keep[0], len(total) - 1 - keep[-1])
        if cut > 0:
            total = total[cut: len(total) - cut]
    return total


_DIRECT = 1 << 20  # below this many products a direct convolution is faster than FFT


def _convolve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a * b; through the FFT for long inputs (small ε), so no allowed ε makes an interval slow:
    the direct sum costs len(a)·len(b), which grows as 1/ε² (rounding error ~1e-16, far below
    the 1e-15 tails the PMFs keep)."""
    if len(a) * len(b) <= _DIRECT:
        return np.convolve(a, b)
    size = len(a) + len(b) - 1
    fast = 1 << (size - 1).bit_length()
    product = np.fft.irfft(np.fft.rfft(a, fast) * np.fft.rfft(b, fast), fast)[:size]
    product = np.clip(product, 0.0, None)
    return np.asarray(product / product.sum())


def sum_half_width(scales: Sequence[float], level: float = CI_LEVEL) -> int:
    """Integer half-width h with P(|sum of noises| ≤ h) ≥ level (exact convolution)."""
    # a pure function of its arguments, asked for every cell of every answer: computed once per set
    return _sum_half_width(tuple(scales), level)


@functools.lru_cache(maxsize=4096)
def _sum_half_width(scales: tuple[float, ...], level: float) -> int:
    if len(scales) == 1:
        return half_width(scales[0], level)
    pmf = sum_pmf(scales)
    centre = len(pmf) // 2
    # mass within ±h for every h at once: the centre, then each pair of tails
    within = pmf[centre] + np.concatenate(([0.0], np.cumsum(pmf[centre + 1:] + pmf[centre - 1::-1])))
    reached = np.nonzero(within >= level)[0]
    return int(reached[0]) if len(reached) else centre
