"""A region over Linux network namespaces: the coordinator and each node in a namespace of its own,
joined by veth pairs on addresses that exist only inside the test's namespaces, every party a real
process started with the project's CLIs (`ip netns exec NS regiozicht…`). The nodes dial the
coordinator's address, not localhost, and verify who answers there; a second process with a
certificate already connected is refused in one sentence without knocking the first off; an
unreachable coordinator is one sentence and exit 2 in `check`, and retries with backoff in `serve`;
and deploy/firewall/*.nft, loaded inside the namespaces, let the node's outbound stream through and
nothing else (issue 13).

Needs root and `ip netns` (and nft for the firewall): skipped without them, failed under CI."""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from demo.region import RegionFiles, build, terminate
from regiozicht import authority, dp
from regiozicht.identity import Identity
from tests import netns, tiny
from tests.conftest import tiny_partners
from tests.netns import Net

pytestmark = pytest.mark.processes  # starts real processes: left out of `make test-fast`

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent
PORT = 7443  # the namespaces are the test's own: the documented port is free in them


@pytest.fixture(autouse=True)
def _need_namespaces() -> None:
    netns.require()


def run(command: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)


def _edit(path: Path, change: Callable[[dict[str, Any]], object]) -> None:
    document = tomllib.loads(path.read_text())
    change(document)
    path.write_text(tomli_w.dumps(document))


def issue_coordinator(files: RegionFiles, directory: Path, *, ip: str, org: str = "regio-hub",
                      ca_dir: Path | None = None, passphrase: Path | None = None) -> None:
    """The coordinator's key and request made in its folder, signed by a CA (the region's unless named)
    for the address nodes dial, as `regiozicht pki request --ip` and `pki sign --ip` do."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_dir = ca_dir or files.ca_dir
    identity = Identity("coordinator", org)
    authority.make_request(directory / "coordinator.key", directory / "coordinator.csr", identity, ip_addresses=[ip])
    certificate = authority.sign_request(ca_dir, (passphrase or files.passphrase_file).read_bytes().strip(),
                                   (directory / "coordinator.csr").read_bytes(), role="coordinator", org=org,
                                   ip_addresses=[ip])
    (directory / "coordinator.crt").write_bytes(certificate)
    shutil.copy(ca_dir / authority.CA_CERT_FILE, directory / "ca.crt")


def region_files(root: Path, net: Net) -> RegionFiles:
    """The tiny school region (a node per node namespace), every address the coordinator's in its namespace."""
    partners, _, _ = tiny_partners(root, persons=60)
    files = build(root / "region", partners[:len(net.nodes)])
    address = f"{net.coordinator_address}:{PORT}"
    issue_coordinator(files, files.coordinator_config.parent, ip=net.coordinator_address)
    _edit(files.coordinator_config, lambda c: (c["server"].update(listen=address),
                                               c["tls"].update(certificate="coordinator.crt", key="coordinator.key")))
    _edit(files.profile, lambda p: p.update(coordinator=address))
    for config in files.node_configs.values():
        _edit(config, lambda n: n["coordinator"].update(address=address))
    return files


@dataclass
class Processes:
    """Real processes, each inside a namespace, with a log file each; stopped together."""

    logs: Path
    running: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, namespace: str, *command: str) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        with (self.logs / f"{name}.log").open("ab") as log:
            self.running[name] = subprocess.Popen(Net.exec(namespace, str(BIN / command[0]), *command[1:]),
                                                  stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def coordinator(self, net: Net, config: Path, name: str = "coordinator") -> None:
        self.start(name, net.coordinator, "regiozicht", "coordinator", "serve", "--config", str(config))

    def node(self, name: str, namespace: str, config: Path) -> None:
        self.start(name, namespace, "regiozicht-node", "serve", "--config", str(config))

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def alive(self, name: str) -> bool:
        return self.running[name].poll() is None

    def stop(self, name: str) -> None:
        terminate(self.running.pop(name))

    def stop_all(self) -> None:
        for name in [n for n in self.running if n != "coordinator"] + [n for n in self.running if n == "coordinator"]:
            self.stop(name)


@contextlib.contextmanager
def processes(root: Path) -> Iterator[Processes]:
    running = Processes(root / "logs")
    try:
        yield running
    finally:
        running.stop_all()


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 45, running: Processes | None = None) -> None:
    """Polls `condition`; on a timeout the failure shows the end of every process's log."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            logs = "".join(f"\n--- {name}:\n{running.log(name)[-1500:]}" for name in running.running) if running else ""
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{logs}")
        time.sleep(0.2)


CONNECTED = "connected to the coordinator at"  # the node's log line on its stream's first message


def wait_connected(running: Processes, *names: str, what: str = "", timeout: float = 45) -> None:
    """Every named node has logged its connection: the coordinator has attached it."""
    wait_for(lambda: all(CONNECTED in running.log(name) for name in names), what or f"{', '.join(names)} to connect",
             timeout, running)


def count(net: Net, files: RegionFiles, epsilon: str = "1") -> subprocess.CompletedProcess[str]:
    return run(Net.exec(net.coordinator, str(BIN / "regiozicht"), "query", "count", "registratie", "--by", "sex",
                        "--epsilon", epsilon, "--purpose", "test", "--at", tiny.PEILDATUM.isoformat(),
                        "--format", "json", "--profile", str(files.profile)))


def answered_by(done: subprocess.CompletedProcess[str], nodes: int, epsilon: float = 1.0) -> None:
    """Exit 0, and every cell's interval is that of exactly `nodes` nodes' noise (each node answered)."""
    assert done.returncode == 0, done.stdout + done.stderr
    width = dp.sum_half_width([dp.count_scale(epsilon)] * nodes)
    rows = json.loads(done.stdout)["rows"]
    assert rows and all(abs(r["value"] - r["ci_low"] - width) < 1e-6 for r in rows), done.stdout


def node_check(namespace: str, config: Path) -> subprocess.CompletedProcess[str]:
    return run(Net.exec(namespace, str(BIN / "regiozicht-node"), "check", "--config", str(config)))


def both_nodes_connected(tmp_path: Path, net: Net, running: Processes) -> RegionFiles:
    """The coordinator in its namespace and school-1 and school-2 in theirs, both connected."""
    files = region_files(tmp_path, net)
    running.coordinator(net, files.coordinator_config)
    for name, namespace in zip(files.node_configs, net.nodes):
        running.node(name, namespace, files.node_configs[name])
    wait_connected(running, "school1", "school2")
    return files


# -- a: the region over the namespaces ---------------------------------------------------------------


def test_nodes_in_their_own_namespaces_answer_a_count_through_the_coordinators_address(tmp_path: Path) -> None:
    with netns.namespaces(2) as net, processes(tmp_path) as running:
        files = both_nodes_connected(tmp_path, net, running)
        answered_by(count(net, files), nodes=2)
        for namespace in net.nodes:  # through the coordinator's address: on a node's own host nothing listens
            assert probe(namespace, "127.0.0.1", PORT) == "Connection refused"
        check = node_check(net.nodes[0], files.node_configs["school1"])
        assert check.returncode == 0, check.stdout + check.stderr
        assert f"coordinator {net.coordinator_address}:{PORT} reached" in check.stdout


# -- b: a second process with a certificate already connected ----------------------------------------


def test_a_second_process_with_a_connected_certificate_is_refused_in_a_sentence_and_the_first_keeps_serving(
        tmp_path: Path) -> None:
    with netns.namespaces(2) as net, processes(tmp_path) as running:
        files = both_nodes_connected(tmp_path, net, running)
        # school-1's folder (its certificate and key) copied to the other namespace's host, and served there too
        copy = tmp_path / "copy-of-school1"
        shutil.copytree(files.node_configs["school1"].parent, copy, ignore=shutil.ignore_patterns("state*"))
        running.node("second", net.nodes[1], copy / "node.toml")
        wait_for(lambda: running.log("second").count("already connected") >= 2, "the refusal, retried", running=running)
        refusal = next(line for line in running.log("second").splitlines() if "already connected" in line)
        first = net.address(net.nodes[0])
        assert re.search(rf"Node school-1 is already connected to the coordinator from another process "
                         rf"\(ipv4:{re.escape(first)}:\d+\); stop the other `regiozicht-node serve` that uses this "
                         r"certificate", refusal), refusal
        assert "Traceback" not in running.log("second") and running.alive("second")  # it waits, with backoff
        coordinator = running.log("coordinator")
        assert re.search(rf"node node school-1 \(school\): a second connection from ipv4:"
                         rf"{re.escape(net.address(net.nodes[1]))}:\d+ was refused", coordinator), coordinator
        # the first keeps serving: never knocked off, and it answers
        answered_by(count(net, files), nodes=2)
        coordinator = running.log("coordinator")
        assert coordinator.count("node node school-1 (school) connected") == 1, coordinator
        assert "school-1 (school) disconnected" not in coordinator, coordinator
        # the first process stops: the second takes over (the refusal told its operator so)
        running.stop("school1")
        wait_connected(running, "second", what="the second process to take over", timeout=60)
        answered_by(count(net, files), nodes=2)


# -- c: the node verifies whom it dials ----------------------------------------------------------------


def _impostor_config(files: RegionFiles, directory: Path) -> Path:
    """A coordinator.toml serving `directory`'s coordinator.crt at the real coordinator's address (it trusts
    the regional CA for clients, so any refusal is the node's)."""
    for name in ("crl.pem",):
        shutil.copy(files.coordinator_config.parent / name, directory / name)
    shutil.copy(files.ca_dir / "ca.crt", directory / "regional-ca.crt")
    config = tomllib.loads(files.coordinator_config.read_text())
    config["tls"].update(ca="regional-ca.crt", certificate="coordinator.crt", key="coordinator.key")
    (directory / "coordinator.toml").write_text(tomli_w.dumps(config))
    return directory / "coordinator.toml"


def _foreign_ca(root: Path) -> tuple[Path, Path]:
    passphrase = root / "foreign-passphrase"
    passphrase.write_text("not the region's CA")
    authority.init_ca(root / "foreign-ca", passphrase.read_bytes(), name="Some other region's CA")
    return root / "foreign-ca", passphrase


@pytest.mark.parametrize("impostor", ["another-address", "another-ca"])
def test_a_node_refuses_a_server_at_the_coordinators_address_that_is_not_the_regions_coordinator(
        tmp_path: Path, impostor: str) -> None:
    with netns.namespaces(1) as net, processes(tmp_path) as running:
        files = region_files(tmp_path, net)
        directory = tmp_path / impostor
        if impostor == "another-address":  # the regional CA's coordinator certificate, for another address and org
            issue_coordinator(files, directory, ip=f"{net.subnet}.99", org="elders-hub")
        else:  # the right address and org, from a CA that is not the region's
            ca_dir, passphrase = _foreign_ca(tmp_path)
            issue_coordinator(files, directory, ip=net.coordinator_address, ca_dir=ca_dir, passphrase=passphrase)
        running.coordinator(net, _impostor_config(files, directory), name="impostor")
        config = files.node_configs["school1"]
        wait_for(lambda: _listening(net), "the impostor to listen", running=running)
        check = node_check(net.nodes[0], config)
        assert check.returncode == 2, check.stdout + check.stderr
        problems = [line for line in check.stderr.splitlines() if line.startswith("problem:")]
        assert len(problems) == 1, check.stdout + check.stderr
        assert f"The server at {net.coordinator_address}:{PORT} is not the region's coordinator" in problems[0], problems
        assert "Traceback" not in check.stdout + check.stderr
        running.node("school1", net.nodes[0], config)
        wait_for(lambda: running.log("school1").count("is not the region's coordinator") >= 2,
                 "the node to refuse, and retry", running=running)
        assert "Traceback" not in running.log("school1")
        assert CONNECTED not in running.log("school1")


def _listening(net: Net) -> bool:
    return probe(net.coordinator, net.coordinator_address, PORT) == "connected"


def probe(namespace: str, host: str, port: int, timeout: float = 1.5) -> str:
    """From inside `namespace`: 'connected', 'timed out' (dropped on the way) or the error (e.g. refused)."""
    script = ("import socket, sys\n"
              "try:\n"
              f"    socket.create_connection(({host!r}, {port}), timeout={timeout}).close(); print('connected')\n"
              "except TimeoutError: print('timed out')\n"
              "except OSError as exc: print(exc.strerror)\n")
    return run(Net.exec(namespace, sys.executable, "-c", script)).stdout.strip()


# -- d: an unreachable coordinator ---------------------------------------------------------------------


def test_an_unreachable_coordinator_is_one_sentence_in_check_and_a_backoff_in_serve(tmp_path: Path) -> None:
    with netns.namespaces(1) as net, processes(tmp_path) as running:
        files = region_files(tmp_path, net)
        config, node = files.node_configs["school1"], net.nodes[0]
        address = f"{net.coordinator_address}:{PORT}"
        for situation in ("nothing listening", "cable out"):
            net.link(node, up=situation != "cable out")
            check = node_check(node, config)
            assert check.returncode == 2, situation + check.stdout + check.stderr
            problems = [line for line in check.stderr.splitlines() if line.startswith("problem:")]
            unreachable = (f"problem: Cannot reach the coordinator at {address} within 5 s with this node's "
                           "certificate; check [coordinator] address (host and port), the firewall (outbound), "
                           "and that the coordinator runs.")
            assert problems == [unreachable], situation + check.stdout + check.stderr
            assert "Traceback" not in check.stdout + check.stderr
        net.link(node, up=True)
        running.node("school1", node, config)
        wait_for(lambda: len(_retries(running.log("school1"))) >= 3, "three retries", running=running)
        delays = _retries(running.log("school1"))
        # jittered exponential backoff: 0.5 s doubling, each drawn from 0.5–1.5 times its step
        for step, delay in enumerate(delays[:3]):
            assert 0.25 * 2 ** step <= delay <= 0.75 * 2 ** step + 0.05, delays
        assert all(f"cannot reach the coordinator at {address}" in line
                   for line in running.log("school1").splitlines() if "retrying in" in line)
        running.coordinator(net, files.coordinator_config)
        wait_connected(running, "school1", timeout=40)
        answered_by(count(net, files), nodes=1)
        assert "Traceback" not in running.log("school1")


def _retries(log: str) -> list[float]:
    return [float(m) for m in re.findall(r"retrying in ([0-9.]+) s", log)]


# -- the firewall: deploy/firewall/*.nft inside the namespaces ------------------------------------------


def load_firewall(namespace: str, name: str, directory: Path, address: str, port: int) -> None:
    """deploy/firewall/NAME with its two define lines edited as a partner would, loaded with nft -f."""
    text = (ROOT / "deploy" / "firewall" / name).read_text()
    text, addresses = re.subn(r"^define COORDINATOR_ADDRESS = .*$", f"define COORDINATOR_ADDRESS = {address}", text,
                              flags=re.MULTILINE)
    text, ports = re.subn(r"^define COORDINATOR_PORT = .*$", f"define COORDINATOR_PORT = {port}", text, flags=re.MULTILINE)
    assert addresses == ports == 1, f"{name} must define the coordinator's address and port once each, at the top"
    (directory / name).write_text(text)
    for attempt in range(2):  # loading it twice (a reload) must work too
        done = run(Net.exec(namespace, "nft", "-f", str(directory / name)))
        assert done.returncode == 0, f"nft -f {name} (load {attempt + 1}): {done.stderr}"


def test_the_firewalls_let_the_nodes_stream_out_and_nothing_else(tmp_path: Path) -> None:
    netns.require("nft")
    with netns.namespaces(2) as net, processes(tmp_path) as running:
        files = region_files(tmp_path, net)
        walled, open_node = net.nodes  # school-1 behind node.nft, school-2 without a firewall
        coordinator = net.coordinator_address
        running.start("listener-node", walled, Path(sys.executable).name, "-c", LISTEN.format(port=9000))
        running.start("listener-coordinator", net.coordinator, Path(sys.executable).name, "-c",
                      LISTEN.format(port=9001))
        wait_for(lambda: probe(open_node, net.address(walled), 9000) == "connected", "the listeners", running=running)
        # without the firewalls each of these connects
        assert probe(open_node, net.address(walled), 9000) == "connected"
        assert probe(walled, coordinator, 9001) == "connected"
        load_firewall(walled, "node.nft", tmp_path, coordinator, PORT)
        load_firewall(net.coordinator, "coordinator.nft", tmp_path, coordinator, PORT)
        running.coordinator(net, files.coordinator_config)
        for name, namespace in zip(files.node_configs, net.nodes):
            running.node(name, namespace, files.node_configs[name])
        wait_connected(running, "school1", "school2", what="both nodes to connect through the firewalls")
        answered_by(count(net, files), nodes=2)
        check = node_check(walled, files.node_configs["school1"])
        assert check.returncode == 0, check.stdout + check.stderr
        # node.nft: nothing gets in (dropped, not refused: the SYN gets no answer) ...
        assert probe(open_node, net.address(walled), 9000) == "timed out"
        # ... and nothing gets out but the stream to the coordinator's port
        assert probe(walled, coordinator, 9001) in DROPPED
        # coordinator.nft: only its port is open, to a node without a firewall too
        assert probe(open_node, coordinator, 9001) == "timed out"
        assert probe(open_node, coordinator, PORT) == "connected"


DROPPED = ("timed out", "Operation not permitted")  # the output hook drops the SYN: retried until the timeout, or EPERM
LISTEN = ("import socket\n"
          "server = socket.create_server(('0.0.0.0', {port}))\n"
          "while True:\n"
          "    server.accept()[0].close()\n")
