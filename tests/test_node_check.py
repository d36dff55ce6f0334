"""`check` names every problem in one sentence with its fix and exits 2, never with a traceback:
field errors by [section] and dataset name, a missing state folder made, the coordinator actually
reached (a wrong port fails), a writable partner database warned about, values outside a domain
counted on the node, and the coordinator's own files."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import tomli_w

from node import config as node_config
from regiozicht.errors import ConfigError
from tests.conftest import TinyRegion

pytestmark = [pytest.mark.processes, pytest.mark.postgres]  # real processes and PostgreSQL: left out of `make test-fast`

BIN = Path(sys.executable).parent
DEPLOY = Path(__file__).resolve().parent.parent / "deploy" / "examples"


def _run(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120, check=False)


def _node_copy(region: TinyRegion, tmp_path: Path, change: dict[str, dict[str, object]] | None = None) -> Path:
    """A copy of school-1's node.toml in tmp_path, its paths still pointing at the region's files."""
    source = region.files.node_configs["school1"]
    raw = tomllib.loads(source.read_text())
    for key in ("ca", "certificate", "key"):
        raw["tls"][key] = str((source.parent / raw["tls"][key]).resolve())
    raw["covenant"] = str((source.parent / raw["covenant"]).resolve())
    raw["state"] = {"url": f"sqlite:///{tmp_path / 'state' / 'node-state.sqlite'}"}
    for section, values in (change or {}).items():
        raw[section] = {**raw.get(section, {}), **values}
    config = tmp_path / "node.toml"
    config.write_text(tomli_w.dumps(raw))
    return config


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_check_reaches_the_coordinator_creates_the_state_folder_and_warns_of_a_writable_database(
        region: TinyRegion, tmp_path: Path) -> None:
    done = _run(BIN / "regiozicht-node", "check", "-c", _node_copy(region, tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "created the state folder" in done.stdout and (tmp_path / "state").is_dir()
    assert "acknowledged this node's Describe" in done.stdout
    assert "partner database can be written" in done.stdout


def test_check_with_a_wrong_coordinator_port_fails_with_one_sentence(region: TinyRegion, tmp_path: Path) -> None:
    config = _node_copy(region, tmp_path, {"coordinator": {"address": f"localhost:{_free_port()}"}})
    done = _run(BIN / "regiozicht-node", "check", "-c", config)
    assert done.returncode == 2, done.stdout
    assert "Cannot reach the coordinator" in done.stderr and "[coordinator] address" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_values_outside_a_dimensions_domain_are_counted_and_shown(region: TinyRegion, tmp_path: Path) -> None:
    config = _node_copy(region, tmp_path)
    raw = tomllib.loads(config.read_text())
    dataset = raw["datasets"][0]
    dimension = next(iter(dataset["dimensions"]))
    dropped = dataset["dimensions"][dimension]["domain"].pop(0)
    config.write_text(tomli_w.dumps(raw))
    done = _run(BIN / "regiozicht-node", "check", "-c", config)
    assert done.returncode == 0, done.stdout
    assert f"with a {dimension} outside its domain: '{dropped}'" in done.stdout


def test_a_dataset_error_names_the_dataset_and_its_section(tmp_path: Path) -> None:
    for name in ("node.toml", "covenant.toml"):
        shutil.copy(DEPLOY / name, tmp_path / name)
    raw = tomllib.loads((tmp_path / "node.toml").read_text())
    del raw["datasets"][1]["dimensions"]
    (tmp_path / "node.toml").write_text(tomli_w.dumps(raw))
    with pytest.raises(ConfigError, match=r"\[\[datasets\]\] rmc_stock: dimensions: Field required"):
        node_config.load(tmp_path / "node.toml")


def test_a_state_hint_keeps_its_section_name(tmp_path: Path) -> None:
    for name in ("node.toml", "covenant.toml"):
        shutil.copy(DEPLOY / name, tmp_path / name)
    text = (tmp_path / "node.toml").read_text().replace('url = "sqlite:///state/node-state.sqlite"',
                                                         'url = "postgresql+psycopg://nobody@127.0.0.1:1/x"')
    (tmp_path / "node.toml").write_text(text)
    done = _run(BIN / "regiozicht-node", "covenant", "check", "-c", tmp_path / "node.toml")
    assert done.returncode == 2 and "[state]" in done.stderr, done.stderr


def test_coordinator_check_with_the_runbook_layout_and_no_certificate_yet(region: TinyRegion, tmp_path: Path) -> None:
    made = _run(BIN / "regiozicht", "coordinator", "init", "--dns", "localhost", "--dir", tmp_path)
    assert made.returncode == 0, made.stderr
    shutil.copy(region.files.ca_dir / "ca.crt", tmp_path / "tls" / "ca.crt")
    shutil.copy(region.files.crl, tmp_path / "tls" / "crl.pem")
    done = _run(BIN / "regiozicht", "coordinator", "check", "-c", tmp_path / "coordinator.toml")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "coordinator.crt" in done.stderr and "Traceback" not in done.stderr
