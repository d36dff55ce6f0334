"""Linked counts v2, the protocol logic itself: what each party can see, bias or
break. Every attack of the independent review is played here with the
adversary holding exactly its role's messages; each must recover nothing, or
abort naming the cheater, or stay within the documented bound."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import pytest

from regiozicht import group, proofs, psi
from regiozicht.linknoise import ShiftedLaplace, shift_for, truncation_delta

T = 3
CELLS = 2


class FixedDraws:
    """Stands in for ShiftedLaplace with scripted values, to make counts exact."""

    def __init__(self, values: Sequence[int]) -> None:
        self.values = list(values)

    def draw(self) -> int:
        return self.values.pop(0)


def _people(prefix: str, count: int) -> list[bytes]:
    return [f"{prefix}{i}".encode() for i in range(count)]


def _ctx(cells: int = CELLS) -> psi.RunContext:
    return psi.RunContext("q", "q:b", "a", "b", "k", cells, T)


@dataclass
class Run:
    """One run's messages, computed party by party as the drivers do (no transport)."""

    anchor: psi.AnchorParty
    other: psi.OtherParty
    lists_a: list[psi.Points] = field(default_factory=list)
    list_b: psi.Points = field(default_factory=list)
    slots_a: list[list[psi.Slot]] = field(default_factory=list)
    h_primes: list[list[bytes]] = field(default_factory=list)
    z_a: list[psi.Points] = field(default_factory=list)  # b·L_A, by B
    z_b: list[psi.Points] = field(default_factory=list)  # a·L_B, by A
    m_a: bytes = b""
    m_b: bytes = b""
    proof_b: bytes = b""
    proof_a: bytes = b""

    def seeds(self) -> tuple[bytes, bytes]:
        """(seed of B's proof on L_A, seed of A's proof on L_B)."""
        ctx, pa, pb = self.anchor.ctx, self.anchor.public, self.other.public
        return (ctx.dleq_seed("b", pa, pb, psi.digest(self.lists_a), psi.digest(self.z_a)),
                ctx.dleq_seed("a", pa, pb, psi.digest([self.list_b]), psi.digest(self.z_b)))

    def verify(self) -> list[int]:
        """The counter: both proofs, then the count."""
        ctx, pa, pb = self.anchor.ctx, self.anchor.public, self.other.public
        ops = group.LocalOps()
        psi.verify_images(ctx, "b", "a", pa, pb, self.lists_a, self.z_a, psi.digest(self.z_a), self.m_a,
                          self.proof_b, ops)
        psi.verify_images(ctx, "a", "b", pa, pb, [self.list_b], self.z_b, psi.digest(self.z_b), self.m_b,
                          self.proof_a, ops)
        return psi.count(self.z_a, self.z_b[0])

    def anchor_view(self) -> set[bytes]:
        """Every point the anchor receives: B's h′, L_B and B's weighted sum (commitments are hashes)."""
        return {p for cell in self.h_primes for p in cell} | set(self.list_b) | {self.m_b}

    def other_view(self) -> set[bytes]:
        return {p for cell in self.slots_a for s in cell for p in (s.h, s.w)} | set(psi.flat(self.lists_a)) | {self.m_a}


def run(x_cells: Sequence[Sequence[bytes]], y: Sequence[bytes], a_draws: Sequence[int], b_draws: Sequence[int], *,
        anchor: psi.AnchorParty | None = None, other: psi.OtherParty | None = None,
        before_lists: Callable[[Run], None] | None = None, prove: bool = True) -> Run:
    ctx = _ctx(len(x_cells))
    state = Run(anchor or psi.AnchorParty(ctx, FixedDraws(a_draws)),  # type: ignore[arg-type]
                other or psi.OtherParty(ctx, FixedDraws(b_draws)))  # type: ignore[arg-type]
    a, b = state.anchor, state.other
    state.slots_a = a.make_slots(b.public)
    state.h_primes = b.make_slots(a.public)
    if before_lists:
        before_lists(state)
    b.check_peer_slots(state.slots_a, a.public)
    a.check_peer_slots(state.h_primes)
    state.lists_a = a.build_lists(x_cells, state.h_primes)
    state.list_b = b.build_list(y)
    a.check_peer_list(state.list_b)
    b.check_peer_lists(state.lists_a)
    state.z_a = b.image(state.lists_a, "a")
    state.z_b = a.image([state.list_b], "b")
    if prove:
        seed_b, seed_a = state.seeds()
        state.m_a, state.m_b = a.weighted_own(seed_b), b.weighted_own(seed_a)
        state.proof_b, state.proof_a = b.prove(state.m_a, seed_b), a.prove(state.m_b, seed_a)
    return state


def _sets(inter: Sequence[int], only_x: Sequence[int], only_y: int) -> tuple[list[list[bytes]], list[bytes]]:
    shared = [_people(f"s{g}-", n) for g, n in enumerate(inter)]
    x_cells = [shared[g] + _people(f"x{g}-", only_x[g]) for g in range(len(inter))]
    return x_cells, [p for cell in shared for p in cell] + _people("y", only_y)


# -- the counts-only model of what each party observes (docs/linked-counts.md, §Observables) -------

class Views(NamedTuple):
    other: tuple[int, ...]  # B sees |L_A^g|
    anchor: int  # A sees |L_B|
    counter: tuple[tuple[int, ...], tuple[int, ...], int]  # K sees m_g, |L_A^g|, |L_B| (= the release Q gets)


def observe(inter: Sequence[int], only_x: Sequence[int], only_y: int, d_a: Sequence[int], e_a: Sequence[int],
            d_b: Sequence[int], e_b: int) -> Views:
    cells = len(inter)
    sizes_a = tuple(inter[g] + only_x[g] + e_a[g] + d_a[g] + 4 * T for g in range(cells))
    size_b = sum(inter) + only_y + 2 * T * cells + sum(d_b) + e_b
    matches = tuple(inter[g] + d_a[g] + d_b[g] for g in range(cells))
    return Views(sizes_a, size_b, (matches, sizes_a, size_b))


def test_the_model_is_what_the_protocol_shows() -> None:
    inter, only_x, only_y = [3, 0], [1, 2], 4
    d_a, e_a, d_b, e_b = [2, 5], [0, 6], [1, 4], 3
    x_cells, y = _sets(inter, only_x, only_y)
    state = run(x_cells, y, [d_a[0], e_a[0], d_a[1], e_a[1]], [*d_b, e_b])
    model = observe(inter, only_x, only_y, d_a, e_a, d_b, e_b)
    matches = state.verify()
    assert tuple(len(c) for c in state.lists_a) == model.other and len(state.list_b) == model.anchor
    assert (tuple(matches), tuple(len(c) for c in state.lists_a), len(state.list_b)) == model.counter
    assert psi.estimates(matches, [len(c) for c in state.lists_a], T) == [
        (inter[g] + d_a[g] + d_b[g] - 2 * T, only_x[g] + e_a[g] - d_b[g]) for g in range(2)]


def _shift_one(draws: tuple[int, ...]) -> Iterator[tuple[int, ...]]:
    yield draws
    for index in range(len(draws)):
        for step in (-1, 1):
            moved = list(draws)
            moved[index] += step
            if 0 <= moved[index] <= 2 * T:
                yield tuple(moved)


@pytest.mark.parametrize("inter,only_x,only_y", [([0, 0], [0, 0], 0), ([2, 0], [1, 3], 2), ([1, 1], [0, 0], 5)])
def test_one_person_moves_one_draw_of_its_owner_for_every_observer(inter: list[int], only_x: list[int],
                                                                     only_y: int) -> None:
    """For each one-person change of A's set, shifting ONE of A's draws by one
    reproduces what B, the counter and the analyst see — and B with the
    analyst, who also know B's draws (they do not move). The same for B's
    changes with B's draws, seen by A, K, Q and A+Q. (Interior draws; the
    truncation boundary is δ.)"""
    cells, interior = len(inter), range(1, 2 * T)
    for d_a, e_a in itertools.product(itertools.product(interior, repeat=cells), repeat=2):
        d_b, e_b = (T,) * cells, T
        base = observe(inter, only_x, only_y, d_a, e_a, d_b, e_b)
        for g, change, which in itertools.product(range(cells), (1, -1), ("inter", "only_x")):
            new_inter, new_only = list(inter), list(only_x)
            (new_inter if which == "inter" else new_only)[g] += change
            new_only_y = only_y - change if which == "inter" else only_y  # the person is in Y either way
            if min(new_inter + new_only + [new_only_y]) < 0:
                continue
            assert any(observe(new_inter, new_only, new_only_y, a[:cells], a[cells:], d_b, e_b) == base
                       for a in _shift_one((*d_a, *e_a))), (g, which, change)
    d_a, e_a = (T,) * cells, (T,) * cells
    for d_b in itertools.product(interior, repeat=cells):
        for e_b in interior:
            base = observe(inter, only_x, only_y, d_a, e_a, d_b, e_b)
            for change, g in itertools.product((1, -1), [*range(cells), None]):
                new_inter, new_only_x, new_only_y = list(inter), list(only_x), only_y
                if g is None:
                    new_only_y += change
                else:  # the person is one of A's in cell g: joins or leaves the intersection
                    new_inter[g] += change
                    new_only_x[g] -= change
                if min(new_inter + new_only_x + [new_only_y]) < 0:
                    continue
                assert any(observe(new_inter, new_only_x, new_only_y, d_a, e_a, b[:cells], b[cells]) == base
                           for b in _shift_one((*d_b, e_b))), (g, change)


def test_shift_and_delta_of_the_design() -> None:
    assert shift_for(1.0, 1e-9) == 20
    assert truncation_delta(1.0, 20) <= 1e-9 < truncation_delta(1.0, 19)
    draws = ShiftedLaplace(1.0, 20).draws(2000)
    assert min(draws) >= 0 and max(draws) <= 40


# -- §5.1 class exponents: the adversary's view holds no image -----------------------------------

class ClassAnchor(psi.AnchorParty):
    """A cheating anchor: extra copies of its members under secret class exponents, as 'dummies'."""

    classes: Sequence[bytes] = ()

    def build_lists(self, members_by_cell, peer_slots):  # type: ignore[no-untyped-def]
        lists = super().build_lists(members_by_cell, peer_slots)
        self.classes = [group.new_scalar() for _ in range(3)]
        extra = [group.blind_items(self.ctx.dst, k, list(members)) for k in self.classes
                 for members in members_by_cell]
        self.own_lists = [sorted(lists[0] + [p for chunk in extra for p in chunk])] + lists[1:]
        return self.own_lists


class ClassOther(psi.OtherParty):
    classes: Sequence[bytes] = ()

    def build_list(self, members):  # type: ignore[no-untyped-def]
        points = super().build_list(members)
        self.classes = [group.new_scalar() for _ in range(3)]
        extra = [p for k in self.classes for p in group.blind_items(self.ctx.dst, k, list(members))]
        self.own_lists = [sorted(points + extra)]
        return self.own_lists[0]


def _images_of(members: Sequence[bytes], keys: Sequence[bytes], peer_secret: bytes, dst: bytes) -> set[bytes]:
    """Every point carrying the peer's key on the cheater's members: b·k·H(x) for each class k."""
    return {group.mul(peer_secret, p) for k in keys for p in group.blind_items(dst, k, list(members))}


def test_a_class_exponent_anchor_sees_no_image_of_its_members() -> None:
    """Reviewed attack (v1: 120 of 120 members recovered): here the anchor's
    view — B's slots, L_B, B's weighted sum — holds no point b·k·H(x) for
    its members x under its key or any class key, so it can match nothing."""
    x_cells, y = _sets([4, 3], [2, 1], 3)
    ctx = _ctx()
    cheat = ClassAnchor(ctx, FixedDraws([1, 1, 2, 2]))  # type: ignore[arg-type]
    state = run(x_cells, y, [], [1, 2, 1], anchor=cheat)
    members = psi.flat(x_cells)
    targets = _images_of(members, [cheat.secret, *cheat.classes], state.other.secret, ctx.dst)
    assert state.anchor_view().isdisjoint(targets)
    assert state.anchor_view().isdisjoint(psi.flat(state.z_a))
    # the class copies are dummies to the counter: they cannot match B's images (input substitution only)
    assert state.verify() == [4 + 1 + 1, 3 + 2 + 2]


def test_a_class_exponent_other_node_sees_no_image_of_its_members() -> None:
    x_cells, y = _sets([4, 3], [2, 1], 3)
    ctx = _ctx()
    cheat = ClassOther(ctx, FixedDraws([1, 2, 1]))  # type: ignore[arg-type]
    state = run(x_cells, y, [1, 1, 2, 2], [], other=cheat)
    targets = _images_of(y, [cheat.secret, *cheat.classes], state.anchor.secret, ctx.dst)
    assert state.other_view().isdisjoint(targets)
    assert state.other_view().isdisjoint(psi.flat(state.z_b))
    assert state.verify() == [4 + 1 + 1, 3 + 2 + 2]


def test_a_single_target_membership_probe_recovers_nothing_in_20_runs() -> None:
    """v1: 20 of 20 runs right. The cheating anchor links one target, in Y in
    half the runs, and decides 'in Y' when its view holds any image of the
    target under the peer's key: it never can, so it never decides right
    beyond what its own list tells it (which is nothing about Y)."""
    decisions = []
    for index in range(20):
        target = b"123456782"
        y = [target] + _people("y", 3) if index % 2 == 0 else _people("y", 4)
        ctx = _ctx(1)
        cheat = ClassAnchor(ctx, FixedDraws([0, 0]))  # type: ignore[arg-type]
        state = run([[target]], y, [], [0, 0], anchor=cheat)
        seen = _images_of([target], [cheat.secret, *cheat.classes], state.other.secret, ctx.dst)
        decisions.append(bool(state.anchor_view() & seen))
    assert decisions == [False] * 20


# -- §5.2–3 filler copying and damaged images: the proof fails, naming the prover ----------------

@pytest.mark.parametrize("damage", ["append", "copy-into", "drop", "replace", "swap", "move-cell"])
def test_altered_images_are_rejected_naming_the_prover(damage: str) -> None:
    x_cells, y = _sets([3, 2], [2, 2], 2)
    state = run(x_cells, y, [1, 1, 1, 1], [1, 1, 1], prove=False)
    z = [list(cell) for cell in state.z_a]
    matching = set(state.z_b[0])
    if damage == "append":
        z[0].append(next(p for p in state.z_b[0] if p not in z[0]))
    elif damage == "copy-into":  # an unmatched image replaced by a copy of one that matches
        unmatched = next(i for i, p in enumerate(z[0]) if p not in matching)
        z[0][unmatched] = next(p for p in state.z_b[0] if p not in z[0] and p not in z[1])
    elif damage == "drop":
        del z[0][0]
    elif damage == "replace":
        z[0][1] = group.mul_base(group.new_scalar())
    elif damage == "swap":
        z[0][0], z[0][1] = z[0][1], z[0][0]
    else:
        z[1].append(z[0].pop())
    state.z_a = z
    seed_b, seed_a = state.seeds()
    state.m_a, state.m_b = state.anchor.weighted_own(seed_b), state.other.weighted_own(seed_a)
    state.proof_b, state.proof_a = state.other.prove(state.m_a, seed_b), state.anchor.prove(state.m_b, seed_a)
    with pytest.raises(psi.ProtocolViolation) as caught:
        state.verify()
    assert caught.value.culprit == "b"


def test_images_under_another_key_fail_the_proof() -> None:
    x_cells, y = _sets([3, 2], [2, 2], 2)
    state = run(x_cells, y, [1, 1, 1, 1], [1, 1, 1], prove=False)
    state.z_a = [group.raise_points(group.new_scalar(), cell) for cell in state.lists_a]
    seed_b, seed_a = state.seeds()
    state.m_a, state.m_b = state.anchor.weighted_own(seed_b), state.other.weighted_own(seed_a)
    state.proof_b, state.proof_a = state.other.prove(state.m_a, seed_b), state.anchor.prove(state.m_b, seed_a)
    with pytest.raises(psi.ProtocolViolation, match="proof failed") as caught:
        state.verify()
    assert caught.value.culprit == "b"


def test_an_owner_lying_about_its_weighted_sum_is_named() -> None:
    x_cells, y = _sets([3, 2], [2, 2], 2)
    state = run(x_cells, y, [1, 1, 1, 1], [1, 1, 1])
    state.m_a = group.mul_base(group.new_scalar())
    state.proof_b = state.other.prove(state.m_a, state.seeds()[0])  # B honestly proves on what A sent
    with pytest.raises(psi.ProtocolViolation, match="false weighted sum") as caught:
        state.verify()
    assert caught.value.culprit == "a"


# -- §5.4 noise routing: abort, or every cell within 0 ≤ m_g − |X_g∩Y| − D_B^g ≤ 2T ---------------

def _route_all_slots_into_cell_0(state: Run) -> None:
    anchor = state.anchor
    original = anchor.build_lists

    def routed(members_by_cell, peer_slots):  # type: ignore[no-untyped-def]
        lists = original(members_by_cell, peer_slots)
        moved = [s.h for s in anchor.slots[1]]
        anchor.own_lists = [sorted(lists[0] + moved), sorted(p for p in lists[1] if p not in set(moved))]
        return anchor.own_lists
    anchor.build_lists = routed  # type: ignore[method-assign]


def _omit_a_peer_slot(state: Run) -> None:
    anchor = state.anchor
    original = anchor.build_lists

    def omitted(members_by_cell, peer_slots):  # type: ignore[no-untyped-def]
        lists = original(members_by_cell, peer_slots)
        anchor.own_lists = [[p for p in lists[0] if p != peer_slots[0][0]], lists[1]]
        return anchor.own_lists
    anchor.build_lists = omitted  # type: ignore[method-assign]


def _off_partner(state: Run) -> None:
    """An off slot's w replaced by f·P_B (a match A could make on its own): the OR-proof fails."""
    slot = state.slots_a[0][0]
    state.slots_a[0][0] = psi.Slot(slot.h, group.mul(group.new_scalar(), state.other.public), slot.proof)


def _extra_slot(state: Run) -> None:
    h, w, proof = proofs.prove_slot(group.new_scalar(), True, state.anchor.public, state.other.public,
                                    proofs.off_point(state.anchor.ctx.dst, 0, 99), state.anchor.ctx.slot_context(0, 99))
    state.slots_a[0].append(psi.Slot(h, w, proof.encode()))


def _more_cells(state: Run) -> None:
    state.slots_a.append(list(state.slots_a[0]))


@pytest.mark.parametrize("cheat,match", [
    (_route_all_slots_into_cell_0, "leaves out or moves a slot"),
    (_omit_a_peer_slot, "leaves out or moves a slot"),
    (_off_partner, "slot proof"),
    (_extra_slot, "2T per cell"),
    (_more_cells, "number of cells"),
])
def test_scripted_noise_cheats_of_the_anchor_abort(cheat: Callable[[Run], None], match: str) -> None:
    """v1: all phantoms routed into one cell gave +101 at C = 3, every check passing."""
    x_cells, y = _sets([3, 2], [2, 2], 2)
    with pytest.raises(psi.ProtocolViolation, match=match) as caught:
        run(x_cells, y, [1, 1, 1, 1], [1, 1, 1], before_lists=cheat)
    assert caught.value.culprit == "a"


def test_an_anchor_turning_every_slot_on_stays_within_2t_per_cell() -> None:
    """The most an anchor can add with its own slots is 2T per cell: its own D in [0, 2T]."""
    x_cells, y = _sets([3, 2], [2, 2], 2)
    d_b = [1, 2]
    state = run(x_cells, y, [2 * T, 0, 2 * T, 0], [*d_b, 1])
    matches = state.verify()
    for g, inter in enumerate([3, 2]):
        assert 0 <= matches[g] - inter - d_b[g] <= 2 * T


def test_other_node_copying_anchor_h_as_its_slots_is_refused() -> None:
    x_cells, y = _sets([1, 1], [1, 1], 1)

    def copy_h(state: Run) -> None:
        state.h_primes[0][0] = state.slots_a[0][0].h
    with pytest.raises(psi.ProtocolViolation) as caught:
        run(x_cells, y, [1, 1, 1, 1], [1, 1, 1], before_lists=copy_h)
    assert caught.value.culprit == "b"


def test_other_node_cannot_flip_or_tell_the_anchors_slots() -> None:
    """Property over random draws: with honest lists, every cell's count is exactly
    |X_g ∩ Y| + D_A^g + D_B^g — B's slots and A's slots add only their on-draws."""
    rng = random.Random(5)
    for _ in range(6):
        inter, only_x = [rng.randint(0, 3) for _ in range(2)], [rng.randint(0, 3) for _ in range(2)]
        d_a, e_a, d_b = [rng.randint(0, 2 * T) for _ in range(2)], [rng.randint(0, 2 * T) for _ in range(2)], \
            [rng.randint(0, 2 * T) for _ in range(2)]
        x_cells, y = _sets(inter, only_x, rng.randint(0, 3))
        state = run(x_cells, y, [d_a[0], e_a[0], d_a[1], e_a[1]], [*d_b, rng.randint(0, 2 * T)])
        assert state.verify() == [inter[g] + d_a[g] + d_b[g] for g in range(2)]


# -- new in v2: sorting, commitments, proofs --------------------------------------------------------

def test_unsorted_or_repeating_lists_are_refused() -> None:
    x_cells, y = _sets([2, 1], [1, 1], 1)
    state = run(x_cells, y, [1, 1, 1, 1], [1, 1, 1], prove=False)
    with pytest.raises(psi.ProtocolViolation, match="not sorted"):
        state.anchor.check_peer_list(list(reversed(state.list_b)))
    with pytest.raises(psi.ProtocolViolation, match="not sorted"):
        state.anchor.check_peer_list(sorted(state.list_b + state.list_b[:1]))
    with pytest.raises(psi.ProtocolViolation, match="repeat a point across cells"):
        state.other.check_peer_lists([state.lists_a[0], sorted(state.lists_a[1] + state.lists_a[0][:1])])


def test_a_bad_or_proof_is_refused() -> None:
    def bad_proof(state: Run) -> None:
        slot = state.slots_a[1][2]
        state.slots_a[1][2] = psi.Slot(slot.h, slot.w, slot.proof[:64] + bytes(64))
    with pytest.raises(psi.ProtocolViolation, match="slot proof"):
        run(*_sets([1, 1], [1, 1], 1), [1, 1, 1, 1], [1, 1, 1], before_lists=bad_proof)


def test_images_differing_from_their_commitment_are_refused_naming_no_one() -> None:
    """Anyone with the counter's public key can seal, the relay too: the counter cannot tell who
    altered them, so it aborts without blaming the prover."""
    x_cells, y = _sets([2, 1], [1, 1], 1)
    state = run(x_cells, y, [1, 1, 1, 1], [1, 1, 1])
    ctx, pa, pb = state.anchor.ctx, state.anchor.public, state.other.public
    with pytest.raises(psi.ProtocolViolation, match="commitment") as caught:
        psi.verify_images(ctx, "b", "a", pa, pb, state.lists_a, state.z_a, psi.digest(state.z_b), state.m_a,
                          state.proof_b, group.LocalOps())
    assert caught.value.culprit == ""


def test_lists_are_sorted_so_positions_say_nothing() -> None:
    """A list's order is a function of its values: the same members in two
    input orders give the same list."""
    ctx = _ctx(1)
    party = psi.AnchorParty(ctx, FixedDraws([1, 1]))  # type: ignore[arg-type]
    party.make_slots(group.mul_base(group.new_scalar()))
    peer = [[group.mul_base(group.new_scalar()) for _ in range(2 * T)]]
    members = _people("p", 12)
    first = party.build_lists([members], peer)[0]
    real = set(group.blind_items(ctx.dst, party.secret, members))
    assert first == sorted(first) and real <= set(first)
    party.draws = [(1, 1)]
    again = party.build_lists([list(reversed(members))], peer)[0]
    assert [p for p in again if p in real] == [p for p in first if p in real]
