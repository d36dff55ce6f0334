"""One noisy DP cross-table made into a published table that adds up.

A monitor asks each dataset once per period for its full cross-table; every
grouping it publishes is a sum of that table's cells. Raw cells are exact
counts plus discrete Laplace noise, so they can be negative and clipping each
one at zero biases every sum upwards. Instead the table is fixed top-down
along a hierarchy (grand total, then e.g. gemeente totals, then cells): at each
step the children's raw sums are projected, in the least-squares sense weighted
by their noise variance, onto {≥ 0, sum = parent's published total}, and
rounded to integers that keep that sum. Every cell is then a non-negative
integer, every margin is a sum of cells, and each total along the hierarchy
stays close to its unbiased raw sum.

All of this is post-processing of the DP release and costs no privacy.
Intervals are computed from the raw sums (see `interval`), not from the
post-processed values, whose error distribution is not known exactly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import TypeVar

import numpy as np

from regiozicht import dp

Cell = tuple[str, ...]
Value = TypeVar("Value", int, float)


def noise_variance(scales: Sequence[float]) -> float:
    """Variance of a sum of independent discrete Laplace noises: Σ 2q/(1 − q)², q = e^(−1/s)."""
    total = 0.0
    for scale in scales:
        if scale > 0:
            q = math.exp(-1.0 / scale)
            total += 2 * q / (1 - q) ** 2
    return total


def project(raw: Sequence[float], weights: Sequence[float], total: float) -> np.ndarray:
    """Minimises Σ (x_c − y_c)² / v_c subject to Σ x_c = total and x_c ≥ 0.

    The KKT conditions give x_c = max(0, y_c − λ v_c) for one λ. A cell is
    positive iff its breakpoint y_c / v_c exceeds λ, so the positive cells are
    the k largest breakpoints for some k; λ is found exactly by trying each k
    (the sort-based method for projecting onto a simplex, here weighted).

    Args:
        raw: the noisy values y_c.
        weights: the variances v_c, each > 0; a noisier cell absorbs more of the correction.
        total: the required sum, ≥ 0.
    """
    y = np.asarray(raw, dtype=float)
    v = np.asarray(weights, dtype=float)
    if y.shape != v.shape or y.ndim != 1:
        raise ValueError("raw and weights must be flat sequences of the same length.")
    if total < 0 or np.any(v <= 0) or (total > 0 and y.size == 0):
        raise ValueError("Projection needs total ≥ 0, every weight > 0, and at least one cell for a positive total.")
    if total == 0:
        return np.zeros_like(y)
    order = np.argsort(-(y / v), kind="stable")
    breaks = (y / v)[order]
    # λ_k when the k largest breakpoints are the positive cells
    lams = (np.cumsum(y[order]) - total) / np.cumsum(v[order])
    below = np.append(breaks[1:], -np.inf)
    # g(λ) = Σ max(0, y − λv) falls strictly while any cell is positive, so for every
    # smaller k, λ_k lies below the next breakpoint: the first k that does not is the
    # one; rounding can only pick a neighbour whose extra cell then comes out ≈ 0
    k = int(np.argmax(lams >= below))
    return np.asarray(np.maximum(0.0, y - lams[k] * v))


def round_to_total(x: Sequence[float] | np.ndarray, total: int) -> list[int]:
    """Integers ≥ 0 summing exactly to `total`, each the floor or ceiling of its x.

    Largest-remainder rounding: every value is floored, and the shortfall is
    handed out one each to the largest remainders, ties to the earlier cell.
    `x` must be non-negative and sum to `total` (as `project` returns).
    """
    values = np.asarray(x, dtype=float)
    if np.any(values < 0):
        raise ValueError("Only non-negative values can be rounded to a total.")
    floors = np.floor(values)
    shortfall = total - int(floors.sum())
    if not 0 <= shortfall <= values.size:
        raise ValueError(f"The values sum to {values.sum():g}, too far from {total} to round to it.")
    order = np.argsort(-(values - floors), kind="stable")
    rounded = floors.astype(int)
    rounded[order[:shortfall]] += 1
    return [int(r) for r in rounded]


def margin(table: Mapping[Cell, Value], dims: Sequence[str], keep: Sequence[str]) -> dict[Cell, Value]:
    """Sums a table's cells to the grouping `keep` (dimension names, in the key order wanted)."""
    positions = [_position(dims, name) for name in keep]
    sums: dict[Cell, Value] = {}
    for cell, value in table.items():
        key = tuple(cell[p] for p in positions)
        sums[key] = sums.get(key, 0) + value
    return sums


def consistent_table(raw: Mapping[Cell, int], scales: Mapping[Cell, Sequence[float]], dims: Sequence[str],
                     levels: Sequence[Sequence[str]]) -> dict[Cell, int]:
    """The published table: non-negative integer cells whose every margin adds up.

    The grand total is max(0, Σ y); then each level's groups (e.g. levels
    [("gemeente",)]: gemeente totals, then the cells within each gemeente) split
    their parent's published total by `project` on their raw sums, weighted by
    the variance of each group's summed noise, and `round_to_total`.

    Args:
        raw: the noisy cross-table, one integer per cell (a key per combination of `dims`).
        scales: per cell, the discrete Laplace scales of its noise (one per node summed).
        dims: the dimension names, in the order of the cell keys.
        levels: nested groupings from coarse to fine, each a superset of the one before.
    """
    cells = sorted(raw)
    if set(scales) != set(raw) or any(len(cell) != len(dims) for cell in cells):
        raise ValueError("Every cell needs a key over all dimensions and its list of noise scales.")
    variances = {cell: noise_variance(scales[cell]) for cell in cells}
    if any(v <= 0 for v in variances.values()):
        raise ValueError("Every cell needs a positive noise scale; an exact cell cannot be reweighted.")
    published: dict[Cell, int] = {(): max(0, int(sum(raw.values())))}
    chain = _chain(dims, levels)
    for coarse, fine in pairwise(chain):
        published = _split(published, cells, raw, variances, coarse, fine)
    return published


def interval(raw_cells: Sequence[int], scales_of_cells: Sequence[Sequence[float]], published: int,
             level: float = dp.CI_LEVEL) -> tuple[int, int]:
    """An interval for a published cell or margin that covers the truth with probability ≥ level.

    R is the raw noisy sum of the value's cells; its noise is the sum of all
    the cells' independent discrete Laplace noises, whose exact distribution
    (convolution) gives h with P(|R − truth| ≤ h) ≥ level. This is honest:
    [R − h, R + h] covers with probability ≥ level; the truth is a count, so
    raising the lower end to 0 never removes it; widening to include the
    published (post-processed) value only adds points. Each such interval
    covers on its own; for several values at once use a Bonferroni level.
    """
    if len(raw_cells) != len(scales_of_cells):
        raise ValueError("Each raw cell needs its list of noise scales.")
    noisy = int(sum(raw_cells))
    h = dp.sum_half_width([s for cell in scales_of_cells for s in cell], level)
    return min(max(0, noisy - h), published), max(noisy + h, published)


def margin_intervals(raw: Mapping[Cell, int], scales: Mapping[Cell, Sequence[float]], published: Mapping[Cell, int],
                     dims: Sequence[str], keep: Sequence[str], level: float = dp.CI_LEVEL) -> dict[Cell, tuple[int, int]]:
    """`interval` for every group of the grouping `keep` of a published table."""
    positions = [_position(dims, name) for name in keep]
    members: dict[Cell, list[Cell]] = {}
    for cell in sorted(raw):
        members.setdefault(tuple(cell[p] for p in positions), []).append(cell)
    sums = margin(published, dims, keep)
    return {key: interval([raw[c] for c in group], [scales[c] for c in group], int(sums[key]), level)
            for key, group in members.items()}


def share_interval(numerator: tuple[int, int], denominator: tuple[int, int]) -> tuple[float, float]:
    """Interval of a share num/den at level 1 − α from the two counts' intervals (Bonferroni).

    Both (low, high) intervals must come from `interval` at level 1 − α/2
    (`share_level`): they then hold together with probability ≥ 1 − α, and so
    does the ratio of their extremes. The numerator counts a subset of the
    denominator's population, so the share is clipped to [0, 1].
    """
    n_low, n_high = numerator
    d_low, d_high = denominator
    low = min(1.0, n_low / d_high) if d_high > 0 else 0.0
    high = min(1.0, n_high / d_low) if d_low > 0 else 1.0
    return low, high


def share_level(level: float = dp.CI_LEVEL) -> float:
    """The level each of a share's two count intervals needs for the share to cover at `level`."""
    return 1 - (1 - level) / 2


def _position(dims: Sequence[str], name: str) -> int:
    if name not in dims:
        raise ValueError(f"{name!r} is not a dimension of this table; use one of {', '.join(dims)}.")
    return list(dims).index(name)


def _chain(dims: Sequence[str], levels: Sequence[Sequence[str]]) -> list[tuple[int, ...]]:
    """The hierarchy as cell-key positions, from the grand total () to the full cell."""
    chain: list[tuple[int, ...]] = [()]
    for level in [*levels, dims]:
        positions = tuple(sorted({_position(dims, name) for name in level}))
        if not set(chain[-1]) <= set(positions):
            raise ValueError("Each level must contain the dimensions of the level before it.")
        if positions != chain[-1]:
            chain.append(positions)
    return chain


def _split(parents: Mapping[Cell, int], cells: Sequence[Cell], raw: Mapping[Cell, int],
           variances: Mapping[Cell, float], coarse: tuple[int, ...], fine: tuple[int, ...]) -> dict[Cell, int]:
    """Splits each coarse group's published total over its fine groups."""
    sums: dict[Cell, float] = {}
    noise: dict[Cell, float] = {}
    children: dict[Cell, list[Cell]] = {}
    for cell in cells:
        key = tuple(cell[p] for p in fine)
        if key not in sums:
            sums[key] = noise[key] = 0.0
            children.setdefault(tuple(cell[p] for p in coarse), []).append(key)
        sums[key] += raw[cell]
        noise[key] += variances[cell]
    published: dict[Cell, int] = {}
    for parent, keys in children.items():
        split = project([sums[k] for k in keys], [noise[k] for k in keys], parents[parent])
        published.update(zip(keys, round_to_total(split, parents[parent])))
    return published
