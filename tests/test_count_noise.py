"""A count's released noise has the claimed distribution — not less, not more, not biased.

Coverage tests cannot see too little noise (less noise only raises coverage), so here real
releases are compared with the exact distribution of the noise the node claims: the noise of a
release is the released value minus the exact count, known from the tiny region (tests/tiny.py).

- Paths: one node's count (`NodeService.answer` with refresh: fresh noise each time, as
  `dp.noisy_counts` draws it), a count summed over two node processes (the analyst's client over
  the coordinator), and a share's numerator and denominator (the same client path, read through
  `share_cells`).
- Statistic: the mean absolute noise over n independent draws (n = RELEASES × cells), against its
  exact expectation from the PMF (`dp.sum_pmf`), accepted within K = 4.5 standard errors (exact
  variance from the PMF). By the normal approximation (n ≥ 800; |noise| has all moments, the CLT
  is close) a correct node fails one check with probability about 6.8e-6; three checks: 2e-5.
- Power (the last tests): no noise gives 0, half the noise (ε twice the claimed) and double the
  noise move the mean far outside the band, and so does a person counted twice (a moved person's
  older registration counted too: two cells move, a sensitivity of 2): each lands outside the band
  with probability above 0.999.
"""

from __future__ import annotations

import math
import sqlite3
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from analyst.client import share_cells
from node.service import NodeService
from regiozicht import dp
from regiozicht.query import build_count
from regiozicht.v1 import regiozicht_pb2 as pb
from tests import tiny
from tests.conftest import NodeSetup, TinyRegion, node_setup, sign_query

pytestmark = pytest.mark.processes  # starts real processes: left out of `make test-fast`

EPSILON = 1.0
K = 4.5
BY = ("gemeente", "sex")  # 4 × 3 = 12 cells a release
RELEASES = 100  # 1,200 draws a check
SHARE_RELEASES = 100  # 4 cells, numerator and denominator: 800 draws
PERSONS = 300


def _abs_moments(pmf: np.ndarray) -> tuple[float, float]:
    """E|S| and Var|S| of a PMF centred on the middle of its support."""
    centre = len(pmf) // 2
    values = np.abs(np.arange(len(pmf)) - centre)
    mean = float((values * pmf).sum())
    return mean, float(((values - mean) ** 2 * pmf).sum())


def _claimed(nodes: int, epsilon: float = EPSILON) -> np.ndarray:
    return dp.sum_pmf([dp.count_scale(epsilon)] * nodes)


def _check(noise: Sequence[int], nodes: int) -> None:
    mean, variance = _abs_moments(_claimed(nodes))
    tolerance = K * math.sqrt(variance / len(noise))
    observed = float(np.mean(np.abs(noise)))
    assert abs(observed - mean) <= tolerance, (observed, mean, tolerance, len(noise))


# -- one node: NodeService.answer with refresh ------------------------------------------------------

OneNode = tuple[NodeService, NodeSetup, Counter[tuple[str, str]]]


@pytest.fixture(scope="module")
def one_node(tmp_path_factory: pytest.TempPathFactory) -> OneNode:
    root = tmp_path_factory.mktemp("noise")
    setup = node_setup(root, persons=PERSONS)
    truth = tiny.make(root / "truth.sqlite", PERSONS, seed=1)  # school1's database: the same seed, the same rows
    return setup.service(), setup, truth


def test_a_nodes_count_carries_the_claimed_noise(one_node: OneNode) -> None:
    node, setup, truth = one_node
    noise = []
    for _ in range(RELEASES):
        signed = sign_query(setup.analyst, by=BY, epsilon=str(EPSILON), refresh=True)
        answer = pb.Answer.FromString(node.answer(signed).payload)
        assert not answer.from_store and answer.noise_scale == dp.count_scale(EPSILON)
        noise += [c.value - truth[tuple(c.group)] for c in answer.cells]  # type: ignore[index]
    assert len(noise) == RELEASES * 12
    _check(noise, nodes=1)


# -- two node processes: the sum the analyst's client receives --------------------------------------


def test_a_sum_over_two_nodes_carries_the_claimed_noise(region: TinyRegion) -> None:
    client = region.client()
    query = build_count("registratie", epsilon=str(EPSILON), purpose="test", peildatum=tiny.PEILDATUM, by=list(BY))
    noise = []
    try:
        for _ in range(RELEASES):
            result = client.count(query, refresh=True)
            assert not result.failures and not any(n.from_store for n in result.nodes)
            noise += [c.value - region.truth[c.group] for c in result.cells]  # type: ignore[index]
    finally:
        client.close()
    assert len(noise) == RELEASES * 12
    _check(noise, nodes=2)


def test_a_shares_counts_carry_the_claimed_noise(region: TinyRegion) -> None:
    client = region.client()
    numerator = build_count("registratie", epsilon="1", purpose="test", peildatum=tiny.PEILDATUM,
                            by=["gemeente"], where="sex = M")
    denominator = build_count("registratie", epsilon="1", purpose="test", peildatum=tiny.PEILDATUM, by=["gemeente"])
    exact_num: Counter[str] = Counter()
    exact_den: Counter[str] = Counter()
    for (gemeente, sex), count in region.truth.items():
        exact_den[gemeente] += count
        exact_num[gemeente] += count if sex == "M" else 0
    noise = []
    try:
        for _ in range(SHARE_RELEASES):
            cells = share_cells(client.count(numerator, refresh=True), client.count(denominator, refresh=True))
            assert len(cells) == 4
            for cell in cells:
                noise += [cell.numerator - exact_num[cell.group[0]], cell.denominator - exact_den[cell.group[0]]]
    finally:
        client.close()
    _check(noise, nodes=2)


# -- power: the same statistic on the exact distributions of wrong noise ----------------------------


def _outside(wrong_mean: float, wrong_variance: float, nodes: int, draws: int) -> None:
    """The wrong noise's sample mean must fall outside the band: > 3.1 of its standard errors
    beyond the band's edge (p < 1e-3)."""
    mean, variance = _abs_moments(_claimed(nodes))
    tolerance = K * math.sqrt(variance / draws)
    spread = math.sqrt(wrong_variance / draws)
    margin = abs(wrong_mean - mean) - tolerance
    assert margin > 0 and (spread == 0 or margin / spread > 3.1), (wrong_mean, mean, tolerance, spread)


@pytest.mark.parametrize("nodes,draws", [(1, RELEASES * 12), (2, RELEASES * 12), (2, SHARE_RELEASES * 8)])
@pytest.mark.parametrize("factor", [0.0, 0.5, 2.0])
def test_the_check_has_power_against_none_half_and_double_noise(factor: float, nodes: int, draws: int) -> None:
    if factor == 0.0:
        wrong, variance = 0.0, 0.0
    else:
        wrong, variance = _abs_moments(_claimed(nodes, EPSILON / factor))
    _outside(wrong, variance, nodes, draws)


def _counted_twice(database: Path) -> Counter[tuple[str, str]]:
    """Per cell, the persons a node counting every registration (not only the latest) adds: the
    older row of each person who moved before the reference date."""
    added: Counter[tuple[str, str]] = Counter()
    with sqlite3.connect(database) as db:
        rows = db.execute(
            "SELECT r.gemeente, r.geslacht FROM registratie r WHERE r.datum <= ? AND EXISTS (SELECT 1 FROM "
            "registratie l WHERE l.bsn = r.bsn AND l.datum > r.datum AND l.datum <= ?)",
            (tiny.PEILDATUM.isoformat(), tiny.PEILDATUM.isoformat())).fetchall()
    for gemeente, sex in rows:
        added[(gemeente if gemeente in tiny.GEMEENTEN else "onbekend", sex or "onbekend")] += 1
    return added


def test_the_check_has_power_against_a_person_counted_twice(tmp_path: Path) -> None:
    """One node's check, if the node counted each moved person in both cells: the noise it
    appears to carry is the claimed noise plus the persons counted twice."""
    tiny.make(tmp_path / "school1.sqlite", PERSONS, seed=1)
    added = _counted_twice(tmp_path / "school1.sqlite")
    assert sum(added.values()) > 0
    pmf = _claimed(1)
    centre = len(pmf) // 2
    support = np.arange(len(pmf)) - centre
    cells = [(g, s) for g in (*tiny.GEMEENTEN, "onbekend") for s in ("M", "V", "onbekend")]
    means, variances = [], []
    for cell in cells:
        values = np.abs(support + added[cell])
        mean = float((values * pmf).sum())
        means.append(mean)
        variances.append(float(((values - mean) ** 2 * pmf).sum()))
    # the sample mean over RELEASES releases of these 12 cells
    wrong = float(np.mean(means))
    variance = float(np.mean(variances))
    _outside(wrong, variance, 1, RELEASES * 12)
