"""The truth of a linked query, from the synthetic region's truth store.

Sets that are one dataset, or an `or` of datasets, go straight to
`synth.truth.Truth.linked` (a union of sources). Any other combination is
evaluated here, in Python, from `Truth.members` — a second code path beside
the node's SQL (`node/compile.py`), which the tests compare it with.
Rules mirrored from the node: datasets of one side combine on the person's
recorded key (the BSN as the partner recorded it); across nodes only valid
BSNs link; cells and the filter come from the anchor set's first
non-negated dataset, and a person without a row there is `onbekend` in
every dimension.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from regiozicht import linksets
from regiozicht.linkquery import LinkedQuery, LinkSide

ONBEKEND = "onbekend"
Cell = tuple[str, ...]


def set_members(truth: Any, partner_id: str, tree: linksets.Tree, peildatum: dt.date,
                layer: str = "recorded") -> dict[str, dict[str, str] | None]:
    """Person key → the dimensions of their kept row in the set's first non-negated dataset
    (None when they have none there), for every person in the set."""
    members = {name: truth.members(partner_id, name, peildatum, layer) for name in linksets.datasets(tree)}
    primary = members[linksets.primary(tree)]
    candidates = set().union(*members.values())
    # mypy cannot infer a lambda whose default binds `key`: hence the ignore
    return {key: primary.get(key) for key in sorted(candidates)
            if linksets.evaluate(tree, lambda name, key=key: key in members[name])}  # type: ignore[misc]


def _sources(partner_id: str, side: LinkSide) -> list[tuple[str, str, dt.date]] | None:
    """The side as a union of (partner, dataset, peildatum) sources, if it is one."""
    if linksets.single(side.set) is not None:
        return [(partner_id, side.dataset, side.peildatum)]
    if "or" in side.set and all("dataset" in part for part in side.set["or"]):
        return [(partner_id, part["dataset"], side.peildatum) for part in side.set["or"]]
    return None


def linked_truth(truth: Any, partner_ids: dict[str, str], query: LinkedQuery, *, layer: str = "recorded",
                 peers: Sequence[str] | None = None) -> dict[Cell, tuple[int, int]]:
    """Per anchor cell: (members found in any peer's set, members found in none).

    `partner_ids` maps node org → synthetic partner id; `peers` limits the
    others to the runs that completed (default: every peer).
    """
    others = [s for s in query.others if peers is None or s.org in peers]
    where: Callable[[dict[str, str]], bool] | None = None
    if query.where is not None:
        from regiozicht import filters

        tree = query.where
        where = lambda values: filters.evaluate(tree, values)
    anchor_id = partner_ids[query.anchor.org]
    anchor_sources = _sources(anchor_id, query.anchor)
    other_sources = [_sources(partner_ids[s.org], s) for s in others]
    if anchor_sources is not None and len(anchor_sources) == 1 and all(s is not None for s in other_sources):
        flat = [source for sources in other_sources for source in sources or []]
        return dict(truth.linked(anchor_sources[0], flat, query.anchor.peildatum, by=query.by, where=where,
                                 layer=layer))
    return _evaluated(truth, partner_ids, query, others, where, layer)


def _evaluated(truth: Any, partner_ids: dict[str, str], query: LinkedQuery, others: Sequence[LinkSide],
               where: Callable[[dict[str, str]], bool] | None, layer: str) -> dict[Cell, tuple[int, int]]:
    from synth.bsn import is_valid_bsn

    linked: set[str] = set()
    for side in others:
        linked.update(k for k in set_members(truth, partner_ids[side.org], side.set, side.peildatum, layer)
                      if is_valid_bsn(k))
    anchor_id = partner_ids[query.anchor.org]
    cells = truth.cells(anchor_id, query.anchor.dataset, query.by)
    counts = {cell: [0, 0] for cell in cells}
    dimensions = truth.definition(anchor_id, query.anchor.dataset).dims
    for key, values in set_members(truth, anchor_id, query.anchor.set, query.anchor.peildatum, layer).items():
        row = values if values is not None else dict.fromkeys(dimensions, ONBEKEND)
        if where is not None and not where(row):
            continue
        hit = is_valid_bsn(key) and key in linked
        counts[tuple(row[name] for name in query.by)][0 if hit else 1] += 1
    return {cell: (v[0], v[1]) for cell, v in counts.items()}
