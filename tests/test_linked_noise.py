"""The linked count's released noise has the claimed distribution — not less.

Coverage tests cannot see too little noise (less noise only raises coverage),
so here the real protocol code runs with its real sampler, and the noise it
releases — the counter's estimates minus the truth — is compared with the
exact distribution of the sum of the claimed truncated draws:

- ∩ carries (D_A − T) + (D_B − T); ∖ carries (E_A − T) − (D_B − T).
- Test statistic: the mean absolute noise over RUNS runs, against its exact
  expectation, accepted within 4.5 standard errors (exact variance from the
  PMF). By the normal approximation (RUNS = 300; the CLT is close here, the
  variable is bounded by 2T) a correct implementation fails with probability
  about 7e-6 per check, two checks: below 1e-4.
- Power: half the noise (ε twice the claimed) moves the mean absolute noise
  of ∩ from 1.36 to 0.49 at ε = 1 (the band is ±0.34), no noise to 0, and a
  person moving two draws (ε halved) to about 2.6. The last test shows that
  each of these lands outside the band with probability above 0.999.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from regiozicht import psi
from regiozicht.linknoise import ShiftedLaplace, combined_pmf, shift_for, truncated_pmf

EPSILON, DELTA = 1.0, 1e-3
SHIFT = shift_for(EPSILON, DELTA)
RUNS = 300
K = 4.5


def _abs_moments(pmf: np.ndarray) -> tuple[float, float]:
    """E|S| and Var|S| of a PMF centred on the middle of its support."""
    centre = len(pmf) // 2
    values = np.abs(np.arange(len(pmf)) - centre)
    mean = float((values * pmf).sum())
    return mean, float(((values - mean) ** 2 * pmf).sum())


def _bound(pmf: np.ndarray) -> tuple[float, float]:
    mean, variance = _abs_moments(pmf)
    return mean, K * math.sqrt(variance / RUNS)


def _released_noise(epsilon: float) -> tuple[list[int], list[int]]:
    """(∩ noise, ∖ noise) of RUNS honest runs of the real protocol, drawn at `epsilon`."""
    inter_true, only_true = 3, 2
    x = [[f"s{i}".encode() for i in range(inter_true)] + [f"x{i}".encode() for i in range(only_true)]]
    y = [f"s{i}".encode() for i in range(inter_true)] + [b"y0", b"y1"]
    inter_noise, only_noise = [], []
    for index in range(RUNS):
        ctx = psi.RunContext("q", f"q:{index}", "a", "b", "k", 1, SHIFT)
        anchor = psi.AnchorParty(ctx, ShiftedLaplace(epsilon, SHIFT))
        other = psi.OtherParty(ctx, ShiftedLaplace(epsilon, SHIFT))
        slots = anchor.make_slots(other.public)
        h_primes = other.make_slots(anchor.public)
        other.check_peer_slots(slots, anchor.public)
        lists_a = anchor.build_lists(x, h_primes)
        list_b = other.build_list(y)
        z_a, z_b = other.image(lists_a, "a"), anchor.image([list_b], "b")
        (inter, only), = psi.estimates(psi.count(z_a, z_b[0]), [len(lists_a[0])], SHIFT)
        inter_noise.append(inter - inter_true)
        only_noise.append(only - only_true)
    return inter_noise, only_noise


@pytest.fixture(scope="module")
def released() -> tuple[list[int], list[int]]:
    return _released_noise(EPSILON)


def _claimed() -> np.ndarray:
    one = truncated_pmf(EPSILON, SHIFT)
    return combined_pmf([one, one])  # ∩: a sum; ∖: a difference of symmetric draws, the same PMF


def test_the_intersection_carries_the_claimed_noise(released: tuple[list[int], list[int]]) -> None:
    mean, tolerance = _bound(_claimed())
    observed = float(np.mean(np.abs(released[0])))
    assert abs(observed - mean) <= tolerance, (observed, mean, tolerance)


def test_the_difference_carries_the_claimed_noise(released: tuple[list[int], list[int]]) -> None:
    mean, tolerance = _bound(_claimed())
    observed = float(np.mean(np.abs(released[1])))
    assert abs(observed - mean) <= tolerance, (observed, mean, tolerance)


@pytest.mark.parametrize("factor", [0.0, 0.5, 2.0])
def test_the_check_has_power_against_none_half_and_double_noise(factor: float) -> None:
    """The same statistic on exact distributions of the wrong noise lands far outside the
    acceptance band: no noise, half the noise (ε doubled) and double (ε halved, a sensitivity
    of two)."""
    mean, tolerance = _bound(_claimed())
    if factor == 0.0:
        wrong, spread = 0.0, 0.0
    else:
        one = truncated_pmf(EPSILON / factor, shift_for(EPSILON / factor, DELTA))
        wrong, variance = _abs_moments(combined_pmf([one, one]))
        spread = math.sqrt(variance / RUNS)
    # the wrong noise's sample mean must fall outside the band: > 3.1 of its standard errors away (p < 1e-3)
    margin = abs(wrong - mean) - tolerance
    assert margin > 0 and (spread == 0 or margin / spread > 3.1), (wrong, mean, tolerance, spread)
