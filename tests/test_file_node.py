"""A node over a folder of extract files answers exactly what it answers over
the same data in SQLite: the node's own statements give the same counts and
the same linked members from CSV, Parquet and XLSX; a hostile file gives one
clear refusal naming the file, never a wrong count and never a charge."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine

from analyst.client import ShareCell, share_cells
from demo import synthregion
from demo.region import PartnerSetup
from node.compile import compile_count, compile_members
from node.config import DatabaseSection, Dataset, ExtractFile
from node.store import make_partner_engine
from regiozicht import linksets
from regiozicht.errors import Unavailable
from regiozicht.query import CountQuery, build_count
from synth.extracts import extracts_folder, write_extracts
from synth.manifest import Manifest
from tests.linked_region import Relay, relayed_region, synth_partners

pytestmark = pytest.mark.processes  # starts real processes: left out of `make test-fast`

PEILDATA = (dt.date(2026, 10, 1), dt.date(2025, 10, 1))
XLSX_PARTNER = "jeugdhulp"
_LINKING: list[PartnerSetup] = []  # the linked tests' RMC and W&I nodes, with their linking covenants


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Manifest, list[PartnerSetup]]:
    """The linked tests' region (RMC and two W&I nodes) plus the other partners, each also as CSV and
    Parquet extracts, and one small partner as a workbook."""
    data = tmp_path_factory.mktemp("files") / "data"
    manifest, linking = synth_partners(data)
    _LINKING[:] = linking
    for p in manifest.partners:
        for fmt in ("csv", "parquet") + (("xlsx",) if p.id == XLSX_PARTNER else ()):
            write_extracts(p.url(data), p.kind, extracts_folder(data, fmt, p.id), fmt)
    return data, manifest, synthregion.partners(data, manifest)


def _rows(engine: Engine, statement: Any, peildatum: dt.date) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        return sorted((tuple(r) for r in connection.execute(statement, {"peildatum": peildatum}).all()),
                      key=repr)


def _statements(partner: PartnerSetup) -> Iterator[tuple[str, Any, dt.date]]:
    """Every dataset's count (total, per dimension, two dimensions) and its linked members at both dates."""
    datasets = {raw["name"]: Dataset.model_validate(raw) for raw in partner.datasets}
    for name, dataset in datasets.items():
        dims = sorted(dataset.dimensions)
        groupings = [()] + [(d,) for d in dims] + ([tuple(dims[:2])] if len(dims) > 1 else [])
        for peildatum in PEILDATA:
            for by in groupings:
                query = CountQuery(name, "1", "check", peildatum, by)
                yield f"{name} by {by} at {peildatum}", compile_count(dataset, query), peildatum
            tree = linksets.parse(name)
            for anchor, by in ((False, ()), (True, tuple(dims[:1]))):
                query = CountQuery(name, "1", "check", peildatum, by)
                yield f"{name} members at {peildatum}", compile_members(datasets, tree, query, anchor), peildatum


@pytest.mark.parametrize("fmt", ["csv", "parquet", "xlsx"])
def test_every_dataset_counts_the_same_from_files_as_from_sqlite(
        region: tuple[Path, Manifest, list[PartnerSetup]], fmt: str) -> None:
    data, _manifest, partners = region
    for partner in partners:
        if fmt == "xlsx" and partner.node_id != XLSX_PARTNER:
            continue
        sqlite = create_engine(partner.database_url)
        files = make_partner_engine(DatabaseSection(folder=extracts_folder(data, fmt, partner.node_id)))
        counted = 0
        for what, statement, peildatum in _statements(partner):
            expected = _rows(sqlite, statement, peildatum)
            assert _rows(files, statement, peildatum) == expected, (partner.node_id, fmt, what)
            counted += len(expected)
        assert counted > 0, partner.node_id  # the comparison is not between two empty answers
        sqlite.dispose()
        files.dispose()


# -- hostile files ------------------------------------------------------------------------------

_DATASET = Dataset.model_validate({
    "name": "ingeschreven", "sql": "SELECT t.bsn AS person, t.bsn AS link, t.gemeente, t.start "
                                   "FROM inschrijving t WHERE t.start <= :peildatum",
    "order_by": ["start"], "dimensions": {"gemeente": {"domain": ["GM0001", "GM0002"]}}})
_QUERY = CountQuery("ingeschreven", "1", "check", dt.date(2026, 1, 1), ("gemeente",))
_GOOD = "bsn;gemeente;start\n012345672;GM0001;01-02-2024\n123456782;GM0002;13-02-2024\n111222333;GM0001;05-03-2025\n"


def _count(folder: Path, **options: Any) -> dict[tuple[str, ...], int]:
    engine = make_partner_engine(DatabaseSection(folder=folder, **options))
    try:
        with engine.connect() as connection:
            rows = connection.execute(compile_count(_DATASET, _QUERY), {"peildatum": _QUERY.peildatum}).all()
        return {tuple(r[:-1]): int(r[-1]) for r in rows}
    finally:
        engine.dispose()


def test_dutch_csv_is_read_with_leading_zeros_and_day_first_dates(tmp_path: Path) -> None:
    (tmp_path / "inschrijving.csv").write_text(_GOOD)
    assert _count(tmp_path) == {("GM0001",): 2, ("GM0002",): 1}


def test_a_malformed_row_refuses_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "inschrijving.csv").write_text(_GOOD + "999888777;GM0002;01-01-2025;extra;fields\n")
    with pytest.raises(Unavailable, match="inschrijving.csv"):
        _count(tmp_path)


def test_an_unparsable_date_refuses_naming_the_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "inschrijving.csv").write_text(_GOOD + "999888777;GM0002;31-02-2025\n")
    with pytest.raises(Unavailable, match=r"inschrijving.csv .*Line: 5"):
        _count(tmp_path)


def test_latin1_is_detected_and_a_wrong_declared_encoding_refuses(tmp_path: Path) -> None:
    (tmp_path / "inschrijving.csv").write_bytes((_GOOD + "123123123;Súdwest;02-01-2025\n").encode("latin-1"))
    assert _count(tmp_path) == {("GM0001",): 2, ("GM0002",): 1, ("onbekend",): 1}
    with pytest.raises(Unavailable, match="inschrijving.csv"):
        _count(tmp_path, files={"inschrijving": ExtractFile(encoding="utf-8")})


def test_a_wrong_byte_past_the_sniffed_start_refuses_naming_the_file_and_line(tmp_path: Path) -> None:
    """Encoding is detected on the first 64 KiB: a latin-1 value after that, in a file read as utf-8,
    refuses the query instead of counting a garbled value."""
    later = "".join(f"{100000000 + i};GM0002;01-01-2027\n" for i in range(7000))  # after the peildatum
    (tmp_path / "inschrijving.csv").write_bytes(
        _GOOD.encode() + later.encode() + "123123123;Súdwest;02-01-2025\n".encode("latin-1"))
    assert (tmp_path / "inschrijving.csv").stat().st_size > 1 << 16
    with pytest.raises(Unavailable, match=r"inschrijving.csv .*Line: 7005"):
        _count(tmp_path)


def _workbook(path: Path, sheet: str = "inschrijving", formula: bool = False) -> None:
    from openpyxl import Workbook

    workbook = Workbook()
    ws = workbook.active
    assert ws is not None  # a new workbook has one sheet
    ws.title = sheet
    ws.append(["bsn", "gemeente", "start"])
    ws.append(["012345672", "GM0001", dt.date(2024, 2, 1)])
    ws.append(["123456782", "=\"GM000\"&\"2\"" if formula else "GM0002", dt.date(2024, 2, 13)])
    workbook.save(path)


def test_a_workbook_sheet_is_a_table(tmp_path: Path) -> None:
    _workbook(tmp_path / "extract.xlsx")
    assert _count(tmp_path) == {("GM0001",): 1, ("GM0002",): 1}


def test_a_formula_cell_refuses_naming_the_cell_and_file(tmp_path: Path) -> None:
    _workbook(tmp_path / "extract.xlsx", formula=True)
    with pytest.raises(Unavailable, match=r"B3 of sheet 'inschrijving' in extract.xlsx holds a formula"):
        _count(tmp_path)


def test_a_renamed_sheet_refuses_naming_the_missing_table(tmp_path: Path) -> None:
    _workbook(tmp_path / "extract.xlsx", sheet="Blad1")
    with pytest.raises(Unavailable, match="no file or sheet named 'inschrijving'"):
        _count(tmp_path)


def test_a_file_replaced_mid_query_refuses_and_the_next_query_reads_the_new_file(tmp_path: Path) -> None:
    path = tmp_path / "inschrijving.csv"
    path.write_text(_GOOD)
    engine = make_partner_engine(DatabaseSection(folder=tmp_path))
    replaced: list[bool] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _replace(*_: Any) -> None:  # the partner's export lands while the node reads
        if not replaced:
            staged = tmp_path / "staged.tmp"
            staged.write_text(_GOOD + "444555666;GM0002;01-01-2025\n")
            os.replace(staged, path)
            replaced.append(True)

    statement = compile_count(_DATASET, _QUERY)
    with (pytest.raises(Unavailable, match="inschrijving.csv .*changed while the node read it"),
          engine.connect() as connection):
        connection.execute(statement, {"peildatum": _QUERY.peildatum}).all()
    with engine.connect() as connection:
        rows = connection.execute(statement, {"peildatum": _QUERY.peildatum}).all()
    assert {tuple(r[:-1]): r[-1] for r in rows} == {("GM0001",): 2, ("GM0002",): 2}
    engine.dispose()


# -- real node processes ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def relay(region: tuple[Path, Manifest, list[PartnerSetup]],
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Relay]:
    """RMC served from its CSV extracts, the regional W&I node from Parquet, the municipal one from SQLite."""
    data, manifest, _ = region
    fmt = {"rmc": "csv", "wi-regio": "parquet"}
    partners = [dataclasses.replace(p, extracts=extracts_folder(data, fmt[p.node_id], p.node_id))
                if p.node_id in fmt else p for p in _LINKING]
    with relayed_region(tmp_path_factory.mktemp("file-region"), partners, data, manifest) as running:
        yield running


def test_a_count_a_share_and_a_linked_count_from_file_backed_nodes_cover_the_truth(relay: Relay) -> None:
    """Five fresh counts, five fresh shares and five fresh linked runs at ε 10: at least three of
    each five 95% intervals must cover the truth. With coverage exactly 95% (a share's interval
    covers at least that), three or more misses in five happen with probability 0.12%; one of the
    three checks failing by chance, below 0.35%."""
    configs = relay.region.files.node_configs
    assert "folder" in configs["rmc"].read_text() and "folder" in configs["wi-regio"].read_text()
    truth, peildatum = relay.region.truth, PEILDATA[0]
    expected = truth.count("rmc", "vsv", peildatum)[()]
    client = relay.region.client()
    try:
        counts = [client.count(build_count("vsv", epsilon="10", purpose="rmc-monitor", peildatum=peildatum),
                               refresh=True) for _ in range(5)]
    finally:
        client.close()
    assert not any(r.failures for r in counts)
    assert sum(r.cells[0].ci_low <= expected <= r.cells[0].ci_high for r in counts) >= 3
    in_traject = truth.count("rmc", "rmc_stock", peildatum, where=lambda row: row["traject"] == "J")[()]
    stock = truth.count("rmc", "rmc_stock", peildatum)[()]
    assert 0 < in_traject < stock
    client = relay.region.client()
    try:
        def share() -> ShareCell:
            numerator, denominator = (client.count(build_count("rmc_stock", epsilon="10", purpose="rmc-monitor",
                                                               peildatum=peildatum, where=where), refresh=True)
                                      for where in ("traject = J", None))
            return share_cells(numerator, denominator)[0]

        shares = [share() for _ in range(5)]
    finally:
        client.close()
    assert sum(s.ci_low <= in_traject / stock <= s.ci_high for s in shares) >= 3
    inter_true, _ = truth.linked(("rmc", "rmc_stock"), [("wi-regio", "bijstand")], peildatum)[()]
    runs = [relay.ask(epsilon="10") for _ in range(5)]
    assert not any(r.failures for r in runs)
    assert sum(r.cells[0].inter_ci[0] <= inter_true <= r.cells[0].inter_ci[1] for r in runs) >= 3


_BREAKS: dict[str, tuple[str, str, Callable[[Path, bytes], object]]] = {
    # a row with more fields than the header: refused, never read as a shorter count
    "malformed row": ("rmc_registratie.csv", "rmc_registratie.csv",
                      lambda path, original: path.write_bytes(original + b"1;2;3;4;5;6;7;8;9;10;11;12;13;14\n")),
    # the partner's export saved under another name: the table the dataset reads is missing
    "renamed file": ("rmc_registratie.csv", "no file or sheet named 'rmc_registratie'",
                     lambda path, original: path.rename(path.with_name("rmc_registratie (kopie).csv"))),
}


@pytest.mark.parametrize("broken", sorted(_BREAKS))
def test_a_broken_extract_fails_the_count_naming_the_file_and_charges_nothing(
        relay: Relay, region: tuple[Path, Manifest, list[PartnerSetup]], broken: str) -> None:
    data = region[0]
    name, message, breaking = _BREAKS[broken]
    path = extracts_folder(data, "csv", "rmc") / name
    original = path.read_bytes()

    def restore() -> None:
        for stray in path.parent.glob("* (kopie).csv"):
            stray.unlink()
        path.write_bytes(original)

    client = relay.region.client()
    try:
        breaking(path, original)
        query = build_count("vsv", epsilon="1", purpose="rmc-monitor", peildatum=PEILDATA[0])
        result = client.count(query, refresh=True)
        (failure,) = result.failures
        assert message in str(failure.error)
        assert not result.cells or all(c.value is None for c in result.cells)  # no count from the broken node
        with sqlite3.connect(relay.region.state_db("rmc")) as db:
            statuses = db.execute("SELECT status FROM ledger_charges WHERE charge_id = ?",
                                  (result.query_id,)).fetchall()
        assert statuses in ([], [("refunded",)])
        restore()  # a fixed extract is read again at the next query
        assert not client.count(query, refresh=True).failures
    finally:
        restore()
        client.close()


def test_check_reports_each_extract_and_its_unparsable_dates(
        relay: Relay, region: tuple[Path, Manifest, list[PartnerSetup]]) -> None:
    import subprocess
    import sys

    check = [str(Path(sys.executable).parent / "regiozicht-node"), "check", "--offline", "--config",
             str(relay.region.files.node_configs["rmc"])]
    done = subprocess.run(check, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "extract rmc_traject.csv: table rmc_traject:" in done.stdout and "start DATE" in done.stdout
    path = extracts_folder(region[0], "csv", "rmc") / "rmc_traject.csv"
    original = path.read_bytes()
    try:
        path.write_bytes(original + b"99999;123456782;31-02-2025;;ACTIEF\r\n")  # synth writes CRLF, as Excel does
        done = subprocess.run(check, capture_output=True, text=True, timeout=300, check=False)
    finally:
        path.write_bytes(original)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "column start of rmc_traject.csv: 1 value(s) are no date in the format %d-%m-%Y (e.g. '31-02-2025')" \
        in done.stderr
