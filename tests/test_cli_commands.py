"""The operators' commands, run as a user would: node key and request, checks."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509

from regiozicht.identity import Identity, identity_uris
from tests.conftest import TinyRegion

pytestmark = pytest.mark.processes  # starts real processes: left out of `make test-fast`

BIN = Path(sys.executable).parent


def _run(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120, check=False)


def test_node_request_cert_makes_a_private_key_and_a_request(tmp_path: Path) -> None:
    done = _run(BIN / "regiozicht-node", "request-cert", "--org", "school-3", "--kind", "school",
                "--key", tmp_path / "node.key", "--out", tmp_path / "node.csr")
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE((tmp_path / "node.key").stat().st_mode) == 0o600
    request = x509.load_pem_x509_csr((tmp_path / "node.csr").read_bytes())
    names = request.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [Identity.parse(u) for u in identity_uris(names)] == [Identity("node", "school-3", "school")]
    again = _run(BIN / "regiozicht-node", "request-cert", "--org", "school-3", "--kind", "school",
                 "--key", tmp_path / "node.key", "--out", tmp_path / "node.csr")
    assert again.returncode == 2 and "already exists" in again.stderr, "an existing key is never overwritten"


def test_coordinator_check_validates_its_files(region: TinyRegion, tmp_path: Path) -> None:
    ok = _run(BIN / "regiozicht", "coordinator", "check", "--config", region.files.coordinator_config)
    assert ok.returncode == 0, ok.stderr
    assert "coordinator regio-hub" in ok.stdout
    broken = tmp_path / "coordinator.toml"
    broken.write_text(region.files.coordinator_config.read_text() + "\nunknown_setting = 1\n")
    bad = _run(BIN / "regiozicht", "coordinator", "check", "--config", broken)
    assert bad.returncode == 2 and "unknown_setting" in bad.stderr


def test_a_broken_node_config_names_the_field(region: TinyRegion, tmp_path: Path) -> None:
    config = region.files.node_configs["school1"]
    broken = config.parent / "broken-kind.toml"
    broken.write_text(config.read_text().replace('kind = "school"', 'kind = "bakery"'))
    done = _run(BIN / "regiozicht-node", "check", "--config", broken)
    assert done.returncode == 2
    assert "[node] kind" in done.stderr, "the section keeps its brackets (rich markup escaped)"
