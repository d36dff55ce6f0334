"""The scheduled monitor over real processes: a tick runs the monitor as the service identity and
builds the site; a second tick in the period spends nothing; a failed run keeps the last site with
a dated notice; the service runs only what the covenants list."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from typer.testing import CliRunner

from coordinator.cli.main import app
from coordinator.config import MonitorSection
from coordinator.schedule import MonitorSchedule
from demo.region import _issue
from regiozicht.identity import Identity
from tests.linked_region import LinkedRegion, linked_region

pytestmark = pytest.mark.processes  # starts real processes: left out of `make test-fast`

SERVICE = "regio-dashboard"
AT = "2026-10-15"


def _monitor(epsilon: str = "0.5") -> dict[str, Any]:
    basis = "publieke taak — test"
    return {
        "monitor": {"title": "Testmonitor", "purpose": "rmc-monitor", "max_half_width": 60, "max_share_width_pp": 60},
        "labels": {"gemeente": {"GM9001": "Noorderveen", "GM9002": "Oosterbroek"}},
        "releases": [{"id": "vsv", "dataset": "vsv", "at": "rmc", "by": ["gemeente", "leeftijd"],
                      "epsilon": epsilon, "every": "quarter"},
                     {"id": "bijstand", "dataset": "bijstand", "at": "wi", "by": ["gemeente"], "epsilon": epsilon,
                      "every": "quarter"}],
        "indicators": [
            {"id": "vsv", "title": "Nieuwe vsv'ers", "definition": "d", "partners": ["rmc"], "legal_basis": basis,
             "count": {"release": "vsv"}, "show": [["gemeente"], []]},
            {"id": "bijstand", "title": "Bijstand", "definition": "d", "partners": ["wi"], "legal_basis": basis,
             "count": {"release": "bijstand"}, "show": [["gemeente"], []]}],
    }


def _write(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(tomli_w.dumps(document))
    return path


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LinkedRegion]:
    spec = _write(tmp_path_factory.mktemp("spec") / "monitor.toml", _monitor())
    printed = CliRunner().invoke(app, ["monitor", "hashes", str(spec), "--at", AT, "--format", "json"])
    assert printed.exit_code == 0, printed.output
    listed = [row["sha256"] for row in json.loads(printed.stdout)["rows"]]

    def service_may_run_the_monitor(partners: list[Any]) -> list[Any]:
        out = []
        for p in partners:
            covenant = dict(p.covenant)
            covenant["parties"] = [*covenant["parties"], {"role": "service", "org": SERVICE,
                                                          "purposes": ["rmc-monitor"], "queries": listed}]
            out.append(dataclasses.replace(p, covenant=covenant))
        return out

    with linked_region(tmp_path_factory.mktemp("schedule"), change=service_may_run_the_monitor) as running:
        directory = running.files.root / "service"
        _issue(running.files, directory, Identity("service", SERVICE))
        (directory / "profile.toml").write_text(running.files.profile.read_text())
        yield running


def _schedule(region: LinkedRegion, tmp_path: Path, epsilon: str = "0.5") -> MonitorSchedule:
    spec = _write(tmp_path / "monitor.toml", _monitor(epsilon))
    return MonitorSchedule(MonitorSection(spec=spec, output=tmp_path / "site",
                                          profile=region.files.root / "service" / "profile.toml"))


def _spent(region: LinkedRegion) -> list[list[tuple[str, str]]]:
    out = []
    for node in ("rmc", "wi-regio", "wi-gm9001"):
        with sqlite3.connect(region.state_db(node)) as db:
            out.append(db.execute("SELECT pot, epsilon_spent FROM budget_totals ORDER BY pot").fetchall())
    return out


def test_a_tick_publishes_the_site_and_a_second_tick_spends_nothing(region: LinkedRegion, tmp_path: Path) -> None:
    schedule = _schedule(region, tmp_path)
    first = schedule.tick()
    assert first.outcome == "ran", first.error
    assert first.site is not None and first.site.name == "index.html" and first.site.exists()
    assert "Noorderveen" in first.site.parent.joinpath("indicatoren", "vsv.html").read_text()
    spent = _spent(region)
    second = schedule.tick()
    assert second.outcome == "current" and second.peildatum == first.peildatum
    assert _spent(region) == spent


def test_a_failed_run_keeps_the_last_site_with_a_dated_notice(region: LinkedRegion, tmp_path: Path) -> None:
    schedule = _schedule(region, tmp_path)
    assert schedule.tick().outcome == "ran"
    # make the stored run the previous period's, so the next tick must run again
    (stored,) = list((tmp_path / "site" / "history").glob("*.json"))
    document = json.loads(stored.read_text())
    document["peildatum"] = "2026-07-01"
    stored.with_name("2026-07-01.json").write_text(json.dumps(document))
    stored.unlink()
    region.running.stop_process("node-wi-gm9001")
    try:
        failed = schedule.tick()
    finally:
        region.running.start_node("wi-gm9001")
        region.running.wait_until_online({p.org for p in region.partners})
    assert failed.outcome == "failed" and "werk-inkomen-gm9001" in failed.error
    page = (tmp_path / "site" / "index.html").read_text()
    assert "mislukt" in page and "werk-inkomen-gm9001" in page
    assert schedule.tick().outcome == "ran"  # the next tick retries, and succeeds with the node back


def test_the_service_runs_only_the_listed_queries(region: LinkedRegion, tmp_path: Path) -> None:
    spent = _spent(region)
    tick = _schedule(region, tmp_path, epsilon="0.25").tick()  # another ε: other query hashes
    assert tick.outcome == "failed" and "not listed" in tick.error
    assert _spent(region) == spent


def test_the_coordinator_process_publishes_the_site_on_its_own(region: LinkedRegion, tmp_path: Path) -> None:
    """The coordinator started with a [monitor] section runs the schedule itself: the site appears."""
    import time
    import tomllib

    spec = _write(tmp_path / "monitor.toml", _monitor())
    config = region.files.coordinator_config
    original = config.read_text()
    raw = tomllib.loads(original)
    raw["monitor"] = {"spec": str(spec), "output": str(tmp_path / "site"),
                      "profile": str(region.files.root / "service" / "profile.toml"), "check_every_seconds": 2}
    region.running.stop_process("coordinator")
    config.write_text(tomli_w.dumps(raw))
    try:
        region.running.start_coordinator()
        region.running.wait_until_online({p.org for p in region.partners})
        page = tmp_path / "site" / "indicatoren" / "bijstand.html"
        deadline = time.monotonic() + 90
        while not page.exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert page.exists(), (region.running.log_dir / "coordinator.log").read_text()[-2000:]
        assert "Oosterbroek" in page.read_text()
    finally:
        region.running.stop_process("coordinator")
        config.write_text(original)
        region.running.start_coordinator()
        region.running.wait_until_online({p.org for p in region.partners})
