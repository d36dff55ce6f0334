"""The systemd units are hardened and agree with the runbook's install layout: `systemd-analyze
security` (offline, no running systemd needed) rates each at most MAX_EXPOSURE and matches the
figure its header states, `systemd-analyze verify` on a stand-in root finds nothing to warn about,
and every unit runs the installed software as the service user, reads its config from
/etc/regiozicht and writes only /var/lib/regiozicht."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.processes  # starts real processes: left out of `make test-fast`

ROOT = Path(__file__).resolve().parent.parent
UNITS = sorted((ROOT / "deploy" / "systemd").glob("regiozicht-*.service"))
ANALYZE = shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze"
SYSTEM_UNITS = Path("/usr/lib/systemd/system")  # targets the units name (network-online, multi-user)
MAX_EXPOSURE = 2.0  # "OK" in systemd-analyze's words is below 4.0; ours stay well under it

needs_analyze = pytest.mark.skipif(not Path(ANALYZE).exists(),
                                   reason="systemd-analyze is not installed (Debian: apt-get install systemd)")


def _settings(unit: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in unit.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key, []).append(value)
    return found


def test_there_is_a_unit_per_service() -> None:
    assert [u.name for u in UNITS] == ["regiozicht-coordinator.service", "regiozicht-counter.service",
                                       "regiozicht-node.service"]


@needs_analyze
@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.stem)
def test_each_unit_is_hardened_to_the_score_its_header_states(unit: Path) -> None:
    done = subprocess.run([ANALYZE, "security", "--offline=true", "--no-pager", str(unit)], capture_output=True,
                          text=True, timeout=60, check=False)
    measured = re.search(r"Overall exposure level for \S+: (\d+\.\d+) (\w+)", done.stdout)
    assert measured, done.stdout + done.stderr
    score = float(measured.group(1))
    assert score <= MAX_EXPOSURE, done.stdout
    stated = re.search(r"^# `systemd-analyze security \S+`: exposure (\d+\.\d+) (\w+)", unit.read_text(), re.MULTILINE)
    assert stated and (float(stated.group(1)), stated.group(2)) == (score, measured.group(2)), \
        f"{unit.name}'s header states {stated.group(0) if stated else 'no score'}; systemd-analyze says {score}"


@needs_analyze
@pytest.mark.skipif(not (SYSTEM_UNITS / "multi-user.target").exists(), reason="no systemd unit directory here")
def test_systemd_analyze_verify_finds_nothing_to_warn_about(tmp_path: Path) -> None:
    # a stand-in root: systemd's own units, the units under test, and the programs they run
    shutil.copytree(SYSTEM_UNITS, tmp_path / "usr/lib/systemd/system", symlinks=True)
    (tmp_path / "etc/systemd/system").mkdir(parents=True)
    for unit in UNITS:
        shutil.copy(unit, tmp_path / "etc/systemd/system" / unit.name)
        for command in _settings(unit).get("ExecStart", []) + _settings(unit).get("ExecStartPre", []) + \
                _settings(unit).get("ExecReload", []):
            program = tmp_path / command.split()[0].lstrip("/")
            program.parent.mkdir(parents=True, exist_ok=True)
            program.write_text("#!/bin/sh\n")
            program.chmod(0o755)
    done = subprocess.run([ANALYZE, "verify", "--man=no", f"--root={tmp_path}", *(u.name for u in UNITS)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and not done.stderr.strip() and not done.stdout.strip(), done.stdout + done.stderr


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.stem)
def test_each_unit_follows_the_runbooks_install_layout(unit: Path) -> None:
    runbook = (ROOT / "deploy" / "RUNBOOK.md").read_text()
    settings = _settings(unit)
    assert settings["User"] == ["regiozicht"] and settings["Group"] == ["regiozicht"]
    assert "useradd --system --home-dir /var/lib/regiozicht" in runbook and runbook.count(" regiozicht\n") >= 1
    assert settings["WorkingDirectory"] == ["/var/lib/regiozicht"]
    assert settings["ReadWritePaths"] == ["/var/lib/regiozicht"] and settings["ProtectSystem"] == ["strict"]
    assert "install -d -o regiozicht -g regiozicht -m 0700 /var/lib/regiozicht" in runbook
    assert "python3 -m venv /opt/regiozicht" in runbook
    for command in settings["ExecStart"] + settings.get("ExecStartPre", []):
        program, *args = command.split()
        assert program.startswith("/opt/regiozicht/bin/regiozicht"), command
        config = args[args.index("--config") + 1]
        assert config.startswith("/etc/regiozicht/") and config.endswith(".toml"), command
        assert f"--config {config}" in runbook, f"{unit.name} reads {config}, which the runbook never writes"
    assert settings["ExecStart"][0].split()[1:3] in (["coordinator", "serve"], ["counter", "serve"], ["serve", "--config"])
