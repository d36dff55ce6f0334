"""`regiozicht catalog`: what the region publishes."""

from __future__ import annotations

from typing import Annotated

import typer

from coordinator.cli.common import ProfileOption, analyst
from regiozicht.cli_support import OutputFormat, emit, exit_on_error


def catalog(
    fmt: Annotated[OutputFormat, typer.Option("--format", help="Output format.")] = OutputFormat.table,
    profile: ProfileOption = None,
) -> None:
    """Datasets, their dimensions and domains, which nodes publish them, who is online, data-as-of."""
    with exit_on_error(), analyst(profile) as client:
        rows = []
        for node in client.catalog():
            for dataset in node.describe.datasets:
                rows.append({
                    "dataset": dataset.name, "node": node.org, "kind": node.kind, "online": node.online,
                    "data_as_of": node.describe.data_as_of[:10],
                    "dimensions": ", ".join(f"{d.name} ({d.info_class}, {len(d.domain)}+onbekend)"
                                            for d in dataset.dimensions),
                    "domains": {d.name: list(d.domain) for d in dataset.dimensions},
                    "description": dataset.description,
                })
        emit(rows, ["dataset", "node", "kind", "online", "data_as_of", "dimensions"], fmt, title="Regiozicht catalog")
