"""The two-party linked-count protocol (DP private set intersection cardinality).

Pure protocol logic, without transport: what the anchor node A and the other
node B compute at each step, the checks each makes, and how the coordinator
counts matches. See docs/linked-counts.md for the protocol and the privacy
argument.

Step 1: A sends P_A = G^a and per cell g the list
        L_A^g = {H(x)^a : x ∈ X_g} ∪ {D_A^g phantoms G^r} ∪ {E_A^g dummies H(rand)^a};
        B sends P_B = G^b and L_B = {H(y)^b} ∪ {Σ_g D_B^g phantoms G^s} ∪ {E_B dummies}.
Step 2: B returns Z_A^g = (L_A^g)^b ∪ {P_A^s for its D_B^g phantoms} ∪ {2T − D_B^g fillers};
        A returns Z_B = (L_B)^a ∪ {P_B^r for all its phantoms} ∪ {2T·cells − Σ_g D_A^g fillers}.
Step 3: each checks its phantoms' images in the Z list built from its own L;
        the coordinator counts matches per cell: |X_g ∩ Y| + D_A^g + D_B^g.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from regiozicht import group
from regiozicht.errors import AuthenticationFailed, BadQuery
from regiozicht.linknoise import ShiftedLaplace

Points = list[bytes]


class GroupOps(Protocol):
    def blind_items(self, domain: bytes, scalar: bytes, items: Sequence[bytes]) -> Points: ...
    def raise_points(self, scalar: bytes, points: Sequence[bytes]) -> Points: ...
    def raise_base_by(self, point: bytes, scalars: Sequence[bytes]) -> Points: ...
    def phantom_points(self, domain: bytes, scalars: Sequence[bytes]) -> Points: ...


class LocalOps:
    """Group operations in this process (tests, small lists)."""

    blind_items = staticmethod(group.blind_items)
    raise_points = staticmethod(group.raise_points)
    raise_base_by = staticmethod(group.raise_base_by)
    phantom_points = staticmethod(group.phantom_points)


def domain_separator(query_id: str, run_id: str) -> bytes:
    return f"regiozicht/v1/linked/{query_id}/{run_id}".encode()


def check_points(points: Sequence[bytes], what: str) -> None:
    """Refuses identity, invalid and duplicate points in a received list."""
    if len(set(points)) != len(points):
        raise AuthenticationFailed(f"The {what} holds duplicate points; the run is aborted.")
    for point in points:
        if not group.is_valid(point):
            raise AuthenticationFailed(f"The {what} holds an invalid or identity point; the run is aborted.")


def _dummies(count: int) -> list[bytes]:
    return [secrets.token_bytes(32) for _ in range(count)]


def _scalars(count: int) -> list[bytes]:
    return [group.new_scalar() for _ in range(count)]


@dataclass
class AnchorRun:
    """Node A's secrets for one run; kept in memory only, dropped with the run."""

    domain: bytes
    shift: int
    draw: ShiftedLaplace
    ops: GroupOps = field(default_factory=LocalOps)
    secret: bytes = field(default_factory=group.new_scalar)
    phantoms: list[list[bytes]] = field(default_factory=list)  # r scalars per cell
    dummy_counts: list[int] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)

    @property
    def public(self) -> bytes:
        return group.raise_base_by(group.base_point(), [self.secret])[0]

    def lists(self, members_by_cell: Sequence[Sequence[bytes]]) -> list[Points]:
        """Step 1: one shuffled list per cell of the public domain."""
        out = []
        for members in members_by_cell:
            phantom_scalars = _scalars(self.draw.draw())
            dummies = self.draw.draw()
            self.phantoms.append(phantom_scalars)
            self.dummy_counts.append(dummies)
            points = (self.ops.blind_items(self.domain, self.secret, list(members))
                      + self.ops.phantom_points(self.domain, phantom_scalars)
                      + self.ops.blind_items(self.domain, self.secret, _dummies(dummies)))
            self.sizes.append(len(points))
            out.append(group.shuffled(points))
        return out

    def answer(self, peer_public: bytes, peer_list: Points) -> Points:
        """Step 2: Z_B from B's list, A's phantom images and fillers."""
        check_points([peer_public], "peer's public value")
        check_points(peer_list, "peer's list")
        all_phantoms = [s for cell in self.phantoms for s in cell]
        fillers = 2 * self.shift * len(self.phantoms) - len(all_phantoms)
        points = (self.ops.raise_points(self.secret, peer_list)
                  + self.ops.raise_base_by(peer_public, all_phantoms)
                  + self.ops.raise_base_by(peer_public, _scalars(fillers)))
        self.peer_public = peer_public
        return group.shuffled(points)

    def check(self, returned: Sequence[Points]) -> None:
        """Step 3: every phantom's image is in the Z list of its cell."""
        if len(returned) != len(self.phantoms):
            raise AuthenticationFailed("The peer returned another number of cells; the run is aborted.")
        for index, (cell, scalars) in enumerate(zip(returned, self.phantoms)):
            if len(cell) != self.sizes[index] + 2 * self.shift or len(set(cell)) != len(cell):
                raise AuthenticationFailed("A returned list has the wrong length or duplicates; the run is aborted.")
            images = set(group.raise_base_by(self.peer_public, scalars))
            if not images <= set(cell):
                raise AuthenticationFailed("The peer's list misses this node's phantoms (a false public value); "
                                           "the run is aborted.")


@dataclass
class OtherRun:
    """Node B's secrets for one run."""

    domain: bytes
    shift: int
    cells: int
    draw: ShiftedLaplace
    ops: GroupOps = field(default_factory=LocalOps)
    secret: bytes = field(default_factory=group.new_scalar)
    phantoms: list[list[bytes]] = field(default_factory=list)
    size: int = 0

    @property
    def public(self) -> bytes:
        return group.raise_base_by(group.base_point(), [self.secret])[0]

    def list(self, members: Sequence[bytes]) -> Points:
        """Step 1: one shuffled list; phantoms drawn per anchor cell."""
        self.phantoms = [_scalars(self.draw.draw()) for _ in range(self.cells)]
        all_phantoms = [s for cell in self.phantoms for s in cell]
        points = (self.ops.blind_items(self.domain, self.secret, list(members))
                  + self.ops.phantom_points(self.domain, all_phantoms)
                  + self.ops.blind_items(self.domain, self.secret, _dummies(self.draw.draw())))
        self.size = len(points)
        return group.shuffled(points)

    def answer(self, peer_public: bytes, peer_lists: Sequence[Points]) -> list[Points]:
        """Step 2: Z_A^g per cell."""
        if len(peer_lists) != self.cells:
            raise BadQuery("The anchor sent another number of cells than the signed query implies; aborted.")
        check_points([peer_public], "peer's public value")
        check_points([p for cell in peer_lists for p in cell], "peer's lists")
        self.peer_public = peer_public
        out = []
        for cell, scalars in zip(peer_lists, self.phantoms):
            fillers = 2 * self.shift - len(scalars)
            points = (self.ops.raise_points(self.secret, cell)
                      + self.ops.raise_base_by(peer_public, scalars)
                      + self.ops.raise_base_by(peer_public, _scalars(fillers)))
            out.append(group.shuffled(points))
        return out

    def check(self, returned: Points) -> None:
        if len(returned) != self.size + 2 * self.shift * self.cells or len(set(returned)) != len(returned):
            raise AuthenticationFailed("The returned list has the wrong length or duplicates; the run is aborted.")
        images = set(self.ops.raise_base_by(self.peer_public, [s for cell in self.phantoms for s in cell]))
        if not images <= set(returned):
            raise AuthenticationFailed("The peer's list misses this node's phantoms (a false public value); "
                                       "the run is aborted.")


def count_matches(anchor_returned: Sequence[Points], other_returned: Points) -> list[int]:
    """The coordinator's work: per cell, how many elements the two Z lists share."""
    other = set(other_returned)
    return [sum(1 for point in cell if point in other) for cell in anchor_returned]


def estimates(matches: Sequence[int], anchor_sizes: Sequence[int], shift: int) -> list[tuple[int, int]]:
    """Per cell (|X_g ∩ Y|, |X_g ∖ Y|) estimates: offsets removed, noise kept."""
    return [(m - 2 * shift, size - m) for m, size in zip(matches, anchor_sizes)]
