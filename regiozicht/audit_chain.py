"""The audit trail's hash chain: how an entry is hashed and how a trail is checked.

Shared by the node (which writes the chain and runs `regiozicht-node audit
verify`) and the coordinator (which keeps the heads nodes sign into their
answers and checks an exported trail against them). An entry is a flat JSON
object; its hash is ``sha256(previous hash bytes ‖ RFC 8785 JSON of the entry
without "hash")``. The entry holds its own ``seq`` and ``prev_hash``, so an
edited, deleted, inserted or reordered entry breaks the chain where it is.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import rfc8785

GENESIS = "0" * 64


def entry_hash(entry: Mapping[str, Any]) -> str:
    """The hash an entry must carry: over its predecessor's hash and its own content."""
    content = {key: value for key, value in entry.items() if key != "hash"}
    previous = bytes.fromhex(str(entry.get("prev_hash", GENESIS)))
    return hashlib.sha256(previous + rfc8785.dumps(content)).hexdigest()


def _seq(entry: Mapping[str, Any]) -> int:
    return int(entry.get("seq", 0))


def _order_problems(seqs: list[int]) -> list[str]:
    problems = []
    seen: set[int] = set()
    for position, seq in enumerate(seqs):
        if seq in seen:
            problems.append(f"entry {seq} appears twice: an entry was inserted")
        elif position and seq < seqs[position - 1]:
            problems.append(f"entry {seq} is stored after entry {seqs[position - 1]}: entries were reordered")
        seen.add(seq)
    first = min(seqs)
    if first != 1:
        problems.append(f"entries 1–{first - 1} are missing: the start of the trail was deleted"
                        if first > 2 else "entry 1 is missing: the start of the trail was deleted")
    for seq in sorted(set(range(first, max(seqs) + 1)) - seen):
        problems.append(f"entry {seq} is missing: it was deleted")
    return problems


def verify_chain(entries: Sequence[Mapping[str, Any]]) -> list[str]:
    """Every problem of a trail in stored order; an empty list means intact.

    Each problem names the entry by its sequence number and what happened to
    it (edited, deleted, inserted, reordered).
    """
    if not entries:
        return []
    problems = _order_problems([_seq(e) for e in entries])
    by_seq: dict[int, Mapping[str, Any]] = {}
    for entry in entries:
        if entry_hash(entry) != entry.get("hash"):
            problems.append(f"entry {_seq(entry)} was edited: its hash does not match its content")
        by_seq.setdefault(_seq(entry), entry)
    for seq in sorted(by_seq):
        previous = by_seq.get(seq - 1)
        expected = GENESIS if seq == 1 else (previous.get("hash") if previous else None)
        if expected is not None and by_seq[seq].get("prev_hash") != expected:
            problems.append(f"entry {seq} does not link to entry {seq - 1}: an entry was inserted or rewritten there")
    return problems


def verify_against_heads(entries: Sequence[Mapping[str, Any]], heads: Iterable[tuple[int, str]]) -> list[str]:
    """Problems of a trail measured against chain heads the node signed earlier.

    A head (seq, hash) says: entry `seq` had this hash when the answer was
    signed. A missing entry means truncation; a different hash means the
    trail was rewritten up to that entry, even if it is internally consistent.
    """
    by_seq = {_seq(e): e for e in entries}
    problems = []
    for seq, head in sorted(set(heads)):
        entry = by_seq.get(seq)
        if entry is None:
            problems.append(f"entry {seq} is missing, but an answer signed its head: the trail was truncated")
        elif entry.get("hash") != head.lower():
            problems.append(f"entry {seq} differs from the head signed in an answer: the trail was rewritten")
    return problems
