"""Ledger, audit trail and releases of one node's state database, read straight from the file.

Used by `bench/load.py`, `bench/soak.py` and the fault tests: after a load or a fault, every charge
has its audit entry, every committed release its charge, the spent figures equal the charges, and
no pot is over its limit. Read with sqlite3 only: no node process needs to run (or restart).
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from regiozicht.audit_chain import verify_chain

# the entries that carry a count's or a run's charge; "granted", "failed" and "abandoned" carried it
# themselves before reservations were audited, so a trail from then is read the same way
CHARGING = ("reserved", "linked-run")
OUTCOMES = ("granted", "failed", "abandoned")


@dataclass
class StateReport:
    entries: list[dict[str, object]]
    charged: dict[str, Decimal]  # charge id → ε, status charged
    committed: set[str]  # query ids of committed releases
    problems: list[str] = field(default_factory=list)

    @property
    def decisions(self) -> Counter[str]:
        return Counter(str(e["decision"]) for e in self.entries)

    def entries_for(self, query_id: str) -> list[str]:
        return [str(e["decision"]) for e in self.entries if e.get("query_id") == query_id]


def read(state_db: Path, limits: dict[str, Decimal] | None = None) -> StateReport:
    """Reads and cross-checks one node's state database; `limits`: pot → ε ceiling to check."""
    with sqlite3.connect(f"file:{state_db}?mode=ro", uri=True) as connection:
        entries = [json.loads(text) for (text,) in connection.execute("SELECT entry FROM audit_entries ORDER BY position")]
        charged = {str(cid): Decimal(eps) for cid, eps in connection.execute(
            "SELECT charge_id, epsilon FROM ledger_charges WHERE status = 'charged'")}
        committed = {str(q) for (q,) in connection.execute("SELECT query_id FROM releases WHERE status = 'committed'")}
        pots = [(str(period), str(pot), Decimal(spent)) for period, pot, spent in connection.execute(
            "SELECT period, pot, epsilon_spent FROM budget_totals")]
    report = StateReport(entries, charged, committed)
    report.problems += [f"audit chain: {p}" for p in verify_chain(entries)]
    _check_charges(report)
    total = sum(charged.values(), Decimal(0))
    spent = sum((s for _, pot, s in pots if pot == "*"), Decimal(0))
    if spent != total:
        report.problems.append(f"the pool's spent ε {spent} differs from the sum of its charges {total}")
    for _period, pot, figure in pots:
        if limits and pot in limits and figure > limits[pot]:
            report.problems.append(f"pot {pot} spent ε {figure}, over its limit {limits[pot]}")
    return report


def _check_charges(report: StateReport) -> None:
    refunded = {e["query_id"] for e in report.entries if e["decision"] == "refunded"}
    audited: dict[str, Decimal] = {}
    for entry in report.entries:
        decision, epsilon = entry["decision"], Decimal(str(entry.get("epsilon") or "0"))
        if (decision in CHARGING or decision in OUTCOMES and epsilon) and entry["query_id"] not in refunded:
            key = str(entry["query_id"])
            audited[key] = audited.get(key, Decimal(0)) + epsilon
    query_charges = {cid: eps for cid, eps in report.charged.items() if ":" not in cid}
    for charge_id, epsilon in sorted(query_charges.items()):
        if audited.get(charge_id) != epsilon:
            report.problems.append(f"charge {charge_id} (ε {epsilon}) has audited ε {audited.get(charge_id)}")
    for query_id in sorted(set(audited) - set(query_charges)):
        if not any(cid.startswith(query_id + ":") for cid in report.charged):
            report.problems.append(f"audit entry for {query_id} charges ε {audited[query_id]} the ledger lacks")
    for query_id in sorted(report.committed - set(report.charged)):
        report.problems.append(f"release {query_id} was committed without a charge")
