"""`counter.toml`: the counter's configuration (paths relative to the file's folder)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from regiozicht.errors import ConfigError
from regiozicht.tomlconfig import describe_validation_error, load_toml


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CounterSection(_Frozen):
    org: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", description="The counter's organisation (its certificate's).")
    max_runs: int = Field(16, ge=1, le=256, description="Runs counted at once; more are refused until one ends.")
    workers: int = Field(0, ge=0, description="Worker processes for the proof checks (0: one per core).")


class CoordinatorSection(_Frozen):
    address: str = Field(description="host:port of the region's coordinator; the counter dials out to it.")
    server_name: str | None = Field(None, description="TLS name to expect, when it differs from the address's host.")


class TlsSection(_Frozen):
    ca: Path = Field(description="The regional CA certificate (PEM).")
    certificate: Path = Field(description="The counter's certificate (role counter, PEM).")
    key: Path = Field(description="The counter's private key (PEM, mode 0600).")


class CounterConfig(_Frozen):
    counter: CounterSection
    coordinator: CoordinatorSection
    tls: TlsSection


def load(path: Path) -> CounterConfig:
    raw = load_toml(path, "counter config")
    tls = raw.get("tls")
    if isinstance(tls, dict):
        for key, value in list(tls.items()):
            if isinstance(value, str):
                tls[key] = str((path.parent / value).resolve())
    try:
        return CounterConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(path, exc, "regiozicht counter check")) from None
