"""The audit trail: every request recorded, hash-chained, tampering named, heads signed into answers."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from node import audit
from regiozicht.audit_chain import verify_against_heads, verify_chain
from regiozicht.errors import AuthenticationFailed, BudgetExhausted, PermissionDenied, Replayed
from regiozicht.v1 import regiozicht_pb2 as pb
from tests.conftest import NodeSetup, TinyRegion, node_setup, sign_query

pytestmark = pytest.mark.processes  # starts real processes: left out of `make test-fast`


def _node_cli(*args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "regiozicht-node"
    return subprocess.run([str(script), *args], capture_output=True, text=True, timeout=60, check=False)


def _trail_of_five(tmp_path: Path) -> NodeSetup:
    setup = node_setup(tmp_path)
    node = setup.service()
    for epsilon in ("0.1", "0.2", "0.3", "0.4", "0.5"):
        node.answer(sign_query(setup.analyst, epsilon=epsilon))
    node.state.engine.dispose()
    return setup


def test_every_request_is_audited_granted_or_refused(tmp_path: Path) -> None:
    setup = node_setup(tmp_path, lambda c: (c["budget"].update(epsilon="1.5"), c["limits"].update(max_epsilon="1")))
    node = setup.service()
    signed = sign_query(setup.analyst, epsilon="1")
    node.answer(signed)
    node.answer(sign_query(setup.analyst, epsilon="1"))  # the stored release
    with pytest.raises(Replayed):
        node.answer(signed)
    tampered = sign_query(setup.analyst)
    tampered.payload = tampered.payload.replace(b'"epsilon":"1"', b'"epsilon":"2"')
    with pytest.raises(AuthenticationFailed):
        node.answer(tampered)
    with pytest.raises(PermissionDenied):
        node.answer(sign_query(setup.analyst, purpose="marketing"))
    with pytest.raises(BudgetExhausted):
        node.answer(sign_query(setup.analyst, epsilon="1", by=("gemeente",)))
    entries = list(audit.entries(node.state))
    assert [e["decision"] for e in entries] == [
        "reserved", "granted", "stored", "refused", "refused", "refused", "refused"]
    assert [e["reason"].split(":")[0] for e in entries[3:]] == [
        "Replayed", "AuthenticationFailed", "PermissionDenied", "BudgetExhausted"]
    reserved, granted = entries[0], entries[1]  # the charge is audited with the reservation, once
    assert (reserved["org"], reserved["purpose"], reserved["legal_basis"], reserved["epsilon"]) == (
        "regio-analist", "test", "publieke taak", "1")
    assert granted["query_id"] == reserved["query_id"] and granted["epsilon"] == "0"
    assert json.loads(granted["query"])["by"] == ["sex"] and len(granted["values"]) == 3
    assert entries[2]["epsilon"] == "0" and entries[2]["values"] == granted["values"]
    assert verify_chain(entries) == []


def test_each_answer_carries_the_head_of_its_own_entry(tmp_path: Path) -> None:
    setup = node_setup(tmp_path)
    node = setup.service()
    answers = [pb.Answer.FromString(node.answer(sign_query(setup.analyst, epsilon=e)).payload) for e in ("1", "2")]
    entries = list(audit.entries(node.state))
    granted = [e for e in entries if e["decision"] == "granted"]
    assert [(a.audit_seq, a.audit_head.hex()) for a in answers] == [(e["seq"], e["hash"]) for e in granted]
    assert verify_against_heads(entries, [(a.audit_seq, a.audit_head.hex()) for a in answers]) == []


def _tamper(database: Path, case: str) -> None:
    with sqlite3.connect(database) as connection:
        if case == "edit":
            row = connection.execute("SELECT entry FROM audit_entries WHERE seq = 3").fetchone()[0]
            connection.execute("UPDATE audit_entries SET entry = ? WHERE seq = 3",
                               (row.replace('"epsilon":"0.2"', '"epsilon":"0.02"'),))  # entry 3: ε 0.2's reservation
        elif case == "delete":
            connection.execute("DELETE FROM audit_entries WHERE seq = 3")
        elif case == "insert":
            connection.execute("INSERT INTO audit_entries (seq, hash, entry) "
                               "SELECT seq, hash, entry FROM audit_entries WHERE seq = 3")
        elif case == "reorder":
            three, four = (connection.execute("SELECT seq, hash, entry FROM audit_entries WHERE seq = ?",
                                              (seq,)).fetchone() for seq in (3, 4))
            connection.execute("UPDATE audit_entries SET seq = ?, hash = ?, entry = ? WHERE position = 3", four)
            connection.execute("UPDATE audit_entries SET seq = ?, hash = ?, entry = ? WHERE position = 4", three)


@pytest.mark.parametrize("case,named", [
    ("edit", "entry 3 was edited"),
    ("delete", "entry 3 is missing: it was deleted"),
    ("insert", "entry 3 appears twice: an entry was inserted"),
    ("reorder", "entry 3 is stored after entry 4: entries were reordered"),
])
def test_audit_verify_names_a_tampered_entry(tmp_path: Path, case: str, named: str) -> None:
    setup = _trail_of_five(tmp_path)
    intact = _node_cli("audit", "verify", "--config", str(setup.config))
    assert intact.returncode == 0 and "audit trail intact: 10 entries" in intact.stdout
    _tamper(setup.config.parent / "state.sqlite", case)
    out = _node_cli("audit", "verify", "--config", str(setup.config))
    assert out.returncode == 8, out.stdout + out.stderr  # ExitCode.AUDIT_PROBLEM, like `audit compare`
    assert named in out.stdout and "NOT intact" in out.stderr


def test_a_rewritten_but_consistent_trail_is_caught_by_the_signed_heads(tmp_path: Path) -> None:
    setup = node_setup(tmp_path)
    node = setup.service()
    heads = []
    for epsilon in ("1", "2", "3"):
        answer = pb.Answer.FromString(node.answer(sign_query(setup.analyst, epsilon=epsilon)).payload)
        heads.append((answer.audit_seq, answer.audit_head.hex()))
    entries = list(audit.entries(node.state))
    from regiozicht.audit_chain import entry_hash

    entries[1]["epsilon"] = "0.2"  # rewrite entry 2 and re-hash everything after it
    for index in range(1, len(entries)):
        entries[index]["prev_hash"] = entries[index - 1]["hash"]
        entries[index]["hash"] = entry_hash(entries[index])
    assert verify_chain(entries) == []
    problems = verify_against_heads(entries, heads)
    assert problems and problems[0].startswith("entry 2 differs")
    assert "truncated" in verify_against_heads(entries[:1], heads)[0]


def test_audit_export_writes_jsonl_and_csv_that_verify(tmp_path: Path) -> None:
    setup = _trail_of_five(tmp_path)
    out = _node_cli("audit", "export", "--config", str(setup.config), "--format", "jsonl",
                    "--out", str(tmp_path / "trail.jsonl"))
    assert out.returncode == 0, out.stderr
    entries = [json.loads(line) for line in (tmp_path / "trail.jsonl").read_text().splitlines()]
    assert len(entries) == 10 and verify_chain(entries) == []
    csv = _node_cli("audit", "export", "--config", str(setup.config), "--format", "csv")
    assert csv.returncode == 0 and csv.stdout.startswith("seq,time,query_id,role,org")
    assert len(csv.stdout.splitlines()) == 11


def test_answers_through_the_coordinator_carry_the_head_and_the_catalog_follows_the_budget(
        region: TinyRegion) -> None:
    client = region.client()
    try:
        def remaining() -> dict[str, str]:
            return {n.org: n.describe.budget.epsilon_remaining for n in client.catalog()}

        before = remaining()
        signed = sign_query(client.signer, epsilon="0.125", by=("sex", "gemeente"), where="sex != V")
        response = client.stub.Submit(pb.SubmitRequest(envelope=signed), timeout=30)
        answers = [pb.Answer.FromString(r.answer.payload) for r in response.count.results]
        assert len(answers) == 2 and all(a.audit_seq > 0 and len(a.audit_head) == 32 for a in answers)
        deadline = time.monotonic() + 10
        while remaining() == before:  # each node re-sends its signed Describe after a spend
            assert time.monotonic() < deadline, "the catalog did not follow the spend"
            time.sleep(0.1)
        after = remaining()
        assert all(Decimal(before[org]) - Decimal(after[org]) >= Decimal("0.125") for org in after)
    finally:
        client.close()
