"""The covenant, enforced by the node: anything it does not cover is refused and costs nothing."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from node import audit
from regiozicht.errors import ConfigError, PermissionDenied
from regiozicht.v1 import regiozicht_pb2 as pb
from tests import tiny
from tests.conftest import NodeSetup, current_period, node_setup, sign_query

pytestmark = pytest.mark.processes  # starts real processes: left out of `make test-fast`


def _spent(node: Any) -> str:
    """ε spent in the period the node charges now (read from the same clock), so "0" is never vacuous."""
    with node.state.reading() as conn:
        return str(node.ledger.pool_spent(conn, current_period(node).id)[0])


def _last_entry(node: Any) -> dict[str, Any]:
    return list(audit.entries(node.state))[-1]


def _refused(setup: NodeSetup, signed: pb.Signed, message: str) -> dict[str, Any]:
    node = setup.service()
    with pytest.raises(PermissionDenied, match=message) as caught:
        node.answer(signed)
    assert caught.value.status.name == "PERMISSION_DENIED"
    assert _spent(node) == "0" and node.store.count_committed() == 0
    entry = _last_entry(node)
    assert entry["decision"] == "refused" and "PermissionDenied" in entry["reason"]
    return entry


def _two_purposes(covenant: dict[str, Any]) -> None:
    base = covenant["purposes"][0]
    covenant["purposes"] = [
        {**base, "id": "test", "wat_allowed": True, "datasets": {"registratie": ["gemeente", "sex", "doelgroep"]}},
        {**base, "id": "smal", "wat_allowed": False, "datasets": {"registratie": ["gemeente"]}},
        {**base, "id": "leeg", "datasets": {}},
    ]
    covenant["parties"][0]["purposes"] = ["smal", "leeg"]


def _dat_only(covenant: dict[str, Any]) -> None:
    covenant["purposes"][0]["wat_allowed"] = False
    covenant["purposes"][0]["datasets"] = {"registratie": ["gemeente", "sex"]}


# -- refusals at query time ----------------------------------------------------------------------


def test_a_party_the_covenant_does_not_list_is_refused(tmp_path: Path) -> None:
    setup = node_setup(tmp_path)
    stranger = setup.issue("analyst", "onbekende-partij")
    entry = _refused(setup, sign_query(stranger), "lists no analyst onbekende-partij")
    assert entry["org"] == "onbekende-partij"


def test_an_unknown_purpose_is_refused(tmp_path: Path) -> None:
    setup = node_setup(tmp_path)
    _refused(setup, sign_query(setup.analyst, purpose="marketing"), "has no purpose 'marketing'")


def test_a_purpose_the_party_may_not_use_is_refused(tmp_path: Path) -> None:
    setup = node_setup(tmp_path, _two_purposes)
    _refused(setup, sign_query(setup.analyst, purpose="test"), "does not let analyst regio-analist ask for purpose")


def test_a_dataset_the_purpose_does_not_cover_is_refused(tmp_path: Path) -> None:
    setup = node_setup(tmp_path, _two_purposes)
    _refused(setup, sign_query(setup.analyst, purpose="leeg", by=()), "does not cover dataset 'registratie'")


def test_a_column_the_purpose_does_not_allow_is_refused(tmp_path: Path) -> None:
    setup = node_setup(tmp_path, _two_purposes)
    _refused(setup, sign_query(setup.analyst, purpose="smal", by=("sex",)), "does not allow column")


def test_a_wat_column_under_a_dat_only_purpose_is_refused(tmp_path: Path) -> None:
    setup = node_setup(tmp_path, _dat_only)
    _refused(setup, sign_query(setup.analyst, by=("doelgroep",)), "DAT columns only, and doelgroep is a WAT column")


def test_a_wat_column_in_a_filter_under_a_dat_only_purpose_is_refused(tmp_path: Path) -> None:
    setup = node_setup(tmp_path, _dat_only)
    _refused(setup, sign_query(setup.analyst, by=("sex",), where="doelgroep = A"), "DAT columns only")


def test_epsilon_above_the_per_query_limit_is_refused(tmp_path: Path) -> None:
    setup = node_setup(tmp_path, lambda c: c["limits"].update(max_epsilon="0.5", typical_epsilon="0.5"))
    _refused(setup, sign_query(setup.analyst, epsilon="0.6"), "above the per-query limit of 0.5")


def _service_covenant(listed_body: bytes) -> Any:
    def change(covenant: dict[str, Any]) -> None:
        covenant["parties"].append({"role": "service", "org": "regio-dashboard", "purposes": ["test"],
                                    "queries": [hashlib.sha256(listed_body).hexdigest()]})
    return change


def test_a_service_identity_may_run_only_its_listed_queries(tmp_path: Path) -> None:
    from regiozicht.query import build_count
    from tests import tiny

    listed = build_count("registratie", epsilon="1", purpose="test", peildatum=tiny.PEILDATUM, by=["sex"])
    setup = node_setup(tmp_path, _service_covenant(listed.canonical()))
    service = setup.issue("service", "regio-dashboard")
    node = setup.service()
    node.answer(sign_query(service, by=("sex",)))  # the listed monitor query runs
    with pytest.raises(PermissionDenied, match="only the queries the covenant of school-1 lists"):
        node.answer(sign_query(service, by=("gemeente",)))
    assert _spent(node) == "1" and _last_entry(node)["decision"] == "refused"


def test_authorisation_runs_before_the_stored_release_lookup(tmp_path: Path) -> None:
    setup = node_setup(tmp_path)
    node = setup.service()
    node.answer(sign_query(setup.analyst))
    stranger = setup.issue("analyst", "onbekende-partij")
    with pytest.raises(PermissionDenied, match="lists no analyst"):
        node.answer(sign_query(stranger))  # the same body is stored, but the stranger may not have it


def test_a_suppressed_cell_carries_no_value(tmp_path: Path) -> None:
    setup = node_setup(tmp_path, lambda c: c.update(suppression=[{"below": 1000}]))
    node = setup.service()
    answer = pb.Answer.FromString(node.answer(sign_query(setup.analyst)).payload)
    assert all(c.suppressed and c.value == 0 for c in answer.cells)
    assert all(value is None for _, value in _last_entry(node)["values"])


SUPPRESSION_DRAWS = 60


@pytest.mark.parametrize("above_exact", [0, 1])
def test_suppression_acts_on_noisy_values_only(tmp_path: Path, above_exact: int) -> None:
    """Suppressing on the exact count would leak it (a cell is withheld exactly when its true count is
    small). The threshold sits at the exact total (0: the exact count is not below it, so a node
    deciding on exact values never suppresses) or one above it (1: such a node always suppresses).
    Deciding on the noisy value, each of SUPPRESSION_DRAWS fresh releases at ε 1 goes the other way
    with probability P(Z < 0) = P(Z ≥ 1) = q/(1+q) = 0.269 (q = e^-1); none of 60 doing so has
    probability 0.731^60 < 1e-8, the false-failure rate of each case. Every released value is at
    or above the threshold."""
    persons = 50
    total = sum(tiny.make(tmp_path / "truth.sqlite", persons, seed=1).values())  # school1's rows: the same seed
    threshold = total + above_exact
    setup = node_setup(tmp_path, lambda c: c.update(suppression=[{"below": threshold}]), persons=persons)
    node = setup.service()
    suppressed, released = 0, []
    for _ in range(SUPPRESSION_DRAWS):
        (cell,) = pb.Answer.FromString(node.answer(sign_query(setup.analyst, by=(), refresh=True)).payload).cells
        if cell.suppressed:
            suppressed += 1
        else:
            released.append(cell.value)
    assert all(value >= threshold for value in released), (threshold, released)
    assert 0 < suppressed < SUPPRESSION_DRAWS, (threshold, total, suppressed)


def test_describe_carries_purposes_suppression_budget_and_audit_head(tmp_path: Path) -> None:
    setup = node_setup(tmp_path, lambda c: c.update(suppression=[{"below": 5}]))
    node = setup.service()
    node.answer(sign_query(setup.analyst, epsilon="0.25"))
    describe = pb.Describe.FromString(node.describe().payload)
    purpose = describe.purposes[0]
    assert (purpose.id, purpose.legal_basis, purpose.wat_allowed) == ("test", "publieke taak", True)
    assert list(purpose.allowed[0].columns) == ["doelgroep", "gemeente", "sex"]
    assert purpose.epsilon_remaining == "9999.75" and describe.budget.epsilon_remaining == "9999.75"
    assert describe.budget.renews_on == current_period(node).renews.isoformat() and describe.suppression[0].below == 5
    assert describe.audit_seq == 2 and describe.audit_head.hex() == _last_entry(node)["hash"]  # reserved, granted


# -- a malformed or contradictory covenant: the node refuses to start -----------------------------


def _set(path: tuple[Any, ...], value: Any) -> Any:
    def change(covenant: dict[str, Any]) -> None:
        target = covenant
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value
    return change


BAD_COVENANTS = {
    "unknown dataset": (_set(("purposes", 0, "datasets"), {"vsv": []}), "unknown dataset 'vsv'", True),
    "unknown dimension": (_set(("purposes", 0, "datasets"), {"registratie": ["leeftijd"]}),
                          "unknown dimension 'leeftijd'", True),
    "caps above the budget": (lambda c: (c["budget"].update(epsilon="10"),
                                         c["purposes"][0].update(epsilon_cap="11")), "add up to 11", False),
    "WAT listed under DAT-only": (_set(("purposes", 0, "wat_allowed"), False), "DAT-only but lists WAT", True),
    "unknown legal basis": (_set(("purposes", 0, "legal_basis"), "omdat het kan"), "legal_basis", True),
    "service without queries": (lambda c: c["parties"].append({"role": "service", "org": "x", "purposes": ["test"]}),
                                "needs the list of query hashes", False),
    "party with unknown purpose": (_set(("parties", 0, "purposes"), ["nope"]), "unknown purpose 'nope'", False),
    "another organisation": (_set(("organisation",), "school-9"), "node.toml says 'school-1'", True),
    "unknown field": (_set(("budget", "epsilonn"), "1"), "budget.epsilonn", True),
}


@pytest.mark.parametrize("case", list(BAD_COVENANTS))
def test_a_bad_covenant_stops_the_node_and_names_the_field(tmp_path: Path, case: str) -> None:
    change, message, has_line = BAD_COVENANTS[case]
    setup = node_setup(tmp_path, change)
    with pytest.raises(ConfigError, match=message) as caught:
        setup.service()
    assert "covenant.toml" in caught.value.message and "covenant check" in caught.value.message
    if has_line:
        assert " line " in caught.value.message


def test_a_missing_covenant_file_stops_the_node(tmp_path: Path) -> None:
    setup = node_setup(tmp_path)
    (setup.config.parent / "covenant.toml").unlink()
    with pytest.raises(ConfigError, match="Cannot read the covenant"):
        setup.service()


def _node_cli(*args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "regiozicht-node"
    return subprocess.run([str(script), *args], capture_output=True, text=True, timeout=60, check=False)


def test_serve_refuses_to_start_on_a_bad_covenant(tmp_path: Path) -> None:
    setup = node_setup(tmp_path, BAD_COVENANTS["unknown dataset"][0])
    out = _node_cli("serve", "--config", str(setup.config))
    assert out.returncode == 2 and "unknown dataset 'vsv'" in out.stderr and "line" in out.stderr


def test_covenant_check_shows_parties_and_what_the_budget_buys(tmp_path: Path) -> None:
    setup = node_setup(tmp_path, lambda c: (c["budget"].update(epsilon="20"),
                                            c["purposes"][0].update(epsilon_cap="5")))
    out = _node_cli("covenant", "check", "--config", str(setup.config), "--format", "json")
    assert out.returncode == 0, out.stderr
    document = json.loads(out.stdout)
    assert document["rows"][0]["party"] == "analyst regio-analist" and document["rows"][0]["purpose"] == "test"
    accuracy = {row["pot"]: row for row in document["accuracy"]}
    # typical ε 0.5: discrete Laplace scale 2, 95% half-width 6; the purpose's cap of 5 buys 10 releases
    assert accuracy["test"]["releases_per_period"] == 10 and accuracy["test"]["ci95_half_width"] == 6
    table = _node_cli("covenant", "check", "--config", str(setup.config))
    assert table.returncode == 0 and "is valid" in table.stdout and "What the budget buys" in table.stdout
