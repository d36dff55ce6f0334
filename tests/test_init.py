"""`init` writes a party's files, its key (0600) and a request, never overwrites one, and never sees
the CA: a node of every kind gets its kind's standard datasets (the SQL synth defines) and a
covenant template the node refuses until the privacy officer fills it in."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509

from node import config as node_config
from node import covenant as covenant_file
from regiozicht.errors import ConfigError
from regiozicht.identity import Identity, identity_uris
from synth.datasets import DATASETS

pytestmark = pytest.mark.processes  # starts real processes: left out of `make test-fast`

BIN = Path(sys.executable).parent


def _run(*args: object, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120, check=False, cwd=cwd)


def _identities(csr: Path) -> tuple[list[Identity], x509.SubjectAlternativeName]:
    names = x509.load_pem_x509_csr(csr.read_bytes()).extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    return [Identity.parse(u) for u in identity_uris(names)], names


@pytest.mark.parametrize("kind", sorted(DATASETS))
def test_node_init_writes_the_kinds_standard_datasets_key_request_and_state(tmp_path: Path, kind: str) -> None:
    done = _run(BIN / "regiozicht-node", "init", "--kind", kind, "--org", f"{kind}-one", "--coordinator",
                "hub.example:7443", "--database", "sqlite:///partner.sqlite", "--dir", tmp_path / "etc")
    assert done.returncode == 0, done.stderr
    assert "next steps" in done.stdout
    etc = tmp_path / "etc"
    config = node_config.load(etc / "node.toml")
    assert [d.name for d in config.datasets] == [d.name for d in DATASETS[kind]]
    for dataset, spec in zip(config.datasets, DATASETS[kind]):
        assert " ".join(dataset.sql.split()) == " ".join(spec.sql.split()), "the SQL is synth's, reflowed only"
        assert set(dataset.dimensions) == set(spec.dimensions)
    assert (etc / "state").is_dir() and stat.S_IMODE((etc / "tls" / "node.key").stat().st_mode) == 0o600
    assert _identities(etc / "tls" / "node.csr")[0] == [Identity("node", f"{kind}-one", kind)]
    with pytest.raises(ConfigError, match="FILL IN"):
        covenant_file.load(config.covenant, config)
    text = (etc / "covenant.toml").read_text().replace("FILL IN: the analysts' organisation", "regio-analist")
    (etc / "covenant.toml").write_text(text.replace("FILL IN: the counter's organisation", "regio-teller"))
    covenant = covenant_file.load(config.covenant, config)
    assert set(covenant.purposes[0].datasets) == {d.name for d in config.datasets}
    again = _run(BIN / "regiozicht-node", "init", "--kind", kind, "--org", f"{kind}-one", "--coordinator",
                 "hub.example:7443", "--database", "sqlite:///partner.sqlite", "--dir", etc)
    assert again.returncode == 2 and "already exists" in again.stderr


def test_coordinator_init_makes_a_request_with_the_names_nodes_dial(tmp_path: Path) -> None:
    done = _run(BIN / "regiozicht", "coordinator", "init", "--dns", "hub.example", "--ip", "127.0.0.1",
                "--dir", tmp_path)
    assert done.returncode == 0, done.stderr
    identities, names = _identities(tmp_path / "tls" / "coordinator.csr")
    assert identities == [Identity("coordinator", "regio-hub")]
    assert names.get_values_for_type(x509.DNSName) == ["hub.example"]
    assert stat.S_IMODE((tmp_path / "tls" / "coordinator.key").stat().st_mode) == 0o600
    from coordinator import config as coordinator_config

    cfg = coordinator_config.load(tmp_path / "coordinator.toml")
    assert cfg.tls.key == tmp_path / "tls" / "coordinator.key" and (tmp_path / "state").is_dir()


def test_profile_init_writes_an_analyst_profile_key_and_request(tmp_path: Path) -> None:
    done = _run(BIN / "regiozicht", "profile", "init", "--org", "regio-analist", "--coordinator", "hub.example:7443",
                "--dir", tmp_path)
    assert done.returncode == 0, done.stderr
    from analyst.client import Profile

    profile = Profile.load(tmp_path / "profile.toml")
    assert profile.key == tmp_path / "analyst.key" and profile.coordinator == "hub.example:7443"
    assert _identities(tmp_path / "analyst.csr")[0] == [Identity("analyst", "regio-analist")]
