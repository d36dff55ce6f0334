"""Differential-privacy maths shared by nodes and clients.

Nodes add discrete Laplace noise with OpenDP (scale Δ/ε, computed directly);
intervals come from OpenDP's accuracy function for one release, and from the
exact convolution of the noise distributions for a sum over nodes.
"""

from __future__ import annotations

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


def half_width(scale: float, level: float = CI_LEVEL) -> int:
    """Integer half-width h with P(|noise| ≤ h) ≥ level for one release."""
    if scale == 0:
        return 0
    return math.floor(dp.discrete_laplacian_scale_to_accuracy(scale, 1.0 - level))


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
        total = np.convolve(total, _pmf(scale))
        # trim negligible tails symmetrically so long sums stay small
        keep = np.nonzero(total > _TAIL)[0]
        cut = min(keep[0], len(total) - 1 - keep[-1])
        if cut > 0:
            total = total[cut: len(total) - cut]
    return total


def sum_half_width(scales: Sequence[float], level: float = CI_LEVEL) -> int:
    """Integer half-width h with P(|sum of noises| ≤ h) ≥ level (exact convolution)."""
    if len(scales) == 1:
        return half_width(scales[0], level)
    pmf = sum_pmf(scales)
    centre = len(pmf) // 2
    covered = pmf[centre]
    h = 0
    while covered < level and h < centre:
        h += 1
        covered += pmf[centre - h] + pmf[centre + h]
    return h
