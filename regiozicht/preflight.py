"""Preflight: would the nodes accept and pay for a question? Read from their signed Describes.

A dry run spends nothing, so it is where an analyst learns, before signing, that
a node's covenant, its per-query limit, its remaining budget or the dates its
data covers rule a question out. Each check names the node and says what to do
next. The node decides for itself (it checks everything again); this reads only
what it published, so a node that publishes no covenant (no purposes) is not
judged on covenant or budget here.

`spend_refusals` judges one request at one node; `total_refusals` judges what
many requests add up to at one node for one purpose (a plan of queries), where
the per-query limit no longer applies but the remaining budget does. The
coordinator's planning (`coordinator/planning.py`) uses the same checks, so a
refusal reads the same wherever it is predicted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation

from regiozicht.errors import BadQuery, BudgetExhausted, PermissionDenied, RegiozichtError
from regiozicht.query import data_from_refusal
from regiozicht.v1 import regiozicht_pb2 as pb


def _decimal(text: str) -> Decimal | None:
    try:
        return Decimal(text) if text else None
    except InvalidOperation:
        return None


def _purpose(describe: pb.Describe, purpose: str) -> pb.Purpose | None:
    return next((p for p in describe.purposes if p.id == purpose), None)


def covenant_refusals(describe: pb.Describe, *, purpose: str, dataset: str,
                      columns: Iterable[str] = ()) -> list[RegiozichtError]:
    """The node's published covenant: the purpose, the dataset under it, and the columns grouped or filtered on."""
    org = describe.org
    if not describe.purposes:
        return []  # a node that publishes no covenant decides everything itself
    found = _purpose(describe, purpose)
    if found is None:
        return [PermissionDenied(f"Node {org}'s covenant has no purpose {purpose!r}; ask under one of "
                                 f"{', '.join(p.id for p in describe.purposes)}.")]
    allowed = next((a for a in found.allowed if a.dataset == dataset), None)
    if allowed is None and dataset not in found.datasets:
        return [PermissionDenied(f"Node {org}'s covenant does not allow dataset {dataset!r} for purpose "
                                 f"{purpose!r}; ask the node's privacy officer or choose another purpose.")]
    used = set(columns)
    published = next((d for d in describe.datasets if d.name == dataset), None)
    wat = sorted(d.name for d in (published.dimensions if published else ()) if d.name in used
                 and d.info_class == "WAT")
    if wat and not found.wat_allowed:
        return [PermissionDenied(f"Node {org}'s covenant allows DAT columns only for purpose {purpose!r}, and "
                                 f"{', '.join(wat)} of {dataset!r} is WAT; leave it out or ask under a purpose "
                                 "that allows WAT.")]
    missing = sorted(used - set(allowed.columns)) if allowed is not None else []
    if missing:
        return [PermissionDenied(f"Node {org}'s covenant does not allow column(s) {', '.join(missing)} of "
                                 f"{dataset!r} for purpose {purpose!r}; leave them out or ask under a purpose "
                                 "that allows them.")]
    return []


def limit_refusals(describe: pb.Describe, *, epsilon: Decimal, delta: Decimal = Decimal(0),
                   runs: int = 1) -> list[RegiozichtError]:
    """The node's per-query limits on what one request costs it (`runs` linked runs at the anchor)."""
    org, budget = describe.org, describe.budget
    problems: list[RegiozichtError] = []
    spent = f" ({runs} run(s))" if runs > 1 else ""
    most = _decimal(budget.max_epsilon_per_query)
    if most is not None and epsilon > most:
        problems.append(PermissionDenied(f"This question costs node {org} ε {_plain(epsilon)}{spent}, above its "
                                         f"per-query limit of {budget.max_epsilon_per_query}; choose a smaller "
                                         "--epsilon."))
    least = _decimal(budget.min_epsilon_per_query)
    if least is not None and epsilon / runs < least:
        problems.append(PermissionDenied(f"ε {_plain(epsilon / runs)} is below node {org}'s per-query minimum of "
                                         f"{budget.min_epsilon_per_query}; choose a larger --epsilon."))
    most = _decimal(budget.max_delta_per_query)
    if delta > 0 and most is not None and delta > most:
        problems.append(PermissionDenied(f"This question costs node {org} δ {_plain(delta)}{spent}, above its "
                                         f"per-query limit of {budget.max_delta_per_query}; choose a smaller "
                                         "--delta."))
    return problems


def total_refusals(describe: pb.Describe, *, purpose: str, epsilon: Decimal,
                   delta: Decimal = Decimal(0)) -> list[RegiozichtError]:
    """What the node has left this period, for all purposes and for this one, against a total ε and δ."""
    org, budget = describe.org, describe.budget
    found = _purpose(describe, purpose)
    if not describe.purposes:
        return []
    if found is None:
        return covenant_refusals(describe, purpose=purpose, dataset="")
    renews = f"wait until {budget.renews_on}" if budget.renews_on else "wait until the budget renews"
    problems: list[RegiozichtError] = []
    for name, asked, pool, own in (("ε", epsilon, budget.epsilon_remaining, found.epsilon_remaining),
                                   ("δ", delta, budget.delta_remaining, found.delta_remaining)):
        if asked <= 0:
            continue
        left = [r for r in (_decimal(pool), _decimal(own)) if r is not None]
        if left and min(left) < asked:
            option = "--epsilon" if name == "ε" else "--delta"
            problems.append(BudgetExhausted(
                f"Node {org} has {name} {_plain(min(left))} left for purpose {purpose!r} in period {budget.period}, "
                f"less than the {_plain(asked)} asked; ask with a smaller {option} or {renews}."))
    return problems


def spend_refusals(describe: pb.Describe, *, purpose: str, dataset: str, columns: Iterable[str] = (),
                   epsilon: Decimal, delta: Decimal = Decimal(0), runs: int = 1,
                   also: Iterable[str] = ()) -> list[RegiozichtError]:
    """Everything the node's Describe rules out for one request: covenant, per-query limits, budget.

    `also`: further datasets the request reads without grouping or filtering (the rest of a
    linked set); `runs`: linked runs the anchor takes part in (ε and δ are their total).
    """
    problems = covenant_refusals(describe, purpose=purpose, dataset=dataset, columns=columns)
    for name in also:
        problems += covenant_refusals(describe, purpose=purpose, dataset=name)
    if problems and _purpose(describe, purpose) is None:
        return problems
    problems += limit_refusals(describe, epsilon=epsilon, delta=delta, runs=runs)
    return problems + total_refusals(describe, purpose=purpose, epsilon=epsilon, delta=delta)


def peildatum_refusals(describe: pb.Describe, peildatum: dt.date) -> list[BadQuery]:
    """A reference date before the first date the node's data covers (`data_from` in its Describe)."""
    if describe.data_from and peildatum < dt.date.fromisoformat(describe.data_from):
        return [data_from_refusal(peildatum, describe.org, dt.date.fromisoformat(describe.data_from))]
    return []


def _plain(amount: Decimal) -> str:
    return format(amount.normalize(), "f")
