"""Small helpers every CLI shares: error → exit code, output formats."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from enum import Enum
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from regiozicht.errors import RegiozichtError, exit_codes_help

err_console = Console(stderr=True)

EXIT_CODES = exit_codes_help()


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


@contextmanager
def exit_on_error() -> Iterator[None]:
    """Turns a typed refusal into one `error:` line and its documented exit code."""
    try:
        yield
    except RegiozichtError as exc:
        # escaped: a hint such as "check [state] url" must keep its section name
        err_console.print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None


def emit(rows: Sequence[dict[str, Any]], columns: Sequence[str], fmt: OutputFormat, title: str = "",
         extra: dict[str, Any] | None = None) -> None:
    """Prints rows as a rich table, JSON (one object) or CSV on stdout."""
    if fmt is OutputFormat.json:
        document: dict[str, Any] = {**(extra or {}), "rows": list(rows)}
        sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n")
        return
    if fmt is OutputFormat.csv:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _flat(v) for k, v in row.items()})
        sys.stdout.write(buffer.getvalue())
        return
    table = Table(title=title or None)
    for name in columns:
        table.add_column(name, justify="right" if _numeric(rows, name) else "left")
    for row in rows:
        table.add_row(*(_flat(row.get(name, "")) for name in columns))
    Console().print(table)


def _flat(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return " – ".join(str(v) for v in value)
    return "" if value is None else str(value)


def _numeric(rows: Sequence[dict[str, Any]], name: str) -> bool:
    return any(isinstance(row.get(name), (int, float)) for row in rows)


def wait_for_signal() -> None:
    """Blocks a serving command until SIGTERM or SIGINT (systemd's stop, or Ctrl-C)."""
    import signal
    import threading

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    while not done.wait(0.5):
        pass
