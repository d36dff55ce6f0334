"""Builds and runs a region on this machine: a CA, certificates made where
they are used, config files, and the coordinator and nodes as OS processes.

Used by `python -m demo` and by the test suite; library code never imports it.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from regiozicht import authority
from regiozicht.identity import Identity


@dataclass(frozen=True)
class PartnerSetup:
    """One node to run: who it is and what it publishes."""

    node_id: str
    org: str
    kind: str
    database_url: str
    data_as_of: dt.datetime
    datasets: list[dict[str, Any]]
    covenant: dict[str, Any] | None = None  # covenant.toml content; default: demo_covenant()
    coverage: dict[str, list[str]] = field(default_factory=dict)  # node.toml [coverage]
    data_from: dt.date | None = None  # the first date the extract covers (node.toml data_from)
    extracts: Path | None = None  # a folder of extract files the node reads instead of database_url


@dataclass
class RegionFiles:
    root: Path
    ca_dir: Path
    passphrase_file: Path
    coordinator_config: Path
    profile: Path
    crl: Path
    node_configs: dict[str, Path] = field(default_factory=dict)
    port: int = 0
    counter_config: Path | None = None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _issue(files: RegionFiles, directory: Path, identity: Identity, **names: Any) -> None:
    """Key and request made in the party's own directory, then signed by the CA."""
    directory.mkdir(parents=True, exist_ok=True)
    authority.make_request(directory / "key.pem", directory / "request.csr", identity, **names)
    passphrase = files.passphrase_file.read_bytes().strip()
    certificate = authority.sign_request(
        files.ca_dir, passphrase, (directory / "request.csr").read_bytes(),
        role=identity.role, org=identity.org, kind=identity.kind,
    )
    (directory / "cert.pem").write_bytes(certificate)
    (directory / "ca.crt").write_bytes((files.ca_dir / authority.CA_CERT_FILE).read_bytes())


COUNTER_ORG = "regio-teller"  # the demo's counter: an organisation that is party to no run


def demo_covenant(org: str, datasets: list[dict[str, Any]], *, purpose: str = "rmc-monitor",
                  analysts: tuple[str, ...] = ("regio-analist",), epsilon: str = "100",
                  max_epsilon: str = "10", linking: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A covenant letting the region's analysts ask about every dataset and column (WAT included),
    and link what `linking` allows (rules of `[[purposes.linking]]`; none by default).

    δ: 1e-9 per linked run; the per-query limit of 2e-9 lets an anchor link with up to two peer
    nodes (two W&I nodes, two schools), and the yearly 1e-6 lasts a thousand runs.
    """
    covenant: dict[str, Any] = {
        "organisation": org,
        "budget": {"period": "calendar-year", "epsilon": epsilon, "delta": "0.000001"},
        "limits": {"max_epsilon": max_epsilon, "max_delta": "0.000000002", "typical_epsilon": "0.5"},
        "parties": [{"role": "analyst", "org": analyst, "purposes": [purpose]} for analyst in analysts],
        "purposes": [{
            "id": purpose,
            "description": "Regional monitoring of young people between school and work (RMC-functie).",
            "legal_basis": "publieke taak",
            "law": "Wet op het voortgezet onderwijs, art. 8a en 8b (RMC-functie); Leerplichtwet 1969",
            "wat_allowed": True,
            "datasets": {d["name"]: sorted(d["dimensions"]) for d in datasets},
        }],
    }
    if linking:
        covenant["purposes"][0]["linking"] = linking
        covenant["linked"] = {"counters": [COUNTER_ORG]}
    return covenant


def _write_toml(path: Path, document: dict[str, Any]) -> None:
    path.write_text(tomli_w.dumps(document))


def build(root: Path, partners: list[PartnerSetup], *, port: int | None = None) -> RegionFiles:
    """Creates the CA, every certificate, the revocation list and all config files."""
    root.mkdir(parents=True, exist_ok=True)
    files = RegionFiles(
        root=root, ca_dir=root / "ca", passphrase_file=root / "ca-passphrase",
        coordinator_config=root / "coordinator" / "coordinator.toml", profile=root / "analyst" / "profile.toml",
        crl=root / "coordinator" / "crl.pem", port=port or free_port(),
    )
    files.passphrase_file.write_text(secrets.token_urlsafe(24))
    os.chmod(files.passphrase_file, 0o600)
    passphrase = files.passphrase_file.read_bytes().strip()
    authority.init_ca(files.ca_dir, passphrase, name="Regiozicht demo region CA")
    _issue(files, root / "coordinator", Identity("coordinator", "regio-hub"),
           dns_names=["localhost"], ip_addresses=["127.0.0.1"])
    files.crl.write_bytes(authority.make_crl(files.ca_dir, passphrase))
    _write_toml(files.coordinator_config, {
        "server": {"listen": f"127.0.0.1:{files.port}", "query_timeout_seconds": 60},
        "tls": {"ca": "ca.crt", "certificate": "cert.pem", "key": "key.pem", "revocation_list": "crl.pem"},
    })
    _issue(files, root / "analyst", Identity("analyst", "regio-analist"))
    _write_toml(files.profile, {
        "coordinator": f"localhost:{files.port}", "ca": "ca.crt", "certificate": "cert.pem", "key": "key.pem",
    })
    _issue(files, root / "counter", Identity("counter", COUNTER_ORG))
    files.counter_config = root / "counter" / "counter.toml"
    _write_toml(files.counter_config, {
        "counter": {"org": COUNTER_ORG},
        "coordinator": {"address": f"localhost:{files.port}"},
        "tls": {"ca": "ca.crt", "certificate": "cert.pem", "key": "key.pem"},
    })
    for partner in partners:
        directory = root / "nodes" / partner.node_id
        _issue(files, directory, Identity("node", partner.org, partner.kind))
        config = directory / "node.toml"
        _write_toml(directory / "covenant.toml", partner.covenant or demo_covenant(partner.org, partner.datasets))
        _write_toml(config, {
            "node": {"org": partner.org, "kind": partner.kind, "data_as_of": partner.data_as_of,
                     **({"data_from": partner.data_from} if partner.data_from else {})},
            "coordinator": {"address": f"localhost:{files.port}"},
            "tls": {"ca": "ca.crt", "certificate": "cert.pem", "key": "key.pem"},
            "database": {"folder": str(partner.extracts)} if partner.extracts else {"url": partner.database_url},
            "state": {"url": "sqlite:///state.sqlite"},
            "covenant": "covenant.toml",
            "datasets": partner.datasets,
            **({"coverage": partner.coverage} if partner.coverage else {}),
        })
        files.node_configs[partner.node_id] = config
    return files


def terminate(process: subprocess.Popen[bytes], grace: float = 10) -> None:
    """Stops a service process as systemd would: SIGTERM, then SIGKILL after `grace` seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class RunningRegion:
    """The coordinator and nodes as child processes, stopped together."""

    def __init__(self, files: RegionFiles, *, log_dir: Path | None = None) -> None:
        self.files = files
        self.log_dir = log_dir or files.root / "logs"
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def _spawn(self, name: str, args: list[str]) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = (self.log_dir / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def start_coordinator(self) -> None:
        self._spawn("coordinator", [_script("regiozicht"), "coordinator", "serve", "--config",
                                    str(self.files.coordinator_config)])

    def start_node(self, node_id: str) -> None:
        self._spawn(f"node-{node_id}", [_script("regiozicht-node"), "serve", "--config",
                                        str(self.files.node_configs[node_id])])

    def start_counter(self) -> None:
        assert self.files.counter_config is not None
        self._spawn("counter", [_script("regiozicht"), "counter", "serve", "--config",
                                str(self.files.counter_config)])

    def stop_process(self, name: str) -> None:
        process = self.processes.pop(name, None)
        if process is not None:
            terminate(process)

    def start(self) -> None:
        self.start_coordinator()
        self.start_counter()
        for node_id in self.files.node_configs:
            self.start_node(node_id)

    def wait_until_online(self, orgs: set[str], timeout: float = 60.0) -> None:
        """Polls the catalog as the analyst until every named node is online."""
        from analyst.client import AnalystClient, Profile
        from regiozicht.errors import Unavailable

        deadline = time.monotonic() + timeout
        client = AnalystClient(Profile.load(self.files.profile))
        try:
            while True:
                self._check_alive()
                try:
                    online = {n.org for n in client.catalog() if n.online}
                    if "counter" in self.processes:
                        online |= set(client.counters())
                        orgs = orgs | {COUNTER_ORG}
                    if orgs <= online:
                        return
                except Unavailable:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"nodes not online after {timeout:.0f} s; see the logs in {self.log_dir}")
                time.sleep(0.2)
        finally:
            client.close()

    def _check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}; see {self.log_dir / (name + '.log')}")

    def stop(self) -> None:
        for name in [n for n in self.processes if n != "coordinator"] + ["coordinator"]:
            self.stop_process(name)


def _script(name: str) -> str:
    """The console script installed beside this interpreter."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name
