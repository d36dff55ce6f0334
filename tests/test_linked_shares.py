"""Shares of the anchor from a linked count: ∩ / (∩ + ∖) with an interval from the
joint distribution of both noises (they share the anchor's phantom draw)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from regiozicht import linknoise
from regiozicht.linknoise import ShiftedLaplace

EPSILON, T = 1.0, 20  # ε 1, δ 1e-9


def test_the_joint_noise_has_the_exact_marginals_and_the_region_its_mass() -> None:
    """n1 (of ∩) is a sum of 2K draws, n2 (of ∩ + ∖) of 2, and they share exactly one."""
    single = linknoise.truncated_pmf(EPSILON, T)
    for runs in (1, 2, 3):
        joint = linknoise.share_noise_pmf(EPSILON, T, runs)
        assert joint.shape == (4 * runs * T + 1, 4 * T + 1)
        assert np.allclose(joint.sum(axis=1), linknoise.combined_pmf([single] * (2 * runs)), atol=1e-15)
        assert np.allclose(joint.sum(axis=0), linknoise.combined_pmf([single] * 2), atol=1e-15)
        n1 = np.arange(-2 * runs * T, 2 * runs * T + 1)
        n2 = np.arange(-2 * T, 2 * T + 1)
        covariance = (joint * np.outer(n1, n2)).sum()
        assert covariance == pytest.approx((single * np.arange(-T, T + 1) ** 2).sum())  # Var of the shared draw
        region = linknoise.share_region(EPSILON, T, runs)
        assert joint[region[0] + 2 * runs * T, region[1] + 2 * T].sum() >= 0.95


def _exact_coverage(inter: int, total: int, runs: int, epsilon: float = EPSILON, shift: int = T) -> float:
    """P(the interval covers inter/total), summed over every value of the joint noise."""
    joint = linknoise.share_noise_pmf(epsilon, shift, runs)
    truth, covered = inter / total, 0.0
    for (row, col), mass in np.ndenumerate(joint):
        if mass < 1e-13:
            continue
        low, high = linknoise.share_interval(inter + row - 2 * runs * shift, total + col - 2 * shift,
                                             epsilon, shift, runs)
        covered += mass * (low <= truth <= high)
    return covered


@pytest.mark.parametrize("inter,total,runs", [(0, 1, 1), (1, 1, 1), (3, 7, 1), (40, 80, 1), (12, 300, 2),
                                              (70, 80, 2), (5, 5, 2), (0, 40, 2)])
def test_share_intervals_cover_at_least_95_percent_exactly(inter: int, total: int, runs: int) -> None:
    """Exact, not sampled: the coverage over the whole joint noise distribution is ≥ 95%
    (the projection of a region of mass ≥ 95% holds the truth whenever the noise is in it)."""
    assert _exact_coverage(inter, total, runs) >= 0.95


def test_share_intervals_cover_the_truth_with_the_real_draws() -> None:
    """400 simulated queries with the nodes' real draws (OpenDP's exact discrete Laplace,
    truncated) and the real estimators, K = 2 peers, 1,000 anchor persons of whom 600 are
    at one peer and 50 at the other: at least 366 intervals must cover 650/1000. With coverage
    exactly 95% fewer than 366 happen with probability 0.11% (binomial); the intervals cover
    at least 95% (test above), so the false-failure rate is below 0.11%."""
    draw = ShiftedLaplace(EPSILON, T)
    at_peer, total = (600, 50), 1000
    covered = 0
    for _ in range(400):
        matches, sizes = [], []
        for k, inter in enumerate(at_peer):
            d_a, e_a, d_b = draw.draw(), draw.draw(), draw.draw()
            matches.append([inter + d_a + d_b])
            sizes.append([total + d_a + e_a])
        (inter_est, only_est), = linknoise.linked_estimates(matches, sizes, T)
        low, high = linknoise.share_interval(inter_est, inter_est + only_est, EPSILON, T, runs=2)
        covered += low <= sum(at_peer) / total <= high
    assert covered >= 366, covered


def test_share_intervals_are_narrower_than_treating_the_noises_as_independent() -> None:
    """The point of the joint distribution: a Bonferroni interval from the two marginals
    (each at 97.5%) is wider for a typical cell."""
    low, high = linknoise.share_interval(300, 700, EPSILON, T, runs=1)
    single = linknoise.truncated_pmf(EPSILON, T)
    w1 = linknoise.central_half_width(linknoise.combined_pmf([single] * 2), 0.975)
    w2 = w1  # n2 is also a sum of two draws
    bonferroni = (300 + w1) / (700 - w2) - (300 - w1) / (700 + w2)
    assert high - low < bonferroni and low <= 300 / 700 <= high


def test_degenerate_cells_give_the_whole_range_or_a_clipped_interval() -> None:
    assert linknoise.share_interval(0, 0, EPSILON, T, 1) == (0.0, 1.0)
    assert linknoise.share_interval(-40, -40, EPSILON, T, 1) == (0.0, 1.0)
    low, high = linknoise.share_interval(2, 2, EPSILON, T, 2)
    assert 0.0 <= low <= high == 1.0
    assert linknoise.share_estimate(5, 4) == 1.0 and linknoise.share_estimate(-1, 4) == 0.0
    assert linknoise.share_estimate(3, 0) is None
    for inter, total in itertools.product((0, 5, 20), (10, 50)):
        low, high = linknoise.share_interval(inter, total, EPSILON, T, 1)
        assert 0.0 <= low <= high <= 1.0
