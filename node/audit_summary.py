"""What the audit trail says happened in a period: questions answered and refused, links, ε spent.

Only counts of entries and sums of the ε and δ the entries carry: never a
released value, never a person. These are the figures the DPIA and the
report for young people may print, so anyone holding the audit export
(`regiozicht-node audit export`) can recompute each one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from regiozicht.errors import BadQuery

_PERIOD = re.compile(r"(?P<year>\d{4})(?:-(?P<quarter>Q[1-4])|-(?P<month>0[1-9]|1[0-2]))?\Z")


def period_prefixes(period: str) -> tuple[str, ...]:
    """The entry-time prefixes (UTC) of a period written 2026, 2026-Q4 or 2026-11."""
    match = _PERIOD.match(period)
    if match is None:
        raise BadQuery(f"Period {period!r} is not a year, quarter or month; write it as 2026, 2026-Q4 or 2026-11.")
    year, quarter, month = match["year"], match["quarter"], match["month"]
    if quarter:
        first = 3 * (int(quarter[1]) - 1) + 1
        return tuple(f"{year}-{m:02d}" for m in range(first, first + 3))
    return (f"{year}-{month}",) if month else (year,)


@dataclass
class Usage:
    """One period's use of this node, as its audit trail records it."""

    period: str
    answered: int = 0  # plain counts released (fresh or stored)
    linked_runs: int = 0  # linked runs this node completed its part of
    refused: int = 0
    not_completed: int = 0  # failed, refunded or abandoned after admission
    epsilon: Decimal = Decimal(0)  # charged: reservations and linked runs, less refunds
    delta: Decimal = Decimal(0)
    purposes: dict[str, int] = field(default_factory=dict)  # answered + linked runs per purpose
    partners: set[str] = field(default_factory=set)  # organisations of completed linked runs
    counters: set[str] = field(default_factory=set)
    requesters: set[str] = field(default_factory=set)  # organisations whose questions were answered

    @property
    def epsilon_text(self) -> str:
        return _plain(self.epsilon)

    @property
    def delta_text(self) -> str:
        return _plain(self.delta)


def summarise(entries: Iterable[dict[str, Any]], period: str, own_org: str) -> Usage:
    """The period's usage from audit entries (as `audit.entries` or the JSON-lines export give them)."""
    prefixes = period_prefixes(period)
    usage = Usage(period)
    reserved: dict[str, Decimal] = {}
    refunded: set[str] = set()
    for entry in entries:
        if not str(entry.get("time") or "").startswith(prefixes):
            continue
        decision, body = entry.get("decision"), _body(entry)
        linked = "anchor" in body
        epsilon = Decimal(str(entry.get("epsilon") or "0"))
        if decision == "reserved":
            reserved[str(entry.get("query_id"))] = epsilon
        if decision in ("reserved", "linked-run", "abandoned"):
            usage.epsilon += epsilon
            usage.delta += Decimal(str(entry.get("delta") or "0"))
        elif decision == "refunded":
            refunded.add(str(entry.get("query_id")))
            usage.not_completed += 1
        elif decision in ("failed",):
            usage.not_completed += 1
        elif decision == "refused":
            usage.refused += 1
        elif decision in ("granted", "stored"):
            _count_answer(usage, entry, body, linked, own_org)
        if decision == "abandoned":
            usage.not_completed += 1
    usage.epsilon -= sum((reserved.get(q, Decimal(0)) for q in refunded), Decimal(0))
    return usage


def _count_answer(usage: Usage, entry: dict[str, Any], body: dict[str, Any], linked: bool, own_org: str) -> None:
    if linked:
        usage.linked_runs += 1
        sides = [body.get("anchor") or {}, *(body.get("others") or [])]
        usage.partners |= {str(s.get("org")) for s in sides if isinstance(s, dict) and s.get("org") != own_org}
        if body.get("counter"):
            usage.counters.add(str(body["counter"]))
    else:
        usage.answered += 1
    purpose = str(entry.get("purpose") or "")
    usage.purposes[purpose] = usage.purposes.get(purpose, 0) + 1
    if entry.get("org"):
        usage.requesters.add(f"{entry.get('role')} {entry.get('org')}")


def _body(entry: dict[str, Any]) -> dict[str, Any]:
    try:
        body = json.loads(entry.get("query") or "{}")
    except json.JSONDecodeError:
        return {}
    return body if isinstance(body, dict) else {}


def _plain(value: Decimal) -> str:
    """A decimal as its shortest string: 2.50 → 2.5, 3.0 → 3."""
    text = format(value.normalize(), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def years(entries: Iterable[dict[str, Any]]) -> list[str]:
    """The years the trail has entries in, oldest first."""
    return sorted({str(e.get("time") or "")[:4] for e in entries if str(e.get("time") or "")[:4].isdigit()})
