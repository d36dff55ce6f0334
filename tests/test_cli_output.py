"""The CLI's output says what a reader needs, in every format, as a new user runs it: suppressed
cells are marked, not blank; shares are percentages; intervals are two CSV columns; a dry run
refuses what the nodes' covenants, limits and budgets would refuse; a reference date before a
node's data is refused before anything is signed or charged; linked estimates below the
parties' suppression threshold are withheld; the demo shows names and non-negative counts."""

from __future__ import annotations

import copy
import csv
import dataclasses
import datetime as dt
import io
import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from regiozicht import dp
from regiozicht.query import build_count
from regiozicht.v1 import regiozicht_pb2 as pb
from tests import tiny
from tests.conftest import TinyRegion, running_tiny
from tests.linked_region import LinkedRegion, linked_region

pytestmark = pytest.mark.processes  # starts real processes: left out of `make test-fast`

BIN = Path(sys.executable).parent
DATA_FROM = dt.date(2024, 11, 1)  # school-1's extract starts here (its oldest rows are from 2024-11-27)


def _narrow(covenant: dict[str, Any]) -> dict[str, Any]:
    """Adds purpose `smal`: gemeente only, its own ε 1 a year, every noisy value below 1000 suppressed;
    ε at most 3 per query."""
    covenant = copy.deepcopy(covenant)
    smal = copy.deepcopy(covenant["purposes"][0])
    smal.update(id="smal", wat_allowed=False, datasets={"registratie": ["gemeente"]}, epsilon_cap="1")
    covenant["purposes"].append(smal)
    for party in covenant["parties"]:
        party["purposes"] = [*party["purposes"], "smal"]
    covenant["suppression"] = [{"below": 1000, "purposes": ["smal"]}]
    covenant["limits"]["max_epsilon"] = "3"
    return covenant


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TinyRegion]:
    def narrowed(partners: list[Any]) -> list[Any]:
        return [dataclasses.replace(p, covenant=_narrow(p.covenant or {}),
                                    data_from=DATA_FROM if p.org == "school-1" else None) for p in partners]

    with running_tiny(tmp_path_factory.mktemp("output"), narrowed) as running:
        yield running


def _cli(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "regiozicht"), *args, "--profile", str(profile)],
                          capture_output=True, text=True, timeout=300, check=False)


def _releases(region: TinyRegion, node_id: str) -> int:
    with sqlite3.connect(region.state_db(node_id)) as db:
        return int(db.execute("SELECT count(*) FROM releases").fetchone()[0])


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


# -- 1, 5: suppressed cells are marked, intervals are two columns -----------------------------------


def test_suppressed_cells_are_marked_in_every_format(region: TinyRegion) -> None:
    ask = ["query", "count", "registratie", "--by", "gemeente", "--epsilon", "0.2", "--purpose", "smal"]
    table = _cli(region.files.profile, *ask)
    assert table.returncode == 0, table.stderr
    assert table.stdout.count("suppressed") == 4, table.stdout  # GM0001-3 and onbekend
    assert "below 1000" in table.stderr
    rows = _csv(_cli(region.files.profile, *ask, "--format", "csv").stdout)
    assert [r["value"] for r in rows] == ["suppressed"] * 4
    assert all(r["ci_low"] == r["ci_high"] == "" for r in rows)
    document = json.loads(_cli(region.files.profile, *ask, "--format", "json").stdout)
    assert all(r["suppressed"] is True and r["value"] is None for r in document["rows"])


def test_count_csv_and_json_give_the_interval_as_two_fields(region: TinyRegion) -> None:
    ask = ["query", "count", "registratie", "--by", "sex", "--epsilon", "0.5", "--purpose", "test"]
    out = _cli(region.files.profile, *ask, "--format", "csv")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == "sex,value,ci_low,ci_high"
    # the interval is the claimed one: centred, the exact 95% half-width of two nodes' noise at ε 0.5
    width = dp.sum_half_width([dp.count_scale(0.5)] * 2)
    for row in _csv(out.stdout):
        assert float(row["value"]) - float(row["ci_low"]) == float(row["ci_high"]) - float(row["value"]) == width, row
    document = json.loads(_cli(region.files.profile, *ask, "--format", "json").stdout)
    assert all(r["value"] - r["ci_low"] == r["ci_high"] - r["value"] == width and r["suppressed"] is False
               for r in document["rows"])


# -- 4: shares are percentages -----------------------------------------------------------------------


def test_a_share_is_a_percentage_with_its_interval_in_points(region: TinyRegion) -> None:
    ask = ["query", "share", "registratie", "--where", "sex = M", "--of", "registratie", "--by", "gemeente",
           "--epsilon", "0.4", "--purpose", "test"]
    out = _cli(region.files.profile, *ask, "--format", "csv")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == "gemeente,numerator,denominator,percent,ci_low,ci_high"
    rows = _csv(out.stdout)
    assert all(0 <= float(r["ci_low"]) <= float(r["ci_high"]) <= 100 for r in rows)
    # about a third of each gemeente is male: a fraction would be below 1 everywhere
    assert any(float(r["percent"]) > 5 for r in rows)
    document = json.loads(_cli(region.files.profile, *ask, "--format", "json").stdout)
    for row in document["rows"]:
        assert abs(row["percent"] - 100 * row["share"]) <= 0.06  # share is rounded to 4 places, percent to 1
    table = _cli(region.files.profile, *ask)
    assert " %" in table.stdout


# -- 3: a dry run refuses what the Describes rule out --------------------------------------------------


@pytest.mark.parametrize("args,code,message", [
    (["--purpose", "marketing", "--epsilon", "0.5"], 4, "has no purpose 'marketing'"),
    (["--purpose", "smal", "--epsilon", "0.5", "--by", "sex"], 4, "does not allow column(s) sex"),
    (["--purpose", "test", "--epsilon", "4"], 4, "per-query limit of 3"),
    (["--purpose", "smal", "--epsilon", "1.5"], 5, "left for purpose 'smal'"),
])
def test_a_dry_run_refuses_what_a_node_would_refuse(region: TinyRegion, args: list[str], code: int,
                                                     message: str) -> None:
    before = _releases(region, "school1"), _releases(region, "school2")
    out = _cli(region.files.profile, "query", "count", "registratie", *args, "--dry-run")
    assert out.returncode == code, out.stdout + out.stderr
    lines = out.stderr.strip().splitlines()
    assert [line for line in lines if message in line and "school-1" in line]
    assert all(line.startswith("error: ") for line in lines) and "Traceback" not in out.stderr
    assert out.stdout == ""
    assert (_releases(region, "school1"), _releases(region, "school2")) == before


def test_a_share_dry_run_adds_up_both_counts_at_a_node(region: TinyRegion) -> None:
    out = _cli(region.files.profile, "query", "share", "registratie", "--of", "registratie", "--by", "gemeente",
               "--epsilon", "0.6", "--purpose", "smal", "--dry-run")
    assert out.returncode == 5, out.stdout + out.stderr
    assert "less than the 1.2 asked" in out.stderr
    fine = _cli(region.files.profile, "query", "share", "registratie", "--of", "registratie", "--by", "gemeente",
                "--epsilon", "0.3", "--purpose", "test", "--dry-run")
    assert fine.returncode == 0, fine.stderr


# -- 6: a reference date before a node's data ---------------------------------------------------------


def test_a_reference_date_before_the_data_is_refused_before_signing(region: TinyRegion) -> None:
    client = region.client()
    try:
        describes = {n.org: n.describe for n in client.catalog()}
    finally:
        client.close()
    assert describes["school-1"].data_from == DATA_FROM.isoformat() and describes["school-2"].data_from == ""
    before = _releases(region, "school1"), _releases(region, "school2")
    for dry in ([], ["--dry-run"]):
        out = _cli(region.files.profile, "query", "count", "registratie", "--epsilon", "0.5", "--purpose", "test",
                   "--at", "2024-10-01", *dry)
        assert out.returncode == 2, out.stderr
        assert out.stderr.startswith("error: ") and len(out.stderr.strip().splitlines()) == 1
        assert "before node school-1's data starts (2024-11-01)" in out.stderr
    assert (_releases(region, "school1"), _releases(region, "school2")) == before


def test_the_node_refuses_a_date_before_its_data_at_no_cost(region: TinyRegion) -> None:
    """A client that skips the check: school-1 refuses (nothing charged), school-2 answers."""
    client = region.client()
    try:
        body = build_count("registratie", epsilon="0.5", purpose="test", peildatum=dt.date(2024, 10, 1),
                           by=["sex"]).canonical()
        now = int(time.time())
        envelope = pb.QueryEnvelope(body=body, query_id=f"early-{time.time_ns()}", issued_at_unix=now,
                                    expires_at_unix=now + 300)
        before = _releases(region, "school1")
        response = client.stub.Submit(pb.SubmitRequest(envelope=client.signer.sign(envelope.SerializeToString())),
                                      timeout=60)
    finally:
        client.close()
    results = {r.org: r for r in response.count.results}
    assert results["school-1"].error.kind == "BadQuery" and "data starts" in results["school-1"].error.message
    assert results["school-2"].HasField("answer")
    assert _releases(region, "school1") == before
    with sqlite3.connect(region.state_db("school1")) as db:
        charged = db.execute("SELECT count(*) FROM ledger_charges WHERE charge_id = ?",
                             (envelope.query_id,)).fetchone()[0]
    assert charged == 0


# -- 2, 3, 4, 5, 6 for linked counts -------------------------------------------------------------------

WI, WI_GM = "sociale-dienst-regio", "werk-inkomen-gm9001"


def _linked_rules(partners: list[Any]) -> list[Any]:
    """wi-regio withholds linked bijstand numbers below 100,000 (all of them at this scale); the RMC
    below 5; wi-gm9001 keeps ε 1.5 a year for the purpose."""
    out = []
    for partner in partners:
        covenant = copy.deepcopy(partner.covenant)
        if partner.node_id == "wi-regio":
            covenant["suppression"] = [{"below": 100000, "purposes": ["rmc-monitor"], "datasets": ["bijstand"]}]
        elif partner.node_id == "rmc":
            covenant["suppression"] = [{"below": 5}]
        else:
            covenant["purposes"][0]["epsilon_cap"] = "1.5"
        out.append(dataclasses.replace(partner, covenant=covenant))
    return out


@pytest.fixture(scope="module")
def linked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LinkedRegion]:
    with linked_region(tmp_path_factory.mktemp("linked-output"), change=_linked_rules) as running:
        yield running


def _linked(region: LinkedRegion, command: str, *args: str) -> subprocess.CompletedProcess[str]:
    return _cli(region.files.profile, "query", command, *args, "--purpose", "rmc-monitor")


def test_linked_estimates_below_the_strictest_threshold_are_withheld(linked: LinkedRegion) -> None:
    ask = ["rmc_stock@rmc", "--with", f"bijstand@{WI}", "--by", "gemeente", "--epsilon", "1", "--delta", "1e-6"]
    out = _linked(linked, "linked", *ask, "--format", "csv")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == ("gemeente,in_other,in_other_ci_low,in_other_ci_high,not_in_other,"
                                          "not_in_other_ci_low,not_in_other_ci_high")
    rows = _csv(out.stdout)
    assert rows and all(r["in_other"] == r["not_in_other"] == "suppressed" for r in rows)
    document = json.loads(_linked(linked, "linked", *ask, "--format", "json").stdout)
    assert document["suppressed_below"] == 100000
    assert all(r["in_other"] is None and r["in_other_suppressed"] for r in document["rows"])
    share = _linked(linked, "linked-share", *ask, "--format", "csv")
    assert share.returncode == 0, share.stderr
    assert all(r["percent"] == "suppressed" for r in _csv(share.stdout))


def test_a_linked_share_is_a_percentage_and_shown_where_no_rule_applies(linked: LinkedRegion) -> None:
    out = _linked(linked, "linked-share", "rmc_stock@rmc", "--with", f"bijstand@{WI_GM}", "--epsilon", "1",
                  "--delta", "1e-6", "--format", "csv")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == "in_other,anchor,percent,ci_low,ci_high"
    (row,) = _csv(out.stdout)
    assert int(row["anchor"]) >= 5, "the RMC's own rule (below 5) is the strictest here"
    assert 0 <= float(row["ci_low"]) <= float(row["percent"]) <= float(row["ci_high"]) <= 100


@pytest.mark.parametrize("args,code,message", [
    (["--epsilon", "2"], 5, f"Node {WI_GM} has ε "),
    (["--epsilon", "6"], 4, "costs node rmc-regio ε 12 (2 run(s))"),
    (["--epsilon", "1", "--delta", "0.00001"], 4, "above its per-query limit of 0.000001"),
])
def test_a_linked_dry_run_refuses_what_a_party_would_refuse(linked: LinkedRegion, args: list[str], code: int,
                                                            message: str) -> None:
    out = _linked(linked, "linked", "vsv@rmc", "--with", "bijstand@wi", *args, "--dry-run")
    assert out.returncode == code, out.stdout + out.stderr
    assert message in out.stderr and out.stdout == ""


def test_a_linked_date_before_the_data_is_refused(linked: LinkedRegion) -> None:
    for dates in (["--at", "2018-10-01"], ["--with-at", "2018-10-01"]):
        out = _linked(linked, "linked", "vsv@rmc", "--with", f"bijstand@{WI}", "--epsilon", "1", *dates)
        assert out.returncode == 2, out.stderr
        assert "data starts (2019-10-01)" in out.stderr


# -- 7, 8: the demo -----------------------------------------------------------------------------------


def test_demo_help_shows_the_demos_options() -> None:
    out = subprocess.run([str(BIN / "regiozicht"), "demo", "--help"], capture_output=True, text=True, timeout=60,
                         check=False)
    assert out.returncode == 0, out.stderr
    for option in ("--scale", "--seed", "--gemeenten", "--workdir", "--format", "--keep-running", "--school-files"):
        assert option in out.stdout


def test_demo_tables_show_gemeente_names_and_no_negative_counts(capsys: pytest.CaptureFixture[str]) -> None:
    from analyst.client import CellResult, CountResult
    from demo.__main__ import _ask, _show
    from demo.questions import Question

    question = Question("young people by gemeente", "inwoner", ("gemeente",))
    query = build_count("inwoner", epsilon="1", purpose="p", peildatum=tiny.PEILDATUM, by=["gemeente"])
    result = CountResult(query, "q", [CellResult(("GM9001",), -3, -9.5, 3.5), CellResult(("onbekend",), 4, -2, 10)])

    class Client:
        def catalog(self) -> list[Any]:
            return []

        def resolve_peildatum(self, *args: Any) -> dt.date:
            return tiny.PEILDATUM

        def publishers(self, *args: Any) -> list[Any]:
            return []

        def check(self, *args: Any) -> None:
            pass

        def count(self, *args: Any, **kwargs: Any) -> CountResult:
            return result

    class Truth:
        def count(self, *args: Any, **kwargs: Any) -> dict[tuple[str, ...], int]:
            return {}

    class Manifest:
        partners: tuple[Any, ...] = ()

    rows = _ask(Client(), Truth(), Manifest(), question)  # type: ignore[arg-type]
    assert [r["value"] for r in rows] == [0, 4] and rows[0]["ci95"] == [0, 3.5]
    _show(question, rows, {"GM9001": "Aldendam"})
    shown = capsys.readouterr().out
    assert "Aldendam" in shown and "GM9001" not in shown and "-3" not in shown
