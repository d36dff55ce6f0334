"""Noise of the linked-count protocol: truncated, shifted discrete Laplace.

Each party draws its phantom and dummy counts as D = T + Z, with Z from the
discrete Laplace of scale Δ/ε drawn exactly by OpenDP, redrawn until
0 ≤ D ≤ 2T. The truncation costs δ = q^T / Σ_{k=−T..T} q^|k| with
q = e^(−1/scale); T is the smallest shift whose δ meets the covenant's bound.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
import opendp.prelude as dp

from regiozicht.dp import CI_LEVEL

dp.enable_features("contrib")


def truncation_delta(epsilon: float, shift: int, sensitivity: int = 1) -> float:
    q = math.exp(-epsilon / sensitivity)
    total = 1 + 2 * sum(q**k for k in range(1, shift + 1))
    return q**shift / total


def shift_for(epsilon: float, delta: float, sensitivity: int = 1) -> int:
    """The smallest T with truncation δ ≤ `delta` (ε = 1, δ = 1e-9 → T = 20)."""
    shift = 1
    while truncation_delta(epsilon, shift, sensitivity) > delta:
        shift += 1
        if shift > 100_000:
            raise ValueError("δ is too small for this ε; ask for a larger δ or ε")
    return shift


class ShiftedLaplace:
    """Draws D = T + Z in [0, 2T] exactly, Z ~ discrete Laplace(Δ/ε)."""

    def __init__(self, epsilon: float, shift: int, sensitivity: int = 1) -> None:
        self.epsilon, self.shift = epsilon, shift
        self._noise = dp.m.make_laplace(dp.atom_domain(T=int), dp.absolute_distance(T=int),
                                        scale=sensitivity / epsilon)

    def draw(self) -> int:
        while True:
            value: int = self.shift + self._noise(0)
            if 0 <= value <= 2 * self.shift:
                return value

    def draws(self, count: int) -> list[int]:
        return [self.draw() for _ in range(count)]


def truncated_pmf(epsilon: float, shift: int, sensitivity: int = 1) -> np.ndarray:
    """PMF of Z = D − T on −T..T."""
    q = math.exp(-epsilon / sensitivity)
    weights = np.array([q ** abs(k) for k in range(-shift, shift + 1)])
    return np.asarray(weights / weights.sum())


def combined_pmf(parts: Sequence[np.ndarray]) -> np.ndarray:
    """PMF of a sum (or, for symmetric parts, a difference) of independent draws."""
    total = np.array([1.0])
    for part in parts:
        total = np.convolve(total, part)
    return total


def central_half_width(pmf: np.ndarray, level: float = CI_LEVEL) -> int:
    centre = len(pmf) // 2
    covered, h = pmf[centre], 0
    while covered < level and h < centre:
        h += 1
        covered += pmf[centre - h] + pmf[centre + h]
    return h


def linked_half_width(epsilon: float, shift: int, runs: int, level: float = CI_LEVEL) -> int:
    """95% half-width of a linked estimate summed over `runs` peers.

    ∩ over K runs carries Σ_k (D_A,k + D_B,k − 2T); ∖ carries (E_A,1 − D_B,1)
    − Σ_{k≥2} (D_A,k + D_B,k − 2T). Both are sums (or differences, the
    truncated PMF is symmetric) of 2K independent centred draws.
    """
    return central_half_width(combined_pmf([truncated_pmf(epsilon, shift)] * (2 * runs)), level)


def linked_estimates(matches: Sequence[Sequence[int]], anchor_sizes: Sequence[Sequence[int]],
                     shift: int) -> list[tuple[int, int]]:
    """Per anchor cell, (|X_g ∩ Y|, |X_g ∖ Y|) summed over runs of disjoint peers Y_k.

    ∩ = Σ_k (m_k − 2T); ∖ = (|L_A,1| − m_1) − Σ_{k≥2} (m_k − 2T): the first
    run's difference minus what the other peers hold of it.
    """
    out = []
    for cell in range(len(matches[0])):
        inter = [m[cell] - 2 * shift for m in matches]
        out.append((sum(inter), anchor_sizes[0][cell] - matches[0][cell] - sum(inter[1:])))
    return out


# -- shares of the anchor ------------------------------------------------------------------------
#
# Per cell, over K runs: ∩̂ = I + n1 with n1 = Σ_k (D_A,k − T) + Σ_k (D_B,k − T), and
# N̂ = ∩̂ + ∖̂ = |X_g| + n2 with n2 = (D_A,1 − T) + (E_A,1 − T): every other draw cancels.
# The two noises share D_A,1, so the share's interval comes from their joint distribution.


def share_noise_pmf(epsilon: float, shift: int, runs: int) -> np.ndarray:
    """Exact joint PMF of (n1, n2): rows n1 = −2KT..2KT, columns n2 = −2T..2T.

    With Z = D_A,1 − T (shared), W the sum of the other 2K − 1 draws of n1 and
    E = E_A,1 − T: P(n1 = a, n2 = b) = Σ_z p(z) · p_W(a − z) · p(b − z).
    """
    single = truncated_pmf(epsilon, shift)
    rest = combined_pmf([single] * (2 * runs - 1))
    block = np.outer(rest, single)
    joint = np.zeros((len(rest) + 2 * shift, 4 * shift + 1))
    for index, weight in enumerate(single):
        joint[index:index + len(rest), index:index + len(single)] += weight * block
    return joint


@functools.lru_cache(maxsize=32)
def share_region(epsilon: float, shift: int, runs: int, level: float = CI_LEVEL) -> tuple[np.ndarray, np.ndarray]:
    """The noise points (n1, n2) of the highest-density region of probability ≥ `level`.

    Points are taken by decreasing probability (ties: nearer the centre first,
    then by n1 and n2) until their mass reaches `level`. The region depends on
    ε, T and K only, never on the data, so it holds the true noise with
    probability ≥ `level` whatever the counts are.
    """
    joint = share_noise_pmf(epsilon, shift, runs)
    rows, cols = np.indices(joint.shape)
    n1, n2 = (rows - (joint.shape[0] // 2)).ravel(), (cols - 2 * shift).ravel()
    mass = joint.ravel()
    order = np.lexsort((n2, n1, n1 * n1 + n2 * n2, -mass))
    taken = int(np.searchsorted(np.cumsum(mass[order]), level)) + 1
    chosen = order[:taken]
    return n1[chosen], n2[chosen]


def share_interval(inter: int, total: int, epsilon: float, shift: int, runs: int,
                   level: float = CI_LEVEL) -> tuple[float, float]:
    """A ≥ `level` interval for I/N from ∩̂ = `inter` and N̂ = ∩̂ + ∖̂ = `total`.

    Projects the joint noise region through (∩̂ − n1) / (N̂ − n2), keeping the
    points consistent with some truth (N ≥ 1, 0 ≤ I ≤ N): whenever the true
    noise lies in the region — probability ≥ `level` — the true share is
    one of the projected values, so it lies between their minimum and maximum.
    No consistent point (impossible unless the region missed): [0, 1].
    """
    n1, n2 = share_region(epsilon, shift, runs, level)
    found_i, found_n = inter - n1, total - n2
    keep = (found_n >= 1) & (found_i >= 0) & (found_i <= found_n)
    if not keep.any():
        return 0.0, 1.0
    ratios = found_i[keep] / found_n[keep]
    return float(ratios.min()), float(ratios.max())


def share_estimate(inter: int, total: int) -> float | None:
    """The point estimate ∩̂ / N̂, clipped to [0, 1]; None where N̂ ≤ 0."""
    return None if total <= 0 else min(1.0, max(0.0, inter / total))
