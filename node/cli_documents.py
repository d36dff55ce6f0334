"""`regiozicht-node covenant dpia|register` and `regiozicht-node report`: the privacy documents."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from node import audit, covenant_view, documents
from node import config as node_config
from node import report as young_report
from node.cli_governance import ConfigOption, covenant_app
from node.docrender import Block, markdown, page
from node.state import StateDB
from regiozicht.cli_support import exit_on_error
from regiozicht.errors import BadQuery

console = Console(stderr=True)


class DocumentFormat(str, Enum):
    md = "md"
    html = "html"


FormatOption = Annotated[DocumentFormat, typer.Option("--format", help="md (Markdown) or html (one offline page).")]
OutOption = Annotated[Path | None, typer.Option("--out", help="Write here instead of stdout.")]


def _entries(config: node_config.NodeConfig) -> list[dict[str, Any]]:
    return list(audit.entries(StateDB(config.state.url)))


def _write(blocks: list[Block], title: str, fmt: DocumentFormat, out: Path | None) -> None:
    text = page(blocks, title) if fmt is DocumentFormat.html else markdown(blocks)
    if out is None:
        typer.echo(text, nl=False)
        return
    out.write_text(text, encoding="utf-8")
    console.print(f"written to {out}", highlight=False)


@covenant_app.command("dpia")
def covenant_dpia(config: ConfigOption, out: OutOption = None, fmt: FormatOption = DocumentFormat.md) -> None:
    """A DPIA pre-filled from covenant, node.toml and the audit trail; open fields for the FG (Dutch)."""
    with exit_on_error():
        cfg = node_config.load(config)
        view = covenant_view.read(cfg)
        _write(documents.dpia(view, _entries(cfg)), f"DPIA {view.organisation}", fmt, out)


@covenant_app.command("register")
def covenant_register(config: ConfigOption, out: OutOption = None, fmt: FormatOption = DocumentFormat.md) -> None:
    """The AVG art. 30 register entry pre-filled from covenant and node.toml; open fields for the FG (Dutch)."""
    with exit_on_error():
        cfg = node_config.load(config)
        view = covenant_view.read(cfg)
        _write(documents.register(view), f"Register {view.organisation}", fmt, out)


def report_command(
    config: ConfigOption,
    period: Annotated[str, typer.Option("--period", help="Year (2026), quarter (2026-Q4) or month (2026-11).")],
    audience: Annotated[str, typer.Option("--audience", help="12-15 (with parents) or 16-27.")] = "16-27",
    fmt: FormatOption = DocumentFormat.html,
    out: OutOption = None,
) -> None:
    """A plain-language (B1 Dutch) report for young people and parents, from covenant and audit trail alone."""
    with exit_on_error():
        if audience not in young_report.AUDIENCES:
            raise BadQuery(f"Audience {audience!r} is not one of {', '.join(young_report.AUDIENCES)}; "
                           "give --audience 12-15 or --audience 16-27.")
        cfg = node_config.load(config)
        view = covenant_view.read(cfg)
        blocks = young_report.report(view, _entries(cfg), period, "12-15" if audience == "12-15" else "16-27")
        _write(blocks, f"Wat doen wij met je gegevens? {period}", fmt, out)
