"""Every path and SQLite URL in a config file is read relative to that file's folder (one
`ConfigPath` type, regiozicht/tomlconfig.py), defaults included: a coordinator.toml without a
[store] section keeps its history beside the file, never in whatever folder the process started in
(where every region started from one folder would share one history)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from analyst.client import Profile
from coordinator import config as coordinator_config
from node import config as node_config

EXAMPLES = Path(__file__).resolve().parent.parent / "deploy" / "examples"


def test_the_coordinators_default_store_lies_beside_its_config(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    (folder / "coordinator.toml").write_text('[tls]\nca = "tls/ca.crt"\ncertificate = "tls/c.crt"\n'
                                             'key = "tls/c.key"\nrevocation_list = "tls/crl.pem"\n')
    monkeypatch.chdir(tmp_path)  # started elsewhere
    cfg = coordinator_config.load(folder / "coordinator.toml")
    assert cfg.store.url == f"sqlite:///{folder / 'coordinator.sqlite'}"
    assert cfg.tls.ca == folder / "tls" / "ca.crt" and cfg.tls.revocation_list == folder / "tls" / "crl.pem"


def test_the_node_example_resolves_every_path_beside_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(EXAMPLES / "node.toml", tmp_path / "node.toml")
    monkeypatch.chdir("/")
    cfg = node_config.load(tmp_path / "node.toml")
    for path in (cfg.tls.ca, cfg.tls.certificate, cfg.tls.key, cfg.covenant):
        assert path.is_absolute() and path.is_relative_to(tmp_path), path
    if cfg.state.url.startswith("sqlite:///"):
        assert Path(cfg.state.url.removeprefix("sqlite:///")).is_relative_to(tmp_path)


def test_a_profile_reads_its_files_beside_itself_and_expands_home(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "profile.toml").write_text('coordinator = "localhost:7443"\nca = "ca.crt"\n'
                                           'certificate = "~/analyst.crt"\nkey = "/keys/analyst.key"\n')
    profile = Profile.load(tmp_path / "profile.toml")
    assert profile.ca == tmp_path / "ca.crt"
    assert profile.certificate == tmp_path / "home" / "analyst.crt"
    assert profile.key == Path("/keys/analyst.key")
