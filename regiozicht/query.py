"""The query model: a question is data, never SQL from the analyst.

A query body is normalised, then written as RFC 8785 canonical JSON. The
analyst signs an envelope holding those bytes plus a query id and expiry;
nodes verify the signature over the exact bytes and parse them, never a
re-serialisation. The release key hashes the body (which already carries ε,
the resolved reference date and the purpose) plus the dataset definition.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import rfc8785

from regiozicht import filters
from regiozicht.errors import BadQuery, Replayed

BODY_VERSION = 1
MAX_EPSILON = Decimal(10)
# Below this a count's noise is so wide the figure says nothing, and its interval costs time to
# compute (the noise distribution grows as 1/ε); covenants may set a higher minimum.
MIN_EPSILON = Decimal("0.001")
MAX_EXPIRY_SECONDS = 15 * 60
MAX_BODY_BYTES = 64 * 1024
CLOCK_SKEW_SECONDS = 120
_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}\Z")
_PURPOSE = re.compile(r"[a-z0-9][a-z0-9-]{0,62}\Z")


def canonical_epsilon(value: str | float | Decimal) -> str:
    """The shortest decimal string of a positive ε (``"0.50"`` → ``"0.5"``)."""
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise BadQuery(f"ε {value!r} is not a number; write it as a decimal such as 0.5.") from None
    if not number.is_finite() or number <= 0:
        raise BadQuery(f"ε must be greater than 0 (got {value}); choose for example --epsilon 0.5.")
    if number > MAX_EPSILON:
        raise BadQuery(f"ε {value} is above the hard limit of {MAX_EPSILON}; choose a smaller ε.")
    if number < MIN_EPSILON:
        raise BadQuery(f"ε {value} is below the hard minimum of {MIN_EPSILON}: the noise would drown any figure; "
                       "choose a larger ε.")
    text = format(number.normalize(), "f")
    return text


class SignableQuery:
    """What every query body shares: its canonical bytes and its ε as a number."""

    epsilon: str

    def body(self) -> dict[str, Any]:
        raise NotImplementedError

    def canonical(self) -> bytes:
        return rfc8785.dumps(self.body())

    @property
    def epsilon_value(self) -> float:
        return float(self.epsilon)


@dataclasses.dataclass(frozen=True)
class CountQuery(SignableQuery):
    """A (grouped) count over one dataset of the nodes that publish it."""

    dataset: str
    epsilon: str
    purpose: str
    peildatum: dt.date
    by: tuple[str, ...] = ()
    where: filters.Tree | None = None

    def body(self) -> dict[str, Any]:
        return {
            "v": BODY_VERSION,
            "aggregate": "count",
            "dataset": self.dataset,
            "by": list(self.by),
            "where": self.where,
            "peildatum": self.peildatum.isoformat(),
            "epsilon": self.epsilon,
            "purpose": self.purpose,
        }


def build_count(
    dataset: str,
    *,
    epsilon: str | float,
    purpose: str,
    peildatum: dt.date,
    by: list[str] | tuple[str, ...] = (),
    where: str | None = None,
) -> CountQuery:
    """Validates and normalises the parts of a count query given on the CLI."""
    query = CountQuery(
        dataset=dataset,
        epsilon=canonical_epsilon(epsilon),
        purpose=purpose,
        peildatum=peildatum,
        by=tuple(by),
        where=filters.parse(where) if where else None,
    )
    _validate(query)
    return query


def _validate(query: CountQuery) -> None:
    if not _NAME.match(query.dataset):
        raise BadQuery(f"{query.dataset!r} is not a dataset name; `regiozicht catalog` lists the datasets.")
    if not _PURPOSE.match(query.purpose):
        raise BadQuery(f"{query.purpose!r} is not a purpose id; `regiozicht catalog` lists each node's purposes.")
    for name in query.by:
        if not _NAME.match(name):
            raise BadQuery(f"{name!r} is not a dimension name; `regiozicht catalog` lists the dimensions.")
    if len(set(query.by)) != len(query.by):
        raise BadQuery("A dimension appears twice in --by; name each dimension once.")
    if len(query.by) > 4:
        raise BadQuery("At most 4 --by dimensions per query; split the question.")


def load_canonical(raw: bytes) -> dict[str, Any]:
    """The JSON object of signed body bytes; refuses anything that is not canonical RFC 8785."""
    if len(raw) > MAX_BODY_BYTES:
        raise BadQuery(f"The query body is larger than {MAX_BODY_BYTES} bytes; rebuild the query with the CLI.")
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise BadQuery("The query body is not JSON (or nests too deep); rebuild the query with the `regiozicht` "
                       "CLI.") from None
    if not isinstance(body, dict) or rfc8785.dumps(body) != raw:
        raise BadQuery("The query body is not in canonical form; rebuild the query with the `regiozicht` CLI.")
    return body


def parse_body(raw: bytes) -> CountQuery:
    """Parses signed body bytes; refuses anything that is not canonical."""
    body = load_canonical(raw)
    expected = {"v", "aggregate", "dataset", "by", "where", "peildatum", "epsilon", "purpose"}
    if set(body) != expected or not is_version(body["v"]):
        raise BadQuery("The query body has unknown or missing fields; update the `regiozicht` CLI.")
    if body["aggregate"] != "count":
        raise BadQuery(f"Aggregate {_short(body['aggregate'])} is not supported; ask for a count.")
    peildatum = iso_date(body["peildatum"])
    if not isinstance(body["by"], list) or not all(isinstance(b, str) for b in body["by"]):
        raise BadQuery("The group-by list is malformed; rebuild the query with the CLI.")
    for field in ("dataset", "purpose", "epsilon"):
        if not isinstance(body[field], str):
            raise BadQuery(f"The query's {field} must be a string; rebuild the query with the CLI.")
    where = filters.normalise(body["where"]) if body["where"] is not None else None
    if where != body["where"]:
        raise BadQuery("The filter is not in normalised form; rebuild the query with the CLI.")
    if canonical_epsilon(body["epsilon"]) != body["epsilon"]:
        raise BadQuery("ε is not written in its shortest decimal form; rebuild the query with the CLI.")
    query = CountQuery(body["dataset"], body["epsilon"], body["purpose"], peildatum, tuple(body["by"]), where)
    _validate(query)
    return query


def is_version(value: Any) -> bool:
    """The body version, an integer (JSON `true` equals 1 in Python, but is not a version)."""
    return type(value) is int and value == BODY_VERSION


def iso_date(value: Any) -> dt.date:
    """A date written exactly as YYYY-MM-DD: "20261001" and "2026-W40-4" parse in Python but are not
    the canonical form the signed bytes must hold."""
    try:
        day = dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise BadQuery("The reference date is not an ISO date; give --at YYYY-MM-DD.") from None
    if day.isoformat() != value:
        raise BadQuery("The reference date is not written as YYYY-MM-DD; rebuild the query with the CLI.")
    return day


def _short(value: Any, limit: int = 60) -> str:
    """A value echoed in a refusal, cut short: a refusal never sends back what it was sent."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def body_hash(raw: bytes) -> bytes:
    return hashlib.sha256(raw).digest()


def new_query_id() -> str:
    return uuid.uuid4().hex


def check_expiry(issued_at: int, expires_at: int, now: float) -> None:
    """Refuses an envelope outside its validity window (with clock skew)."""
    if expires_at - issued_at > MAX_EXPIRY_SECONDS:
        raise BadQuery("The query is valid for more than 15 minutes; sign it again with the CLI.")
    if issued_at > now + CLOCK_SKEW_SECONDS:
        raise BadQuery("The query is dated in the future; check the clock of the analyst's workstation.")
    if now > expires_at + CLOCK_SKEW_SECONDS:
        raise Replayed("The signed query has expired; run the command again to sign a fresh one.")


def data_as_of_refusal(peildatum: dt.date, org: str, data_as_of: dt.date) -> BadQuery:
    """The one wording, at the CLI and at every node, of a reference date past what a node holds."""
    return BadQuery(f"Reference date {peildatum} is after node {org}'s data-as-of date {data_as_of}; choose an "
                    "earlier reference date (--at).")


def data_from_refusal(peildatum: dt.date, org: str, data_from: dt.date) -> BadQuery:
    """The one wording, at the CLI and at every node, of a reference date before what a node's data covers."""
    return BadQuery(f"Reference date {peildatum} is before node {org}'s data starts ({data_from}), so its answer "
                    "would be an empty count charged in full; choose a reference date on or after that (--at).")


def default_peildatum(data_as_of: dt.date) -> dt.date:
    """The latest 1 October on or before the data-as-of date."""
    year = data_as_of.year if data_as_of >= dt.date(data_as_of.year, 10, 1) else data_as_of.year - 1
    return dt.date(year, 10, 1)


from regiozicht.cells import ONBEKEND  # one home for the cells and their `onbekend`


def check_against_domains(dataset: str, domains: Mapping[str, Sequence[str]], query: CountQuery) -> None:
    """Refuses group-bys and filter values outside a dataset's declared dimensions.

    Nodes run this on their own config; the CLI runs it on the catalog so a
    bad question is refused before it is signed.
    """
    for name in query.by:
        if name not in domains:
            raise BadQuery(f"Dataset {dataset!r} has no dimension {name!r}; choose from {', '.join(sorted(domains))}.")
    if query.where is not None:
        _check_filter(dataset, domains, query.where)


def _check_filter(dataset: str, domains: Mapping[str, Sequence[str]], tree: filters.Tree) -> None:
    (key, arg), = tree.items()
    if key in ("and", "or"):
        for part in arg:
            _check_filter(dataset, domains, part)
        return
    if key == "not":
        _check_filter(dataset, domains, arg)
        return
    name = arg[0]
    if name not in domains:
        raise BadQuery(f"Dataset {dataset!r} cannot be filtered on {name!r}; use one of {', '.join(sorted(domains))}.")
    for value in arg[1] if key == "in" else [arg[2]]:
        if value != ONBEKEND and value not in domains[name]:
            raise BadQuery(
                f"{value!r} is not in the domain of {name!r}; use one of {', '.join(domains[name])} or {ONBEKEND}."
            )
