"""`regiozicht-node init --files DIR`: datasets proposed from a folder of extracts.

A partner that mails extracts has no SQL to adapt; what it has is columns.
Each extract table with a BSN column and a date becomes one proposed dataset:
the BSN as person and link, its start (and end) date as "in force on the
peildatum", and every column with few distinct values as a dimension whose
domain is the values seen. Nothing here is trusted: node.toml marks every
choice `# CONFIRM`, since only the operator knows what a column means, and a
domain is published in the node's Describe, so a value seen once may not
belong in it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection

from node.config import DatabaseSection
from node.extracts import extracts, make_folder_engine
from node.linkmembers import is_valid_bsn
from regiozicht.cells import ONBEKEND

MAX_DOMAIN = 24  # more distinct values than this is an identifier, an amount or free text, not a dimension
RARE = 10  # a domain value on fewer rows than this is named in the CONFIRM comment
BSN_SHARE = 0.95  # a person column: at least this share of its values are 9-digit numbers passing the elfproef
SAMPLE_ROWS = 10_000
_START = re.compile(r"start|begin|ingang|^datum|^van|aanvang|peildatum|inschrijf", re.IGNORECASE)
_END = re.compile(r"eind|einde|^end|afmeld|^tot|uitschrijf|stop", re.IGNORECASE)
_NOT_AN_EVENT = re.compile(r"geboorte|birth", re.IGNORECASE)
_DAT = {"gemeente", "sex", "geslacht"}  # say only that someone is known; everything else proposed as WAT
_NAME = re.compile(r"[^a-z0-9_]+")


@dataclass(frozen=True)
class ProposedDimension:
    column: str
    kind: str  # the column's DuckDB type
    values: tuple[tuple[str, int], ...]  # (value, rows) in the order of the values

    @property
    def name(self) -> str:
        return _identifier(self.column)

    def expression(self) -> str:
        column = f"t.{_quote(self.column)}"
        if self.kind == "BOOLEAN":
            return f"CASE WHEN {column} THEN 'J' WHEN NOT {column} THEN 'N' END"
        if self.kind != "VARCHAR":
            return f"CAST({column} AS VARCHAR)"
        return column


@dataclass(frozen=True)
class Proposal:
    """One extract table's proposed dataset, with what the operator must confirm."""

    table: str
    file: str
    rows: int
    person: str
    bsn_share: float
    start: str
    end: str | None
    tie_break: str | None
    dimensions: tuple[ProposedDimension, ...]
    left_out: tuple[str, ...] = field(default=())
    other_dates: tuple[str, ...] = field(default=())  # date columns not used: a candidate for another meaning

    @property
    def name(self) -> str:
        return _identifier(self.table)

    def dataset(self) -> dict[str, Any]:
        """The `[[datasets]]` table of node.toml."""
        # quoted where needed: an extract's column may be a keyword of SQL (end, user) or hold capitals
        person, start = f"t.{_quote(self.person)}", f"t.{_quote(self.start)}"
        columns = [f"{person} AS person", f"{person} AS link"]
        columns += [f"{d.expression()} AS {_quote(d.name)}" for d in self.dimensions]
        order_by = [self.start] + ([self.tie_break] if self.tie_break else [])
        columns += [f"t.{_quote(c)} AS {_quote(_identifier(c))}" for c in order_by]
        where = f"{start} <= :peildatum"
        if self.end:
            end = f"t.{_quote(self.end)}"
            where += f" AND ({end} IS NULL OR {end} >= :peildatum)"
        in_force = f"from {self.start}" + (f" until {self.end}" if self.end else "")
        return {
            "name": self.name,
            "description": f"Rows of {self.file} in force on the peildatum ({in_force}).",
            "sql": f"SELECT {', '.join(columns)}\nFROM {_quote(self.table)} t\nWHERE {where}\n",
            "order_by": [_identifier(c) for c in order_by],
            "dimensions": {d.name: {"domain": [v for v, _ in d.values],
                                    "info_class": "DAT" if d.name in _DAT else "WAT",
                                    "description": f"{d.column} as recorded in {self.file}"}
                           for d in self.dimensions},
        }

    def confirm(self) -> list[str]:
        """What the operator must confirm, one line each (written as `# CONFIRM` comments and printed)."""
        share = f"{self.bsn_share:.0%} of its values pass the elfproef"
        lines = [f"dataset {self.name}, from {self.file} ({self.rows} rows): keep it, rename it, or delete this block",
                 f"person and link: column {self.person} ({share}); it must be the BSN",
                 f"in force on the peildatum: {self.start} <= peildatum"
                 + (f" and ({self.end} empty or >= peildatum)" if self.end else " (no end date column found)")
                 + "; change the WHERE clause if the dataset means something else"]
        for d in self.dimensions:
            rare = [f"{v} ({n})" for v, n in d.values if n < RARE]
            lines.append(f"dimension {d.name}: {len(d.values)} values seen; the domain is published, remove any value "
                         "that is not public" + (f"; rare: {', '.join(rare)}" if rare else "")
                         + ("" if d.name in _DAT else "; info_class WAT (what the issue is) unless it only says "
                            "someone is known"))
        if self.other_dates:
            lines.append(f"other date columns, unused: {', '.join(self.other_dates)}")
        if self.left_out:
            lines.append(f"not dimensions (too many values, or identifiers): {', '.join(self.left_out)}")
        return lines


@dataclass(frozen=True)
class Skipped:
    """An extract table no dataset was proposed for, and why."""

    table: str
    file: str
    reason: str


def propose(folder: Path) -> tuple[list[Proposal], list[Skipped]]:
    """A proposed dataset per extract table with a BSN column and a start date; why the others have none."""
    database = DatabaseSection(folder=folder.resolve())
    engine = make_folder_engine(database)
    proposals: list[Proposal] = []
    skipped: list[Skipped] = []
    try:
        with engine.connect() as connection:
            for extract in extracts(database.folder or folder):
                file = extract.path.name + (f" sheet {extract.sheet!r}" if extract.sheet else "")
                found = _propose_table(connection, extract.table, file)
                if isinstance(found, Proposal):
                    proposals.append(found)
                else:
                    skipped.append(found)
    finally:
        engine.dispose()
    return proposals, skipped


def _propose_table(connection: Connection, table: str, file: str) -> Proposal | Skipped:
    columns = [(str(r[0]), str(r[1])) for r in connection.exec_driver_sql(f"DESCRIBE {_q(table)}").all()]
    rows = int(connection.exec_driver_sql(f"SELECT count(*) FROM {_q(table)}").scalar_one())
    if rows == 0:
        return Skipped(table, file, "no rows: nothing to propose from")
    person, share = _person_column(connection, table, columns)
    if person is None:
        return Skipped(table, file, "no column of BSNs (9 digits, elfproef)")
    every_date = [c for c, kind in columns if kind == "DATE"]
    dates = [c for c in every_date if not _NOT_AN_EVENT.search(c)]
    start = next((c for c in dates if _START.search(c) and not _END.search(c)), None)
    if start is None:
        return Skipped(table, file, f"no start date column among {', '.join(dates) or 'its columns'}")
    end = next((c for c in dates if _END.search(c)), None)
    tie_break = next((c for c, _ in columns if c.lower() == "id"), None)
    taken = {person, start, end, tie_break}
    names = {"person", "link", _identifier(start)} | ({_identifier(tie_break)} if tie_break else set())
    dimensions, left_out = [], []
    for column, kind in columns:
        if column in taken or kind == "DATE":
            continue
        if _identifier(column) in names:  # two columns that read the same as a node.toml name
            left_out.append(column)
            continue
        names.add(_identifier(column))
        values = _small_domain(connection, table, column, kind)
        if values is None:
            left_out.append(column)
        elif values:
            dimensions.append(ProposedDimension(column, kind, values))
    return Proposal(table, file, rows, person, share, start, end, tie_break, tuple(dimensions), tuple(left_out),
                    tuple(c for c in every_date if c not in (start, end)))


def _person_column(connection: Connection, table: str, columns: Sequence[tuple[str, str]]) -> tuple[str | None, float]:
    """The text column whose sampled values are most often valid BSNs, if enough of them are."""
    best, best_share = None, 0.0
    for column, kind in sorted(columns, key=lambda c: c[0].lower() != "bsn"):
        if kind != "VARCHAR":
            continue
        values = [r[0] for r in connection.exec_driver_sql(
            f"SELECT {_q(column)} FROM {_q(table)} WHERE {_q(column)} IS NOT NULL LIMIT {SAMPLE_ROWS}").all()]
        if not values:
            continue
        share = sum(is_valid_bsn(str(v)) for v in values) / len(values)
        if share >= BSN_SHARE and share > best_share:
            best, best_share = column, share
    return best, best_share


def _small_domain(connection: Connection, table: str, column: str, kind: str) -> tuple[tuple[str, int], ...] | None:
    """The distinct values and their rows; None when there are too many for a dimension."""
    if kind not in ("VARCHAR", "BOOLEAN") and not kind.endswith("INT") and kind != "INTEGER":
        return None
    found = connection.exec_driver_sql(
        f"SELECT {_q(column)}, count(*) FROM {_q(table)} WHERE {_q(column)} IS NOT NULL "
        f"GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT {MAX_DOMAIN + 1}").all()
    if len(found) > MAX_DOMAIN:
        return None
    shown = [("J" if v else "N") if kind == "BOOLEAN" else str(v) for v, _ in found]
    return tuple(sorted((v, int(n)) for v, (_, n) in zip(shown, found) if v.strip() and v != ONBEKEND))


_RESERVED = {"all", "and", "as", "by", "case", "else", "end", "from", "group", "join", "limit", "not", "null", "on",
             "or", "order", "select", "table", "then", "union", "user", "when", "where"}


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote(name: str) -> str:
    """A name as SQL: quoted only where it must be, so that node.toml stays readable for the operator."""
    if re.match(r"^[a-z_][a-z0-9_]*$", name) and name not in _RESERVED:
        return name
    return _q(name)


def _identifier(name: str) -> str:
    """A column or table name as a node.toml name: lower-case letters, digits and _."""
    cleaned = _NAME.sub("_", name.lower()).strip("_") or "kolom"
    return cleaned if cleaned[0].isalpha() else f"x_{cleaned}"


def datasets_toml(proposals: Sequence[Proposal], skipped: Sequence[Skipped]) -> str:
    """The proposed `[[datasets]]` blocks, each under its `# CONFIRM` lines."""
    import tomli_w

    blocks = []
    for proposal in proposals:
        comments = "".join(f"# CONFIRM {line}\n" for line in proposal.confirm())
        blocks.append(comments + tomli_w.dumps({"datasets": [proposal.dataset()]}, multiline_strings=True))
    notes = "".join(f"# not proposed: {s.table} ({s.file}): {s.reason}\n" for s in skipped)
    return notes + ("\n" if notes else "") + "\n".join(blocks)
