"""`regiozicht`: the analyst's, CA operator's and coordinator operator's CLI."""

from __future__ import annotations

import subprocess
import sys
from typing import Annotated

import typer

from analyst.cli import catalog, monitor, profile, query, status
from coordinator.cli import audit, pki, serve
from regiozicht.cli_support import EXIT_CODES
from regiozicht.version import version_callback

app = typer.Typer(help=f"Regiozicht: federated, differentially-private regional figures.\n\n{EXIT_CODES}",
                  no_args_is_help=True, add_completion=False)
app.add_typer(pki.app, name="pki")
app.add_typer(serve.app, name="coordinator")
app.add_typer(query.app, name="query")
app.add_typer(audit.app, name="audit")
app.add_typer(monitor.app, name="monitor")
app.add_typer(profile.app, name="profile")
app.command("catalog")(catalog.catalog)
app.command("status")(status.status)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", is_eager=True, callback=version_callback("regiozicht"),
                                          help="Print the software version and exit.")] = False,
) -> None:
    """Regiozicht: federated, differentially-private regional figures."""


def _counter_app() -> typer.Typer:
    from counter.cli import app as counter_app  # its own trust domain: imported only for this command group

    return counter_app


app.add_typer(_counter_app(), name="counter")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
             add_help_option=False)
def demo(ctx: typer.Context) -> None:
    """Run a whole synthetic region on this machine (`regiozicht demo --help` lists its options)."""
    # the demo is its own package, run as a child so no library code imports it; --help goes to it too
    args = ["--help" if a == "--help-demo" else a for a in ctx.args]
    raise typer.Exit(subprocess.call([sys.executable, "-m", "demo", *args]))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
