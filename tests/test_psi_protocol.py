"""The linked-count protocol without transport: correctness, the privacy
argument in a counts-only simulation, shuffling, and the phantom check."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pytest

from regiozicht import group, psi
from regiozicht.errors import AuthenticationFailed
from regiozicht.linknoise import ShiftedLaplace, shift_for, truncation_delta

T = 4  # small shift keeps lists short; the maths does not depend on it


class FixedDraws:
    """The nodes' draws, fixed by the test."""

    def __init__(self, values: Sequence[int]) -> None:
        self.values: Iterator[int] = iter(values)

    def draw(self) -> int:
        return next(self.values)


def _run(x_cells: list[list[bytes]], y: list[bytes], a_draws: list[int], b_draws: list[int]):  # type: ignore[no-untyped-def]
    domain = psi.domain_separator("q", "run")
    anchor = psi.AnchorRun(domain, T, FixedDraws(a_draws))  # type: ignore[arg-type]
    other = psi.OtherRun(domain, T, len(x_cells), FixedDraws(b_draws))  # type: ignore[arg-type]
    lists_a = anchor.lists(x_cells)
    list_b = other.list(y)
    z_b = anchor.answer(other.public, list_b)
    z_a = other.answer(anchor.public, lists_a)
    anchor.check(z_a)
    other.check(z_b)
    return anchor, other, lists_a, list_b, z_a, z_b


@dataclass(frozen=True)
class Observed:
    """Everything B and the coordinator together see of A's data, and vice versa."""

    anchor_sizes: tuple[int, ...]
    other_size: int
    matches: tuple[int, ...]
    z_anchor_sizes: tuple[int, ...]
    z_other_size: int


def observe(inter: Sequence[int], only_x: Sequence[int], only_y: int,
            d_a: Sequence[int], e_a: Sequence[int], d_b: Sequence[int], e_b: int) -> Observed:
    """The counts-only model of what the protocol reveals."""
    cells = len(inter)
    return Observed(
        anchor_sizes=tuple(inter[g] + only_x[g] + d_a[g] + e_a[g] for g in range(cells)),
        other_size=sum(inter) + only_y + sum(d_b) + e_b,
        matches=tuple(inter[g] + d_a[g] + d_b[g] for g in range(cells)),
        z_anchor_sizes=tuple(inter[g] + only_x[g] + d_a[g] + e_a[g] + 2 * T for g in range(cells)),
        z_other_size=sum(inter) + only_y + sum(d_b) + e_b + 2 * T * cells,
    )


def _people(prefix: str, count: int) -> list[bytes]:
    return [f"{prefix}{i}".encode() for i in range(count)]


def test_the_model_is_what_the_protocol_shows() -> None:
    inter, only_x, only_y = [3, 0, 2], [1, 2, 0], 4
    d_a, e_a, d_b, e_b = [2, 5, 4], [0, 8, 3], [1, 4, 6], 7
    shared = [_people(f"s{g}-", n) for g, n in enumerate(inter)]
    x_cells = [shared[g] + _people(f"x{g}-", only_x[g]) for g in range(3)]
    y = [p for cell in shared for p in cell] + _people("y", only_y)
    a_draws = [v for g in range(3) for v in (d_a[g], e_a[g])]
    anchor, other, lists_a, list_b, z_a, z_b = _run(x_cells, y, a_draws, [*d_b, e_b])
    seen = Observed(tuple(len(c) for c in lists_a), len(list_b), tuple(psi.count_matches(z_a, z_b)),
                    tuple(len(c) for c in z_a), len(z_b))
    assert seen == observe(inter, only_x, only_y, d_a, e_a, d_b, e_b)
    assert psi.estimates(seen.matches, seen.anchor_sizes, T) == [
        (inter[g] + d_a[g] + d_b[g] - 2 * T, only_x[g] + e_a[g] - d_b[g]) for g in range(3)]


def _shift_one(draws: tuple[int, ...]) -> Iterator[tuple[int, ...]]:
    yield draws
    for index in range(len(draws)):
        for step in (-1, 1):
            moved = list(draws)
            moved[index] += step
            if 0 <= moved[index] <= 2 * T:
                yield tuple(moved)


@pytest.mark.parametrize("inter,only_x,only_y", [([0, 0], [0, 0], 0), ([2, 0], [1, 3], 2), ([1, 1], [0, 0], 5)])
def test_one_person_moves_one_observable_covered_by_its_owners_draws(
    inter: list[int], only_x: list[int], only_y: int
) -> None:
    """For each one-person change of A's or B's set, shifting that owner's own
    draws by at most one reproduces everything the other node and the
    coordinator observe together (interior draws; the boundary is δ)."""
    cells = len(inter)
    interior = range(1, 2 * T)
    for d_a, e_a in itertools.product(itertools.product(interior, repeat=cells), repeat=2):
        d_b, e_b = (T,) * cells, T
        base = observe(inter, only_x, only_y, d_a, e_a, d_b, e_b)
        for g in range(cells):
            for change in (+1, -1):
                for which in ("inter", "only_x"):
                    new_inter, new_only = list(inter), list(only_x)
                    (new_inter if which == "inter" else new_only)[g] += change
                    if min(new_inter + new_only) < 0:
                        continue
                    # y's membership in B is fixed: adding x to X_g ∩ Y means the person is in Y too
                    new_only_y = only_y - change if which == "inter" else only_y
                    if new_only_y < 0:
                        continue
                    assert any(
                        observe(new_inter, new_only, new_only_y, a[:cells], a[cells:], d_b, e_b) == base
                        for a in _shift_one((*d_a, *e_a))
                    ), f"A's change in cell {g} ({which}) is not covered by A's draws"
    # and B's changes, covered by B's draws alone
    d_a, e_a = (T,) * cells, (T,) * cells
    for d_b in itertools.product(interior, repeat=cells):
        for e_b in interior:
            base = observe(inter, only_x, only_y, d_a, e_a, d_b, e_b)
            for change in (+1, -1):
                for g in [*range(cells), None]:
                    new_inter, new_only_x, new_only_y = list(inter), list(only_x), only_y
                    if g is None:
                        new_only_y += change
                    else:  # y is one of A's persons in cell g: joins or leaves the intersection
                        new_inter[g] += change
                        new_only_x[g] -= change
                    if min(new_inter + new_only_x + [new_only_y]) < 0:
                        continue
                    assert any(
                        observe(new_inter, new_only_x, new_only_y, d_a, e_a, b[:cells], b[cells]) == base
                        for b in _shift_one((*d_b, e_b))
                    ), f"B's change ({g}) is not covered by B's draws"


def test_shift_and_delta_of_the_design() -> None:
    assert shift_for(1.0, 1e-9) == 20
    assert truncation_delta(1.0, 20) <= 1e-9 < truncation_delta(1.0, 19)
    draws = ShiftedLaplace(1.0, 20).draws(2000)
    assert min(draws) >= 0 and max(draws) <= 40


def test_positions_in_received_lists_do_not_follow_input_order() -> None:
    """Where the first input person lands in A's list is uniform over quarters of
    the list: chi-square with 3 degrees of freedom, threshold 16.27 (p = 0.001,
    so this fails by chance once in a thousand runs)."""
    quarters = [0, 0, 0, 0]
    runs = 400
    members = _people("p", 12)
    for _ in range(runs):
        anchor = psi.AnchorRun(psi.domain_separator("q", "r"), T, FixedDraws([0, 0]))  # type: ignore[arg-type]
        (lst,) = anchor.lists([members])
        first = group.blind_items(anchor.domain, anchor.secret, [members[0]])[0]
        quarters[lst.index(first) * 4 // len(lst)] += 1
    expected = runs / 4
    chi2 = sum((q - expected) ** 2 / expected for q in quarters)
    assert chi2 < 16.27, quarters


def test_a_peer_lying_about_its_public_value_is_caught_by_the_phantom_check() -> None:
    domain = psi.domain_separator("q", "run")
    anchor = psi.AnchorRun(domain, T, FixedDraws([2, 1]))  # type: ignore[arg-type]
    other = psi.OtherRun(domain, T, 1, FixedDraws([3, 1]))  # type: ignore[arg-type]
    lists_a = anchor.lists([_people("x", 5)])
    list_b = other.list(_people("x", 3))
    liar = group.raise_base_by(group.base_point(), [group.new_scalar()])[0]
    anchor.answer(liar, list_b)
    z_a = other.answer(anchor.public, lists_a)
    with pytest.raises(AuthenticationFailed, match="phantoms"):
        anchor.check(z_a)


@pytest.mark.parametrize("tamper", ["drop", "inject", "replace"])
def test_an_altered_returned_list_fails_the_owners_check(tamper: str) -> None:
    anchor, other, lists_a, list_b, z_a, z_b = _run([_people("x", 6)], _people("x", 4), [3, 2], [3, 2])
    cell = list(z_a[0])
    phantom_images = set(group.raise_base_by(other.public, anchor.phantoms[0]))
    target = next(i for i, p in enumerate(cell) if p in phantom_images)
    if tamper == "drop":
        del cell[target]
    elif tamper == "inject":
        cell.append(group.raise_base_by(group.base_point(), [group.new_scalar()])[0])
    else:
        cell[target] = group.raise_base_by(group.base_point(), [group.new_scalar()])[0]
    with pytest.raises(AuthenticationFailed):
        anchor.check([cell])


def test_duplicate_and_identity_points_are_refused() -> None:
    anchor = psi.AnchorRun(psi.domain_separator("q", "r"), T, FixedDraws([1, 1]))  # type: ignore[arg-type]
    anchor.lists([_people("x", 2)])
    other = psi.OtherRun(psi.domain_separator("q", "r"), T, 1, FixedDraws([1, 1]))  # type: ignore[arg-type]
    good = other.list(_people("y", 3))
    with pytest.raises(AuthenticationFailed, match="duplicate"):
        anchor.answer(other.public, good + good[:1])
    with pytest.raises(AuthenticationFailed, match="identity"):
        anchor.answer(other.public, good + [group.IDENTITY])
