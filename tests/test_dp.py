"""DP maths: intervals from OpenDP's accuracy and from exact convolution."""

from __future__ import annotations

import math

import pytest

from regiozicht import dp


def _exact_cover(scale: float, h: int) -> float:
    q = math.exp(-1 / scale)
    # P(|Z| <= h) for the discrete Laplace: 1 - 2 q^(h+1) / (1 + q)
    return 1 - 2 * q ** (h + 1) / (1 + q)


@pytest.mark.parametrize("epsilon", [0.1, 0.5, 1.0, 2.0])
def test_one_release_half_width_is_the_smallest_that_covers(epsilon: float) -> None:
    scale = dp.count_scale(epsilon)
    h = dp.half_width(scale)
    assert _exact_cover(scale, h) >= 0.95
    assert _exact_cover(scale, h - 1) < 0.95


@pytest.mark.parametrize("epsilon", [0.1, 1.0])
def test_convolution_of_one_matches_opendp(epsilon: float) -> None:
    scale = dp.count_scale(epsilon)
    pmf = dp.sum_pmf([scale])
    centre = len(pmf) // 2
    h = dp.half_width(scale)
    assert pmf[centre - h: centre + h + 1].sum() == pytest.approx(_exact_cover(scale, h), abs=1e-9)


def test_sum_interval_is_narrower_than_adding_widths_and_wider_than_one() -> None:
    scales = [2.0] * 8
    h = dp.sum_half_width(scales)
    assert dp.half_width(2.0) < h < 8 * dp.half_width(2.0)
    pmf = dp.sum_pmf(scales)
    centre = len(pmf) // 2
    assert pmf[centre - h: centre + h + 1].sum() >= 0.95
    assert pmf[centre - h + 1: centre + h].sum() < 0.95


def test_noise_keeps_the_vector_shape_and_integers() -> None:
    noisy = dp.noisy_counts([0, 5, 1000], 1.0)
    assert len(noisy) == 3 and all(isinstance(v, int) for v in noisy)
