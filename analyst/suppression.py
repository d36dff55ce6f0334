"""The covenants' suppression rule for small numbers, read from the nodes' signed Describes.

A plain count's cells are suppressed by each node itself, on its own noisy
value (`node/service.py`). A linked count's numbers are estimates no node
ever sees: the counter releases matches and list sizes, and only the
analyst's CLI turns them into ∩ and ∖. So the rule each party's covenant
publishes (`Describe.suppression`) is applied here, at the CLI: the
strictest threshold of all parties, for the query's purpose and each
party's datasets. This is disclosure control on published small numbers
(what a covenant promises about tables that leave the analyst's desk); the
privacy guarantee itself is differential privacy, which holds whatever is
shown.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from analyst.client import NodeInfo
from analyst.linked import LinkedCell
from regiozicht.linkquery import LinkedQuery
from regiozicht.v1 import regiozicht_pb2 as pb


def threshold(describe: pb.Describe, purpose: str, datasets: Iterable[str]) -> int | None:
    """The strictest `below` of the node's rules covering the purpose and any of the datasets (as the node's
    `Covenant.suppression_for` reads its own covenant)."""
    names = set(datasets)
    found = [rule.below for rule in describe.suppression
             if (not rule.purposes or purpose in rule.purposes)
             and (not rule.datasets or names & set(rule.datasets))]
    return max(found) if found else None


def linked_threshold(nodes: list[NodeInfo], query: LinkedQuery) -> int | None:
    """The strictest threshold of every party of a linked query, each for its own set's datasets."""
    describes = {n.org: n.describe for n in nodes}
    found = [threshold(describes[side.org], query.purpose, side.datasets)
             for side in (query.anchor, *query.others) if side.org in describes]
    values = [t for t in found if t is not None]
    return max(values) if values else None


@dataclass(frozen=True)
class ShownCell:
    """A linked cell as it may be published: which of its numbers are withheld."""

    cell: LinkedCell
    inter: bool = False   # ∩ below the threshold
    only: bool = False    # ∖ below the threshold
    anchor: bool = False  # the anchor cell (∩ + ∖, a share's base) below the threshold

    @property
    def any(self) -> bool:
        return self.inter or self.only or self.anchor


def shown(cells: list[LinkedCell], below: int | None) -> list[ShownCell]:
    """Each cell with its numbers below the threshold marked; noisy estimates are compared, as nodes do."""
    if below is None:
        return [ShownCell(cell) for cell in cells]
    return [ShownCell(cell, cell.inter < below, cell.only < below, cell.anchor < below) for cell in cells]
