"""`regiozicht monitor`: plan, list the query hashes of, run the regional monitor file, and build its site."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from analyst import monitor as m
from analyst import monitor_history
from analyst.cli.common import ProfileOption, analyst
from analyst.monitor_run import default_at, due_peildatum, linked_query, run
from regiozicht.cli_support import OutputFormat, emit, err_console, exit_on_error
from regiozicht.errors import BadQuery, BudgetExhausted, ConfigError, PermissionDenied

app = typer.Typer(help="The regional monitor: a year's figures from one file (deploy/monitor.toml).",
                  no_args_is_help=True)

MonitorFile = Annotated[Path, typer.Argument(help="The monitor file, e.g. deploy/monitor.toml.")]
AtOption = Annotated[dt.datetime | None, typer.Option("--at", formats=["%Y-%m-%d"],
                                                         help="Run as on this date (default: today, or the newest "
                                                              "date every node holds data for).")]


@app.command()
def plan(
    path: MonitorFile,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="Output format.")] = OutputFormat.table,
    profile: ProfileOption = None,
) -> None:
    """Per node the ε and δ the monitor spends a budget period, and each cell's expected 95% half-width.

    Spends nothing. Refuses (exit 5 over a budget, 4 over a per-query limit, 2 useless cells) a plan that runs a node over its budget or leaves cells useless,
    naming what to coarsen or drop.
    """
    with exit_on_error():
        monitor = m.load(path)
        with analyst(profile) as client:
            result = m.plan(monitor, client.catalog())
        rows = [{"node": s.org, "period": s.period, "epsilon": _decimal(s.epsilon),
                 "epsilon_budget": _decimal(s.epsilon_total),
                 "purpose_cap": "" if s.purpose_cap is None else _decimal(s.purpose_cap), "delta": f"{s.delta:.1e}",
                 "delta_budget": f"{s.delta_total:.1e}"} for s in sorted(result.spend.values(), key=lambda s: s.org)]
        cells = [{"indicator": c.indicator, "by": " × ".join(c.grouping) or "total", "cell": " / ".join(c.cell),
                  "half_width": round(c.half_width, 1), "unit": c.unit} for c in result.cells]
        emit(rows, list(rows[0]) if rows else ["node"], fmt, title="What the monitor spends, per node and period",
             extra={"cells": cells, "problems": result.problems})
        if fmt is OutputFormat.table:
            emit(_widest(cells), ["indicator", "by", "cells", "half_width", "unit"], fmt,
                 title="Expected 95% half-width (widest cell per indicator and grouping)")
        if result.problems:
            refusal = BudgetExhausted if result.over_budget else PermissionDenied if result.over_limits else BadQuery
            raise refusal("The monitor does not fit: " + " ".join(result.problems))
        if fmt is OutputFormat.table:
            err_console.print("[green]ok[/]: the monitor fits every node's budget and every cell is useful.")


def _decimal(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


def _widest(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for cell in cells:
        key = (cell["indicator"], cell["by"])
        entry = out.setdefault(key, {"indicator": key[0], "by": key[1], "cells": 0, "half_width": 0.0,
                                     "unit": cell["unit"]})
        entry["cells"] += 1
        entry["half_width"] = max(entry["half_width"], cell["half_width"])
    return list(out.values())


@app.command()
def hashes(
    path: MonitorFile,
    at: AtOption = None,
    linked: Annotated[bool, typer.Option("--linked", help="Also the linked shares' hashes (reads the catalog: "
                                                          "their bodies name the nodes, the counter and the split).")
                      ] = False,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="Output format.")] = OutputFormat.table,
    profile: ProfileOption = None,
) -> None:
    """Each query's canonical hash at the reference date due on --at, for the privacy officer to list
    under the monitor's service party (`queries` in covenant.toml)."""
    with exit_on_error():
        monitor = m.load(path)
        day = (at or dt.datetime.now()).date()
        rows = []
        for release in monitor.releases:
            query = m.release_query(monitor, release, due_peildatum(monitor, release.every, day))
            rows.append({"release": release.id, "dataset": release.dataset, "at": release.at,
                         "peildatum": query.peildatum.isoformat(), "sha256": m.query_hash(query)})
        if linked:
            with analyst(profile) as client:
                nodes, counters = client.catalog(), client.counters()
                for link in monitor.linked:
                    link_query = linked_query(monitor, nodes, link, day, counters)
                    rows.append({"release": link.id, "dataset": f"{link.anchor} × {link.other}", "at": "",
                                 "peildatum": link_query.anchor.peildatum.isoformat(),
                                 "sha256": hashlib.sha256(link_query.canonical()).hexdigest()})
        emit(rows, ["release", "dataset", "at", "peildatum", "sha256"], fmt, title="Query hashes for covenant.toml")


@app.command("run")
def run_command(
    path: MonitorFile,
    out: Annotated[Path, typer.Option("--out", help="Where to write the published figures (JSON).")],
    at: AtOption = None,
    no_linked: Annotated[bool, typer.Option("--no-linked", help="Skip the linked shares.")] = False,
    profile: ProfileOption = None,
) -> None:
    """Ask every release and linked share due on --at once and write the consistent tables."""
    with exit_on_error(), analyst(profile) as client:
        monitor = m.load(path)
        nodes = client.catalog()
        day = at.date() if at else default_at(nodes)
        with err_console.status("running the monitor…") as status:
            document = run(client, monitor, nodes, day, linked=not no_linked,
                           progress=lambda text: status.update(f"monitor: {text}"))
        out.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        err_console.print(f"{len(document['indicators'])} indicators written to {out}")


@app.command()
def build(
    path: MonitorFile,
    out: Annotated[Path, typer.Option("--out", help="Folder the site is written to (its front page is index.html).")],
    at: AtOption = None,
    history: Annotated[Path | None, typer.Option(
        "--history", help="Folder of stored runs, one JSON file per peildatum (default: OUT/history).")] = None,
    no_linked: Annotated[bool, typer.Option("--no-linked", help="Skip the linked shares.")] = False,
    profile: ProfileOption = None,
) -> None:
    """Run the monitor once (as `monitor run`), store the run in the history and build the site from every
    stored run; prints the path of the site's front page."""
    from analyst.site import build_site, page_count  # matplotlib loads only for the command that draws

    with exit_on_error(), analyst(profile) as client:
        monitor = m.load(path)
        history_dir = history or out / "history"
        steps = len(monitor.releases) + (0 if no_linked else len(monitor.linked))
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        with Progress(*columns, console=err_console, transient=True) as bar:
            task = bar.add_task("monitor: nodes asked", total=steps + 1)

            def advance(text: str) -> None:
                bar.update(task, advance=1, description=text)

            nodes = client.catalog()
            document = run(client, monitor, nodes, at.date() if at else default_at(nodes),
                           linked=not no_linked, progress=advance)
            try:
                stored = monitor_history.save(document, history_dir)
                documents = monitor_history.load_all(history_dir)
                bar.update(task, completed=steps + 1, total=steps + 1 + page_count(documents),
                           description=f"stored {stored.name}")
                index = build_site(documents, out, progress=advance)
            except OSError as exc:
                raise ConfigError(f"Cannot write the site or its history ({exc}); choose a folder you may write "
                                  "with --out and --history.") from None
        err_console.print(f"site built from {len(documents)} runs; this run stored as {stored}")
        typer.echo(str(index))
