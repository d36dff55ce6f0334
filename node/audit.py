"""The node's audit trail: append-only, hash-chained, one entry per request.

Granted or refused, every request whose requester is known gets an entry:
when, which query id, who (role, organisation), which purpose under which
legal basis, the canonical query, the decision and its reason, ε and δ
charged, and the released values. Each entry's hash covers its
predecessor's hash (regiozicht/audit_chain.py), and every signed answer and
Describe carries the head, so the coordinator can tell later whether the
trail was truncated or rewritten.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import rfc8785
from sqlalchemy import bindparam, insert, select
from sqlalchemy.engine import Connection

from node.state import StateDB, audit_entries
from regiozicht.audit_chain import GENESIS, entry_hash

# the fields of an entry, in export order; `values` is a list of [cell, value]
FIELDS = ("seq", "time", "query_id", "role", "org", "requester", "purpose", "legal_basis", "law", "dataset",
          "query", "decision", "reason", "epsilon", "delta", "values", "prev_hash", "hash")
DECISIONS = ("reserved", "granted", "stored", "refused", "refunded", "failed", "abandoned", "linked-run")


_HEAD = (select(audit_entries.c.seq, audit_entries.c.hash)
         .order_by(audit_entries.c.seq.desc(), audit_entries.c.position.desc()).limit(1))
_APPEND = insert(audit_entries).values(seq=bindparam("b_seq"), hash=bindparam("b_hash"), entry=bindparam("b_entry"))


def head(conn: Connection) -> tuple[int, str]:
    """(seq, hash) of the last entry, or (0, GENESIS) for an empty trail."""
    row = conn.execute(_HEAD).first()
    return (int(row[0]), str(row[1])) if row else (0, GENESIS)


def append(tx: Connection, *, now: int, decision: str, **fields: Any) -> tuple[int, str]:
    """Appends one entry inside the caller's transaction; returns the new head."""
    assert decision in DECISIONS, decision
    seq, previous = head(tx)
    entry: dict[str, Any] = {name: None for name in FIELDS if name != "hash"}
    unknown = set(fields) - set(FIELDS)
    assert not unknown, unknown
    entry.update(fields)
    entry.update(seq=seq + 1, prev_hash=previous, decision=decision,
                 time=dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    entry["hash"] = entry_hash(entry)
    tx.execute(_APPEND, {"b_seq": entry["seq"], "b_hash": entry["hash"], "b_entry": rfc8785.dumps(entry).decode()})
    return int(entry["seq"]), str(entry["hash"])


def has_entry(conn: Connection, query_id: str, decision: str) -> bool:
    """Whether the trail holds an entry of `decision` for `query_id` (a scan: for the start-up sweep only)."""
    pattern = f'%"decision":"{decision}"%'
    for (text,) in conn.execute(select(audit_entries.c.entry).where(audit_entries.c.entry.like(pattern))):
        if json.loads(text).get("query_id") == query_id:
            return True
    return False


def entries(state: StateDB) -> Iterator[dict[str, Any]]:
    """Every entry in storage order, as written (tampering included: that is what verify looks for)."""
    with state.reading() as conn:
        for (text,) in conn.execute(select(audit_entries.c.entry).order_by(audit_entries.c.position)):
            yield json.loads(text)
