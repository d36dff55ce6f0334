"""The monitor file: plan (spends nothing, refuses what does not fit), hashes, and one run over
real processes — one joint release per dataset per period, consistent tables, free repeats."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from typer.testing import CliRunner

from analyst import monitor as m
from coordinator.cli.main import app
from tests.linked_region import LinkedRegion, linked_region

pytestmark = pytest.mark.processes  # starts real processes: left out of `make test-fast`

AT = "2026-10-15"  # the quarterly releases ask 1 October 2026, as the yearly ones do


def _monitor(linked_epsilon: str = "1", release_epsilon: str = "0.5") -> dict[str, Any]:
    basis = "publieke taak — test"
    return {
        "monitor": {"title": "test", "purpose": "rmc-monitor", "max_half_width": 60, "max_share_width_pp": 60,
                    "delta": "0.0000005"},
        "releases": [
            {"id": "vsv", "dataset": "vsv", "at": "rmc", "by": ["gemeente", "leeftijd"], "epsilon": release_epsilon,
             "every": "quarter"},
            {"id": "bijstand", "dataset": "bijstand", "at": "wi", "by": ["gemeente", "leeftijd"],
             "epsilon": release_epsilon, "every": "quarter"},
        ],
        "linked": [{"id": "vsv_bijstand", "anchor": "vsv@rmc", "other": "bijstand@wi", "by": ["gemeente"],
                    "epsilon": linked_epsilon}],
        "indicators": [
            {"id": "vsv", "title": "vsv", "definition": "d", "partners": ["rmc"], "legal_basis": basis,
             "count": {"release": "vsv"}, "show": [["gemeente"], ["leeftijd"], []]},
            {"id": "vsv-18", "title": "share 18-22", "definition": "d", "partners": ["rmc"], "legal_basis": basis,
             "numerator": {"release": "vsv", "where": "leeftijd = 18-22"}, "denominator": {"release": "vsv"},
             "show": [["gemeente"]]},
            {"id": "bijstand", "title": "bijstand", "definition": "d", "partners": ["wi"], "legal_basis": basis,
             "count": {"release": "bijstand"}, "show": [["gemeente"], []]},
            {"id": "vsv-bijstand", "title": "linked", "definition": "d", "partners": ["rmc", "wi"],
             "legal_basis": basis, "linked": "vsv_bijstand", "show": [["gemeente"]]},
        ],
    }


def _write(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(tomli_w.dumps(document))
    return path


SERVICE = "regio-dashboard"


def _hashes(document: dict[str, Any], tmp: Path) -> list[str]:
    """What `regiozicht monitor hashes` prints for the releases, as the privacy officer copies it."""
    result = CliRunner().invoke(app, ["monitor", "hashes", str(_write(tmp / "hashes.toml", document)), "--at", AT,
                                      "--format", "json"])
    assert result.exit_code == 0, result.output
    return [row["sha256"] for row in json.loads(result.stdout)["rows"]]


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LinkedRegion]:
    listed = _hashes(_monitor(), tmp_path_factory.mktemp("hashes"))

    def yearly_ten(partners: list[Any]) -> list[Any]:  # the shipped ceiling: 10 ε a node a year
        out = []
        for p in partners:
            covenant = dict(p.covenant)
            covenant["budget"] = {**covenant["budget"], "epsilon": "10"}
            # the monitor's service identity may run exactly the queries `monitor hashes` printed
            covenant["parties"] = [*covenant["parties"], {"role": "service", "org": SERVICE,
                                                          "purposes": ["rmc-monitor"], "queries": listed}]
            out.append(dataclasses.replace(p, covenant=covenant))
        return out

    with linked_region(tmp_path_factory.mktemp("monitor"), change=yearly_ten) as running:
        yield running


def _cli(region: LinkedRegion, *args: str) -> Any:
    return CliRunner().invoke(app, [*args, "--profile", str(region.files.profile)])


def test_the_plan_shows_what_each_node_spends(region: LinkedRegion, tmp_path: Path) -> None:
    result = _cli(region, "monitor", "plan", str(_write(tmp_path / "m.toml", _monitor())), "--format", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    spent = {row["node"]: row["epsilon"] for row in document["rows"]}
    # rmc: vsv 0.5 four times a year + the linked share at ε 1 once: its runs with the two W&I nodes
    # hold disjoint gemeenten (coverage), so every vsv'er is in one run
    assert spent == {"rmc-regio": "3", "sociale-dienst-regio": "3", "werk-inkomen-gm9001": "3"}
    assert not document["problems"]
    vsv_by_gemeente = [c for c in document["cells"] if c["indicator"] == "vsv" and c["by"] == "gemeente"]
    assert [c["cell"] for c in vsv_by_gemeente] == ["GM9001", "GM9002", "onbekend"]


def test_the_plan_refuses_a_monitor_that_runs_a_node_dry(region: LinkedRegion, tmp_path: Path) -> None:
    path = _write(tmp_path / "m.toml", _monitor(linked_epsilon="9"))
    result = _cli(region, "monitor", "plan", str(path))
    assert result.exit_code == 5, result.output
    assert "rmc-regio" in result.output and "vsv-bijstand" in result.output


def test_the_plan_refuses_what_a_node_would_refuse_per_query(region: LinkedRegion, tmp_path: Path) -> None:
    document = _monitor()
    document["monitor"]["delta"] = "0.000001"  # two full runs at 1e-6 are above the anchor's 1e-6 per query
    document["linked"][0]["split"] = False
    result = _cli(region, "monitor", "plan", str(_write(tmp_path / "m.toml", document)))
    assert result.exit_code == 4, result.output
    assert "per-query limit" in result.output and "rmc-regio" in result.output


def test_the_plan_refuses_useless_cells(region: LinkedRegion, tmp_path: Path) -> None:
    document = _monitor(release_epsilon="0.05")
    result = _cli(region, "monitor", "plan", str(_write(tmp_path / "m.toml", document)))
    assert result.exit_code == 2, result.output
    assert "Indicator vsv" in result.output and "coarsen" in result.output


def test_hashes_are_those_of_the_queries_a_run_sends(region: LinkedRegion, tmp_path: Path) -> None:
    path = _write(tmp_path / "m.toml", _monitor())
    result = CliRunner().invoke(app, ["monitor", "hashes", str(path), "--at", AT, "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = {row["release"]: row for row in json.loads(result.stdout)["rows"]}
    monitor = m.load(path)
    query = m.release_query(monitor, monitor.release("vsv"), dt.date(2026, 10, 1))
    assert rows["vsv"]["sha256"] == hashlib.sha256(query.canonical()).hexdigest()
    assert rows["vsv"]["peildatum"] == "2026-10-01"


def test_one_run_publishes_consistent_tables_and_a_repeat_is_free(region: LinkedRegion, tmp_path: Path) -> None:
    path = _write(tmp_path / "m.toml", _monitor())
    out = tmp_path / "figures.json"
    first = _cli(region, "monitor", "run", str(path), "--out", str(out), "--at", AT)
    assert first.exit_code == 0, first.output
    document = json.loads(out.read_text())
    # one release per dataset: each asked once, every grouping derived from it
    assert set(document["releases"]) == {"vsv", "bijstand"}
    assert all(n["epsilon"] == "0.5" and not n["from_store"] for r in document["releases"].values()
               for n in r["nodes"])
    indicators = {i["id"]: i for i in document["indicators"]}
    for name in ("vsv", "bijstand"):
        tables = {tuple(t["by"]): t["rows"] for t in indicators[name]["tables"]}
        (total,) = tables[()]
        for grouping in [g for g in tables if g]:
            values = [row["value"] for row in tables[grouping]]
            assert all(isinstance(v, int) and v >= 0 for v in values)
            assert sum(values) == total["value"]  # additive: every grouping sums to the published total
            assert all(row["ci_low"] <= row["value"] <= row["ci_high"] for row in tables[grouping])
    # coverage: each W&I node answers its own gemeente; nobody covers `onbekend`
    assert [r["cell"]["gemeente"] for r in {tuple(t["by"]): t["rows"] for t in
                                                 indicators["bijstand"]["tables"]}[("gemeente",)]] == ["GM9001", "GM9002"]
    (linked_table,) = indicators["vsv-bijstand"]["tables"]
    assert [r["cell"]["gemeente"] for r in linked_table["rows"]] == ["GM9001", "GM9002"]
    assert all(0 <= r["ci_low"] <= r["ci_high"] <= 100 for r in linked_table["rows"])
    share = indicators["vsv-18"]["tables"][0]["rows"]
    assert all(0 <= r["ci_low"] <= r["value"] <= r["ci_high"] <= 100 for r in share if r["value"] is not None)

    # asking the same releases again in the period is served from the nodes' stores: no cost
    again = _cli(region, "monitor", "run", str(path), "--out", str(out), "--at", AT, "--no-linked")
    assert again.exit_code == 0, again.output
    repeat = json.loads(out.read_text())
    assert all(n["from_store"] for r in repeat["releases"].values() for n in r["nodes"])
    assert repeat["indicators"][0]["tables"] == document["indicators"][0]["tables"]


def _service_profile(region: LinkedRegion) -> Path:
    from demo.region import _issue
    from regiozicht.identity import Identity

    directory = region.files.root / "service"
    if not (directory / "profile.toml").exists():
        _issue(region.files, directory, Identity("service", SERVICE))
        analyst = region.files.profile.read_text().splitlines()
        (directory / "profile.toml").write_text("\n".join(line for line in analyst) + "\n")
    return directory / "profile.toml"


def test_nodes_accept_the_hashed_queries_from_the_service_and_nothing_else(region: LinkedRegion,
                                                                         tmp_path: Path) -> None:
    profile = _service_profile(region)
    path = _write(tmp_path / "m.toml", _monitor())
    out = tmp_path / "figures.json"
    ran = CliRunner().invoke(app, ["monitor", "run", str(path), "--out", str(out), "--at", AT, "--no-linked",
                                   "--profile", str(profile)])
    assert ran.exit_code == 0, ran.output
    assert all(not n["error"] for r in json.loads(out.read_text())["releases"].values() for n in r["nodes"])
    # another ε is another query: not listed, refused by every node
    changed = _write(tmp_path / "changed.toml", _monitor(release_epsilon="0.25"))
    refused = CliRunner().invoke(app, ["monitor", "run", str(changed), "--out", str(out), "--at", AT, "--no-linked",
                                       "--profile", str(profile)])
    assert refused.exit_code != 0
    assert "not listed" in refused.output


def test_linked_hashes_are_those_of_the_linked_queries_nodes_ran(region: LinkedRegion, tmp_path: Path) -> None:
    """`monitor hashes --linked` prints the hash of the exact body the nodes authorised (their audit
    trail holds every body), so a privacy officer can list it for the service identity."""
    import sqlite3

    path = _write(tmp_path / "m.toml", _monitor())
    ran = _cli(region, "monitor", "run", str(path), "--out", str(tmp_path / "f.json"), "--at", AT)
    assert ran.exit_code == 0, ran.output
    printed = _cli(region, "monitor", "hashes", str(path), "--at", AT, "--linked", "--format", "json")
    assert printed.exit_code == 0, printed.output
    (linked,) = [row["sha256"] for row in json.loads(printed.stdout)["rows"] if row["release"] == "vsv_bijstand"]
    with sqlite3.connect(region.state_db("rmc")) as db:
        bodies = [json.loads(entry)["query"] for (entry,) in db.execute("SELECT entry FROM audit_entries")]
    assert linked in {hashlib.sha256(body.encode()).hexdigest() for body in bodies if body}


def test_a_run_without_a_date_asks_the_newest_period_every_node_holds(region: LinkedRegion, tmp_path: Path) -> None:
    """Without --at the run is as of today, but never past the nodes' data-as-of (which they would refuse)."""
    path = _write(tmp_path / "m.toml", _monitor())
    out = tmp_path / "f.json"
    ran = _cli(region, "monitor", "run", str(path), "--out", str(out), "--no-linked")
    assert ran.exit_code == 0, ran.output
    held = min(p.data_as_of.date() for p in region.partners)
    expected = dt.date(held.year, 3 * ((held.month - 1) // 3) + 1, 1)
    assert json.loads(out.read_text())["peildatum"] == expected.isoformat()
