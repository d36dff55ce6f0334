"""Planning from the nodes' signed Describes: refuse early what a node would refuse.

The node decides; this only spares a round trip and the node's audit noise
for questions its published covenant already rules out. Anything uncertain
is sent on.
"""

from __future__ import annotations

from decimal import Decimal

from regiozicht import filters, preflight
from regiozicht.errors import BadQuery, RegiozichtError
from regiozicht.linkquery import LinkedQuery
from regiozicht.query import CountQuery, check_against_domains
from regiozicht.v1 import regiozicht_pb2 as pb


def predicted_refusal(describe: pb.Describe, query: CountQuery, released_before: bool) -> RegiozichtError | None:
    """The refusal a node's Describe makes certain, or None if it may answer."""
    dataset = next((d for d in describe.datasets if d.name == query.dataset), None)
    if dataset is not None:
        try:
            check_against_domains(query.dataset, {d.name: list(d.domain) for d in dataset.dimensions}, query)
        except BadQuery as exc:
            return exc
    columns = set(query.by) | (filters.columns(query.where) if query.where else set())
    problems = preflight.covenant_refusals(describe, purpose=query.purpose, dataset=query.dataset, columns=columns)
    if not problems and not released_before:  # a stored release is returned at no cost
        problems = preflight.total_refusals(describe, purpose=query.purpose, epsilon=Decimal(query.epsilon))
    return problems[0] if problems else None


def linked_refusal(nodes: dict[str, tuple[bool, pb.Describe]], query: LinkedQuery) -> RegiozichtError | None:
    """What the catalog makes certain about a linked query: unknown nodes, kinds or datasets (of either set).

    Nodes check everything again themselves; this spares them junk and tells
    the analyst clearly which party is wrong.
    """
    for side in (query.anchor, *query.others):
        known = nodes.get(side.org)
        if known is None:
            return BadQuery(f"No node {side.org!r} is known to the coordinator; `regiozicht catalog` lists the nodes.")
        describe = known[1]
        if describe.kind != side.kind:
            return BadQuery(f"Node {side.org} is a {describe.kind} node, not {side.kind}; rebuild the query from "
                            "`regiozicht catalog`.")
        published = {d.name for d in describe.datasets}
        for name in side.datasets:
            if name not in published:
                return BadQuery(f"Node {side.org} publishes no dataset {name!r}; `regiozicht catalog` lists "
                                "what each node publishes.")
    anchor = nodes[query.anchor.org][1]
    dataset = next(d for d in anchor.datasets if d.name == query.anchor.dataset)
    try:
        check_against_domains(dataset.name, {d.name: list(d.domain) for d in dataset.dimensions},
                              query.anchor_count())
    except BadQuery as exc:
        return exc
    return None
