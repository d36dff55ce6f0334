"""`regiozicht catalog`: what the region publishes, and under which purposes."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console

from analyst.cli.common import ProfileOption, analyst
from analyst.client import NodeInfo
from regiozicht.cli_support import OutputFormat, emit, exit_on_error


def _purposes(node: NodeInfo, dataset: str) -> list[dict[str, Any]]:
    out = []
    for purpose in node.describe.purposes:
        allowed = next((a for a in purpose.allowed if a.dataset == dataset), None)
        if allowed is None and dataset not in purpose.datasets:
            continue
        out.append({"id": purpose.id, "legal_basis": purpose.legal_basis, "law": purpose.law,
                    "columns": list(allowed.columns) if allowed else [], "wat_allowed": purpose.wat_allowed,
                    "epsilon_remaining": purpose.epsilon_remaining})
    return out


def catalog(
    fmt: Annotated[OutputFormat, typer.Option("--format", help="Output format.")] = OutputFormat.table,
    profile: ProfileOption = None,
) -> None:
    """Datasets, who publishes each (and the kinds or orgs it is bound to), who is online, data-as-of,
    dimensions and domains, purposes and budget."""
    with exit_on_error(), analyst(profile) as client:
        rows = []
        for node in client.catalog():
            budget = node.describe.budget
            for dataset in node.describe.datasets:
                purposes = _purposes(node, dataset.name)
                rows.append({
                    "dataset": dataset.name, "node": node.org, "kind": node.kind, "online": node.online,
                    "data_as_of": node.describe.data_as_of[:10],
                    "dimensions": ", ".join(f"{d.name} ({d.info_class}, {len(d.domain)}+onbekend)"
                                            for d in dataset.dimensions),
                    "domains": {d.name: list(d.domain) for d in dataset.dimensions},
                    "purposes": ", ".join(p["id"] for p in purposes) if fmt is OutputFormat.table else purposes,
                    "epsilon_remaining": budget.epsilon_remaining,
                    "period": budget.period,
                    "bound_to": client.bindings.publishers_of(dataset.name),
                    "summed": "yes",
                    "description": dataset.description,
                })
            for name, why in node.left_out:  # listed by the node, never summed: shown so nobody wonders
                rows.append({"dataset": name, "node": node.org, "kind": node.kind, "online": node.online,
                             "data_as_of": node.describe.data_as_of[:10], "dimensions": "", "domains": {},
                             "purposes": "" if fmt is OutputFormat.table else [], "epsilon_remaining": "",
                             "period": budget.period, "bound_to": client.bindings.publishers_of(name),
                             "summed": f"no: {why}", "description": ""})
        rows.sort(key=lambda r: (r["dataset"], r["node"]))
        counters = client.counters()
        emit(rows, ["dataset", "node", "kind", "bound_to", "summed", "online", "data_as_of", "dimensions",
                    "purposes", "epsilon_remaining"], fmt, title="Regiozicht catalog", extra={"counters": counters})
        if fmt is OutputFormat.table:
            Console().print(f"linked-count counters online: {', '.join(counters) or 'none'}", highlight=False)
