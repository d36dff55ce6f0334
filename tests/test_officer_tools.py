"""The privacy officer's and CA users' tools say what they hold: a covenant's service parties with their
query hashes, a placeholder hash refused, a query's hash computed without sending it, an audit
comparison with nothing to compare against failing, and `pki request` as the runbook writes it."""

from __future__ import annotations

import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from analyst.monitor import query_hash
from regiozicht.query import build_count

pytestmark = pytest.mark.processes  # starts real processes: left out of `make test-fast`

BIN = Path(sys.executable).parent
DEPLOY = Path(__file__).resolve().parent.parent / "deploy" / "examples"
SERVICE_HASH = "a" * 63 + "b"


def _run(*args: object, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120, check=False, cwd=cwd)


def _example_node(tmp_path: Path, service_hash: str) -> Path:
    for name in ("node.toml", "covenant.toml"):
        shutil.copy(DEPLOY / name, tmp_path / name)
    (tmp_path / "state").mkdir()
    covenant = tmp_path / "covenant.toml"
    covenant.write_text(covenant.read_text() + f'''
[[parties]]
role = "service"
org = "regio-dashboard"
purposes = ["monitor"]
queries = ["{service_hash}"]
''')
    return tmp_path / "node.toml"


def test_covenant_check_shows_service_parties_with_their_query_hashes(tmp_path: Path) -> None:
    done = _run(BIN / "regiozicht-node", "covenant", "check", "-c", _example_node(tmp_path, SERVICE_HASH),
                "--format", "json")
    assert done.returncode == 0, done.stderr
    assert '"query_hash": "' + SERVICE_HASH in done.stdout and '"linking"' in done.stdout
    table = _run(BIN / "regiozicht-node", "covenant", "check", "-c", tmp_path / "node.toml")
    assert table.returncode == 0 and SERVICE_HASH[:20] in table.stdout and "regio-dashboard" in table.stdout
    assert "Linked counts" in table.stdout


def test_the_all_zeros_placeholder_hash_is_refused_at_load(tmp_path: Path) -> None:
    done = _run(BIN / "regiozicht-node", "covenant", "check", "-c", _example_node(tmp_path, "0" * 64))
    assert done.returncode == 2
    assert "placeholder" in done.stderr and "Traceback" not in done.stderr


def test_query_count_hash_prints_the_canonical_hash_without_a_profile(tmp_path: Path) -> None:
    done = _run(BIN / "regiozicht", "query", "count", "vsv", "--by", "gemeente", "--epsilon", "0.50",
                "--purpose", "monitor", "--at", "2026-10-01", "--hash", "--profile", tmp_path / "absent.toml")
    assert done.returncode == 0, done.stderr
    import datetime as dt

    expected = query_hash(build_count("vsv", epsilon="0.5", purpose="monitor", peildatum=dt.date(2026, 10, 1),
                                      by=["gemeente"]))
    assert done.stdout.strip() == expected


def test_audit_compare_of_an_organisation_without_signed_heads_exits_8(tmp_path: Path) -> None:
    config = tmp_path / "coordinator.toml"
    config.write_text('[tls]\nca = "ca.crt"\ncertificate = "c.crt"\nkey = "c.key"\nrevocation_list = "crl.pem"\n'
                      '[store]\nurl = "sqlite:///coordinator.sqlite"\n')
    export = tmp_path / "trail.jsonl"
    export.write_text("")
    done = _run(BIN / "regiozicht", "audit", "compare", "rmc-typo", export, "--config", config)
    assert done.returncode == 8, done.stdout + done.stderr
    assert "no signed heads" in done.stderr and "rmc-typo" in done.stderr


def test_pki_request_as_the_runbook_writes_it(tmp_path: Path) -> None:
    done = _run(BIN / "regiozicht", "pki", "request", "--role", "analyst", "--org", "regio-analist", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE((tmp_path / "analyst.key").stat().st_mode) == 0o600
    assert (tmp_path / "analyst.csr").read_bytes().startswith(b"-----BEGIN CERTIFICATE REQUEST")
