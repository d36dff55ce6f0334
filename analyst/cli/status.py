"""`regiozicht status`: every node's state as the coordinator sees it, for whoever runs the region."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer
from cryptography import x509

from analyst.cli.common import ProfileOption, analyst
from analyst.client import NodeInfo
from regiozicht.cli_support import OutputFormat, emit, exit_on_error

TABLE_COLUMNS = ["node", "kind", "online", "last_seen", "version", "certificate_expires", "data_as_of", "queries",
                 "failed", "refused_connections", "last_error"]  # capabilities: --format json or csv
COLUMNS = ["node", "kind", "online", "last_seen", "version", "capabilities", "certificate_expires", "data_as_of",
           "queries", "answered", "failed", "connections", "refused_connections", "last_error"]


def _when(unix: int) -> str:
    return dt.datetime.fromtimestamp(unix, dt.UTC).strftime("%Y-%m-%d %H:%M:%S") if unix else ""


def status_row(node: NodeInfo, fmt: OutputFormat) -> dict[str, Any]:
    """One node: what its signed Describe says (version, capabilities, data-as-of, certificate) and
    what the coordinator saw (online, last seen, counters, last error)."""
    assert node.entry is not None
    entry = node.entry
    expires = x509.load_der_x509_certificate(entry.describe.certificate).not_valid_after_utc
    capabilities = list(node.describe.capabilities)
    return {
        "node": node.org, "kind": node.kind, "online": node.online,
        "last_seen": _when(entry.last_seen_unix), "connected_since": _when(entry.connected_since_unix),
        "version": node.describe.software_version, "protocol": node.describe.protocol_version,
        "capabilities": ", ".join(capabilities) if fmt is OutputFormat.table else capabilities,
        "certificate_expires": expires.strftime("%Y-%m-%d %H:%M"),
        "certificate_days_left": (expires - dt.datetime.now(dt.UTC)).days,
        "data_as_of": node.describe.data_as_of, "queries": entry.queries_sent, "answered": entry.queries_answered,
        "failed": entry.queries_failed, "connections": entry.connections,
        "refused_connections": entry.refused_connections,
        "last_error": entry.last_error, "last_error_at": _when(entry.last_error_unix),
    }


def status(
    fmt: Annotated[OutputFormat, typer.Option("--format", help="Output format.")] = OutputFormat.table,
    profile: ProfileOption = None,
) -> None:
    """Every node's online state, last seen, software version, capabilities, certificate expiry,
    data-as-of, query counters and last error; and the counters online."""
    with exit_on_error(), analyst(profile) as client:
        rows = [status_row(node, fmt) for node in client.catalog()]
        counters = client.counters()
        emit(rows, TABLE_COLUMNS if fmt is OutputFormat.table else COLUMNS, fmt, title="Regiozicht status", extra={"counters": counters})
        if fmt is OutputFormat.table:
            from rich.console import Console

            Console().print(f"linked-count counters online: {', '.join(counters) or 'none'}", highlight=False)
