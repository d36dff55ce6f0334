"""A consistent table has non-negative integer cells whose every margin adds up, keeps
its totals close to the unbiased raw sums, and its intervals cover the truth at ≥ 95%."""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import product

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regiozicht import consistent, dp
from regiozicht.consistent import Cell

DIMS = ("gemeente", "leeftijd", "geslacht")
GEMEENTEN = ("Assen", "Emmen", "Borger", "Aa en Hunze", "Tynaarlo")
LEEFTIJDEN = ("15-17", "18-20", "21-23", "24-26", "onbekend")
GESLACHTEN = ("man", "vrouw", "onbekend")
# per gemeente, men per age band; women one more where a band has more than two
_BANDS = {"Assen": (9, 7, 4, 2), "Emmen": (12, 10, 6, 3), "Borger": (2, 1, 0, 1), "Aa en Hunze": (1, 0, 2, 0),
          "Tynaarlo": (4, 3, 1, 0)}


def _truth() -> dict[Cell, int]:
    """75 cells, 40 of them zero: a few large gemeenten, small ones, and sparse `onbekend` values."""
    table: dict[Cell, int] = {}
    for g in GEMEENTEN:
        for i, a in enumerate(LEEFTIJDEN):
            for s in GESLACHTEN:
                if a == "onbekend":
                    value = int(g == "Emmen" and s != "onbekend")
                elif s == "onbekend":
                    value = int(g == "Assen" and i == 0)
                else:
                    men = _BANDS[g][i]
                    value = men + int(s == "vrouw" and men > 2)
                table[(g, a, s)] = value
    return table


TRUTH = _truth()
# Emmen's cells are summed over two nodes, every other cell comes from one
SCALES: dict[Cell, list[float]] = {c: [2.0, 2.0] if c[0] == "Emmen" else [2.0] for c in TRUTH}


def _noisy(rng: np.random.Generator) -> dict[Cell, int]:
    """Truth plus discrete Laplace noise: a difference of two geometrics with p = 1 − e^(−1/s)."""
    raw = {}
    for cell, value in TRUTH.items():
        p = [1 - math.exp(-1 / s) for s in SCALES[cell]]
        raw[cell] = value + int(rng.geometric(p).sum() - rng.geometric(p).sum())
    return raw


def _objective(x: np.ndarray, raw: Sequence[float], weights: Sequence[float]) -> float:
    return float(np.sum((x - np.asarray(raw)) ** 2 / np.asarray(weights)))


# --- project ------------------------------------------------------------------------------------

_cells = st.integers(1, 12)


@st.composite
def _problems(draw: st.DrawFn) -> tuple[list[float], list[float], float]:
    n = draw(_cells)
    raw = draw(st.lists(st.floats(-50, 50), min_size=n, max_size=n))
    weights = draw(st.lists(st.floats(0.1, 10), min_size=n, max_size=n))
    return raw, weights, draw(st.floats(0, 200))


@settings(max_examples=300, deadline=None)
@given(_problems())
def test_project_meets_the_kkt_conditions(problem: tuple[list[float], list[float], float]) -> None:
    raw, weights, total = problem
    x = consistent.project(raw, weights, total)
    assert np.all(x >= 0)
    assert abs(x.sum() - total) <= 1e-9 * (1 + total)
    positive = x > 0
    if not positive.any():
        assert total < 1e-9
        return
    # one multiplier λ: x_c = y_c − λ v_c where x_c > 0, and y_c − λ v_c ≤ 0 where x_c = 0
    lams = (np.asarray(raw) - x) / np.asarray(weights)
    lam = float(np.mean(lams[positive]))
    assert np.allclose(lams[positive], lam, atol=1e-7)
    assert np.all(np.asarray(raw)[~positive] - lam * np.asarray(weights)[~positive] <= 1e-7)


@settings(max_examples=200, deadline=None)
@given(_problems(), st.lists(st.floats(0, 1), min_size=12, max_size=12).filter(lambda p: sum(p) > 0))
def test_project_is_no_worse_than_another_feasible_point(problem: tuple[list[float], list[float], float],
                                                        proportions: list[float]) -> None:
    raw, weights, total = problem
    other = np.asarray(proportions[: len(raw)]) + 1e-9
    other = total * other / other.sum()
    x = consistent.project(raw, weights, total)
    assert _objective(x, raw, weights) <= _objective(other, raw, weights) + 1e-6


def test_with_equal_weights_project_is_clipping_with_redistribution() -> None:
    # the total of the clipped values: nothing to redistribute, plain clipping
    assert consistent.project([5, -3, 2, 0], [1, 1, 1, 1], 7).tolist() == [5, 0, 2, 0]
    # less than that: the excess comes off every positive cell equally (λ = 3)
    assert consistent.project([10, 4, -2], [1, 1, 1], 8).tolist() == [7, 1, 0]
    # more: added equally to all cells, negative ones first only once they are above 0 (λ = −3)
    assert consistent.project([-1, -2], [1, 1], 3).tolist() == [2, 1]
    # a noisier cell takes more of the correction: λ = 1, the second cell moves 3 times as far
    assert consistent.project([10, 4], [1, 3], 10).tolist() == [9, 1]
    # a non-negative vector that already has the total is left alone
    assert consistent.project([3, 0, 2], [2, 1, 5], 5).tolist() == [3, 0, 2]
    assert consistent.project([3, -1], [1, 1], 0).tolist() == [0, 0]


def test_project_refuses_an_impossible_problem() -> None:
    for raw, weights, total in (([1.0], [1.0], -1.0), ([1.0], [0.0], 1.0), ([], [], 1.0)):
        with pytest.raises(ValueError):
            consistent.project(raw, weights, total)


# --- round_to_total -----------------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(_problems(), st.integers(0, 200))
def test_round_to_total_sums_exactly_and_moves_each_value_less_than_one(
        problem: tuple[list[float], list[float], float], total: int) -> None:
    raw, weights, _ = problem
    x = consistent.project(raw, weights, total)
    rounded = consistent.round_to_total(x, total)
    assert sum(rounded) == total
    assert all(isinstance(r, int) and r >= 0 for r in rounded)
    assert np.all(np.abs(np.asarray(rounded) - x) < 1)


def test_round_to_total_breaks_ties_towards_the_earlier_cell() -> None:
    assert consistent.round_to_total([0.5, 0.5, 0.5, 0.5], 2) == [1, 1, 0, 0]
    assert consistent.round_to_total([1.2, 0.7, 1.1], 3) == [1, 1, 1]
    with pytest.raises(ValueError):
        consistent.round_to_total([1.0, 1.0], 5)


# --- consistent_table ---------------------------------------------------------------------------

@st.composite
def _tables(draw: st.DrawFn) -> tuple[dict[Cell, int], dict[Cell, list[float]], tuple[str, ...], list[list[str]]]:
    dims = ("a", "b", "c")[: draw(st.integers(1, 3))]
    domains = [[f"{d}{i}" for i in range(draw(st.integers(1, 4)))] for d in dims]
    cells = list(product(*domains))
    raw = {c: draw(st.integers(-8, 20)) for c in cells}
    scales = {c: draw(st.lists(st.sampled_from([0.5, 1.0, 2.0, 5.0]), min_size=1, max_size=2)) for c in cells}
    depth = draw(st.integers(0, len(dims)))
    return raw, scales, dims, [list(dims[: i + 1]) for i in range(depth)]


@settings(max_examples=150, deadline=None)
@given(_tables())
def test_every_cell_is_a_non_negative_integer_and_every_margin_adds_up(
        table: tuple[dict[Cell, int], dict[Cell, list[float]], tuple[str, ...], list[list[str]]]) -> None:
    raw, scales, dims, levels = table
    published = consistent.consistent_table(raw, scales, dims, levels)
    assert set(published) == set(raw)
    assert all(isinstance(v, int) and v >= 0 for v in published.values())
    assert sum(published.values()) == max(0, sum(raw.values()))
    # the first level's totals are its raw group sums projected onto the grand total
    first = list(levels[0]) if levels else list(dims)
    sums = consistent.margin(raw, dims, first)
    noise = {k: 0.0 for k in sums}
    for cell, cell_scales in scales.items():
        noise[tuple(cell[dims.index(d)] for d in first)] += consistent.noise_variance(cell_scales)
    groups = sorted(sums)
    total = max(0, sum(raw.values()))
    expected = consistent.round_to_total(
        consistent.project([sums[k] for k in groups], [noise[k] for k in groups], total), total)
    assert [consistent.margin(published, dims, first)[k] for k in groups] == expected
    # a coarser grouping of a margin is the same as that grouping of the cells
    fine = consistent.margin(published, dims, dims[:-1])
    assert consistent.margin(fine, dims[:-1], []) == consistent.margin(published, dims, []) == {(): total}
    if len(dims) > 2:
        assert consistent.margin(fine, dims[:-1], dims[:1]) == consistent.margin(published, dims, dims[:1])


@settings(max_examples=100, deadline=None)
@given(_tables())
def test_a_table_that_already_adds_up_is_published_unchanged(
        table: tuple[dict[Cell, int], dict[Cell, list[float]], tuple[str, ...], list[list[str]]]) -> None:
    raw, scales, dims, levels = table
    non_negative = {c: abs(v) for c, v in raw.items()}
    assert consistent.consistent_table(non_negative, scales, dims, levels) == non_negative


def test_levels_must_nest_and_name_dimensions() -> None:
    raw: dict[Cell, int] = {("x", "y"): 1}
    scales: dict[Cell, list[float]] = {("x", "y"): [1.0]}
    with pytest.raises(ValueError):
        consistent.consistent_table(raw, scales, ("a", "b"), [["b"], ["a"]])
    with pytest.raises(ValueError):
        consistent.consistent_table(raw, scales, ("a", "b"), [["gemeente"]])
    with pytest.raises(ValueError):
        consistent.consistent_table(raw, {("x", "y"): []}, ("a", "b"), [])


# --- accuracy and coverage ----------------------------------------------------------------------

def test_gemeente_totals_are_far_less_biased_than_summing_clipped_cells() -> None:
    # Measured with this seed over 1000 draws (truth 48, 68, 8, 6, 18; 40 of 75 cells zero), the bias of
    # the consistent totals: −0.70, −1.35, +1.24, +2.09, −0.31 (standard errors 0.3–0.5, Σ|bias| 5.7);
    # of the sums of cells clipped at zero: +7.4, +10.8, +11.7, +12.7, +10.3 (Σ 52.8), as each zero
    # cell adds E[max(0, Z)] ≈ 0.96 at scale 2. Root mean square errors: ours 8.6–15.6, clipped
    # 11.3–16.3. What bias is left comes from clipping the small gemeenten's totals at zero, which the
    # others, Emmen most (two nodes' noise), give back out of the unbiased grand total.
    rng = np.random.default_rng(11)
    draws = 1000
    truth = consistent.margin(TRUTH, DIMS, ["gemeente"])
    ours = dict.fromkeys(truth, 0.0)
    clipped = dict.fromkeys(truth, 0.0)
    for _ in range(draws):
        raw = _noisy(rng)
        published = consistent.margin(consistent.consistent_table(raw, SCALES, DIMS, [["gemeente"]]), DIMS,
                                      ["gemeente"])
        naive = consistent.margin({c: max(0, v) for c, v in raw.items()}, DIMS, ["gemeente"])
        for key in truth:
            ours[key] += (published[key] - truth[key]) / draws
            clipped[key] += (naive[key] - truth[key]) / draws
    assert all(abs(b) < 3 for b in ours.values()), ours
    assert all(b > 6 for b in clipped.values()), clipped
    assert sum(map(abs, ours.values())) < sum(clipped.values()) / 4


def _covered(half_width_fraction: float) -> dict[str, int]:
    """Of 400 draws, how many intervals cover one small cell and one small gemeente's total."""
    rng = np.random.default_rng(7)
    small = ("Borger", "18-20", "man")
    borger = [c for c in TRUTH if c[0] == "Borger"]
    truth_borger = sum(TRUTH[c] for c in borger)
    covered = {"cell": 0, "gemeente": 0}
    for _ in range(400):
        raw = _noisy(rng)
        published = consistent.consistent_table(raw, SCALES, DIMS, [["gemeente"]])
        total = int(consistent.margin(published, DIMS, ["gemeente"])[("Borger",)])
        if half_width_fraction == 1:
            cell = consistent.interval([raw[small]], [SCALES[small]], published[small])
            gemeente = consistent.interval([raw[c] for c in borger], [SCALES[c] for c in borger], total)
        else:
            cell = _narrow(raw[small], SCALES[small], published[small], half_width_fraction)
            gemeente = _narrow(sum(raw[c] for c in borger), [s for c in borger for s in SCALES[c]], total,
                               half_width_fraction)
        covered["cell"] += cell[0] <= TRUTH[small] <= cell[1]
        covered["gemeente"] += gemeente[0] <= truth_borger <= gemeente[1]
    return covered


def _narrow(noisy: int, scales: list[float], published: int, fraction: float) -> tuple[int, int]:
    """`interval`'s construction with a half-width cut to `fraction`."""
    h = int(dp.sum_half_width(scales) * fraction)
    return min(max(0, noisy - h), published), max(noisy + h, published)


# 366 of 400: if each interval covers with probability 0.95, P(at most 365 cover) = 0.0011
# (binomial tail, exact); the real coverage is above 0.95 (integer half-widths, widening), so a
# correct implementation fails this less than once in 900 runs, and never with the fixed seed.
ENOUGH = 366


def test_intervals_cover_the_truth_in_at_least_366_of_400_draws() -> None:
    # measured with this seed: the cell (truth 1, h = 6) 387/400, Borger's total (truth 8, h = 21) 379/400
    assert sum(math.comb(400, k) * 0.95**k * 0.05 ** (400 - k) for k in range(ENOUGH)) < 0.005
    covered = _covered(1)
    assert all(n >= ENOUGH for n in covered.values()), covered


def test_intervals_a_third_as_wide_would_fail_the_coverage_rule() -> None:
    # measured with this seed: the cell 310/400, Borger's total 205/400, despite widening to the published value
    covered = _covered(1 / 3)
    assert all(n < ENOUGH for n in covered.values()), covered


def test_margin_intervals_match_interval_and_hold_the_published_value() -> None:
    raw: dict[Cell, int] = {("A", "m"): -3, ("A", "v"): 2, ("B", "m"): 7, ("B", "v"): 0}
    scales: dict[Cell, list[float]] = {c: [2.0] for c in raw}
    published = consistent.consistent_table(raw, scales, ("g", "s"), [["g"]])
    intervals = consistent.margin_intervals(raw, scales, published, ("g", "s"), ["g"])
    h = dp.sum_half_width([2.0, 2.0])
    assert intervals[("B",)] == (max(0, 7 - h), 7 + h)
    assert intervals[("A",)][0] == 0 <= published[("A", "m")] + published[("A", "v")] <= intervals[("A",)][1]


def test_a_share_interval_is_the_ratio_of_the_extremes_clipped_to_one() -> None:
    assert consistent.share_level(0.95) == pytest.approx(0.975)
    assert consistent.share_interval((2, 10), (20, 40)) == (0.05, 0.5)
    assert consistent.share_interval((0, 30), (0, 20)) == (0.0, 1.0)
