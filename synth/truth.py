"""Ground truth of a generated region, from the simulation's own records.

The truth store (`truth.sqlite`) is written by the simulation next to the
partner databases: every row a partner holds (layer "recorded") and the row
it would hold if it recorded perfectly (layer "reality"), plus the
projection log. Dataset membership is evaluated with the Python mirror of
each dataset definition, never by querying the partner databases.
"""
from __future__ import annotations

import datetime as dt
import itertools
import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from synth.bsn import is_valid_bsn
from synth.datasets import Definition, definition, region_domains
from synth.manifest import Manifest
from synth.region import shift_years
from synth.schema import KALENDER_YEARS

ONBEKEND = "onbekend"
LAYERS = ("reality", "recorded")
Members = dict[str, dict[str, str]]
Cell = tuple[str, ...]
Source = tuple[str, str] | tuple[str, str, dt.date]


def kalender(peildatum: dt.date) -> dict[str, str]:
    """The kalender row of `peildatum`, as ISO strings (the Python mirror of the table)."""
    out = {"peildatum": peildatum.isoformat()}
    out.update({f"min_{n}j": shift_years(peildatum, -n).isoformat() for n in KALENDER_YEARS})
    return out


class Truth:
    def __init__(self, out_dir: Path, manifest: Manifest) -> None:
        self.out_dir = Path(out_dir)
        self.manifest = manifest
        self.db = sqlite3.connect(f"file:{self.out_dir / 'truth.sqlite'}?mode=ro", uri=True)
        self._kinds = {p.id: p.kind for p in manifest.partners}
        self._domains = region_domains(manifest)
        self._members: dict[tuple[str, str, dt.date, str], Members] = {}

    @classmethod
    def load(cls, out_dir: Path) -> Truth:
        return cls(Path(out_dir), Manifest.load(out_dir))

    def definition(self, partner_id: str, dataset: str) -> Definition:
        return definition(self._kinds[partner_id], dataset)

    def domain(self, partner_id: str, dataset: str, dim: str) -> tuple[str, ...]:
        d = self.definition(partner_id, dataset).dims[dim].domain
        return self._domains[d] if isinstance(d, str) else d

    def rows(self, layer: str, partner_id: str, table: str) -> Iterator[dict[str, Any]]:
        """A partner table's rows in one layer, streamed (memory stays bounded at large scales)."""
        found = self.db.execute("SELECT columns FROM record_columns WHERE tbl=?", (table,)).fetchone()
        names = json.loads(found[0]) if found else []
        cur = self.db.execute("SELECT id, data FROM record WHERE partner=? AND tbl=? AND layer IN (?, 'both') "
                              "ORDER BY id", (partner_id, table, layer))
        for rid, data in cur:
            yield {**dict(zip(names, json.loads(data))), "id": rid}

    def members(self, partner_id: str, dataset: str, peildatum: dt.date, layer: str = "recorded") -> Members:
        """Person key -> dimension values of the one row kept per person."""
        if layer not in LAYERS:
            raise ValueError(f"layer must be one of {LAYERS}")
        key = (partner_id, dataset, peildatum, layer)
        if key not in self._members:
            self._members[key] = self._evaluate(partner_id, dataset, peildatum, layer)
        return self._members[key]

    def _evaluate(self, partner_id: str, dataset: str, peildatum: dt.date, layer: str) -> Members:
        d = self.definition(partner_id, dataset)
        k = kalender(peildatum)
        kept: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {}
        for row in self.rows(layer, partner_id, d.table):
            if not d.where_py(row, k):
                continue
            order = tuple(row[c] for c in d.order_by)  # latest first: keep the maximum
            best = kept.get(row["bsn"])
            if best is None or order > best[0]:
                kept[row["bsn"]] = (order, row)
        out: Members = {}
        for person, (_, row) in sorted(kept.items()):
            values = {}
            for name, dim in d.dims.items():
                value = dim.py(row, k)
                values[name] = value if value in self.domain(partner_id, dataset, name) else ONBEKEND
            out[person] = values
        return out

    def cells(self, partner_id: str, dataset: str, by: Sequence[str]) -> list[Cell]:
        domains = [(*self.domain(partner_id, dataset, b), ONBEKEND) for b in by]
        return [tuple(c) for c in itertools.product(*domains)]

    def count(self, partner_id: str, dataset: str, peildatum: dt.date, by: Sequence[str] = (),
              where: Callable[[dict[str, str]], bool] | None = None, layer: str = "recorded") -> dict[Cell, int]:
        """Persons per cell of the full cross product of the `by` domains (zeros included)."""
        out = dict.fromkeys(self.cells(partner_id, dataset, by), 0)
        for values in self.members(partner_id, dataset, peildatum, layer).values():
            if where is None or where(values):
                out[tuple(values[b] for b in by)] += 1
        return out

    def linked(self, anchor: Source, others: Sequence[Source], peildatum: dt.date, by: Sequence[str] = (),
               where: Callable[[dict[str, str]], bool] | None = None,
               layer: str = "recorded") -> dict[Cell, tuple[int, int]]:
        """Per cell of the anchor: (members found in any other set, members found in none).

        Linking uses valid BSNs only: an invalid BSN on either side never links
        (anchor members with one count in the difference). A source may carry
        its own peildatum as third element; otherwise `peildatum` applies.
        """
        linked_bsns: set[str] = set()
        for src in others:
            pd = src[2] if len(src) == 3 else peildatum  # type: ignore[misc]
            linked_bsns.update(b for b in self.members(src[0], src[1], pd, layer) if is_valid_bsn(b))
        a_pd = anchor[2] if len(anchor) == 3 else peildatum  # type: ignore[misc]
        cells = self.cells(anchor[0], anchor[1], by)
        counts = {c: [0, 0] for c in cells}
        for person, values in self.members(anchor[0], anchor[1], a_pd, layer).items():
            if where is not None and not where(values):
                continue
            hit = is_valid_bsn(person) and person in linked_bsns
            counts[tuple(values[b] for b in by)][0 if hit else 1] += 1
        return {c: (v[0], v[1]) for c, v in counts.items()}

    def indicators(self, peildatum: dt.date) -> dict[str, Any]:
        from synth.indicators import indicators

        return indicators(self, peildatum)

    def issues(self, partner_id: str | None = None) -> list[tuple[str, str, int | None, str, str, str | None]]:
        """The projection log: (partner, table, recorded row id, issue, true bsn, recorded bsn)."""
        sql = "SELECT partner, tbl, recorded_id, issue, true_bsn, recorded_bsn FROM projection_log"
        args: tuple[str, ...] = ()
        if partner_id is not None:
            sql, args = sql + " WHERE partner=?", (partner_id,)
        return list(self.db.execute(sql + " ORDER BY rowid", args))
