"""The demo's linked indicators: shares of an anchor set found in another partner's set.

Each question is asked as an analyst would with `regiozicht query linked-share`:
resolved from the catalog, signed, run by the nodes (one run per peer node), verified
here; the truth beside it comes from the synthetic region (`demo/linkedtruth.py`).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table

from analyst.client import AnalystClient, NodeInfo
from analyst.linked import LinkedResult, anchor_cells, resolve_linked, split_target, submit_linked
from demo.linkedtruth import linked_truth
from demo.questions import LinkedQuestion
from regiozicht import linksets
from regiozicht.query import default_peildatum

err = Console(stderr=True)


def _anchors(question: LinkedQuestion, nodes: list[NodeInfo]) -> list[str]:
    """The anchor as written, or once per node of its kind that publishes the anchor set."""
    if not question.each_anchor:
        return [question.anchor]
    expression, who = split_target(question.anchor)
    names = linksets.datasets(linksets.parse(expression))
    return [f"{expression}@{n.org}" for n in nodes
            if (n.kind == who or n.org == who) and all(n.dataset(name) for name in names)]


def _anchor_date(question: LinkedQuestion, nodes: list[NodeInfo], anchor: str) -> dt.date | None:
    if not question.years_back:
        return None
    who = split_target(anchor)[1]
    node = next(n for n in nodes if n.org == who or n.kind == who)
    day = default_peildatum(node.data_as_of.date())
    return day.replace(year=day.year - question.years_back)


def _percent(part: int, whole: int) -> float | None:
    return None if whole <= 0 else round(100.0 * part / whole, 2)


def _spent(result: LinkedResult) -> float:
    """The most ε any one node spent: the anchor's, once per run."""
    per_node: dict[str, Decimal] = {}
    for run in result.runs:
        for org, (epsilon, _) in run.costs.items():
            per_node[org] = per_node.get(org, Decimal(0)) + Decimal(epsilon)
    return float(max(per_node.values(), default=Decimal(0)))


def _rows(question: LinkedQuestion, result: LinkedResult, truth: Any, partner_ids: dict[str, str],
          found: bool, indicator: str) -> list[dict[str, Any]]:
    completed = [r.peer for r in result.runs if not r.error]
    layers = {layer: linked_truth(truth, partner_ids, result.query, layer=layer, peers=completed)
              for layer in ("recorded", "reality")}
    query, rows = result.query, []
    for cell in result.cells:
        group = dict(zip(query.by, cell.group))
        if question.each_anchor:
            group = {"node": query.anchor.org, **group}
        low, high = cell.share_ci if found else (1 - cell.share_ci[1], 1 - cell.share_ci[0])
        share = cell.share if found or cell.share is None else 1 - cell.share
        truths = {layer: values[cell.group] for layer, values in layers.items()}
        rows.append({
            "indicator": indicator, "group": group, "value": None if share is None else round(100 * share, 2),
            "ci95": [round(100 * low, 2), round(100 * high, 2)], "epsilon": _spent(result),
            "true_value": _percent(*_pick(truths["recorded"], found)),
            "reality": _percent(*_pick(truths["reality"], found)),
            "anchor_estimate": max(0, cell.anchor), "anchor_true": sum(truths["recorded"]),
            "nodes": [query.anchor.org, *completed], "missing": [f"{r.failed_org}: {r.error}" for r in result.failures],
        })
    return rows


def _pick(counts: tuple[int, int], found: bool) -> tuple[int, int]:
    inter, only = counts
    return (inter if found else only), inter + only


def ask_linked(client: AnalystClient, truth: Any, manifest: Any,
               question: LinkedQuestion) -> list[tuple[str, list[dict[str, Any]]]]:
    """Asks one linked question (per anchor node if so); (indicator, rows) for it and its complement."""
    nodes = client.catalog()
    partner_ids = {p.org: p.id for p in manifest.partners}
    shown: dict[str, list[dict[str, Any]]] = {question.indicator: []}
    if question.complement:
        shown[question.complement] = []
    for anchor in _anchors(question, nodes):
        query = resolve_linked(nodes, anchor, question.other, epsilon=question.epsilon, delta=question.delta,
                               purpose=question.purpose, by=list(question.by), where=question.where,
                               at=_anchor_date(question, nodes, anchor), with_at=None, counters=client.counters())
        result = submit_linked(client, query, anchor_cells(nodes, query))
        shown[question.indicator] += _rows(question, result, truth, partner_ids, question.found, question.indicator)
        if question.complement:
            shown[question.complement] += _rows(question, result, truth, partner_ids, not question.found,
                                                question.complement)
    return list(shown.items())


def covers(row: dict[str, Any]) -> bool:
    return row["true_value"] is not None and row["ci95"][0] <= row["true_value"] <= row["ci95"][1]


def show_linked(indicator: str, rows: list[dict[str, Any]], question: LinkedQuestion,
                gemeenten: dict[str, str] | None = None) -> None:
    first = rows[0] if rows else None
    title = (f"{indicator} (%) — ε {first['epsilon']:g} at the anchor, {len(first['nodes'])} node(s), "
             f"linked on BSN") if first else indicator
    table = Table(title=title)
    names = list(first["group"]) if first else []
    for name in (*names, "value", "95% interval", "true (recorded)", "reality", "anchor est. / true"):
        table.add_column(name, justify="left" if name in names else "right")
    for row in rows:
        low, high = row["ci95"]
        mark = "" if covers(row) or row["true_value"] is None else " *"
        group = [(gemeenten or {}).get(v, v) if k == "gemeente" else v for k, v in row["group"].items()]
        table.add_row(*group, str(row["value"]), f"{low:g} … {high:g}",
                      f"{row['true_value']}{mark}", str(row["reality"]),
                      f"{row['anchor_estimate']} / {row['anchor_true']}")
    Console().print(table)
    for row in rows[:1]:
        for missing in row["missing"]:
            err.print(f"[yellow]missing:[/] {missing}")
    if question.note and indicator == question.indicator:
        Console().print(f"[italic]Not asked: {question.note}[/]")
