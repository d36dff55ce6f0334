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
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from synth.bsn import is_valid_bsn
from synth.datasets import Definition, definition, member_flag, region_domains
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
    """Dataset membership per (partner, dataset, peildatum, layer), evaluated once.

    Members are kept in a temporary SQLite table (spilling to a temp file), not
    in Python dicts, so memory stays bounded at any scale: counts and links
    stream over that table, linking uses its (key, person) index.
    """

    def __init__(self, out_dir: Path, manifest: Manifest) -> None:
        self.out_dir = Path(out_dir)
        self.manifest = manifest
        self.db = sqlite3.connect(f"file:{self.out_dir / 'truth.sqlite'}?mode=ro", uri=True, isolation_level=None)
        self.db.executescript("""
            PRAGMA temp_store = FILE;
            PRAGMA temp.cache_size = -65536;
            CREATE TEMP TABLE member(k INTEGER, person TEXT, valid INTEGER, vals TEXT,
                                     PRIMARY KEY (k, person)) WITHOUT ROWID;
        """)
        self._kinds = {p.id: p.kind for p in manifest.partners}
        self._domains = region_domains(manifest)
        self._keys: dict[tuple[str, str, dt.date, str], int] = {}

    @classmethod
    def load(cls, out_dir: Path) -> Truth:
        return cls(Path(out_dir), Manifest.load(out_dir))

    def definition(self, partner_id: str, dataset: str) -> Definition:
        return definition(self._kinds[partner_id], dataset)

    def domain(self, partner_id: str, dataset: str, dim: str) -> tuple[str, ...]:
        d = self.definition(partner_id, dataset).dims[dim].domain
        return self._domains[d] if isinstance(d, str) else d

    def _columns(self, table: str) -> list[str]:
        found = self.db.execute("SELECT columns FROM record_columns WHERE tbl=?", (table,)).fetchone()
        return json.loads(found[0]) if found else []

    def rows(self, layer: str, partner_id: str, table: str) -> Iterator[dict[str, Any]]:
        """A partner table's rows in one layer, streamed (memory stays bounded at large scales)."""
        names = self._columns(table)
        cur = self.db.execute("SELECT id, data FROM record WHERE partner=? AND tbl=? AND layer IN (?, 'both') "
                              "ORDER BY id", (partner_id, table, layer))
        for rid, data in cur:
            yield {**dict(zip(names, json.loads(data))), "id": rid}

    def members(self, partner_id: str, dataset: str, peildatum: dt.date, layer: str = "recorded") -> Members:
        """Person key -> dimension values of the one row kept per person."""
        names = tuple(self.definition(partner_id, dataset).dims)
        return {person: dict(zip(names, values))
                for person, values in self._stream(partner_id, dataset, peildatum, layer, ordered=True)}

    def _key(self, partner_id: str, dataset: str, peildatum: dt.date, layer: str) -> int:
        """The member-table key of a dataset evaluation; evaluates it the first time."""
        key = (partner_id, dataset, peildatum, layer)
        if key not in self._keys:
            self.prepare([key])
        return self._keys[key]

    def prepare(self, keys: Iterable[tuple[str, str, dt.date, str]]) -> None:
        """Evaluate (partner, dataset, peildatum, layer)s not evaluated yet, one scan per partner table and layer."""
        keys = list(keys)
        # datasets whose dimensions read another dataset's members need those evaluated first
        needed = [(key[0], other, key[2], key[3]) for key in keys if key not in self._keys
                  for other in self.definition(key[0], key[1]).needs]
        if needed:
            self.prepare(needed)
        groups: dict[tuple[str, str, str], list[tuple[str, str, dt.date, str]]] = {}
        for key in keys:
            partner_id, dataset, _, layer = key
            if layer not in LAYERS:
                raise ValueError(f"layer must be one of {LAYERS}")
            if key in self._keys:
                continue
            group = groups.setdefault((partner_id, self.definition(partner_id, dataset).table, layer), [])
            if key not in group:
                group.append(key)
        for (partner_id, table, layer), group in groups.items():
            self.db.execute("BEGIN")
            try:
                ks = self._evaluate(partner_id, table, layer, group)
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")
            self._keys.update(zip(group, ks))

    def _evaluate(self, partner_id: str, table: str, layer: str,
                  group: Sequence[tuple[str, str, dt.date, str]]) -> list[int]:
        """Members of datasets on one partner table into the member table, in one scan of its rows.

        Per dataset and person the row with the highest `order_by` is kept (latest first).
        """
        specs = []
        for n_key, (_, dataset, peildatum, _) in enumerate(group):
            d = self.definition(partner_id, dataset)
            dims = [(dim.py, self.domain(partner_id, dataset, name)) for name, dim in d.dims.items()]
            sets = [(member_flag(other), self._persons(self._keys[(partner_id, other, peildatum, layer)]))
                    for other in d.needs]
            specs.append((len(self._keys) + n_key, d.where_py, kalender(peildatum), dims, d.order_by, sets))
        n = max(len(spec[4]) for spec in specs)
        names = self._columns(table)
        db = self.db
        db.execute("DROP TABLE IF EXISTS temp.stage")
        db.execute(f"CREATE TEMP TABLE stage(k INTEGER, person TEXT, valid INTEGER, vals TEXT, "
                   f"{', '.join(f'o{i}' for i in range(n))})")
        insert = f"INSERT INTO stage VALUES (?, ?, ?, ?, {', '.join('?' * n)})"
        cur = db.execute("SELECT id, data FROM record WHERE partner=? AND tbl=? AND layer IN (?, 'both')",
                         (partner_id, table, layer))
        batch: list[tuple[Any, ...]] = []
        for rid, data in cur:
            row = dict(zip(names, json.loads(data)))
            row["id"] = rid
            for k, where, kal, dims, order_by, sets in specs:
                if not where(row, kal):
                    continue
                for flag, persons in sets:
                    row[flag] = row["bsn"] in persons  # the mirror of the node's EXISTS on the bsn
                values = []
                for py, domain in dims:
                    value = py(row, kal)
                    values.append(value if value in domain else ONBEKEND)
                bsn = row["bsn"]
                order = [row[c] for c in order_by]
                order += [None] * (n - len(order))  # the same padding within a dataset: no effect on the pick
                batch.append((k, bsn, is_valid_bsn(bsn), "\t".join(values), *order))
            if len(batch) >= 20_000:
                db.executemany(insert, batch)
                batch.clear()
        db.executemany(insert, batch)
        order_sql = ", ".join(f"o{i} DESC" for i in range(n))
        db.execute(f"INSERT INTO member SELECT k, person, valid, vals FROM "
                   f"(SELECT k, person, valid, vals, "
                   f"ROW_NUMBER() OVER (PARTITION BY k, person ORDER BY {order_sql}) AS rn FROM stage) "
                   f"WHERE rn = 1 ORDER BY k, person")
        db.execute("DROP TABLE temp.stage")
        return [spec[0] for spec in specs]

    def _persons(self, k: int) -> set[str]:
        """The persons of one evaluated dataset (a set as large as that dataset, not the region)."""
        return {person for (person,) in self.db.execute("SELECT person FROM member WHERE k=?", (k,))}

    def _stream(self, partner_id: str, dataset: str, peildatum: dt.date, layer: str,
                ordered: bool = False) -> Iterator[tuple[str, list[str]]]:
        """(person, dimension values in definition order) of each member, streamed."""
        k = self._key(partner_id, dataset, peildatum, layer)
        ndims = len(self.definition(partner_id, dataset).dims)
        sql = "SELECT person, vals FROM member WHERE k=?" + (" ORDER BY person" if ordered else "")
        for person, vals in self.db.execute(sql, (k,)):
            yield person, (vals.split("\t") if ndims else [])

    def cells(self, partner_id: str, dataset: str, by: Sequence[str]) -> list[Cell]:
        domains = [(*self.domain(partner_id, dataset, b), ONBEKEND) for b in by]
        return [tuple(c) for c in itertools.product(*domains)]

    def _tally(self, partner_id: str, dataset: str, rows: Iterator[tuple[list[str], int]],
               bys: Sequence[Sequence[str]], where: Callable[[dict[str, str]], bool] | None,
               width: int) -> list[dict[Cell, list[int]]]:
        """Per `by` of `bys`: cell -> counts per slot (the row's second element picks the slot)."""
        names = tuple(self.definition(partner_id, dataset).dims)
        pos = {name: i for i, name in enumerate(names)}
        outs = [{c: [0] * width for c in self.cells(partner_id, dataset, by)} for by in bys]
        picks = [[pos[b] for b in by] for by in bys]
        for values, slot in rows:
            if where is not None and not where(dict(zip(names, values))):
                continue
            for out, pick in zip(outs, picks):
                out[tuple([values[i] for i in pick])][slot] += 1
        return outs

    def count_many(self, partner_id: str, dataset: str, peildatum: dt.date, bys: Sequence[Sequence[str]],
                   where: Callable[[dict[str, str]], bool] | None = None,
                   layer: str = "recorded") -> list[dict[Cell, int]]:
        """`count` for several `by`s in one pass over the members."""
        rows = ((values, 0) for _, values in self._stream(partner_id, dataset, peildatum, layer))
        outs = self._tally(partner_id, dataset, rows, bys, where, 1)
        return [{c: v[0] for c, v in out.items()} for out in outs]

    def count(self, partner_id: str, dataset: str, peildatum: dt.date, by: Sequence[str] = (),
              where: Callable[[dict[str, str]], bool] | None = None, layer: str = "recorded") -> dict[Cell, int]:
        """Persons per cell of the full cross product of the `by` domains (zeros included)."""
        return self.count_many(partner_id, dataset, peildatum, [by], where, layer)[0]

    def linked_many(self, anchor: Source, others: Sequence[Source], peildatum: dt.date,
                    bys: Sequence[Sequence[str]], where: Callable[[dict[str, str]], bool] | None = None,
                    layer: str = "recorded") -> list[dict[Cell, tuple[int, int]]]:
        """`linked` for several `by`s in one pass over the anchor's members."""
        keys = sorted({self._key(src[0], src[1], src[2] if len(src) == 3 else peildatum, layer)
                       for src in others})
        a_pd = anchor[2] if len(anchor) == 3 else peildatum
        a_key = self._key(anchor[0], anchor[1], a_pd, layer)
        ndims = len(self.definition(anchor[0], anchor[1]).dims)
        # same person string, same validity: a valid anchor member links if any other set holds it
        found = (f"EXISTS (SELECT 1 FROM member o WHERE o.k IN ({', '.join(map(str, keys))}) "
                 f"AND o.person = a.person)") if keys else "0"
        cur = self.db.execute(f"SELECT a.vals, a.valid AND {found} FROM member a WHERE a.k=?", (a_key,))
        rows = ((vals.split("\t") if ndims else [], 0 if hit else 1) for vals, hit in cur)
        outs = self._tally(anchor[0], anchor[1], rows, bys, where, 2)
        return [{c: (v[0], v[1]) for c, v in out.items()} for out in outs]

    def linked(self, anchor: Source, others: Sequence[Source], peildatum: dt.date, by: Sequence[str] = (),
               where: Callable[[dict[str, str]], bool] | None = None,
               layer: str = "recorded") -> dict[Cell, tuple[int, int]]:
        """Per cell of the anchor: (members found in any other set, members found in none).

        Linking uses valid BSNs only: an invalid BSN on either side never links
        (anchor members with one count in the difference). A source may carry
        its own peildatum as third element; otherwise `peildatum` applies.
        """
        return self.linked_many(anchor, others, peildatum, [by], where, layer)[0]

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
