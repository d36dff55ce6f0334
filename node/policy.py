"""Authorisation against the covenant: runs before any stored release is looked up.

Every refusal is a PermissionDenied naming the rule that is missing, so the
analyst knows whom to ask (the node's privacy officer) and what to ask for.
"""

from __future__ import annotations

from decimal import Decimal

from node.config import Dataset
from node.covenant import Covenant, Purpose
from regiozicht import filters
from regiozicht.errors import PermissionDenied
from regiozicht.identity import Identity
from regiozicht.query import CountQuery


def authorise(covenant: Covenant, requester: Identity, query: CountQuery, body_sha256_hex: str,
              dataset: Dataset) -> Purpose:
    """Returns the purpose the query is granted under, or raises PermissionDenied."""
    org = covenant.organisation
    party = covenant.party(requester.role, requester.org)
    if party is None:
        raise PermissionDenied(
            f"The covenant of {org} lists no {requester.role} {requester.org}; ask its privacy officer to add "
            "this party before asking.")
    purpose = covenant.purpose(query.purpose)
    if purpose is None:
        raise PermissionDenied(
            f"The covenant of {org} has no purpose {query.purpose!r}; choose one of "
            f"{', '.join(p.id for p in covenant.purposes)} (`regiozicht catalog` lists them).")
    if purpose.id not in party.purposes:
        raise PermissionDenied(
            f"The covenant of {org} does not let {requester.role} {requester.org} ask for purpose {purpose.id!r}; "
            f"ask under {', '.join(party.purposes)} or have its privacy officer extend the party's purposes.")
    _check_columns(org, purpose, query, dataset)
    if requester.role == "service" and body_sha256_hex not in party.queries:
        raise PermissionDenied(
            f"Service identity {requester.org} may run only the queries the covenant of {org} lists for it, and "
            f"this one (sha256 {body_sha256_hex[:16]}…) is not listed; have its privacy officer add the hash.")
    if Decimal(query.epsilon) < Decimal(covenant.limits.min_epsilon):
        raise PermissionDenied(
            f"ε {query.epsilon} is below the per-query minimum of {covenant.limits.min_epsilon} in the covenant of "
            f"{org}: the figure would be noise; choose a larger --epsilon.")
    if Decimal(query.epsilon) > Decimal(covenant.limits.max_epsilon):
        raise PermissionDenied(
            f"ε {query.epsilon} is above the per-query limit of {covenant.limits.max_epsilon} in the covenant of "
            f"{org}; choose a smaller --epsilon.")
    return purpose


def _check_columns(org: str, purpose: Purpose, query: CountQuery, dataset: Dataset) -> None:
    allowed = purpose.datasets.get(query.dataset)
    if allowed is None:
        raise PermissionDenied(
            f"Purpose {purpose.id!r} in the covenant of {org} does not cover dataset {query.dataset!r}; ask for a "
            "purpose that covers it or have the privacy officer add it.")
    used = sorted(set(query.by) | (filters.columns(query.where) if query.where else set()))
    # the WAT rule is named first: it is the one an analyst most needs to understand
    wat = [name for name in used if dataset.dimensions[name].info_class == "WAT"]
    if wat and not purpose.wat_allowed:
        raise PermissionDenied(
            f"Purpose {purpose.id!r} in the covenant of {org} allows DAT columns only, and {', '.join(wat)} "
            f"{'is a WAT column' if len(wat) == 1 else 'are WAT columns'}; leave "
            f"{'it' if len(wat) == 1 else 'them'} out or ask under a purpose that allows WAT.")
    missing = [name for name in used if name not in allowed]
    if missing:
        raise PermissionDenied(
            f"Purpose {purpose.id!r} in the covenant of {org} does not allow column(s) {', '.join(missing)} of "
            f"{query.dataset!r}; use {', '.join(allowed) or 'no columns (totals only)'} or have the privacy "
            "officer add them.")
