"""What `init` writes for any party (coordinator, analyst, service identity): its files, key and
request. Keys are made where they are used; init never sees the CA."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from regiozicht.errors import ConfigError
from regiozicht.identity import Identity


@dataclass(frozen=True)
class PartyFiles:
    config: Path
    key: Path
    request: Path
    expected: tuple[Path, ...]  # what the CA operator's answer fills in


def identity_for(role: str, org: str) -> Identity:
    try:
        return Identity(role, org)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def refuse_existing(*paths: Path) -> None:
    for path in paths:
        if path.exists():
            raise ConfigError(f"{path} already exists; init never overwrites a file — remove it or choose another "
                              "--dir.")
