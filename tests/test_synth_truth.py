"""The truth (Python, from the simulation) against SQL over the partner databases."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from synth.bsn import is_valid_bsn
from synth.datasets import for_region
from synth.manifest import Manifest
from synth.truth import Truth
from tests.test_synth_helpers import P_2025, P_2026, nonzero, region, sql_cell_counts

SCALE = 0.03


@pytest.fixture(scope="module")
def small() -> Path:
    return region(SCALE)


def _cases() -> list[tuple[str, str]]:
    out = region(SCALE)
    return [(pid, spec.name) for pid, specs in for_region(Manifest.load(out)).items() for spec in specs]


@pytest.mark.parametrize("partner,dataset", _cases())
def test_recorded_truth_equals_sql_per_dimension(small: Path, partner: str, dataset: str) -> None:
    manifest = Manifest.load(small)
    spec = next(s for s in for_region(manifest)[partner] if s.name == dataset)
    truth = Truth.load(small)
    url = manifest.partner(partner).url(small)
    for peildatum in (P_2026, P_2025):
        total = truth.count(partner, dataset, peildatum)[()]
        for dim in spec.dimensions:
            expected = nonzero(truth.count(partner, dataset, peildatum, by=(dim,)))
            assert sql_cell_counts(url, spec, dim, peildatum) == expected, (partner, dataset, dim, peildatum)
            assert sum(expected.values()) == total


def test_every_bsn_valid_or_deliberately_broken(small: Path) -> None:
    manifest = Manifest.load(small)
    logged = {(p, t, rid) for p, t, rid, issue, *_ in Truth.load(small).issues() if issue == "INVALID_BSN"}
    for partner in manifest.partners:
        db = sqlite3.connect(small / partner.database)
        invalid = 0
        for table in partner.tables:
            for rid, bsn in db.execute(f"SELECT id, bsn FROM {table}"):
                if not is_valid_bsn(bsn):
                    invalid += 1
                    # duplicates of a broken row carry the log entry on their last copy
                    assert (partner.id, table, rid) in logged or (partner.id, table, rid + 1) in logged
        assert invalid == manifest.deliberately_invalid_bsns[partner.id], partner.id
    assert sum(manifest.deliberately_invalid_bsns.values()) > 0


def test_row_counts_in_manifest_match_databases(small: Path) -> None:
    manifest = Manifest.load(small)
    for partner in manifest.partners:
        db = sqlite3.connect(small / partner.database)
        for table, n in partner.tables.items():
            assert db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == n
        assert db.execute("SELECT extract_time FROM extract_info").fetchall() == [("2026-11-01T00:00:00",)]


ELFPROEF = " + ".join(f"{w} * CAST(substr({{c}}, {i + 1}, 1) AS INTEGER)" for i, w in enumerate((9, 8, 7, 6, 5, 4, 3, 2, -1)))


def _valid(col: str) -> str:
    return f"(length({col}) = 9 AND ({ELFPROEF.format(c=col)}) % 11 = 0)"


def _attached(small: Path) -> sqlite3.Connection:
    db = sqlite3.connect(small / "rmc.sqlite")
    db.execute(f"ATTACH '{small / 'wi-regio.sqlite'}' AS wr")
    db.execute(f"ATTACH '{small / 'wi-gm9001.sqlite'}' AS wg")
    return db


VSV_KEPT = """
  SELECT bsn, gemeente FROM (
    SELECT bsn, gemeente, ROW_NUMBER() OVER (PARTITION BY bsn ORDER BY datum DESC, id DESC) AS rn
    FROM rmc_registratie
    WHERE doelgroep IN ('VSV_18_22', 'KWALIFICATIEPLICHTIG') AND datum > :lo AND datum <= :p) WHERE rn = 1"""


def test_linked_vsv_in_paid_work_equals_sql_join(small: Path) -> None:
    truth = Truth.load(small)
    wi = [("wi-regio", "baan"), ("wi-gm9001", "baan")]
    got = truth.linked(("rmc", "vsv"), wi, P_2026, by=("gemeente",))
    sql = f"""
      SELECT COALESCE(v.gemeente, 'onbekend'),
             SUM(CASE WHEN {_valid('v.bsn')} AND v.bsn IN (
                   SELECT bsn FROM wr.baan WHERE start <= :p AND (eind IS NULL OR eind >= :p)
                   UNION SELECT bsn FROM wg.baan WHERE start <= :p AND (eind IS NULL OR eind >= :p))
                 THEN 1 ELSE 0 END),
             COUNT(*)
      FROM ({VSV_KEPT}) v GROUP BY 1"""
    rows = _attached(small).execute(sql, {"p": "2026-10-01", "lo": "2025-10-01"}).fetchall()
    expected = {g: (hit, n - hit) for g, hit, n in rows}
    assert {c[0]: v for c, v in got.items() if v != (0, 0)} == expected
    assert sum(h for h, _ in expected.values()) > 0


def test_linked_vsv_bijstand_within_12m_one_year_later_equals_sql_join(small: Path) -> None:
    truth = Truth.load(small)
    others = [("wi-regio", "bijstand_12m", P_2026), ("wi-gm9001", "bijstand_12m", P_2026)]
    got = truth.linked(("rmc", "vsv", P_2025), others, P_2026)[()]
    window = "regeling = 'PW_ALGEMEEN' AND start <= :p AND (eind IS NULL OR eind > :p0)"
    sql = f"""
      SELECT SUM(CASE WHEN {_valid('v.bsn')} AND v.bsn IN (
                   SELECT bsn FROM wr.uitkering WHERE {window} UNION SELECT bsn FROM wg.uitkering WHERE {window})
                 THEN 1 ELSE 0 END), COUNT(*)
      FROM ({VSV_KEPT.replace(':p)', ':p0)')}) v"""
    hit, n = _attached(small).execute(sql, {"p": "2026-10-01", "p0": "2025-10-01", "lo": "2024-10-01"}).fetchone()
    assert got == (hit, n - hit)


def test_hand_written_inwoner_count_equals_truth(small: Path) -> None:
    truth = Truth.load(small)
    db = sqlite3.connect(small / "brp-gm9002.sqlite")
    sql = """SELECT COUNT(DISTINCT bsn) FROM inwoner WHERE vestiging <= :p AND (vertrek IS NULL OR vertrek >= :p)
             AND birth_date <= :b12 AND birth_date > :b27"""
    n = db.execute(sql, {"p": "2026-10-01", "b12": "2014-10-01", "b27": "1999-10-01"}).fetchone()[0]
    assert truth.count("brp-gm9002", "inwoner", P_2026)[()] == n > 0


def test_reality_layer_differs_from_recorded_where_imperfections_apply(small: Path) -> None:
    truth = Truth.load(small)
    issues = {i[3] for i in truth.issues()}
    assert {"INVALID_BSN", "DUPLICATE", "MISSING_GEMEENTE", "STALE_GEMEENTE", "NOT_REGISTERED"} <= issues
    # a recorded row missing its gemeente lands in `onbekend`; the reality layer knows where the person lives
    reality = truth.count("jeugdhulp", "jeugdhulp", P_2026, by=["gemeente"], layer="reality")
    recorded = truth.count("jeugdhulp", "jeugdhulp", P_2026, by=["gemeente"])
    assert reality != recorded
    assert recorded[("onbekend",)] > reality[("onbekend",)] == 0


def test_truth_json_holds_all_indicators(small: Path) -> None:
    import json

    doc = json.loads((small / "truth.json").read_text())
    assert doc["peildatum"] == "2026-10-01" and doc["cohort_peildatum"] == "2025-10-01"
    assert len(doc["indicators"]) == 12
    for ind in doc["indicators"].values():
        assert set(ind) == {"reality", "recorded"}
