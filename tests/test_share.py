"""Share intervals from both noises cover the true share at the stated rate."""

from __future__ import annotations

import datetime as dt

from analyst.client import CellResult, CountResult, share_cells
from regiozicht import dp
from regiozicht.query import build_count


def _result(dataset: str, true: int, epsilon: float, nodes: int) -> CountResult:
    query = build_count(dataset, epsilon=str(epsilon), purpose="p", peildatum=dt.date(2026, 10, 1))
    noisy = sum(dp.noisy_counts([true // nodes], epsilon)[0] for _ in range(nodes))
    scales = [dp.count_scale(epsilon)] * nodes
    return CountResult(query, "id", [CellResult((), noisy, 0, 0)], noise_scales=scales)


def test_share_intervals_cover_at_least_95_percent() -> None:
    """400 fresh shares of 12 out of 80 (ε 0.5, two nodes in the denominator):
    at least 366 intervals must cover 0.15. If coverage were exactly 95%, fewer
    than 366 would happen with probability < 0.2%; the Bonferroni interval
    covers more than 95%, so the real false-failure rate is lower still."""
    covered = 0
    for _ in range(400):
        cell = share_cells(_result("baan", 12, 0.5, 1), _result("vsv", 80, 0.5, 2))[0]
        covered += cell.ci_low <= 12 / 80 <= cell.ci_high
    assert covered >= 366


def test_share_interval_stays_within_zero_and_one() -> None:
    for _ in range(50):
        cell = share_cells(_result("baan", 0, 0.2, 1), _result("vsv", 3, 0.2, 1))[0]
        assert 0.0 <= cell.ci_low <= cell.ci_high <= 1.0
