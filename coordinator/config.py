"""`coordinator.toml`: the hub's configuration."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from regiozicht.bindings import DatasetBindings
from regiozicht.tomlconfig import ConfigPath, DatabaseUrl, load_model
from regiozicht.tomlconfig import Frozen as _Frozen


class ServerSection(_Frozen):
    listen: str = Field("127.0.0.1:7443", description="host:port nodes and analysts connect to.")
    query_timeout_seconds: float = Field(60.0, gt=0, description="How long a node may take to answer.")
    link_timeout_seconds: float = Field(600.0, gt=0, description="How long one linked run may take, end to end.")
    workers: int = Field(128, ge=8, description="Server threads; each connected node holds one.")


class TlsSection(_Frozen):
    ca: ConfigPath = Field(description="The regional CA certificate (PEM).")
    certificate: ConfigPath = Field(description="The coordinator's certificate (PEM), with the names nodes dial.")
    key: ConfigPath = Field(description="The coordinator's private key (PEM, mode 0600).")
    revocation_list: ConfigPath = Field(description="The CA's signed revocation list (PEM); reloaded when it changes.")


class StoreSection(_Frozen):
    url: DatabaseUrl = Field("sqlite:///coordinator.sqlite", validate_default=True,
                             description="SQLAlchemy URL of the results history and the nodes' signed audit heads.")


class MonitorSection(_Frozen):
    spec: ConfigPath = Field(description="The monitor file (monitor.toml) to run every period.")
    output: ConfigPath = Field(description="Folder of the published site; its runs are kept in output/history.")
    profile: ConfigPath = Field(description="Profile of the monitor's service identity (certificate role service): the "
                                      "nodes' covenants list the query hashes it may run.")
    check_every_seconds: float = Field(3600.0, gt=0, description="How often the schedule checks for a new period "
                                                                 "(and retries a failed run).")


class CoordinatorConfig(_Frozen):
    server: ServerSection = ServerSection()
    tls: TlsSection
    # a dict, validated with the file's folder as context: the default SQLite file lies beside the file
    store: StoreSection = Field(default_factory=dict, validate_default=True)
    monitor: MonitorSection | None = None
    datasets: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Dataset name → the partner kinds or orgs that may publish it; adds to or replaces the "
                    "standard table (regiozicht/bindings.py). A name listed nowhere is open to every node.")

    def bindings(self) -> DatasetBindings:
        return DatasetBindings.with_overrides(self.datasets, "coordinator.toml")


def load(path: Path) -> CoordinatorConfig:
    """Reads and validates `coordinator.toml`; raises ConfigError naming the field."""
    return load_model(CoordinatorConfig, path, "coordinator config", "regiozicht coordinator check")
