"""Options and helpers shared by the analyst command groups."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from analyst.client import AnalystClient, Profile

ProfileOption = Annotated[
    Path | None,
    typer.Option("--profile", help="Analyst profile (default ~/.config/regiozicht/profile.toml)."),
]


@contextmanager
def analyst(profile: Path | None) -> Iterator[AnalystClient]:
    client = AnalystClient(Profile.load(profile))
    try:
        yield client
    finally:
        client.close()
