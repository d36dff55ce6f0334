"""SmartNoise SQL on the bench's 1M-person table, run in .venv-smartnoise by bench/peers.py.

    .venv-smartnoise/bin/python bench/peer_smartnoise.py sqlite /path/to/big.sqlite
    .venv-smartnoise/bin/python bench/peer_smartnoise.py postgres "host=127.0.0.1 port=… dbname=… user=postgres"

The grouped count of bench/node_overhead.py (persons on the reference date by
gemeente and sex, one row per person: the person key is `bsn`, max_ids 1), with
SmartNoise's default plan. It prints one JSON line when ready (SmartNoise's
rewritten statement and the privacy cost it charges), then one JSON line per
line read on stdin: the seconds of `reader.execute` on a warm connection and
the noisy cells. The parent alternates these runs with the node's, so both see
the same machine load. Standalone: it imports nothing of ours.
"""

import importlib
import json
import sqlite3
import sys
import time
from typing import Any

import snsql  # type: ignore[import-not-found]  # only in .venv-smartnoise

PEILDATUM = "2026-10-01"
QUERY = ("SELECT gemeente, sex, COUNT(*) AS n FROM person "
         f"WHERE datum <= '{PEILDATUM}' GROUP BY gemeente, sex")
# the table as SmartNoise sees it: one person (bsn) contributes at most one row
METADATA = {"bench": {"": {"person": {
    "max_ids": 1, "row_privacy": False,
    "id": {"type": "int"},
    "bsn": {"type": "string", "private_id": True},
    "gemeente": {"type": "string"},
    "sex": {"type": "string"},
    "datum": {"type": "string"},
}}}}


def connect(engine: str, target: str) -> Any:
    if engine == "sqlite":
        return sqlite3.connect(f"file:{target}?mode=ro", uri=True)
    # psycopg2 (SmartNoise's PostgreSQL driver) lives only in .venv-smartnoise
    return importlib.import_module("psycopg2").connect(target)


def main() -> None:
    engine, target = sys.argv[1], sys.argv[2]
    privacy = snsql.Privacy(epsilon=1.0, delta=1e-9)
    reader = snsql.from_connection(connect(engine, target), privacy=privacy, metadata=METADATA, engine=engine)
    epsilon, delta = reader.get_privacy_cost(QUERY)
    statement = reader._rewrite(QUERY)[0]  # the statement SmartNoise sends, for the record
    print(json.dumps({"ready": True, "statement": str(statement), "epsilon": float(epsilon),
                      "delta": float(delta)}), flush=True)
    for _ in sys.stdin:
        started = time.perf_counter()
        rows = reader.execute(QUERY)
        seconds = time.perf_counter() - started
        cells = {f"{gemeente}/{sex}": float(n) for gemeente, sex, n in rows[1:]}
        print(json.dumps({"seconds": seconds, "cells": cells}), flush=True)


if __name__ == "__main__":
    main()
