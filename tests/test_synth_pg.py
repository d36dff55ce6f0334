"""Dataset templates give the same cells on PostgreSQL as on SQLite."""
from __future__ import annotations

from pathlib import Path

import pytest

from synth import generate
from synth.datasets import for_region
from tests.pg_fixture import PostgresCluster
from tests.test_synth_helpers import P_2025, P_2026, sql_cell_counts

pytestmark = pytest.mark.postgres  # needs PostgreSQL: left out of `make test-fast`

PG_PARTNERS = ("rmc", "wi-regio", "school-provso", "jeugdhulp", "brp-gm9002")


def test_templates_same_cells_on_postgresql_and_sqlite(postgres: PostgresCluster, tmp_path: Path) -> None:
    urls = {pid: postgres.url(f"synth_{pid.replace('-', '_')}") for pid in PG_PARTNERS}
    on_pg = generate(tmp_path / "pg", scale=0.02, seed=3, urls=urls)
    on_lite = generate(tmp_path / "lite", scale=0.02, seed=3)
    specs = for_region(on_pg)
    assert on_pg.partner("rmc").database == urls["rmc"]
    for pid in PG_PARTNERS:
        assert on_pg.partner(pid).tables == on_lite.partner(pid).tables
        for spec in specs[pid]:
            for dim in spec.dimensions:
                for peildatum in (P_2026, P_2025):
                    pg = sql_cell_counts(urls[pid], spec, dim, peildatum)
                    lite = sql_cell_counts(on_lite.partner(pid).url(tmp_path / "lite"), spec, dim, peildatum)
                    assert pg == lite, (pid, spec.name, dim, peildatum)
