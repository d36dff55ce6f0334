"""`regiozicht audit`: hold a node's exported audit trail against the heads it signed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from coordinator import config as coordinator_config
from coordinator.history import History
from regiozicht.audit_chain import verify_against_heads, verify_chain
from regiozicht.cli_support import exit_on_error
from regiozicht.errors import AuditFailed, ConfigError

app = typer.Typer(help="Check nodes' audit trails against the chain heads they signed.", no_args_is_help=True)


def read_export(path: Path) -> list[dict[str, Any]]:
    """Entries of a `regiozicht-node audit export --format jsonl` file, in stored order.

    Only JSON lines keep the entries' types exactly, which their hashes cover;
    the CSV export is for reading, not for checking.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"Cannot read the export {path} ({exc.strerror}); give the file the node exported.") from None
    try:
        entries = [json.loads(line) for line in text.splitlines() if line.strip()]
    except ValueError:
        raise ConfigError(f"{path} is not a JSON-lines audit export; export with "
                          "`regiozicht-node audit export --format jsonl`.") from None
    if not all(isinstance(e, dict) and "seq" in e and "hash" in e for e in entries):
        raise ConfigError(f"{path} is not an audit export; export with `regiozicht-node audit export --format jsonl`.")
    return entries


@app.command()
def compare(
    node: Annotated[str, typer.Argument(help="The node's organisation slug.")],
    export: Annotated[Path, typer.Argument(help="The node's `regiozicht-node audit export --format jsonl` file.")],
    config: Annotated[Path, typer.Option("--config", "-c", help="coordinator.toml (for its store).")],
) -> None:
    """Name every entry that is missing, edited or rewritten relative to the signed heads."""
    with exit_on_error():
        cfg = coordinator_config.load(config)
        entries = read_export(export)
        heads = History(cfg.store.url).heads(node)
        if not heads:
            # nothing to hold the export against: a mistyped slug must not read as "ok"
            raise AuditFailed(f"The coordinator holds no signed heads of {node!r}, so nothing can be compared; check "
                              "the organisation slug (as in the node's certificate) and that the node has connected.")
        problems = verify_chain(entries) + verify_against_heads(entries, heads)
        console = Console()
        if problems:
            for problem in problems:
                console.print(f"[red]problem:[/] {problem}", highlight=False)
            raise AuditFailed(f"{len(problems)} problem(s) in the audit trail of {node} (listed above); keep the export "
                              "and the node's state database as evidence.")
        console.print(f"[green]ok[/]: {len(entries)} entries of {node} intact; {len(heads)} signed heads match")
