"""Linked counts v2: the protocol logic of anchor A, other node B and counter K.

Pure computation and checks, no transport (docs/linked-counts.md has the
protocol, its threat model and the privacy argument):

0. keys: P_A = a·G, P_B = b·G (signed by each node; C, the number of cells,
   from the signed query).
1. slots: per cell g, 2T A-slots (h = t·P_A, w = t·P_B when on, t·R_{g,k} when
   off, with an OR-proof) go to B; 2T B-slots h′ = s·P_A go to A, and B puts
   s·P_B of its D_B^g on-slots into its own list.
2. lists, committed before they are revealed, each sorted by encoding:
   L_A^g = {a·H(x) : x ∈ X_g} ∪ A-h_g ∪ B-h′_g ∪ (E_A^g + D_A^g) dummies;
   L_B = {b·H(y)} ∪ every A-w ∪ B's on s·P_B ∪ E_B dummies.
   B checks C lists, sorting, and every h and h′ in its own cell; A checks
   sorting and that every A-w is in L_B.
3. images, to K only: Z_A = b·L_A, Z_B = a·L_B element by element, each with a
   batched DLEQ whose M = Σρ_j·L_j the owner of L computes (it never sees Z).
4. K checks every proof and counts m_g = |Z_A^g ∩ Z_B| = |X_g ∩ Y| + D_A^g + D_B^g.

Estimates: ∩ = m_g − 2T; ∖ = |L_A^g| − m_g − 4T; N̂ = |L_A^g| − 6T.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

from regiozicht import group, proofs
from regiozicht.errors import AuthenticationFailed
from regiozicht.group import GroupOps, LocalOps
from regiozicht.linknoise import ShiftedLaplace

Points = list[bytes]
MAX_LIST = 20_000_000  # public cap on any list a node sends (elements)


class ProtocolViolation(AuthenticationFailed):
    """A party broke the protocol; `culprit` names it (org), so the run's abort can say who."""

    def __init__(self, message: str, culprit: str = "") -> None:
        super().__init__(message)
        self.culprit = culprit


@dataclass(frozen=True)
class RunContext:
    """What every party of a run knows in public: from the signed query and the run id."""

    query_id: str
    run_id: str
    anchor: str  # org names
    other: str
    counter: str
    cells: int  # C, from the signed query: never from a message
    shift: int  # T
    body: bytes = b""  # sha256 of the signed query body

    @property
    def dst(self) -> bytes:
        """The RFC 9380 domain separation tag: names the query and the run."""
        return f"regiozicht-v2-linked-{self.query_id}-{self.run_id}".encode()

    @property
    def slots(self) -> int:
        return 2 * self.shift

    def dleq_seed(self, prover: str, public_a: bytes, public_b: bytes, l_digest: bytes, z_digest: bytes) -> bytes:
        return proofs.transcript(b"regiozicht/v2/dleq-seed", self.query_id, self.body, self.run_id, prover,
                                 self.cells, self.shift, public_a, public_b, l_digest, z_digest)

    def slot_context(self, cell: int, slot: int) -> bytes:
        return proofs.transcript(b"regiozicht/v2/slot-context", self.query_id, self.run_id, cell, slot)


def digest(lists: Sequence[Sequence[bytes]]) -> bytes:
    """One hash over lists of points, their count and each one's length."""
    h = hashlib.sha256(len(lists).to_bytes(8, "big"))
    for points in lists:
        h.update(len(points).to_bytes(8, "big"))
        h.update(b"".join(points))
    return h.digest()


def flat(lists: Sequence[Sequence[bytes]]) -> Points:
    return [p for points in lists for p in points]


def check_sorted(points: Sequence[bytes], what: str, culprit: str) -> None:
    """Strictly ascending by encoding: the order is a function of the values, and no point repeats."""
    if len(points) > MAX_LIST:
        raise ProtocolViolation(f"{what} from {culprit} holds {len(points)} elements, above the cap of {MAX_LIST}; "
                                "the run is aborted.", culprit)
    if any(len(p) != group.POINT_BYTES for p in points):
        raise ProtocolViolation(f"{what} from {culprit} holds an element that is no point; the run is aborted.",
                                culprit)
    if any(points[i] >= points[i + 1] for i in range(len(points) - 1)):
        raise ProtocolViolation(f"{what} from {culprit} is not sorted by encoding or repeats a point; the run is "
                                "aborted.", culprit)


def _random_items(count: int) -> list[bytes]:
    # 32 random bytes never equal a 9-digit BSN: the dummy's point matches nothing
    return [secrets.token_bytes(32) for _ in range(count)]


def _image(ops: GroupOps, secret: bytes, points: Sequence[bytes], culprit: str) -> Points:
    try:
        return ops.raise_points(secret, points)
    except RuntimeError:  # libsodium refuses invalid encodings and the identity
        raise ProtocolViolation(f"A list from {culprit} holds an invalid or identity point; the run is aborted.",
                                culprit) from None


@dataclass
class Slot:
    h: bytes
    w: bytes
    proof: bytes


@dataclass
class Party:
    """What both nodes share: the run, the secret scalar, the draws and the group operations."""

    ctx: RunContext
    draw: ShiftedLaplace
    ops: GroupOps = field(default_factory=LocalOps)
    secret: bytes = field(default_factory=group.new_scalar)
    own_lists: list[Points] = field(default_factory=list)

    @cached_property
    def public(self) -> bytes:
        """P = k·G, derived once (every slot and proof uses it)."""
        return group.mul_base(self.secret)

    def image(self, peer_lists: Sequence[Points], peer: str) -> list[Points]:
        """Step 3: k·L element by element, in the peer's (sorted) order."""
        return [_image(self.ops, self.secret, points, peer) for points in peer_lists]

    def weighted_own(self, seed: bytes) -> bytes:
        """M = Σρ_j·L_j over this node's own lists, once the peer has committed to their image."""
        points = flat(self.own_lists)
        return self.ops.weighted_sum(proofs.weights(seed, len(points)), points)

    def prove(self, m: bytes, seed: bytes) -> bytes:
        """N = k·M and the DLEQ (c, z) for the counter; M comes from the list's owner."""
        try:
            n = group.mul(self.secret, m)
        except RuntimeError:
            raise ProtocolViolation("The peer's weighted sum is not a valid point; the run is aborted.") from None
        return proofs.prove_dleq(self.secret, self.public, m, n, seed).encode()


@dataclass
class AnchorParty(Party):
    """Node A. Its D_A^g slots per cell are on; B cannot tell which (DDH)."""

    slots: list[list[Slot]] = field(default_factory=list)
    draws: list[tuple[int, int]] = field(default_factory=list)  # (D_A^g, E_A^g) per cell
    blinded: list[Points] = field(default_factory=list)  # a·H(x) of members and dummies, per cell

    def draw_noise(self) -> None:
        """D_A^g (slots on) and E_A^g, then D_A^g + E_A^g dummies, per cell."""
        if not self.draws:
            self.draws = [(self.draw.draw(), self.draw.draw()) for _ in range(self.ctx.cells)]

    def blind(self, members_by_cell: Sequence[Sequence[bytes]]) -> None:
        """a·H(x) for every member and dummy: the bulk of a node's work, done before the peer's key
        arrives (nothing leaves; the worker pool is chosen on the list length the others see)."""
        if len(members_by_cell) != self.ctx.cells:
            raise ValueError("one member list per cell of the signed query")
        self.draw_noise()
        self.blinded = []
        for members, (on_count, dummies) in zip(members_by_cell, self.draws):
            items = list(members) + _random_items(on_count + dummies)
            self.blinded.append(self.ops.blind_items(self.ctx.dst, self.secret, items))

    def make_slots(self, peer_public: bytes) -> list[list[Slot]]:
        """Step 1: 2T A-slots per cell, D_A^g of them on, each with its OR-proof."""
        ctx = self.ctx
        self.draw_noise()
        self.slots = []
        for cell in range(ctx.cells):
            on_count = self.draws[cell][0]
            on = set(secrets.SystemRandom().sample(range(ctx.slots), on_count))
            cell_slots = []
            for k in range(ctx.slots):
                h, w, proof = proofs.prove_slot(group.new_scalar(), k in on, self.public, peer_public,
                                                proofs.off_point(ctx.dst, cell, k), ctx.slot_context(cell, k))
                cell_slots.append(Slot(h, w, proof.encode()))
            self.slots.append(cell_slots)
        return self.slots

    def check_peer_slots(self, peer_slots: Sequence[Sequence[bytes]]) -> None:
        """B's h′: 2T per cell, valid, none repeated."""
        ctx = self.ctx
        if len(peer_slots) != ctx.cells or any(len(cell) != ctx.slots for cell in peer_slots):
            raise ProtocolViolation(f"{ctx.other} sent another number of slots than 2T per cell; the run is aborted.",
                                    ctx.other)
        points = flat(peer_slots)
        if len(set(points)) != len(points) or not all(map(group.is_valid, points)):
            raise ProtocolViolation(f"{ctx.other}'s slots hold invalid or repeated points; the run is aborted.",
                                    ctx.other)

    def build_lists(self, members_by_cell: Sequence[Sequence[bytes]] | None,
                    peer_slots: Sequence[Sequence[bytes]]) -> list[Points]:
        """Step 2: L_A^g = members ∪ A-h ∪ B-h′ ∪ (E + D) dummies, sorted (blinds first if not done)."""
        if members_by_cell is not None:
            self.blind(members_by_cell)
        self.own_lists = []
        for cell, blinded in enumerate(self.blinded):
            points = blinded + [slot.h for slot in self.slots[cell]] + list(peer_slots[cell])
            self.own_lists.append(sorted(points))
        self.blinded = []
        if len(set(flat(self.own_lists))) != sum(map(len, self.own_lists)):
            raise ProtocolViolation(f"{self.ctx.other}'s slots repeat points of this node's lists; the run is "
                                    "aborted.", self.ctx.other)
        return self.own_lists

    def check_peer_list(self, peer_list: Points) -> None:
        """A's checks of L_B: sorted, distinct, every A-w present."""
        check_sorted(peer_list, "The other node's list", self.ctx.other)
        present = set(peer_list)
        if any(slot.w not in present for cell in self.slots for slot in cell):
            raise ProtocolViolation(f"{self.ctx.other}'s list leaves out slots of this node (its noise); the run is "
                                    "aborted.", self.ctx.other)

    def list_length(self, members: int) -> int:
        """|L_A| before it is built, for choosing the worker pool on what others see."""
        self.draw_noise()
        return members + sum(on + dummies for on, dummies in self.draws) + 2 * self.ctx.slots * self.ctx.cells


@dataclass
class OtherParty(Party):
    """Node B. Its D_B^g on-slots per cell put s·P_B into L_B; A cannot tell which (DDH)."""

    slot_scalars: list[list[bytes]] = field(default_factory=list)
    on: list[set[int]] = field(default_factory=list)
    dummies: int = -1
    h_primes: list[list[bytes]] = field(default_factory=list)
    anchor_slots: list[list[Slot]] = field(default_factory=list)
    blinded: Points = field(default_factory=list)

    def draw_noise(self) -> None:
        """D_B^g (which slots are on) per cell, then E_B."""
        if self.dummies < 0:
            ctx = self.ctx
            self.on = [set(secrets.SystemRandom().sample(range(ctx.slots), self.draw.draw()))
                       for _ in range(ctx.cells)]
            self.dummies = self.draw.draw()

    def blind(self, members: Sequence[bytes]) -> None:
        """b·H(y) for every member and dummy, before the peer's key arrives."""
        self.draw_noise()
        self.blinded = self.ops.blind_items(self.ctx.dst, self.secret, list(members) + _random_items(self.dummies))

    def make_slots(self, peer_public: bytes) -> list[list[bytes]]:
        """Step 1: 2T h′ = s·P_A per cell."""
        ctx = self.ctx
        self.draw_noise()
        self.slot_scalars = [[group.new_scalar() for _ in range(ctx.slots)] for _ in range(ctx.cells)]
        self.h_primes = [group.raise_base_by(peer_public, scalars) for scalars in self.slot_scalars]
        return self.h_primes

    def check_peer_slots(self, slots: Sequence[Sequence[Slot]], peer_public: bytes) -> None:
        """A's slots: exactly 2T per cell of the signed query, distinct, each OR-proof valid."""
        ctx = self.ctx
        if len(slots) != ctx.cells or any(len(cell) != ctx.slots for cell in slots):
            raise ProtocolViolation(f"{ctx.anchor} sent slots for another number of cells than the signed query "
                                    f"has ({ctx.cells}) or not 2T per cell; the run is aborted.", ctx.anchor)
        points = [p for cell in slots for slot in cell for p in (slot.h, slot.w)]
        if len(set(points)) != len(points):
            raise ProtocolViolation(f"{ctx.anchor}'s slots repeat a point; the run is aborted.", ctx.anchor)
        for g, cell in enumerate(slots):
            for k, slot in enumerate(cell):
                try:
                    proof = proofs.SlotProof.decode(slot.proof)
                except ValueError:
                    proof = None
                if proof is None or not proofs.verify_slot(slot.h, slot.w, proof, peer_public, self.public,
                                                           proofs.off_point(ctx.dst, g, k), ctx.slot_context(g, k)):
                    raise ProtocolViolation(f"A slot proof of {ctx.anchor} (cell {g}, slot {k}) does not verify; "
                                            "the run is aborted.", ctx.anchor)
        self.anchor_slots = [list(cell) for cell in slots]

    def build_list(self, members: Sequence[bytes] | None) -> Points:
        """Step 2: L_B = members ∪ every A-w ∪ on s·P_B ∪ E_B dummies, sorted (blinds first if not done)."""
        if members is not None:
            self.blind(members)
        points = self.blinded + [slot.w for cell in self.anchor_slots for slot in cell]
        self.blinded = []
        for scalars, on in zip(self.slot_scalars, self.on):
            points += [group.mul(scalars[k], self.public) for k in sorted(on)]
        self.own_lists = [sorted(points)]
        return self.own_lists[0]

    def list_length(self, members: int) -> int:
        """|L_B| before it is built, for choosing the worker pool on what others see."""
        self.draw_noise()
        return members + self.dummies + self.ctx.slots * self.ctx.cells + sum(map(len, self.on))

    def check_peer_lists(self, lists: Sequence[Points]) -> None:
        """B's checks of L_A: C lists, each sorted, distinct across cells, every h and h′ in its own cell."""
        ctx = self.ctx
        if len(lists) != ctx.cells:
            raise ProtocolViolation(f"{ctx.anchor} sent {len(lists)} lists where the signed query has {ctx.cells} "
                                    "cells; the run is aborted.", ctx.anchor)
        for points in lists:
            check_sorted(points, "A list of the anchor", ctx.anchor)
        if sum(map(len, lists)) != len(set(flat(lists))):
            raise ProtocolViolation(f"{ctx.anchor}'s lists repeat a point across cells; the run is aborted.",
                                    ctx.anchor)
        for g, points in enumerate(lists):
            present = set(points)
            if any(slot.h not in present for slot in self.anchor_slots[g]) or \
                    any(h not in present for h in self.h_primes[g]):
                raise ProtocolViolation(f"{ctx.anchor}'s list of cell {g} leaves out or moves a slot; the run is "
                                        "aborted.", ctx.anchor)


def verify_images(ctx: RunContext, prover: str, owner: str, public_a: bytes, public_b: bytes,
                  lists: Sequence[Points], images: Sequence[Points], z_digest: bytes, m_owner: bytes,
                  proof: bytes, ops: GroupOps) -> None:
    """The counter's check that `images` = k·`lists` for the prover's one key k.

    Blame: a failed check is the prover's unless the owner's M differs from
    Σρ·L, which the counter then computes itself."""
    summed = image_sum(ctx, prover, owner, public_a, public_b, lists, digest(lists), images, z_digest, ops)
    check_images(ctx, summed, m_owner, proof, ops)


@dataclass(frozen=True)
class ImageSum:
    """N = Σρ_j·Z_j of one prover's images, with what its proof is checked against."""

    prover: str
    owner: str
    public: bytes  # the prover's P
    seed: bytes
    n: bytes
    lists: Sequence[Points]


def image_sum(ctx: RunContext, prover: str, owner: str, public_a: bytes, public_b: bytes, lists: Sequence[Points],
              l_digest: bytes, images: Sequence[Points], z_digest: bytes, ops: GroupOps) -> ImageSum:
    """The counter's half of the check, as soon as the images are in (before any proof). `l_digest` is the
    owner's signed commitment to `lists`, already checked against them."""
    if [len(z) for z in images] != [len(points) for points in lists]:
        raise ProtocolViolation(f"{prover}'s images do not have the lengths of {owner}'s lists; the run is "
                                "aborted.", prover)
    if digest(images) != z_digest:
        # anyone holding the counter's public key can seal: the relay as well as the prover, so no one is named
        raise ProtocolViolation(f"{prover}'s images differ from its signed commitment (altered on the way or by the "
                                "prover); the run is aborted.")
    z = flat(images)
    if len(set(z)) != len(z):
        raise ProtocolViolation(f"{prover}'s images repeat a point; the run is aborted.", prover)
    seed = ctx.dleq_seed(prover, public_a, public_b, l_digest, z_digest)
    try:
        n = ops.weighted_sum(proofs.weights(seed, len(z)), z)
    except RuntimeError:
        raise ProtocolViolation(f"{prover}'s images hold an invalid point; the run is aborted.", prover) from None
    return ImageSum(prover, owner, public_b if prover == ctx.other else public_a, seed, n, lists)


def check_images(ctx: RunContext, summed: ImageSum, m_owner: bytes, proof: bytes, ops: GroupOps) -> None:
    """The prover's DLEQ against the owner's M and the counter's own N."""
    prover, owner = summed.prover, summed.owner
    try:
        dleq = proofs.Dleq.decode(proof)
    except ValueError:
        raise ProtocolViolation(f"{prover}'s proof is malformed; the run is aborted.", prover) from None
    if proofs.verify_dleq(summed.public, m_owner, summed.n, summed.seed, dleq):
        return
    points = flat(summed.lists)
    if not group.is_valid(m_owner) or ops.weighted_sum(proofs.weights(summed.seed, len(points)), points) != m_owner:
        raise ProtocolViolation(f"{owner} sent a false weighted sum of its own list; the run is aborted.", owner)
    raise ProtocolViolation(f"{prover}'s images are not its key applied to {owner}'s list (proof failed); the run "
                            "is aborted.", prover)


def count(images_of_anchor: Sequence[Points], images_of_other: Points) -> list[int]:
    """Per cell, how many elements Z_A^g shares with Z_B."""
    other = set(images_of_other)
    return [sum(1 for point in cell if point in other) for cell in images_of_anchor]


def estimates(matches: Sequence[int], anchor_sizes: Sequence[int], shift: int) -> list[tuple[int, int]]:
    """Per cell (|X_g ∩ Y|, |X_g ∖ Y|) estimates: offsets removed, noise kept."""
    return [(m - 2 * shift, size - m - 4 * shift) for m, size in zip(matches, anchor_sizes)]


def slot_offset(shift: int) -> int:
    """What slots add to every |L_A^g| beyond the dummies: 2T A-h and 2T B-h′."""
    return 4 * shift
