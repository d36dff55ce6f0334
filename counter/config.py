"""`counter.toml`: the counter's configuration (paths relative to the file's folder)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from regiozicht.tomlconfig import CoordinatorSection, Frozen, TlsSection, load_model


class CounterSection(Frozen):
    org: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", description="The counter's organisation (its certificate's).")
    max_runs: int = Field(16, ge=1, le=256, description="Runs counted at once; more are refused until one ends.")
    workers: int = Field(0, ge=0, description="Worker processes for the proof checks (0: one per core).")


class CounterConfig(Frozen):
    counter: CounterSection
    coordinator: CoordinatorSection
    tls: TlsSection


def load(path: Path) -> CounterConfig:
    return load_model(CounterConfig, path, "counter config", "regiozicht counter check")
