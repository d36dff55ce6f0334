"""Shared synthetic regions for the synth tests (generated once per session)."""
from __future__ import annotations

import datetime as dt
import functools
import tempfile
from pathlib import Path

from sqlalchemy import Date, bindparam, create_engine, text

from synth import generate
from synth.datasets import DatasetSpec

P_2026 = dt.date(2026, 10, 1)
P_2025 = dt.date(2025, 10, 1)
ONBEKEND = "onbekend"


@functools.cache
def region(scale: float, seed: int = 7, gemeenten: int = 5) -> Path:
    out = Path(tempfile.mkdtemp(prefix=f"synth-{scale}-{seed}-"))
    generate(out, scale=scale, seed=seed, gemeenten=gemeenten)
    return out


def sql_cell_counts(url: str, spec: DatasetSpec, dim: str, peildatum: dt.date) -> dict[str, int]:
    """One row per person by hand (ROW_NUMBER), over the node's template; cells by `dim`."""
    order = ", ".join(f"s.{c} DESC" for c in spec.order_by)
    sql = (f"SELECT r.{dim} AS cell, COUNT(*) AS n FROM ("
           f"  SELECT s.*, ROW_NUMBER() OVER (PARTITION BY s.person ORDER BY {order}) AS rn"
           f"  FROM ({spec.sql}) s) r WHERE r.rn = 1 GROUP BY r.{dim}")
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(sql).bindparams(bindparam("peildatum", type_=Date)),
                                {"peildatum": peildatum}).all()
    finally:
        engine.dispose()
    out: dict[str, int] = {}
    domain = spec.dimensions[dim].domain
    for cell, n in rows:
        key = cell if cell in domain else ONBEKEND
        out[key] = out.get(key, 0) + int(n)
    return out


def nonzero(counts: dict[tuple[str, ...], int]) -> dict[str, int]:
    return {k[0]: v for k, v in counts.items() if v}
