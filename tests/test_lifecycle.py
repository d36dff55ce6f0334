"""Operating a region day to day: both CLIs say their version, the coordinator answers the
standard gRPC health check, and a second `serve` with a certificate already connected is refused
with one sentence to it and one log line at the coordinator, while the first keeps serving (no
flapping) and `check` still reaches the coordinator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
import tomli_w
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.conftest import TinyRegion

pytestmark = pytest.mark.processes  # starts real processes: left out of `make test-fast`

BIN = Path(sys.executable).parent


def _run(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "COLUMNS": "250"})


def _second_node(region: TinyRegion, tmp_path: Path) -> Path:
    """school-1's node.toml with its own state folder: the same certificate, another process."""
    source = region.files.node_configs["school1"]
    raw = tomllib.loads(source.read_text())
    for key in ("ca", "certificate", "key"):
        raw["tls"][key] = str((source.parent / raw["tls"][key]).resolve())
    raw["covenant"] = str((source.parent / raw["covenant"]).resolve())
    (tmp_path / "state").mkdir()
    raw["state"] = {"url": f"sqlite:///{tmp_path / 'state' / 'node-state.sqlite'}"}
    config = tmp_path / "node.toml"
    config.write_text(tomli_w.dumps(raw))
    return config


def _stop(process: subprocess.Popen[str]) -> str:
    """Its output, after SIGTERM (SIGKILL if it takes over a minute: only what it said matters here)."""
    process.terminate()
    try:
        output, _ = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate(timeout=30)
    return output


def _status(region: TinyRegion, fmt: str) -> str:
    done = _run(BIN / "regiozicht", "status", "--format", fmt, "--profile", region.files.profile)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_status_shows_each_nodes_state_version_certificate_and_counters(region: TinyRegion) -> None:
    from regiozicht.query import build_count
    from regiozicht.version import software_version
    from tests import tiny

    before = {r["node"]: r for r in json.loads(_status(region, "json"))["rows"]}
    client = region.client()
    try:
        client.count(build_count("registratie", epsilon="1", purpose="test", peildatum=tiny.PEILDATUM, by=["sex"]))
    finally:
        client.close()
    rows = {r["node"]: r for r in json.loads(_status(region, "json"))["rows"]}
    assert set(rows) >= {"school-1", "school-2"}
    for org in ("school-1", "school-2"):
        row = rows[org]
        assert row["online"] is True and row["kind"] == "school" and row["last_seen"]
        assert row["version"] == software_version() and "count" in row["capabilities"]
        assert row["certificate_days_left"] >= 1 and row["certificate_expires"][:2] == "20"
        assert row["data_as_of"].startswith(tiny.DATA_AS_OF.date().isoformat())
        assert row["queries"] == before[org]["queries"] + 1 and row["answered"] == before[org]["answered"] + 1
        assert row["connections"] >= 1 and "last_error" in row
    csv_text = _status(region, "csv")
    assert csv_text.splitlines()[0].startswith("node,kind,online,last_seen,version,capabilities,certificate_expires")
    assert "school-1" in _status(region, "table")


def test_both_clis_print_their_version() -> None:
    for program in ("regiozicht", "regiozicht-node"):
        done = _run(BIN / program, "--version")
        assert done.returncode == 0, done.stderr
        name, version = done.stdout.split()
        assert name == program and version[0].isdigit()


def test_the_coordinator_serves_the_standard_health_check(region: TinyRegion) -> None:
    client = region.client()
    try:
        stub = health_pb2_grpc.HealthStub(client.channel)
        for service in ("", "regiozicht.v1.Coordinator"):
            # the health stub package declares HealthStub without its methods
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)  # type: ignore[attr-defined]
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        client.close()


def test_a_second_serve_with_a_connected_certificate_is_refused_without_flapping(
        region: TinyRegion, tmp_path: Path) -> None:
    config = _second_node(region, tmp_path)
    coordinator_log = region.files.root / "logs" / "coordinator.log"
    log_before = coordinator_log.read_text()
    log = tmp_path / "second-node.log"
    wanted = "already connected to the coordinator from another process"
    with log.open("w") as out:
        second = subprocess.Popen([str(BIN / "regiozicht-node"), "serve", "-c", str(config)],
                                  stdout=out, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 90
        while log.read_text().count(wanted) < 3:  # refused, and retried (with backoff) more than once
            assert time.monotonic() < deadline and second.poll() is None, log.read_text()
            time.sleep(0.5)
        client = region.client()
        try:
            assert {n.org for n in client.catalog() if n.online} >= {"school-1", "school-2"}
        finally:
            client.close()
        # check still reaches the coordinator while serve runs (no takeover, no problem)
        done = _run(BIN / "regiozicht-node", "check", "-c", config)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "acknowledged this node's Describe" in done.stdout
    finally:
        _stop(second)
    assert "Traceback" not in log.read_text()
    status = _status(region, "json")
    school1 = next(r for r in json.loads(status)["rows"] if r["node"] == "school-1")
    assert school1["refused_connections"] >= 1 and "second connection" in school1["last_error"]
    new_log = coordinator_log.read_text()[len(log_before):]
    assert new_log.count("a second connection") == 1, new_log
    # the first connection was never knocked off
    assert "node school-1 (school) disconnected" not in new_log and "node school-1 (school) connected" not in new_log


def test_a_second_counter_with_a_connected_certificate_is_refused(region: TinyRegion, tmp_path: Path) -> None:
    assert region.files.counter_config is not None
    log = tmp_path / "second-counter.log"
    wanted = "Counter regio-teller is already connected to the coordinator from another process"
    with log.open("w") as out:
        second = subprocess.Popen([str(BIN / "regiozicht"), "counter", "serve", "-c", str(region.files.counter_config)],
                                  stdout=out, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 90  # the counter starts its worker processes first
        while wanted not in log.read_text():
            assert time.monotonic() < deadline and second.poll() is None, log.read_text()
            time.sleep(0.5)
        client = region.client()
        try:
            assert client.counters() == ["regio-teller"]
        finally:
            client.close()
    finally:
        _stop(second)
    assert "Traceback" not in log.read_text()


def test_the_same_process_reconnecting_replaces_its_stream_and_another_process_is_refused() -> None:
    """Without a FIN (a network cut) the old stream lingers; the node's own reconnect must not wait for it."""
    import pytest

    from coordinator.hub import Hub, NodeSession
    from regiozicht.errors import AlreadyConnected
    from regiozicht.identity import Identity
    from regiozicht.v1 import regiozicht_pb2 as pb

    identity = Identity("node", "school-1", "school")

    def session(instance: str) -> NodeSession:
        return NodeSession(identity, pb.Signed(), pb.Describe(org="school-1", kind="school"), instance=instance)

    hub = Hub()
    first, again, other = session("a"), session("a"), session("b")
    hub.attach(first)
    hub.attach(again)
    assert first.closed and hub.sessions() == [again]
    with pytest.raises(AlreadyConnected, match="already connected to the coordinator from another process"):
        hub.attach(other)
    assert hub.sessions() == [again] and not again.closed
    hub.detach(again)
    hub.attach(other)  # once the first process is gone, the other takes over
    assert hub.sessions() == [other]
