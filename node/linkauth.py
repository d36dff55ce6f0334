"""Authorising one linked run: the analyst's signed query, this node's role
in it, and the covenant's linking rules — all before anything is read,
charged or sent.

A side is a set over one or more of its node's datasets. The purpose must
cover every one of them, and one linking rule must allow all of this node's
datasets of the query with the partner's org, kind and every dataset of the
partner's set. A covenant that forbids any of it refuses the run here, so it
costs nothing and no list ever leaves the node.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from node.admission import AuditContext, Gate
from node.compile import cells, check_query
from node.config import Dataset, NodeConfig
from node.covenant import Covenant, Linking, Purpose
from node.policy import authorise
from regiozicht.errors import BadQuery, PermissionDenied
from regiozicht.identity import Identity
from regiozicht.linknoise import shift_for
from regiozicht.linkquery import LinkedQuery, LinkSide, parse_linked_body
from regiozicht.query import CountQuery
from regiozicht.v1 import regiozicht_pb2 as pb

ROLES = ("anchor", "other")


@dataclass(frozen=True)
class LinkPlan:
    """A verified, authorised run as this node will take part in it."""

    envelope: pb.QueryEnvelope
    query: LinkedQuery
    run_id: str
    role: str
    me: LinkSide
    peer: LinkSide
    dataset: Dataset  # the first non-negated dataset of this node's set (the anchor's cells come from it)
    datasets: dict[str, Dataset]  # every dataset this node's set names
    purpose: Purpose
    requester: Identity
    shift: int
    cells: list[tuple[str, ...]]  # the anchor's cells; empty at the other node

    @property
    def own_query(self) -> CountQuery:
        """This side's first dataset as a count query (with the anchor's grouping and filter)."""
        if self.role == "anchor":
            return self.query.anchor_count_for(self.peer.org)
        return CountQuery(self.me.dataset, self.query.epsilon, self.query.purpose, self.me.peildatum)

    def audit_fields(self) -> dict[str, Any]:
        return dict(query_id=self.envelope.query_id, role=self.requester.role, org=self.requester.org,
                    requester=self.requester.uri, purpose=self.purpose.id, legal_basis=self.purpose.legal_basis,
                    law=self.purpose.law, dataset=self.me.expression, query=self.envelope.body.decode())


def plan_run(config: NodeConfig, covenant: Covenant, gate: Gate, envelope: pb.QueryEnvelope, requester: Identity,
             run_id: str, role: str, context: AuditContext) -> LinkPlan:
    """The admission gate's steps for a linked run, after the envelope: this node's role →
    datasets and domains → data-as-of → covenant, linking rules and counter → per-query bounds."""
    query = parse_linked_body(envelope.body)
    context.note(purpose=query.purpose, epsilon=query.epsilon, delta=query.delta)
    me, peer = _sides(config, query, envelope.query_id, run_id, role)
    context.note(dataset=me.expression)
    datasets = {name: gate.dataset(name) for name in me.datasets}
    own = query.anchor_count_for(peer.org) if role == "anchor" else CountQuery(me.dataset, query.epsilon,
                                                                               query.purpose, me.peildatum)
    check_query(datasets[me.dataset], own)
    gate.check_data_as_of(me.peildatum)
    purpose = authorise(covenant, requester, own, hashlib.sha256(envelope.body).hexdigest(), datasets[me.dataset])
    context.note(legal_basis=purpose.legal_basis, law=purpose.law)
    for name in me.datasets:
        if name not in purpose.datasets:
            raise PermissionDenied(f"Purpose {purpose.id!r} in the covenant of {covenant.organisation} does not cover "
                                   f"dataset {name!r}; leave it out of the set or have the privacy officer add it.")
    check_linking(covenant, purpose, me, peer)
    check_counter(covenant, query.counter)
    check_bounds(covenant, query, runs=query.anchor_runs() if role == "anchor" else 1)
    try:
        shift = shift_for(query.epsilon_value, query.delta_value)
    except ValueError:
        raise BadQuery(f"δ {query.delta} is too small for ε {query.epsilon}; ask with a larger --delta.") from None
    anchor_cells = cells(datasets[me.dataset], query.by) if role == "anchor" else []
    if role == "anchor" and len(anchor_cells) != query.cells:
        raise BadQuery(f"The signed query says the anchor has {query.cells} cells, but node {me.org} publishes "
                       f"{len(anchor_cells)} for this grouping; rebuild the query from `regiozicht catalog`.")
    return LinkPlan(envelope, query, run_id, role, me, peer, datasets[me.dataset], datasets, purpose, requester,
                    shift, anchor_cells)


def _sides(config: NodeConfig, query: LinkedQuery, query_id: str, run_id: str, role: str) -> tuple[LinkSide, LinkSide]:
    org = config.node.org
    if role not in ROLES:
        raise BadQuery(f"Unknown role {role!r} in a linked run; upgrade the coordinator.")
    me: LinkSide | None
    peer: LinkSide | None
    if role == "anchor":
        me = query.anchor
        peer = next((s for s in query.others if query.run_id(query_id, s.org) == run_id), None)
    else:
        me = next((s for s in query.others if s.org == org), None)
        peer = query.anchor
        if me is not None and query.run_id(query_id, me.org) != run_id:
            peer = None
    if me is None or me.org != org or peer is None:
        raise BadQuery(f"The signed query does not name node {org} as the {role} of run {run_id}; "
                       "the coordinator misrouted it.")
    if me.kind != config.node.kind:
        raise BadQuery(f"The signed query names {org} as kind {me.kind}, but it is a {config.node.kind} node; "
                       "rebuild the query from `regiozicht catalog`.")
    return me, peer


def check_linking(covenant: Covenant, purpose: Purpose, me: LinkSide, peer: LinkSide) -> None:
    """One of the covenant's linking rules must allow every dataset of this node's set with this
    partner (org, kind) and every dataset of the partner's set."""
    org, rules = covenant.organisation, purpose.linking or ()
    if not rules:
        raise PermissionDenied(f"Purpose {purpose.id!r} in the covenant of {org} allows no linked counts; ask under "
                               "a purpose with linking rules or have the privacy officer add them.")
    partner_rules = [rule for rule in rules if _partner_fits(rule, peer)]
    if not partner_rules:
        raise PermissionDenied(f"The covenant of {org} does not allow linking with {peer.org} ({peer.kind}) under "
                               f"purpose {purpose.id!r}; ask its privacy officer to add this partner.")
    refusals = [_refusal(org, purpose, rule, me, peer) for rule in partner_rules]
    if all(refusals):
        raise PermissionDenied(refusals[0] or "")


def _partner_fits(rule: Linking, peer: LinkSide) -> bool:
    return peer.kind in rule.kinds and (not rule.orgs or peer.org in rule.orgs)


def _refusal(org: str, purpose: Purpose, rule: Linking, me: LinkSide, peer: LinkSide) -> str | None:
    """Why this rule (one for the peer's org and kind) does not allow the run, or None if it does."""
    own = [name for name in me.datasets if name not in rule.datasets]
    if own:
        return (f"The covenant of {org} does not let dataset {own[0]!r} be linked with {peer.org} ({peer.kind}) "
                f"under purpose {purpose.id!r}; link one of {', '.join(rule.datasets) or 'no datasets'} instead.")
    theirs = [name for name in peer.datasets if name not in rule.partner_datasets]
    if theirs:
        return (f"The covenant of {org} does not allow linking with the partner dataset {theirs[0]!r} under "
                f"purpose {purpose.id!r}; link with {', '.join(rule.partner_datasets) or 'no partner datasets'} "
                "instead.")
    return None


def check_counter(covenant: Covenant, counter: str) -> None:
    """The counter the query names must be one the covenant accepts (its legal entity is checked
    against both parties' once its signed run key arrives)."""
    accepted = covenant.linked.counters
    if counter not in accepted:
        allowed = ", ".join(accepted) if accepted else "none: linked counts are off"
        raise PermissionDenied(f"The covenant of {covenant.organisation} does not accept counter {counter!r} "
                               f"(accepted: {allowed}); choose an accepted counter with --counter or have the "
                               "privacy officer add it under [linked] counters.")


def check_bounds(covenant: Covenant, query: LinkedQuery, runs: int) -> None:
    """ε and δ this node spends for the whole query (K runs at the anchor) within the per-query limits."""
    limits, org = covenant.limits, covenant.organisation
    epsilon, delta = Decimal(query.epsilon) * runs, Decimal(query.delta) * runs
    if epsilon > Decimal(limits.max_epsilon):
        raise PermissionDenied(f"This linked query costs node {org} ε {epsilon} ({runs} run(s) at {query.epsilon}), "
                               f"above its per-query limit of {limits.max_epsilon}; choose a smaller --epsilon.")
    if delta > Decimal(limits.max_delta):
        raise PermissionDenied(f"This linked query costs node {org} δ {delta} ({runs} run(s) at {query.delta}), "
                               f"above its per-query limit of {limits.max_delta}; choose a smaller --delta.")
