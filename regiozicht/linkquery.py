"""The linked query: an anchor set at one node against the sets of its peers.

Signed like a count query: RFC 8785 JSON of the normalised body, which names
every party (org and kind), each side's set — a boolean combination of that
node's own datasets (`regiozicht/linksets.py`) — and reference date, the
anchor's grouping and filter, ε and δ per run, the purpose, and the
counter (the organisation that checks the proofs and counts, never a party).
The CLI resolves all of it; one run per peer, run id = query id + ":" + peer
org.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from regiozicht import filters, linksets
from regiozicht.cells import ONBEKEND
from regiozicht.errors import BadQuery
from regiozicht.query import (
    BODY_VERSION,
    CountQuery,
    SignableQuery,
    _short,
    _validate,
    canonical_epsilon,
    is_version,
    iso_date,
    load_canonical,
)

_ORG = re.compile(r"[a-z0-9][a-z0-9-]{0,62}\Z")
MAX_DELTA = Decimal("1e-3")
MAX_PEERS = 8
# The linked noise is shifted by T ≈ ln(1/δ)/ε and its share intervals take the joint noise of
# both estimates (a (4KT+1)·(4T+1) table): below these bounds that table would cost minutes.
MIN_LINKED_EPSILON = Decimal("0.25")
MIN_DELTA = Decimal("1e-12")  # with ε ≥ 0.25 keeps T ≤ 110 and every share interval under a second
MAX_CELLS = 100_000


def canonical_delta(value: str | float | Decimal) -> str:
    """δ as a plain decimal string (``"1e-9"`` → ``"0.000000001"``), 0 < δ ≤ 1e-3."""
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise BadQuery(f"δ {value!r} is not a number; write it as a decimal such as 1e-9.") from None
    if not number.is_finite() or number < MIN_DELTA or number > MAX_DELTA:
        raise BadQuery(f"δ must be between {MIN_DELTA} and {MAX_DELTA} (got {value}); choose for example --delta "
                       "1e-9.")
    return format(number.normalize(), "f")


@dataclasses.dataclass(frozen=True)
class LinkSide:
    """One party: its node (org, kind), its set of persons and that set's reference date."""

    org: str
    kind: str
    set: linksets.Tree
    peildatum: dt.date

    @classmethod
    def of(cls, org: str, kind: str, expression: str | linksets.Tree, peildatum: dt.date) -> LinkSide:
        """A side from the set's text (``"baan or bijstand"``) or tree, normalised."""
        tree = linksets.parse(expression) if isinstance(expression, str) else linksets.normalise(expression)
        return cls(org, kind, tree, peildatum)

    @property
    def dataset(self) -> str:
        """The first dataset not negated: at the anchor, the one cells and the filter come from."""
        return linksets.primary(self.set)

    @property
    def datasets(self) -> list[str]:
        return linksets.datasets(self.set)

    @property
    def expression(self) -> str:
        return linksets.render(self.set)

    def body(self) -> dict[str, Any]:
        return {"org": self.org, "kind": self.kind, "set": self.set, "peildatum": self.peildatum.isoformat()}


@dataclasses.dataclass(frozen=True)
class Split:
    """Coverage-aware runs: each peer's run holds only the anchor persons whose `dimension` value
    (at the anchor) is one of the values that peer covers. The value sets are disjoint, so every
    anchor person is in exactly one run and the anchor spends ε and δ once for the whole query
    (parallel composition over disjoint parts of its data) instead of once per run."""

    dimension: str
    runs: tuple[tuple[str, tuple[str, ...]], ...]  # (peer org, values), sorted by org

    def body(self) -> dict[str, Any]:
        return {"dimension": self.dimension, "runs": {org: list(values) for org, values in self.runs}}

    def values(self, peer: str) -> tuple[str, ...]:
        return dict(self.runs)[peer]

    def run_of(self, value: str) -> str | None:
        """The peer whose run holds anchor persons with this value (None: no run holds them)."""
        return next((org for org, values in self.runs if value in values), None)

    @classmethod
    def of(cls, dimension: str, runs: dict[str, list[str]] | dict[str, tuple[str, ...]]) -> Split:
        return cls(dimension, tuple((org, tuple(sorted(values))) for org, values in sorted(runs.items())))


@dataclasses.dataclass(frozen=True)
class LinkedQuery(SignableQuery):
    anchor: LinkSide
    others: tuple[LinkSide, ...]
    epsilon: str
    delta: str
    purpose: str
    by: tuple[str, ...] = ()
    where: filters.Tree | None = None
    counter: str = ""
    cells: int = 0  # the anchor's number of cells: every party takes C from here, never from a message
    split: Split | None = None

    def body(self) -> dict[str, Any]:
        return {
            "v": BODY_VERSION,
            "aggregate": "linked_count",
            "counter": self.counter,
            "cells": self.cells,
            "split": None if self.split is None else self.split.body(),
            "anchor": self.anchor.body(),
            "others": [side.body() for side in self.others],
            "by": list(self.by),
            "where": self.where,
            "epsilon": self.epsilon,
            "delta": self.delta,
            "purpose": self.purpose,
        }

    @property
    def delta_value(self) -> float:
        return float(self.delta)

    def run_id(self, query_id: str, peer: str) -> str:
        return f"{query_id}:{peer}"

    def side(self, org: str) -> LinkSide | None:
        return next((s for s in (self.anchor, *self.others) if s.org == org), None)

    def anchor_count(self) -> CountQuery:
        """The anchor's grouping and filter on its first non-negated dataset, as a count query (shared checks)."""
        return CountQuery(self.anchor.dataset, self.epsilon, self.purpose, self.anchor.peildatum, self.by, self.where)

    def anchor_count_for(self, peer: str) -> CountQuery:
        """The anchor's part in the run with `peer`: with a split, only persons of the values that peer covers."""
        query = self.anchor_count()
        if self.split is None:
            return query
        inside: filters.Tree = {"in": [self.split.dimension, list(self.split.values(peer))]}
        where = filters.normalise({"and": [self.where, inside]} if self.where is not None else inside)
        return dataclasses.replace(query, where=where)

    def anchor_runs(self) -> int:
        """How many times the anchor spends ε and δ for this query: once with a split, else once per run."""
        return 1 if self.split is not None else len(self.others)


def build_linked(anchor: LinkSide, others: list[LinkSide], *, epsilon: str | float, delta: str | float,
                 purpose: str, counter: str, cells: int, by: list[str] | tuple[str, ...] = (),
                 where: str | None = None, split: Split | None = None) -> LinkedQuery:
    query = LinkedQuery(anchor, tuple(sorted(others, key=lambda s: s.org)), canonical_epsilon(epsilon),
                        canonical_delta(delta), purpose, tuple(by), filters.parse(where) if where else None, counter,
                        cells, split)
    _validate_linked(query)
    return query


def _validate_linked(query: LinkedQuery) -> None:
    _validate(query.anchor_count())
    if Decimal(query.epsilon) < MIN_LINKED_EPSILON:
        raise BadQuery(f"ε {query.epsilon} is below the minimum of {MIN_LINKED_EPSILON} for a linked run; choose a "
                       "larger ε.")
    if not query.others:
        raise BadQuery("A linked query needs at least one other node; name the other set with --with.")
    if len(query.others) > MAX_PEERS:
        raise BadQuery(f"At most {MAX_PEERS} peer nodes per linked query; narrow --with to fewer nodes.")
    orgs = [query.anchor.org, *(s.org for s in query.others)]
    if len(set(orgs)) != len(orgs):
        raise BadQuery("A node appears twice in the linked query; the anchor and each peer must differ.")
    if not _ORG.match(query.counter):
        raise BadQuery("A linked query names the counter that counts its runs; choose one with --counter "
                       "(`regiozicht catalog` lists the counters).")
    if isinstance(query.cells, bool) or not isinstance(query.cells, int) or not 1 <= query.cells <= MAX_CELLS:
        raise BadQuery(f"A linked query states its anchor's number of cells (1 to {MAX_CELLS}); rebuild the query "
                       "with the CLI.")
    if query.counter in orgs:
        raise BadQuery(f"Counter {query.counter} is a party of this linked query; a counter must be independent of "
                       "both nodes, choose another with --counter.")
    if query.split is not None:
        _validate_split(query, query.split)
    for side in (query.anchor, *query.others):
        if not _ORG.match(side.org):
            raise BadQuery(f"{side.org!r} is not a node name; `regiozicht catalog` lists the nodes.")
        if linksets.normalise(side.set) != side.set:
            raise BadQuery(f"The set of {side.org} is not in normalised form; build it with LinkSide.of or the CLI.")
        for name in side.datasets:
            _validate(CountQuery(name, query.epsilon, query.purpose, side.peildatum))


def _validate_split(query: LinkedQuery, split: Split) -> None:
    if split.dimension not in query.by:
        raise BadQuery(f"A split by {split.dimension!r} needs the anchor grouped by it, so each cell is in one run; "
                       "add it to --by.")
    if sorted(org for org, _ in split.runs) != sorted(s.org for s in query.others):
        raise BadQuery("A split must name exactly the peers of the query; rebuild the query with the CLI.")
    seen: set[str] = set()
    for _, values in split.runs:
        if not values or ONBEKEND in values or seen & set(values) or list(values) != sorted(set(values)):
            raise BadQuery("A split gives each peer its own sorted, non-empty values, none shared with another "
                           "peer and none `onbekend`; rebuild the query with the CLI.")
        seen |= set(values)


def _split(raw: Any) -> Split | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) != {"dimension", "runs"} or not isinstance(raw["dimension"], str) \
            or not isinstance(raw["runs"], dict) or not all(
                isinstance(v, list) and all(isinstance(x, str) for x in v) for v in raw["runs"].values()):
        raise BadQuery("The split of the linked query is malformed; rebuild the query with the CLI.")
    split = Split.of(raw["dimension"], raw["runs"])
    if split.body() != raw:
        raise BadQuery("The split is not in normalised form; rebuild the query with the CLI.")
    return split


def _side(raw: Any) -> LinkSide:
    if not isinstance(raw, dict) or set(raw) != {"org", "kind", "set", "peildatum"} \
            or not all(isinstance(raw[k], str) for k in ("org", "kind", "peildatum")):
        raise BadQuery("A side of the linked query is malformed; rebuild the query with the CLI.")
    peildatum = iso_date(raw["peildatum"])
    side = LinkSide.of(raw["org"], raw["kind"], raw["set"], peildatum)
    if side.set != raw["set"]:
        raise BadQuery("A side's set is not in normalised form; rebuild the query with the CLI.")
    return side


def parse_linked_body(raw: bytes) -> LinkedQuery:
    """Parses signed linked-query bytes; refuses anything not canonical."""
    body = load_canonical(raw)
    expected = {"v", "aggregate", "counter", "cells", "split", "anchor", "others", "by", "where", "epsilon", "delta",
                "purpose"}
    if set(body) != expected or not is_version(body["v"]) or body["aggregate"] != "linked_count":
        raise BadQuery("The linked query body has unknown or missing fields; update the `regiozicht` CLI.")
    if not isinstance(body["others"], list) or not isinstance(body["by"], list):
        raise BadQuery("The linked query body is malformed; rebuild the query with the CLI.")
    where = filters.normalise(body["where"]) if body["where"] is not None else None
    for field in ("epsilon", "delta", "purpose", "counter"):
        if not isinstance(body[field], str):
            raise BadQuery(f"The query's {field} must be a string; rebuild the query with the CLI.")
    query = LinkedQuery(_side(body["anchor"]), tuple(_side(s) for s in body["others"]), body["epsilon"],
                        body["delta"], body["purpose"], tuple(body["by"]), where, body["counter"], body["cells"],
                        _split(body["split"]))
    if (where != body["where"] or canonical_epsilon(query.epsilon) != query.epsilon
            or canonical_delta(query.delta) != query.delta
            or list(query.others) != sorted(query.others, key=lambda s: s.org)):
        raise BadQuery("The linked query is not in normalised form; rebuild the query with the CLI.")
    _validate_linked(query)
    return query


def aggregate_of(raw: bytes) -> str:
    """Which kind of body this is ("count" or "linked_count"), before full parsing."""
    aggregate = load_canonical(raw).get("aggregate")
    if aggregate not in ("count", "linked_count"):
        raise BadQuery(f"Aggregate {_short(aggregate)} is not supported; ask for a count or a linked count.")
    return str(aggregate)
