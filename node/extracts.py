"""A folder of extract files (CSV, XLSX, Parquet) as the partner database.

Partners that will not open a database mail extracts instead. The node reads
them through DuckDB's SQLAlchemy dialect, so the dataset SQL, one row per
person and pushdown work exactly as against a database. Each CSV or Parquet
file is a view over `read_csv`/`read_parquet`, re-read by DuckDB at every
query; each XLSX sheet is loaded into an in-memory table and reloaded when its
workbook changes. A file that changes while a query reads it, or that cannot
be read, refuses the query with one sentence naming the file: never a count
over half a file.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine

from node.config import DatabaseSection, ExtractFile
from regiozicht.errors import ConfigError, Unavailable

SUFFIXES = (".csv", ".parquet", ".xlsx")
_SAMPLE_BYTES = 1 << 16
_DUTCH_DATE = re.compile(r"(?:^|[;,\t|])\s*\"?\d{2}-\d{2}-\d{4}\"?\s*(?=[;,\t|\r\n]|$)", re.MULTILINE)
_DUTCH_SLASH_DATE = re.compile(r"(?:^|[;,\t|])\s*\"?\d{2}/\d{2}/\d{4}\"?\s*(?=[;,\t|\r\n]|$)", re.MULTILINE)


@dataclass(frozen=True)
class Extract:
    """One table of the folder: a file, or one sheet of a workbook."""

    table: str
    path: Path
    sheet: str | None = None


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def signature(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """What the folder holds now: (name, mtime, size) per extract file; any change shows here."""
    out = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() in SUFFIXES and not path.name.startswith((".", "~$")):
            try:
                stat = path.stat()
            except FileNotFoundError:  # replaced between listing and stat: the signature differs anyway
                continue
            out.append((path.name, stat.st_mtime_ns, stat.st_size))
    return tuple(out)


def _sniff(path: Path, declared: ExtractFile) -> tuple[str, str | None]:
    """The encoding and date format of a CSV file, from its first 64 KiB unless declared."""
    head = path.read_bytes()[:_SAMPLE_BYTES]
    encoding = declared.encoding
    if encoding is None:
        try:
            head.decode("utf-8")
            encoding = "utf-8"
        except UnicodeDecodeError as exc:
            encoding = "utf-8" if exc.start > len(head) - 4 else "latin-1"  # a character cut at the sample's end
    date_format = declared.date_format
    if date_format is None:
        text = head.decode("latin-1")
        if _DUTCH_DATE.search(text):
            date_format = "%d-%m-%Y"
        elif _DUTCH_SLASH_DATE.search(text):
            date_format = "%d/%m/%Y"
    return encoding, date_format


def _header(path: Path, encoding: str, delimiter: str | None) -> tuple[str, list[str]]:
    """The delimiter (declared, or the most frequent candidate in the header line) and the column names."""
    with path.open(encoding=encoding, errors="replace", newline="") as handle:
        first = handle.readline()
    if delimiter is None:
        delimiter = max(";,\t|", key=first.count)
    return delimiter, [c.strip().strip('"') for c in first.rstrip("\r\n").split(delimiter)]


_DATE_VALUE = re.compile(r"^\d{1,2}[-/]\d{1,2}[-/]\d{4}$|^\d{4}-\d{2}-\d{2}$")


def _date_columns(path: Path, encoding: str, delimiter: str, header: list[str]) -> list[str]:
    """Columns whose values in the first 64 KiB that are not empty all look like dates."""
    with path.open(encoding=encoding, errors="replace", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        next(reader, None)
        seen: dict[int, bool] = {}
        read = 0
        for row in reader:
            read += sum(len(v) + 1 for v in row)
            for i, value in enumerate(row[:len(header)]):
                if value.strip():
                    seen[i] = seen.get(i, True) and bool(_DATE_VALUE.match(value.strip()))
            if read > _SAMPLE_BYTES:
                break
    return [header[i] for i, is_date in seen.items() if is_date]


def _has_rows(path: Path) -> bool:
    """Whether a CSV file holds anything after its header line."""
    with path.open("rb") as handle:
        handle.readline()
        return any(line.strip() for line in handle)


def csv_source(path: Path, declared: ExtractFile, text_columns: tuple[str, ...]) -> str:
    """The `read_csv(...)` call that reads one CSV extract, strictly: a malformed row is an error."""
    encoding, date_format = _sniff(path, declared)
    delimiter, header = _header(path, encoding, declared.delimiter)
    types = {c: "VARCHAR" for c in header if c in text_columns}
    if date_format is not None:
        # a column of dates stays DATE even where one value is not a date: that value is then an error
        # naming the file, never a text column that silently compares as text
        types.update({c: "DATE" for c in _date_columns(path, encoding, delimiter, header) if c not in types})
    types.update(declared.types)
    if not _has_rows(path):
        # a header alone says nothing of types: untyped NULL columns compare with anything and match nothing
        columns = ", ".join(f"CAST(NULL AS {types[c]}) AS {_quote(c)}" if c in types else f"NULL AS {_quote(c)}"
                            for c in header if c)
        return f"(SELECT {columns} WHERE false)"
    options = [_literal(str(path)), "header = true", f"encoding = {_literal(encoding)}",
               "strict_mode = true", "ignore_errors = false", "null_padding = false"]
    options.append(f"delim = {_literal(delimiter)}")  # fixed, so that one odd row cannot fool the sniffer
    if date_format is not None:
        options.append(f"dateformat = {_literal(date_format)}")
    if types:
        options.append("types = {" + ", ".join(f"{_literal(c)}: {_literal(t)}" for c, t in types.items()) + "}")
    return f"read_csv({', '.join(options)})"


def extracts(folder: Path) -> list[Extract]:
    """The tables of a folder: CSV and Parquet files by stem, XLSX sheets by sheet name."""
    from openpyxl import load_workbook

    found: dict[str, Extract] = {}
    for path in sorted(folder.iterdir()):
        suffix = path.suffix.lower()
        if suffix not in SUFFIXES or path.name.startswith((".", "~$")):
            continue
        names: list[tuple[str, str | None]]
        if suffix == ".xlsx":
            workbook = load_workbook(path, read_only=True)
            try:
                names = [(sheet, sheet) for sheet in workbook.sheetnames]
            finally:
                workbook.close()
        else:
            names = [(path.stem, None)]
        for table, sheet in names:
            if table in found:
                raise ConfigError(f"The extract folder {folder} has two tables named {table!r} "
                                  f"({found[table].path.name} and {path.name}); rename one of them.")
            found[table] = Extract(table, path, sheet)
    return list(found.values())


def _sheet_rows(path: Path, sheet: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    from openpyxl import load_workbook

    workbook = load_workbook(path, read_only=True, data_only=False)
    try:
        rows = workbook[sheet].iter_rows(values_only=False)
        header_cells = next(rows, ())
        header = [str(c.value).strip() for c in header_cells if c.value is not None]
        body = []
        for row in rows:
            values = []
            for cell in row[:len(header)]:
                if cell.data_type == "f" or (isinstance(cell.value, str) and cell.value.startswith("=")):
                    raise Unavailable(f"Cell {cell.coordinate} of sheet {sheet!r} in {path.name} holds a formula; "
                                      "export the sheet as values only.")
                values.append(cell.value)
            if any(v is not None for v in values):
                body.append(tuple(values) + (None,) * (len(header) - len(values)))
        return header, body
    finally:
        workbook.close()


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def load_sheet(connection: Any, extract: Extract, declared: ExtractFile, text_columns: tuple[str, ...]) -> None:
    """(Re)loads one XLSX sheet into an in-memory table, types detected as for a CSV file."""
    assert extract.sheet is not None
    header, body = _sheet_rows(extract.path, extract.sheet)
    with tempfile.TemporaryDirectory(prefix="regiozicht-xlsx-") as tmp:
        staged = Path(tmp) / "sheet.csv"
        with staged.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, delimiter=",")
            writer.writerow(header)
            writer.writerows([_cell_text(v) for v in row] for row in body)
        types = {c: "VARCHAR" for c in header if c in text_columns}
        types.update(declared.types)
        source = csv_source(staged, ExtractFile(delimiter=",", encoding="utf-8", date_format=declared.date_format,
                                                types=types), ())
        _replace(connection, extract.table, "TABLE", f"SELECT * FROM {source}")


def _replace(connection: Any, name: str, kind: str, query: str) -> None:
    """(Re)creates a view or table; the name may have been the other kind before (a CSV became a sheet)."""
    import duckdb

    for other in ("VIEW", "TABLE"):
        try:
            connection.execute(f"DROP {other} IF EXISTS {_quote(name)}")
        except duckdb.CatalogException:
            pass
    connection.execute(f"CREATE {kind} {_quote(name)} AS {query}")


def _declared(database: DatabaseSection, table: str) -> ExtractFile:
    return database.files.get(table, ExtractFile())


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:160]


def _setup(connection: Any, database: DatabaseSection) -> tuple[tuple[str, int, int], ...]:
    """Creates a view per CSV/Parquet file and a table per sheet; returns the folder's signature it read."""
    import duckdb

    assert database.folder is not None
    seen = signature(database.folder)
    found = extracts(database.folder)
    _drop_gone(connection, {extract.table for extract in found})
    for extract in found:
        declared = _declared(database, extract.table)
        if extract.sheet is not None:
            load_sheet(connection, extract, declared, database.text_columns)
            continue
        try:
            if extract.path.suffix.lower() == ".parquet":
                source = f"read_parquet({_literal(str(extract.path))})"
            else:
                source = csv_source(extract.path, declared, database.text_columns)
            _replace(connection, extract.table, "VIEW", f"SELECT * FROM {source}")
        except (duckdb.Error, OSError, UnicodeError) as exc:
            raise Unavailable(f"The extract file {extract.path.name} in {database.folder} cannot be read "
                              f"({_first_line(exc)}); fix or re-export it and run `regiozicht-node check`.") from None
    return seen


def _drop_gone(connection: Any, tables: set[str]) -> None:
    """Drops the view or table of an extract that is no longer in the folder (renamed, removed): a query
    then refuses naming the missing table, instead of reading through a view of a file that is gone."""
    made = connection.execute("SELECT view_name, 'VIEW' FROM duckdb_views() WHERE NOT internal "
                              "UNION ALL SELECT table_name, 'TABLE' FROM duckdb_tables() WHERE NOT internal").fetchall()
    for name, kind in made:
        if name not in tables:
            connection.execute(f"DROP {kind} IF EXISTS {_quote(name)}")


def _file_error(database: DatabaseSection, message: str) -> Unavailable:
    """One sentence naming the file (or the missing table) a DuckDB error is about."""
    assert database.folder is not None
    missing = re.search(r"Table with name (\w+) does not exist", message)
    if missing:
        return Unavailable(f"The extract folder {database.folder} has no file or sheet named {missing.group(1)!r}; "
                           "put the extract back under that name or fix the dataset's sql.")
    first = (message.splitlines() or [""])[0][:160]
    named = [p.name for p in sorted(database.folder.iterdir()) if str(p) in message]
    if named:
        return Unavailable(f"The extract file {named[0]} in {database.folder} cannot be read ({first}); "
                           "fix or re-export it and run `regiozicht-node check`.")
    return Unavailable(f"The extract folder {database.folder} cannot be read ({first}); run `regiozicht-node check`.")


def make_folder_engine(database: DatabaseSection) -> Engine:
    """An in-memory DuckDB over the folder's extracts; it may read only that folder, and never writes it."""
    folder = database.folder
    assert folder is not None
    if not folder.is_dir():
        raise ConfigError(f"The extract folder {folder} does not exist; check [database] folder in node.toml.")
    engine = create_engine("duckdb:///:memory:")

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, record: Any) -> None:
        record.info["signature"] = _setup(dbapi_connection, database)
        dbapi_connection.execute(f"SET allowed_directories = [{_literal(str(folder) + '/')}, "
                                 f"{_literal(tempfile.gettempdir() + '/')}]")
        dbapi_connection.execute("SET enable_external_access = false")

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        # views re-read their file anyway; a new or renamed file or a changed workbook needs a fresh set-up
        if signature(folder) != record.info.get("signature"):
            record.info["signature"] = _setup(dbapi_connection, database)

    @event.listens_for(engine, "after_cursor_execute")
    def _unchanged(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        read = conn.connection.info.get("signature")
        now = signature(folder)
        if read is not None and now != read:
            changed = sorted({name for name, *_ in set(now) ^ set(read)})
            raise Unavailable(f"The extract file {', '.join(changed)} in {folder} changed while the node read it; "
                              "ask again in a minute, once the new extract is complete.")

    @event.listens_for(engine, "handle_error")
    def _name_the_file(context: Any) -> None:
        original = context.original_exception
        if isinstance(original, Unavailable):
            raise original
        raise _file_error(database, str(original)) from None

    return engine


@dataclass(frozen=True)
class FileFinding:
    """What `regiozicht-node check` says about one extract: a line, and whether it is a problem."""

    file: str
    message: str
    problem: bool = False


def inspect_folder(database: DatabaseSection) -> list[FileFinding]:
    """Per extract: rows and column types, or why it cannot be read; per dated column, values that are no date."""
    import duckdb

    assert database.folder is not None
    findings = []
    connection = duckdb.connect()
    try:
        for extract in extracts(database.folder):
            name = extract.path.name + (f" sheet {extract.sheet!r}" if extract.sheet else "")
            try:
                _setup_one(connection, extract, database)
                columns = connection.execute(f"DESCRIBE {_quote(extract.table)}").fetchall()
                # counting every column makes DuckDB convert every value, so a bad one shows here
                every = ", ".join(f"count({_quote(c[0])})" for c in columns)
                counted = connection.execute(f"SELECT count(*), {every} FROM {_quote(extract.table)}").fetchone()
                assert counted is not None  # an aggregate without GROUP BY returns one row
                rows = counted[0]
            except (Unavailable, duckdb.Error, OSError, UnicodeError) as exc:
                findings.extend(_unparsable_dates(connection, extract, name, _declared(database, extract.table)))
                findings.append(FileFinding(name, str(exc) if isinstance(exc, Unavailable) else (
                    f"{name} cannot be read ({_first_line(exc)}); fix or re-export it."), problem=True))
                continue
            typed = ", ".join(f"{c[0]} {c[1]}" for c in columns)
            findings.append(FileFinding(name, f"table {extract.table}: {rows} rows; {typed}"))
            findings.extend(_text_columns_that_look_numeric(connection, extract, name, database.text_columns,
                                                            [(c[0], c[1]) for c in columns]))
    finally:
        connection.close()
    return findings


def _setup_one(connection: Any, extract: Extract, database: DatabaseSection) -> None:
    declared = _declared(database, extract.table)
    if extract.sheet is not None:
        load_sheet(connection, extract, declared, database.text_columns)
    elif extract.path.suffix.lower() == ".parquet":
        _replace(connection, extract.table, "VIEW", f"SELECT * FROM read_parquet({_literal(str(extract.path))})")
    else:
        _replace(connection, extract.table, "VIEW",
                 f"SELECT * FROM {csv_source(extract.path, declared, database.text_columns)}")


def _text_columns_that_look_numeric(connection: Any, extract: Extract, name: str, text_columns: tuple[str, ...],
                                    columns: list[tuple[str, str]]) -> list[FileFinding]:
    """A text column (an identifier such as bsn) stored as a number has lost its leading zeros."""
    return [FileFinding(name, f"column {column} of {name} is {kind}, not text: identifiers with leading zeros have "
                              "lost them; export it as text.", problem=True)
            for column, kind in columns if column in text_columns and kind != "VARCHAR"]


def _unparsable_dates(connection: Any, extract: Extract, name: str, declared: ExtractFile) -> list[FileFinding]:
    """Per dated column of a CSV file: how many values are no date in its format, with the first of them."""
    import duckdb

    if extract.sheet is not None or extract.path.suffix.lower() != ".csv":
        return []
    try:
        encoding, date_format = _sniff(extract.path, declared)
        delimiter, header = _header(extract.path, encoding, declared.delimiter)
        dated = _date_columns(extract.path, encoding, delimiter, header)
        dated += [c for c, t in declared.types.items() if t.upper() == "DATE" and c not in dated]
        source = (f"read_csv({_literal(str(extract.path))}, header = true, all_varchar = true, "
                  f"delim = {_literal(delimiter)}, encoding = {_literal(encoding)})")
        fmt = _literal(date_format or "%Y-%m-%d")
        findings = []
        for column in dated:
            value = f"trim({_quote(column)})"
            bad, example = connection.execute(
                f"SELECT count(*), min({value}) FROM {source} WHERE {value} <> '' "
                f"AND try_strptime({value}, {fmt}) IS NULL").fetchone()
            if bad:
                findings.append(FileFinding(name, f"column {column} of {name}: {bad} value(s) are no date in the "
                                                  f"format {date_format or '%Y-%m-%d'} (e.g. {example!r}); correct "
                                                  "them or declare date_format in [database.files].", problem=True))
        return findings
    except (duckdb.Error, OSError, UnicodeError):
        return []  # the file cannot be read at all: its own finding says so
