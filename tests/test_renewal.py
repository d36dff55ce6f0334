"""Certificates and revocation lists run out, so renewing is routine: `regiozicht-node renew` makes
a new key and request beside the current ones (the node keeps serving), `renew --install` puts the
signed certificate and the new key in place after checking them, and SIGHUP makes the running node
use them — no restart. Node and coordinator warn ahead of a certificate's expiry (< 14 days) and of
the revocation list's nextUpdate (< 2 days)."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from node import config as node_config
from regiozicht.query import build_count
from tests import tiny
from tests.conftest import TinyRegion, running_tiny

pytestmark = pytest.mark.processes  # starts real processes: left out of `make test-fast`

BIN = Path(sys.executable).parent


def _run(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def own_region(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TinyRegion]:
    """A region of its own: this test changes a node's certificate and the revocation list."""
    with running_tiny(tmp_path_factory.mktemp("renewal")) as running:
        yield running


def _days_left(region: TinyRegion, org: str) -> int:
    done = _run(BIN / "regiozicht", "status", "--format", "json", "--profile", region.files.profile)
    assert done.returncode == 0, done.stderr
    return int(next(r for r in json.loads(done.stdout)["rows"] if r["node"] == org)["certificate_days_left"])


def _sign(region: TinyRegion, request: Path, out: Path, org: str, days: int) -> None:
    done = _run(BIN / "regiozicht", "pki", "sign", request, "--role", "node", "--org", org, "--kind", "school",
                "--ca-dir", region.files.ca_dir, "--passphrase-file", region.files.passphrase_file, "--out", out,
                "--days", days)
    assert done.returncode == 0, done.stderr


def test_renew_install_and_sighup_switch_a_running_node_to_its_new_certificate(
        own_region: TinyRegion, tmp_path: Path) -> None:
    config = own_region.files.node_configs["school1"]
    cfg = node_config.load(config)
    old_key = cfg.tls.key.read_bytes()
    assert _days_left(own_region, "school-1") >= 29

    done = _run(BIN / "regiozicht-node", "renew", "-c", config)
    assert done.returncode == 0, done.stderr
    new_key, request = cfg.tls.key.with_name("key.next.pem"), cfg.tls.key.with_name("key.next.csr")
    assert request.is_file() and stat.S_IMODE(new_key.stat().st_mode) == 0o600
    assert cfg.tls.key.read_bytes() == old_key  # the current key stays in use until --install
    again = _run(BIN / "regiozicht-node", "renew", "-c", config)
    assert again.returncode == 2 and "already under way" in again.stderr and "Traceback" not in again.stderr

    # another node's certificate is refused in one sentence, and nothing is replaced
    other = node_config.load(own_region.files.node_configs["school2"]).tls.certificate
    wrong = _run(BIN / "regiozicht-node", "renew", "-c", config, "--install", other)
    assert wrong.returncode == 2 and "is for node school-2" in wrong.stderr and "Traceback" not in wrong.stderr
    assert cfg.tls.key.read_bytes() == old_key

    _sign(own_region, request, tmp_path / "node.crt", "school-1", days=10)
    installed = _run(BIN / "regiozicht-node", "renew", "-c", config, "--install", tmp_path / "node.crt")
    assert installed.returncode == 0, installed.stderr
    assert cfg.tls.key.read_bytes() != old_key and not new_key.exists()

    own_region.running.processes["node-school1"].send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 60
    while _days_left(own_region, "school-1") > 10:
        assert time.monotonic() < deadline, "the node did not pick up its new certificate"
        time.sleep(1)
    own_region.running.wait_until_online({"school-1", "school-2"})
    client = own_region.client()
    try:
        result = client.count(build_count("registratie", epsilon="1", purpose="test", peildatum=tiny.PEILDATUM,
                                          by=["sex"]))
    finally:
        client.close()
    assert not result.failures
    logs = own_region.files.root / "logs"
    node_log = (logs / "node-school1.log").read_text()
    assert "certificate reloaded" in node_log
    assert "this node's (school-1) certificate expires at" in node_log  # under 14 days: warned
    assert "node school-1's certificate expires at" in (logs / "coordinator.log").read_text()
    assert own_region.running.processes["node-school1"].poll() is None  # never restarted


def test_a_revocation_list_near_its_next_update_is_warned_about(own_region: TinyRegion) -> None:
    files = own_region.files
    done = _run(BIN / "regiozicht", "pki", "crl", "--ca-dir", files.ca_dir, "--passphrase-file",
                files.passphrase_file, "--out", files.crl.with_suffix(".new"), "--days", "1")
    assert done.returncode == 0, done.stderr
    os.replace(files.crl.with_suffix(".new"), files.crl)
    logs = files.root / "logs"
    deadline = time.monotonic() + 30
    wanted = "the revocation list expires at"
    while wanted not in (logs / "coordinator.log").read_text() or wanted not in (logs / "node-school2.log").read_text():
        assert time.monotonic() < deadline, "no warning of the revocation list's nextUpdate"
        time.sleep(0.5)
