"""A tiny hand-made partner database whose exact counts the tests know."""

from __future__ import annotations

import datetime as dt
import random
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

GEMEENTEN = ("GM0001", "GM0002", "GM0003")
DATA_AS_OF = dt.datetime(2026, 11, 1)
PEILDATUM = dt.date(2026, 10, 1)

DATASET: dict[str, Any] = {
    "name": "registratie",
    "description": "Persons registered on or before the reference date",
    "sql": "SELECT bsn AS person, bsn AS link, gemeente, geslacht AS sex, doelgroep, datum "
           "FROM registratie WHERE datum <= :peildatum",
    "order_by": ["datum"],
    "dimensions": {
        "gemeente": {"domain": list(GEMEENTEN), "info_class": "DAT", "description": "municipality"},
        "sex": {"domain": ["M", "V"], "info_class": "DAT", "description": "sex"},
        "doelgroep": {"domain": ["A", "B"], "info_class": "WAT", "description": "target group"},
    },
}


def make(path: Path, persons: int, seed: int) -> Counter[tuple[str, str]]:
    """Writes the database; returns the exact count per (gemeente, sex) cell at PEILDATUM.

    Some persons have two rows (a move: the latest counts), some have NULL or
    unknown values (they land in `onbekend`), and the third gemeente's
    women are absent, so that cell is truly zero.
    """
    rng = random.Random(seed)
    rows: list[tuple[str, str | None, str | None, str, str]] = []
    truth: Counter[tuple[str, str]] = Counter()
    for index in range(persons):
        bsn = f"{100000000 + index}"
        sex = rng.choice(["M", "V", None])
        gemeente = rng.choice([*GEMEENTEN, None, "GM9999"])
        if gemeente == "GM0003" and sex == "V":
            gemeente = "GM0002"
        datum = dt.date(2026, 1, 1) + dt.timedelta(days=rng.randrange(0, 330))
        moved = rng.random() < 0.2
        if moved:  # an older registration in GM0001: counts only while it is the latest
            rows.append((bsn, "GM0001", sex, "A", (datum - dt.timedelta(days=400)).isoformat()))
        rows.append((bsn, gemeente, sex, rng.choice(["A", "B"]), datum.isoformat()))
        if datum <= PEILDATUM:
            truth[(gemeente if gemeente in GEMEENTEN else "onbekend", sex or "onbekend")] += 1
        elif moved:
            truth[("GM0001", sex or "onbekend")] += 1
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE registratie (bsn TEXT, gemeente TEXT, geslacht TEXT, doelgroep TEXT, datum DATE)")
        connection.executemany("INSERT INTO registratie VALUES (?, ?, ?, ?, ?)", rows)
    return truth
