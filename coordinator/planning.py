"""Planning from the nodes' signed Describes: refuse early what a node would refuse.

The node decides; this only spares a round trip and the node's audit noise
for questions its published covenant already rules out. Anything uncertain
is sent on.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from regiozicht import filters
from regiozicht.errors import BadQuery, BudgetExhausted, PermissionDenied, RegiozichtError
from regiozicht.linkquery import LinkedQuery
from regiozicht.query import CountQuery, check_against_domains
from regiozicht.v1 import regiozicht_pb2 as pb


def _decimal(text: str) -> Decimal | None:
    try:
        return Decimal(text) if text else None
    except InvalidOperation:
        return None


def predicted_refusal(describe: pb.Describe, query: CountQuery, released_before: bool) -> RegiozichtError | None:
    """The refusal a node's Describe makes certain, or None if it may answer."""
    org = describe.org
    dataset = next((d for d in describe.datasets if d.name == query.dataset), None)
    if dataset is not None:
        try:
            check_against_domains(query.dataset, {d.name: list(d.domain) for d in dataset.dimensions}, query)
        except BadQuery as exc:
            return exc
    if not describe.purposes:
        return None  # a node that publishes no covenant decides everything itself
    purpose = next((p for p in describe.purposes if p.id == query.purpose), None)
    if purpose is None:
        return PermissionDenied(
            f"Node {org}'s covenant has no purpose {query.purpose!r}; ask under one of "
            f"{', '.join(p.id for p in describe.purposes)}."
        )
    allowed = next((a for a in purpose.allowed if a.dataset == query.dataset), None)
    if allowed is None and query.dataset not in purpose.datasets:
        return PermissionDenied(
            f"Node {org}'s covenant does not allow dataset {query.dataset!r} for purpose {query.purpose!r}; "
            "ask the node's privacy officer or choose another purpose."
        )
    if allowed is not None:
        used = set(query.by) | (filters.columns(query.where) if query.where else set())
        missing = sorted(used - set(allowed.columns))
        if missing:
            return PermissionDenied(
                f"Node {org}'s covenant does not allow column(s) {', '.join(missing)} of {query.dataset!r} for "
                f"purpose {query.purpose!r}; leave them out or ask under a purpose that allows them."
            )
    if released_before:
        return None  # the node returns its stored release at no cost
    epsilon = Decimal(query.epsilon)
    remaining = [r for r in (_decimal(describe.budget.epsilon_remaining), _decimal(purpose.epsilon_remaining))
                 if r is not None]
    if remaining and min(remaining) < epsilon:
        return BudgetExhausted(
            f"Node {org} has ε {min(remaining)} left for purpose {query.purpose!r} in period "
            f"{describe.budget.period}, less than the {query.epsilon} asked; ask with a smaller ε or wait until "
            f"{describe.budget.renews_on or 'the budget renews'}."
        )
    return None


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
