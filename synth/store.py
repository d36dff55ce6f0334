"""Writing partner databases (SQLAlchemy Core) and the truth store (sqlite3)."""
from __future__ import annotations

import datetime as dt
import functools
import json
import sqlite3
from collections import defaultdict
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, MetaData, create_engine, insert

from synth.bsn import is_valid_bsn
from synth.project import Record, Row
from synth.region import Partner, shift_years
from synth.schema import KALENDER_YEARS, metadata_for

KALENDER_FIRST, KALENDER_LAST = dt.date(2010, 1, 1), dt.date(2032, 12, 31)


@functools.cache
def _kalender_rows() -> tuple[Row, ...]:
    rows, day = [], KALENDER_FIRST
    while day <= KALENDER_LAST:
        rows.append({"peildatum": day, **{f"min_{n}j": shift_years(day, -n) for n in KALENDER_YEARS}})
        day += dt.timedelta(days=1)
    return tuple(rows)


class PartnerSink:
    """One partner's database; rows arrive per batch and get consecutive ids."""

    def __init__(self, partner: Partner, url: str, extract_time: dt.datetime) -> None:
        self.partner = partner
        self.url = url
        self.engine: Engine = create_engine(url)
        self.metadata: MetaData = metadata_for(partner.kind)
        self.metadata.drop_all(self.engine)
        self.metadata.create_all(self.engine)
        self.pending: dict[str, list[Row]] = defaultdict(list)
        self.counts: dict[str, int] = {t: 0 for t in self.metadata.tables if t not in ("extract_info", "kalender")}
        self.invalid_bsns = 0
        with self.engine.begin() as conn:
            conn.execute(insert(self.metadata.tables["extract_info"]), [{"extract_time": extract_time.isoformat()}])
            conn.execute(insert(self.metadata.tables["kalender"]), list(_kalender_rows()))

    def add(self, table: str, row: Row) -> int:
        self.counts[table] += 1
        self.pending[table].append({"id": self.counts[table], **row})
        if not is_valid_bsn(row["bsn"]):
            self.invalid_bsns += 1
        return self.counts[table]

    def flush(self) -> None:
        with self.engine.begin() as conn:
            for table in sorted(self.pending):
                if self.pending[table]:
                    conn.execute(insert(self.metadata.tables[table]), self.pending[table])
        self.pending.clear()

    def close(self) -> None:
        self.flush()
        self.engine.dispose()


def _json_default(value: Any) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(type(value))


_dumps = json.JSONEncoder(separators=(",", ":"), default=_json_default).encode


class TruthSink:
    """The simulation's own record of what each partner holds, in both layers.

    A row both layers agree on (no imperfection) is stored once, as layer
    "both"; values are stored as JSON arrays, column names once per table.
    """

    def __init__(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        self.db = sqlite3.connect(path)
        self.db.executescript("""
            CREATE TABLE record(layer TEXT, partner TEXT, tbl TEXT, id INTEGER, data TEXT);
            CREATE TABLE record_columns(tbl TEXT PRIMARY KEY, columns TEXT);
            CREATE TABLE projection_log(partner TEXT, tbl TEXT, recorded_id INTEGER, reality_id INTEGER,
                                        issue TEXT, true_bsn TEXT, recorded_bsn TEXT);
            CREATE TABLE person(person_index INTEGER PRIMARY KEY, bsn TEXT, birth_date TEXT, sex TEXT);
        """)
        self.columns: dict[str, list[str]] = {}
        self.missed = 0
        # rows are buffered and written per table in a fixed order (deterministic file layout)
        self._persons: list[tuple[Any, ...]] = []
        self._records: list[tuple[Any, ...]] = []
        self._log: list[tuple[Any, ...]] = []

    def person(self, index: int, bsn: str, birth: dt.date, sex: str) -> None:
        self._persons.append((index, bsn, birth.isoformat(), sex))
        if len(self._persons) >= 2000:
            self.flush()

    def flush(self) -> None:
        self.db.executemany("INSERT INTO person VALUES (?,?,?,?)", self._persons)
        self.db.executemany("INSERT INTO record VALUES (?,?,?,?,?)", self._records)
        self.db.executemany("INSERT INTO projection_log VALUES (?,?,?,?,?,?,?)", self._log)
        self._persons.clear()
        self._records.clear()
        self._log.clear()

    def add(self, rec: Record, recorded_ids: list[int], true_bsn: str) -> None:
        if not rec.issues:
            self._row("both", rec.partner, rec.table, recorded_ids[0], rec.recorded[0])
            return
        # reality rows reuse the recorded id; rows the partner missed get negative ids
        if recorded_ids:
            reality_id = recorded_ids[0]
        else:
            self.missed += 1
            reality_id = -self.missed
        if rec.reality is not None:
            self._row("reality", rec.partner, rec.table, reality_id, rec.reality)
        for rid, row in zip(recorded_ids, rec.recorded):
            self._row("recorded", rec.partner, rec.table, rid, row)
        for issue in rec.issues:
            shown = rec.recorded[0]["bsn"] if rec.recorded else None
            self._log.append((rec.partner, rec.table, recorded_ids[-1] if recorded_ids else None,
                              reality_id, issue, true_bsn, shown))

    def _row(self, layer: str, partner: str, table: str, rid: int, row: Row) -> None:
        if table not in self.columns:
            self.columns[table] = list(row)
            self.db.execute("INSERT INTO record_columns VALUES (?,?)", (table, json.dumps(list(row))))
        values = [row[c] for c in self.columns[table]]
        data = _dumps([v.isoformat() if type(v) is dt.date else v for v in values])
        self._records.append((layer, partner, table, rid, data))

    def close(self) -> None:
        self.flush()
        self.db.execute("CREATE INDEX record_by_table ON record(partner, tbl)")
        self.db.commit()
        self.db.close()


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"
