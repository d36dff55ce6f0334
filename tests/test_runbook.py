"""deploy/RUNBOOK.md is executable documentation: its ```sh host=… blocks, run as written on
one temporary folder per host (standing in for `/`), set up a CA, a coordinator, a counter, an RMC
node and a W&I node made by `init` on synthetic partner databases, and an analyst; the services
started with the ExecStart lines of deploy/systemd/ answer a count and a linked count.

What the test adds is only what a person does between hosts: carrying requests to the CA and
certificates back, and the per-node values a partner types (KIND, ORG, DATABASE)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from analyst.client import AnalystClient, Profile
from regiozicht.pemfiles import load_certificate
from synth.generate import generate

pytestmark = pytest.mark.processes  # starts real processes: left out of `make test-fast`

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
BLOCK = re.compile(r"^ *```sh ([^\n]*)\n(.*?)^ *```", re.DOTALL | re.MULTILINE)
RELOAD = "systemctl reload regiozicht-node"  # a root block the test does as systemd would: SIGHUP (ExecReload)


@dataclass(frozen=True)
class Node:
    host: str
    kind: str
    org: str
    database: str


def _blocks() -> list[tuple[str, bool, str]]:
    """(host, needs the services running, script) of every block the test runs."""
    found = []
    for info, script in BLOCK.findall((ROOT / "deploy" / "RUNBOOK.md").read_text()):
        words = info.split()
        if "root" in words:
            if RELOAD in script:
                found.append(("reload", True, script))
            continue
        host = next(w.removeprefix("host=") for w in words if w.startswith("host="))
        found.append((host, "running" in words, script))
    return found


class Hosts:
    def __init__(self, tmp: Path, port: int) -> None:
        self.tmp, self.port = tmp, port

    def root(self, host: str) -> Path:
        root = self.tmp / host
        for folder in ("etc/regiozicht", "var/lib/regiozicht", "home"):
            (root / folder).mkdir(parents=True, exist_ok=True)
        return root

    def as_written(self, host: str, script: str) -> str:
        root = self.root(host)
        return (script.replace("/etc/regiozicht", str(root / "etc/regiozicht"))
                .replace("/var/lib/regiozicht", str(root / "var/lib/regiozicht"))
                .replace("/opt/regiozicht/bin/", f"{BIN}/")
                .replace("regiozicht.example-regio.nl", "localhost").replace("7443", str(self.port)))

    def run(self, host: str, script: str, env: dict[str, str] | None = None) -> str:
        root = self.root(host)
        environment = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "HOME": str(root / "home"),
                       **(env or {})}
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", self.as_written(host, script)], cwd=root,
                              env=environment, capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, f"{host}: {script}\n{done.stdout}\n{done.stderr}"
        return done.stdout

    # -- the courier ------------------------------------------------------------------------------
    def tls(self, host: str) -> Path:
        if host == "analyst":
            return self.root(host) / "home" / ".config" / "regiozicht"
        return self.root(host) / "etc" / "regiozicht" / "tls"

    def to_ca(self, host: str) -> None:
        ca = self.root("ca")
        for request in [*self.tls(host).glob("*.csr"), *(self.root(host) / "etc" / "regiozicht").glob("*.csr")]:
            shutil.copy(request, ca / request.name)

    def from_ca(self, host: str) -> None:
        ca, target = self.root("ca"), self.tls(host)
        renewed = ca / "node.next.crt"
        if renewed.exists():  # a renewal goes beside the certificate in use, as the runbook says
            shutil.move(renewed, self.root(host) / "var/lib/regiozicht" / renewed.name)
            return
        name = {"coordinator": "coordinator.crt", "counter": "counter.crt", "analyst": "analyst.crt"}.get(host,
                                                                                                           "node.crt")
        shutil.copy(ca / name, target / name)
        shutil.copy(ca / "ca" / "ca.crt", target / "ca.crt")
        if host == "coordinator":
            shutil.copy(ca / "crl.pem", target / "crl.pem")


def _exec_start(unit: str) -> list[str]:
    text = (ROOT / "deploy" / "systemd" / unit).read_text()
    return re.search(r"^ExecStart=(.*)$", text, re.MULTILINE).group(1).split()  # type: ignore[union-attr]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.timeout(900)
def test_the_runbook_sets_up_a_region_that_answers_a_count_and_a_linked_count(tmp_path: Path) -> None:
    generate(tmp_path / "synth", scale=0.02, seed=7, progress=False)
    nodes = [Node("node-rmc", "rmc", "rmc-test", f"sqlite:///{tmp_path / 'synth' / 'rmc.sqlite'}"),
             Node("node-wi", "wi", "wi-regio", f"sqlite:///{tmp_path / 'synth' / 'wi-regio.sqlite'}")]
    hosts = Hosts(tmp_path / "hosts", _free_port())
    processes: list[subprocess.Popen[bytes]] = []
    requester = ""
    before_renewal: dict[str, bytes] = {}
    try:
        for host, running, script in _blocks():
            if running and not processes:
                processes = _start(hosts, nodes)
                _wait_online(hosts, {n.org for n in nodes})
            if host == "reload":
                for process in processes[2:]:  # the node services
                    process.send_signal(signal.SIGHUP)
                continue
            if host == "node" and "renew" in script and not before_renewal:
                before_renewal = {n.org: (hosts.tls(n.host) / "node.crt").read_bytes() for n in nodes}
            if host == "node":
                for node in nodes:
                    values = f"KIND={node.kind} ORG={node.org} DATABASE={node.database}"
                    hosts.run(node.host, re.sub(r"^KIND=.*$", values, script, flags=re.MULTILINE))
                requester = "node"
            elif host == "ca" and requester == "node":
                for node in nodes:  # the CA operator signs each node's request with that node's values
                    hosts.to_ca(node.host)
                    hosts.run("ca", script, {"KIND": node.kind, "ORG": node.org})
                    hosts.from_ca(node.host)
            elif host == "ca" and requester:
                hosts.to_ca(requester)
                hosts.run("ca", script)
                hosts.from_ca(requester)
            else:
                out = hosts.run(host, script)
                requester = host if host != "ca" else requester
                if running and "regiozicht query" in script:
                    assert "vsv" in out and ("∩" in out or "linked" in out.lower()), out
        _assert_renewed(hosts, nodes, before_renewal)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


def _assert_renewed(hosts: Hosts, nodes: list[Node], before: dict[str, bytes]) -> None:
    """After `renew --install` and the reload, each node signs its Describe with the new certificate."""
    assert before, "the runbook's renewal blocks did not run"
    profile = Profile.load(hosts.root("analyst") / "home" / ".config" / "regiozicht" / "profile.toml")
    deadline = time.monotonic() + 60
    while True:
        client = AnalystClient(profile)
        try:
            presented = {n.org: n.entry.describe.certificate for n in client.catalog()
                         if n.online and n.entry is not None}
        finally:
            client.close()
        new = {n.org: load_certificate((hosts.tls(n.host) / "node.crt").read_bytes()) for n in nodes}
        if all(o in presented and load_certificate(presented[o]) == new[o] for o in new):
            break
        assert time.monotonic() < deadline, "the nodes never came back with their renewed certificates"
        time.sleep(1)
    for node in nodes:
        assert load_certificate(before[node.org]).serial_number != new[node.org].serial_number


def _start(hosts: Hosts, nodes: list[Node]) -> list[subprocess.Popen[bytes]]:
    started = []
    for unit, host in [("regiozicht-coordinator.service", "coordinator"), ("regiozicht-counter.service", "counter"),
                       *(("regiozicht-node.service", n.host) for n in nodes)]:
        command = [hosts.as_written(host, part) for part in _exec_start(unit)]
        log = (hosts.root(host) / "service.log").open("wb")
        started.append(subprocess.Popen(command, cwd=hosts.root(host) / "var/lib/regiozicht", stdout=log,
                                        stderr=subprocess.STDOUT))
    return started


def _wait_online(hosts: Hosts, orgs: set[str]) -> None:
    deadline = time.monotonic() + 90
    out = ""
    while time.monotonic() < deadline:
        done = subprocess.run([BIN / "regiozicht", "catalog", "--format", "json"], capture_output=True, text=True,
                              env={**os.environ, "HOME": str(hosts.root("analyst") / "home")}, check=False)
        out = done.stdout + done.stderr
        if done.returncode == 0 and all(f'"{org}"' in out for org in orgs) and '"online": false' not in out:
            return
        time.sleep(1)
    raise AssertionError(f"nodes never came online: {out}")
