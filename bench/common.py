"""Shared pieces of the benchmarks: a synthetic person table and its dataset."""

from __future__ import annotations

import datetime as dt
import random
import sqlite3
import statistics
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

GEMEENTEN = tuple(f"GM{9001 + i}" for i in range(5))
PEILDATUM = dt.date(2026, 10, 1)
DATA_AS_OF = dt.datetime(2026, 11, 1)


def dataset(name: str) -> dict[str, Any]:
    """Persons registered on the reference date, by gemeente and sex (10 cells + onbekend)."""
    return {
        "name": name,
        "description": "benchmark persons",
        "sql": "SELECT bsn AS person, bsn AS link, gemeente, sex, datum, id FROM person WHERE datum <= :peildatum",
        "order_by": ["datum", "id"],
        "dimensions": {
            "gemeente": {"domain": list(GEMEENTEN), "info_class": "DAT", "description": "municipality"},
            "sex": {"domain": ["M", "V"], "info_class": "DAT", "description": "sex"},
        },
    }


def rows(persons: int, seed: int = 1) -> Iterator[tuple[int, str, str, str, str]]:
    rng = random.Random(seed)
    start = dt.date(2020, 1, 1).toordinal()
    for index in range(persons):
        datum = dt.date.fromordinal(start + rng.randrange(0, 2400)).isoformat()
        yield index + 1, f"{100000000 + index}", rng.choice(GEMEENTEN), rng.choice("MV"), datum


def make_sqlite(path: Path, persons: int) -> str:
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE person (id INTEGER PRIMARY KEY, bsn TEXT, gemeente TEXT, sex TEXT, datum DATE)")
        connection.executemany("INSERT INTO person VALUES (?, ?, ?, ?, ?)", rows(persons))
    return f"sqlite:///{path}"


def make_postgres(url: str, persons: int) -> str:
    import psycopg

    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo) as connection:
        connection.execute("CREATE TABLE person (id INTEGER PRIMARY KEY, bsn TEXT, gemeente TEXT, sex TEXT, datum DATE)")
        with connection.cursor().copy("COPY person FROM STDIN") as copy:
            for row in rows(persons):
                copy.write_row(row)
        connection.execute("ANALYZE person")
    return url


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)
