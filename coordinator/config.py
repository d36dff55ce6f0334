"""`coordinator.toml`: the hub's configuration."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from regiozicht.bindings import DatasetBindings
from regiozicht.errors import ConfigError
from regiozicht.tomlconfig import describe_validation_error, load_toml, resolve_paths


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ServerSection(_Frozen):
    listen: str = Field("127.0.0.1:7443", description="host:port nodes and analysts connect to.")
    query_timeout_seconds: float = Field(60.0, gt=0, description="How long a node may take to answer.")
    link_timeout_seconds: float = Field(600.0, gt=0, description="How long one linked run may take, end to end.")
    workers: int = Field(128, ge=8, description="Server threads; each connected node holds one.")


class TlsSection(_Frozen):
    ca: Path = Field(description="The regional CA certificate (PEM).")
    certificate: Path = Field(description="The coordinator's certificate (PEM), with the names nodes dial.")
    key: Path = Field(description="The coordinator's private key (PEM, mode 0600).")
    revocation_list: Path = Field(description="The CA's signed revocation list (PEM); reloaded when it changes.")


class StoreSection(_Frozen):
    url: str = Field("sqlite:///coordinator.sqlite",
                     description="SQLAlchemy URL of the results history and the nodes' signed audit heads.")


class MonitorSection(_Frozen):
    spec: Path = Field(description="The monitor file (monitor.toml) to run every period.")
    output: Path = Field(description="Folder of the published site; its runs are kept in output/history.")
    profile: Path = Field(description="Profile of the monitor's service identity (certificate role service): the "
                                      "nodes' covenants list the query hashes it may run.")
    check_every_seconds: float = Field(3600.0, gt=0, description="How often the schedule checks for a new period "
                                                                 "(and retries a failed run).")


class CoordinatorConfig(_Frozen):
    server: ServerSection = ServerSection()
    tls: TlsSection
    store: StoreSection = StoreSection()
    monitor: MonitorSection | None = None
    datasets: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Dataset name → the partner kinds or orgs that may publish it; adds to or replaces the "
                    "standard table (regiozicht/bindings.py). A name listed nowhere is open to every node.")

    def bindings(self) -> DatasetBindings:
        return DatasetBindings.with_overrides(self.datasets, "coordinator.toml")


def load(path: Path) -> CoordinatorConfig:
    raw = load_toml(path, "coordinator config")
    resolve_paths(raw, "tls", path.parent)
    monitor = raw.get("monitor")
    if isinstance(monitor, dict):
        for key in ("spec", "output", "profile"):
            if isinstance(monitor.get(key), str):
                monitor[key] = str((path.parent / monitor[key]).resolve())
    store = raw.setdefault("store", {})
    if isinstance(store, dict):
        url = str(store.get("url", "sqlite:///coordinator.sqlite"))
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/"):
            url = prefix + str((path.parent / url[len(prefix):]).resolve())
        store["url"] = url
    try:
        return CoordinatorConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(path, exc, "regiozicht coordinator check", raw)) from None
