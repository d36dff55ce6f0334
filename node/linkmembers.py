"""A linked run's members: ONE pushed-down statement, then the BSN checks.

The statement evaluates this side's set (one dataset or a boolean
combination of the node's datasets, `node/compile.py` `compile_members`).
The rows read here (link value, and at the anchor the cell, of each person
in the set) are the only partner rows a node ever holds in Python; they
leave it only blinded.
Invalid BSNs (elfproef) and BSNs that appear more than once never link:
every record of a repeated BSN is unlinkable, and together they are ONE
element, so adding or removing everything about one BSN moves one element of
one draw (a person who could link through one of several records would move
up to three). The anchor keeps an unlinkable element in its set as an
element no peer can match (one hash and one multiplication, like any other),
so it still counts in anchor ∖ other, in the cell of its first record; the
other node drops them. The numbers go to this node's log only, never to the
coordinator.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from node.compile import compile_members
from node.config import Dataset
from regiozicht import linksets
from regiozicht.errors import Unavailable
from regiozicht.query import CountQuery

log = logging.getLogger(__name__)

_WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2, -1)


def is_valid_bsn(value: str) -> bool:
    """Nine digits passing the elfproef: 9·d1 + 8·d2 + … + 2·d8 − d9 ≡ 0 (mod 11)."""
    if len(value) != 9 or not value.isascii() or not value.isdigit():
        return False
    return sum(w * int(d) for w, d in zip(_WEIGHTS, value)) % 11 == 0


@dataclass
class Members:
    by_cell: list[list[bytes]]  # link items per cell (anchor) or one list (other)
    invalid: int = 0
    duplicate: int = 0


def _unlinkable() -> bytes:
    # 32 random bytes never equal a 9-digit BSN, so its hash matches nothing
    return secrets.token_bytes(32)


def prepare(rows: Sequence[tuple[object, ...]], cell_index: dict[tuple[str, ...], int] | None) -> Members:
    """Per cell (anchor, `cell_index` given) or one list (other): items to blind."""
    cells = len(cell_index) if cell_index is not None else 1
    members = Members([[] for _ in range(cells)])
    by_link: dict[str, list[int]] = {}
    invalid_cells: list[int] = []
    # a fixed order makes the cell of a repeated BSN (its first record's) deterministic
    for row in sorted(rows, key=lambda r: tuple("" if v is None else str(v) for v in r)):
        link = "" if row[0] is None else str(row[0]).strip()
        cell = cell_index[tuple(str(v) for v in row[1:])] if cell_index is not None else 0
        if is_valid_bsn(link):
            by_link.setdefault(link, []).append(cell)
        else:
            members.invalid += 1
            invalid_cells.append(cell)
    for link, record_cells in by_link.items():
        if len(record_cells) == 1:
            members.by_cell[record_cells[0]].append(link.encode())
            continue
        members.duplicate += len(record_cells)
        if cell_index is not None:
            members.by_cell[record_cells[0]].append(_unlinkable())
    if cell_index is not None:
        for cell in invalid_cells:
            members.by_cell[cell].append(_unlinkable())
    return members


def read_members(engine: Engine, datasets: Mapping[str, Dataset], expression: linksets.Tree, query: CountQuery,
                 cells: list[tuple[str, ...]] | None, org: str) -> Members:
    """Runs the one statement and prepares the items; `cells` None for the other node.

    `query` names the set's first non-negated dataset, the reference date and,
    at the anchor, the grouping and filter.
    """
    statement = compile_members(datasets, expression, query, anchor=cells is not None)
    what = linksets.render(expression)
    try:
        with engine.connect() as connection:
            rows = connection.execute(statement, {"peildatum": query.peildatum}).all()
    except SQLAlchemyError as exc:
        log.error("partner database failed: %s", exc)
        raise Unavailable(f"Node {org} cannot read its partner database for the set {what!r}; its IT "
                          "staff should run `regiozicht-node check`.") from None
    index = {cell: i for i, cell in enumerate(cells)} if cells is not None else None
    members = prepare([tuple(r) for r in rows], index)
    log.info("linked run on %s: %d persons, %d invalid and %d duplicate BSNs never link (this log only)",
             what, len(rows), members.invalid, members.duplicate)
    return members
