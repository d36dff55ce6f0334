"""The installed software's version: shown by `--version`, sent in every Describe and in `status`."""

from __future__ import annotations

import functools
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version

import typer


@functools.cache  # read from the package metadata once: every Describe carries it
def software_version() -> str:
    """The installed regiozicht package's version ("dev" when run from a source tree without install)."""
    try:
        return version("regiozicht")
    except PackageNotFoundError:
        return "dev"


def version_callback(program: str) -> Callable[[bool], None]:
    """A Typer callback for an eager `--version` option that prints `PROGRAM VERSION` and exits 0."""

    def show(value: bool) -> None:
        if value:
            typer.echo(f"{program} {software_version()}")
            raise typer.Exit()

    return show
