"""`regiozicht profile`: an analyst's (or service identity's) profile, key and request."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from analyst.client import DEFAULT_PROFILE
from regiozicht.cli_support import exit_on_error

app = typer.Typer(help="The analyst's profile: where the coordinator is and who you are.", no_args_is_help=True)


@app.command("init")
def init(
    org: Annotated[str, typer.Option(help="Your organisation slug, as the CA will write it in the certificate.")],
    coordinator: Annotated[str, typer.Option(help="host:port of the region's coordinator.")],
    directory: Annotated[Path, typer.Option("--dir", help="Folder of profile.toml and the key.")] = DEFAULT_PROFILE.parent,
    role: Annotated[str, typer.Option(help="analyst, or service for a scheduled dashboard.")] = "analyst",
) -> None:
    """Write profile.toml, your key (here, mode 0600) and a certificate request for the CA operator."""
    from analyst.setup import init_profile

    with exit_on_error():
        files = init_profile(directory, org=org, coordinator=coordinator, role=role)
        console = Console(soft_wrap=True, highlight=False)
        console.print(f"wrote {files.config}, the key {files.key} (mode 0600) and the request {files.request}.")
        console.print(f"next: send {files.request.name} to the CA operator (`regiozicht pki sign {files.request.name} "
                      f"--role {role} --org {org} --ca-dir ca/ --out {role}.crt`); put the certificate and the "
                      f"region's ca.crt at {' and '.join(str(p) for p in files.expected)}; then `regiozicht catalog"
                      f"{'' if files.config == DEFAULT_PROFILE else f' --profile {files.config}'}`.")
