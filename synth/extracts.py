"""A partner's tables as the extract files partners mail around: CSV, Parquet or XLSX.

The CSV files are written the way Dutch administrations export them
(`;`-separated, dates as dd-mm-yyyy), so a node reading them must detect
both. Every table of the partner's database is written, `kalender` included.
"""
from __future__ import annotations

import csv
import datetime as dt
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Boolean, Date, Integer, MetaData, Table, create_engine, select

from synth.schema import metadata_for

Format = Literal["csv", "parquet", "xlsx"]
FORMATS: tuple[str, ...] = ("sqlite", "csv", "parquet", "xlsx")


def _duck_type(column: Any) -> str:
    if isinstance(column.type, Boolean):
        return "BOOLEAN"
    if isinstance(column.type, Date):
        return "DATE"
    if isinstance(column.type, Integer):
        return "BIGINT"
    return "VARCHAR"


def _rows(url: str, table: Table) -> Iterator[tuple[Any, ...]]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            yield from connection.execute(select(table).order_by(*(list(table.primary_key.columns) or list(table.columns))))
    finally:
        engine.dispose()


def _csv_value(value: Any, dutch: bool) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.strftime("%d-%m-%Y") if dutch else value.isoformat()
    return str(value)


def _write_csv(path: Path, table: Table, rows: Iterator[tuple[Any, ...]], *, dutch: bool) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=";" if dutch else ",")
        writer.writerow([c.name for c in table.columns])
        writer.writerows([_csv_value(v, dutch) for v in row] for row in rows)


def _write_parquet(path: Path, table: Table, rows: Iterator[tuple[Any, ...]]) -> None:
    import duckdb

    with tempfile.TemporaryDirectory(prefix="synth-parquet-") as tmp:
        staged = Path(tmp) / "table.csv"
        _write_csv(staged, table, rows, dutch=False)
        columns = ", ".join(f"'{c.name}': '{_duck_type(c)}'" for c in table.columns)
        connection = duckdb.connect()
        try:
            connection.execute(f"COPY (SELECT * FROM read_csv('{staged}', header = true, delim = ',', "
                               f"columns = {{{columns}}})) TO '{path}' (FORMAT parquet)")
        finally:
            connection.close()


def _write_xlsx(path: Path, tables: list[Table], url: str) -> None:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    for table in tables:
        sheet = workbook.create_sheet(table.name)
        sheet.append([c.name for c in table.columns])
        for row in _rows(url, table):
            sheet.append(list(row))
    workbook.save(path)


def write_extracts(url: str, kind: str, folder: Path, fmt: Format) -> list[Path]:
    """Writes every table of a partner database (`url`, of partner kind `kind`) into `folder`."""
    metadata: MetaData = metadata_for(kind)
    return write_tables(url, list(metadata.tables.values()), folder, fmt)


def write_tables(url: str, tables: list[Table], folder: Path, fmt: Format) -> list[Path]:
    """Writes the given tables of the database at `url` into `folder`: a file per table, or one workbook."""
    folder.mkdir(parents=True, exist_ok=True)
    if fmt == "xlsx":
        path = folder / f"{folder.name}.xlsx"
        _write_xlsx(path, tables, url)
        return [path]
    written = []
    for table in tables:
        path = folder / f"{table.name}.{fmt}"
        if fmt == "csv":
            _write_csv(path, table, _rows(url, table), dutch=True)
        else:
            _write_parquet(path, table, _rows(url, table))
        written.append(path)
    return written


def extracts_folder(out_dir: Path, fmt: str, partner_id: str) -> Path:
    """Where `python -m synth --format FMT` puts a partner's extracts."""
    return Path(out_dir) / fmt / partner_id
