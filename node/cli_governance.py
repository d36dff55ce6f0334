"""`regiozicht-node covenant|budget|audit …`: what the privacy officer and auditors run."""

from __future__ import annotations

import csv
import io
import json
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from node import audit
from node.covenant import Covenant
from node.describe import cumulative
from node.governance import open_governance
from node.ledger import PAIR, TOTAL, Ledger, period_of, text
from regiozicht import dp
from regiozicht.audit_chain import verify_chain
from regiozicht.cli_support import OutputFormat, emit, exit_on_error
from regiozicht.errors import AuditFailed

console = Console()
ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="The node's node.toml.")]
FormatOption = Annotated[OutputFormat, typer.Option("--format", help="table, json or csv.")]

covenant_app = typer.Typer(help="Check the covenant (convenant) this node enforces.", no_args_is_help=True)
budget_app = typer.Typer(help="The privacy-budget ledger.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit trail.", no_args_is_help=True)



@covenant_app.command("check")
def covenant_check(config: ConfigOption, fmt: FormatOption = OutputFormat.table) -> None:
    """Validate covenant.toml against the datasets; show who may ask what, and what the budget buys."""
    with exit_on_error():
        governance = open_governance(config)
        covenant = governance.covenant
        rows = _party_rows(covenant)
        extra: dict[str, Any] = {"covenant": str(governance.config.covenant), "accuracy": _accuracy(governance.ledger),
                 "linking": _linking_rows(covenant), "linked": covenant.linked.model_dump(),
                 "service_queries": _service_rows(covenant)}
        if fmt is OutputFormat.table:
            console.print(f"covenant: {governance.config.covenant} is valid "
                          f"({len(covenant.parties)} parties, {len(covenant.purposes)} purposes)")
        columns = ["party", "purpose", "legal_basis", "dataset", "columns", "wat_allowed", "queries"]
        if fmt is not OutputFormat.table:  # the law text is long: full in json and csv, left out of the table
            columns.insert(3, "law")
        emit(rows, columns, fmt, title="Who may ask what", extra=extra)
        if fmt is OutputFormat.table:
            emit(extra["accuracy"], ["pot", "epsilon_per_period", "typical_epsilon", "releases_per_period",
                                     "ci95_half_width"], fmt, title="What the budget buys (count, one node)")
            emit(extra["linking"], ["purpose", "datasets", "partner_kinds", "partner_orgs", "partner_datasets"], fmt,
                 title="Linked counts: who this node's data may be linked with")
            if extra["service_queries"]:
                emit(extra["service_queries"], ["party", "purposes", "query_hash"], fmt,
                     title="Service parties: the only queries each may run")
            linked = covenant.linked
            console.print(f"linked counts: counters accepted: {', '.join(linked.counters) or 'none (no linked counts)'}"
                          f"; each partner may spend ε {linked.pair_epsilon or covenant.budget.epsilon} per period "
                          f"linking against this node; alert from {linked.failed_runs_alert} failed runs",
                          highlight=False)


def _linking_rows(covenant: Covenant) -> list[dict[str, Any]]:
    return [{"purpose": purpose.id, "datasets": ", ".join(rule.datasets), "partner_kinds": ", ".join(rule.kinds),
             "partner_orgs": ", ".join(rule.orgs) or "(any of those kinds)",
             "partner_datasets": ", ".join(rule.partner_datasets)}
            for purpose in covenant.purposes for rule in purpose.linking or ()]


def _service_rows(covenant: Covenant) -> list[dict[str, Any]]:
    return [{"party": f"service {party.org}", "purposes": ", ".join(party.purposes), "query_hash": digest}
            for party in covenant.parties if party.role == "service" for digest in party.queries]


def _party_rows(covenant: Covenant) -> list[dict[str, Any]]:
    rows = []
    for party in covenant.parties:
        for purpose_id in party.purposes:
            purpose = covenant.purpose(purpose_id)
            assert purpose is not None
            for dataset, columns in sorted(purpose.datasets.items()):
                rows.append({"party": f"{party.role} {party.org}", "purpose": purpose.id,
                             "legal_basis": purpose.legal_basis, "law": purpose.law, "dataset": dataset,
                             "columns": ", ".join(columns) or "(totals only)", "wat_allowed": purpose.wat_allowed,
                             "queries": len(party.queries) if party.role == "service" else "any"})
    return rows


def _accuracy(ledger: Ledger) -> list[dict[str, Any]]:
    """Expected 95% half-width of one count at the typical ε, and how many such releases each pot pays for."""
    covenant = ledger.covenant
    epsilon = Decimal(covenant.limits.typical_epsilon or covenant.limits.max_epsilon)
    width = dp.half_width(dp.count_scale(float(epsilon)))
    pots = {TOTAL: "whole node"} | {ledger.pots(p)[0]: p.id if p.epsilon_cap else "purposes without a cap"
                                    for p in covenant.purposes}
    return [{"pot": label, "epsilon_per_period": text(ledger.limit(pot)[0]), "typical_epsilon": text(epsilon),
             "releases_per_period": int(ledger.limit(pot)[0] // epsilon), "ci95_half_width": width}
            for pot, label in pots.items()]


@budget_app.command("show")
def budget_show(config: ConfigOption, fmt: FormatOption = OutputFormat.table) -> None:
    """Spent and remaining ε and δ per period and purpose, and the cumulative totals."""
    with exit_on_error():
        governance = open_governance(config)
        ledger, covenant = governance.ledger, governance.covenant
        now = int(time.time())
        current = period_of(covenant.budget.period, now)
        with governance.state.reading() as conn:
            by_purpose = ledger.spent_by_purpose(conn)
            periods = sorted({p for p, _ in by_purpose} | set(ledger.watermark.periods()) | {current.id})
            rows = []
            for period in periods:
                spent_e, spent_d = ledger.pool_spent(conn, period)
                rows.append(_row(period, "(all purposes)", spent_e, spent_d,
                                 Decimal(covenant.budget.epsilon) - spent_e, Decimal(covenant.budget.delta) - spent_d))
                for purpose in covenant.purposes:
                    e, d = by_purpose.get((period, purpose.id), (Decimal(0), Decimal(0)))
                    left_e, left_d = (ledger.remaining(conn, purpose, now)[1:] if period == current.id
                                      else (None, None))
                    rows.append(_row(period, purpose.id, e, d, left_e, left_d))
                limit_e, limit_d = ledger.limit(PAIR)
                for partner, (e, d) in sorted(ledger.pair_spent(conn, period).items()):
                    # what one partner may still spend linking against this node (the covenant's pair budget)
                    left = (limit_e - e, limit_d - d) if period == current.id else (None, None)
                    rows.append(_row(period, f"(linking with {partner})", e, d, *left))
                failed = {period: ledger.failed_runs(conn, period) for period in periods}
            all_e, all_d = cumulative(ledger, conn)
        failed = {period: runs for period, runs in failed.items() if runs}
        extra = {"period_kind": covenant.budget.period, "current_period": current.id,
                 "renews_on": current.renews.isoformat(), "epsilon_spent_all_periods": text(all_e),
                 "delta_spent_all_periods": text(all_d), "failed_linked_runs": failed}
        emit(rows, ["period", "purpose", "epsilon_spent", "epsilon_remaining", "delta_spent", "delta_remaining"],
             fmt, title=f"Privacy budget of {covenant.organisation} (renews {current.renews})", extra=extra)
        if fmt is OutputFormat.table:
            console.print(f"all periods: ε {text(all_e)} and δ {text(all_d)} spent")
            for period, runs in failed.items():
                for partner, count in sorted(runs.items()):
                    alert = count >= covenant.linked.failed_runs_alert
                    console.print(f"{'[red]ALERT[/] ' if alert else ''}{period}: {count} linked run(s) with {partner} "
                                  "failed or were aborted (each stays charged)", highlight=False)


def _row(period: str, purpose: str, spent_e: Decimal, spent_d: Decimal, left_e: Decimal | None,
         left_d: Decimal | None) -> dict[str, Any]:
    return {"period": period, "purpose": purpose, "epsilon_spent": text(spent_e), "delta_spent": text(spent_d),
            "epsilon_remaining": "" if left_e is None else text(max(left_e, Decimal(0))),
            "delta_remaining": "" if left_d is None else text(max(left_d, Decimal(0)))}


@audit_app.command("verify")
def audit_verify(config: ConfigOption) -> None:
    """Check the hash chain; name every edited, deleted, inserted or reordered entry."""
    with exit_on_error():
        governance = open_governance(config)
        entries = list(audit.entries(governance.state))
        problems = verify_chain(entries)
        if problems:
            for problem in problems:
                console.print(f"[red]tampered:[/] {problem}", highlight=False, soft_wrap=True)
            raise AuditFailed(f"The audit trail of {governance.config.node.org} is NOT intact ({len(problems)} "
                              f"problems in {len(entries)} entries); preserve the state database as evidence and "
                              "compare it with the coordinator's signed heads.")
        head = entries[-1]["hash"] if entries else "(empty)"
        console.print(f"audit trail intact: {len(entries)} entries, head seq "
                      f"{entries[-1]['seq'] if entries else 0} {head}", highlight=False)


@audit_app.command("export")
def audit_export(
    config: ConfigOption,
    fmt: Annotated[str, typer.Option("--format", help="jsonl or csv.")] = "jsonl",
    out: Annotated[Path | None, typer.Option("--out", help="Write here instead of stdout.")] = None,
) -> None:
    """Write every entry, as stored, for an auditor or `regiozicht audit compare`."""
    with exit_on_error():
        if fmt not in ("jsonl", "csv"):
            raise typer.BadParameter("use --format jsonl or --format csv")
        governance = open_governance(config)
        buffer = io.StringIO()
        if fmt == "jsonl":
            for entry in audit.entries(governance.state):
                buffer.write(json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n")
        else:
            writer = csv.DictWriter(buffer, fieldnames=list(audit.FIELDS), extrasaction="ignore", lineterminator="\n")
            writer.writeheader()
            for entry in audit.entries(governance.state):
                writer.writerow({k: json.dumps(v, ensure_ascii=False) if isinstance(v, list) else v
                                 for k, v in entry.items()})
        if out is None:
            sys.stdout.write(buffer.getvalue())
        else:
            out.write_text(buffer.getvalue(), encoding="utf-8")
            console.print(f"audit trail written to {out}")
