"""`regiozicht-node state …`: backup and restore of the node's own state database."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from node import backup
from node import config as node_config
from node.governance import open_governance
from node.ledger import period_of, text
from regiozicht.cli_support import exit_on_error

console = Console()
ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="The node's node.toml.")]

state_app = typer.Typer(help="Back up and restore the node's state database (never its high-water mark).",
                        no_args_is_help=True)


@state_app.command("backup")
def state_backup(
    config: ConfigOption,
    out: Annotated[Path, typer.Option("--out", help="The backup file to write (mode 0600).")],
) -> None:
    """A consistent copy of the SQLite state database (ledger, releases, audit trail), taken while the
    node may keep serving. The ledger's high-water mark stays out of it on purpose."""
    with exit_on_error():
        cfg = node_config.load(config)
        summary = backup.backup(cfg.state, out)
        console.print(f"state database backed up to {summary.path} ({summary.audit_entries} audit entries, head seq "
                      f"{summary.audit_head_seq}); the high-water mark {cfg.state.watermark_path()}.a/.b is not in "
                      "it and must not be restored from an old copy.", highlight=False, soft_wrap=True)


@state_app.command("restore")
def state_restore(
    backup_file: Annotated[Path, typer.Argument(help="A file `regiozicht-node state backup` wrote.")],
    config: ConfigOption,
) -> None:
    """Put a backup in place of the state database; the node must be stopped. The budget spent never
    goes back (the high-water mark is kept); audit entries written after the backup are lost here but
    stay named by the coordinator's signed heads."""
    with exit_on_error():
        cfg = node_config.load(config)
        restored, kept = backup.restore(cfg.state, backup_file)
        governance = open_governance(config)
        period = period_of(governance.covenant.budget.period, int(time.time())).id
        with governance.state.reading() as conn:
            epsilon, delta = governance.ledger.pool_spent(conn, period)
        # what the replaced database held beyond the backup: its trail's head, or what the mark remembers
        lost_to = max(governance.ledger.watermark.audit_seq, backup.summarise(kept, verify=False).audit_head_seq
                      if kept.exists() else 0)
        console.print(f"restored {restored.path} ({restored.audit_entries} audit entries, head seq "
                      f"{restored.audit_head_seq}); the replaced database is kept as {kept}.", highlight=False,
                      soft_wrap=True)
        console.print(f"budget: ε {text(epsilon)} and δ {text(delta)} spent in period {period}, the highest figure "
                      "ever recorded (the high-water mark was not rolled back).", highlight=False, soft_wrap=True)
        if lost_to > restored.audit_head_seq:
            console.print(f"audit: entries seq {restored.audit_head_seq + 1} to {lost_to} are not in this backup; "
                          "the coordinator's signed heads still name them, so `regiozicht audit "
                          "compare` will report them as missing: that is expected after a restore, keep "
                          f"{kept} as the record of them.", highlight=False, soft_wrap=True)
        console.print("next: `regiozicht-node audit verify`, `regiozicht-node budget show`, then start the node.",
                      highlight=False)
