"""The privacy-budget ledger: exact sums, no overspending, crashes and restores that never give budget back."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from node import audit
from node.covenant import Purpose
from node.ledger import Period, period_of
from node.service import NodeService
from regiozicht.audit_chain import verify_against_heads, verify_chain
from regiozicht.errors import BudgetExhausted, ConfigError, Replayed, Unavailable
from regiozicht.v1 import regiozicht_pb2 as pb
from tests import tiny
from tests.conftest import current_period, node_setup, sign_query

pytestmark = [pytest.mark.processes, pytest.mark.postgres]  # real processes and PostgreSQL: left out of `make test-fast`



def _spent(node: NodeService, period: str | None = None) -> Decimal:
    """ε spent from the whole pool in a period; by default the one the node charges now (same clock)."""
    with node.state.reading() as conn:
        return node.ledger.pool_spent(conn, period or current_period(node).id)[0]


def _budget(epsilon: str, **purpose: Any) -> Any:
    def change(covenant: dict[str, Any]) -> None:
        covenant["budget"]["epsilon"] = epsilon
        covenant["limits"].update(max_epsilon=min(epsilon, "1", key=Decimal))
        covenant["limits"].pop("typical_epsilon")
        covenant["purposes"][0].update(purpose)
    return change


@pytest.mark.parametrize("kind", ["calendar-year", "calendar-quarter", "calendar-month"])
def test_an_exhausted_budget_says_what_remains_and_when_it_renews(tmp_path: Path, kind: str) -> None:
    def change(covenant: dict[str, Any]) -> None:
        _budget("1")(covenant)
        covenant["budget"]["period"] = kind
    setup = node_setup(tmp_path, change)
    node = setup.service()
    assert node.covenant.budget.period == kind
    node.answer(sign_query(setup.analyst, epsilon="0.75"))
    renews = current_period(node).renews.isoformat()
    with pytest.raises(BudgetExhausted, match=rf"ε 0.25 of 1 left .* needs 0.5.* renews on {renews}") as caught:
        node.answer(sign_query(setup.analyst, epsilon="0.5", by=("gemeente",)))
    assert caught.value.status.name == "RESOURCE_EXHAUSTED"
    assert _spent(node) == Decimal("0.75") and node.store.count_committed() == 1  # the refusal cost nothing
    assert list(audit.entries(node.state))[-1]["decision"] == "refused"
    node.answer(sign_query(setup.analyst, epsilon="0.25", by=("gemeente",)))  # what remains can still be spent
    assert _spent(node) == Decimal(1)


def test_periods_are_utc_calendar_years_quarters_and_months() -> None:
    def at(text: str) -> int:
        return int(dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp())
    day = dt.date
    assert period_of("calendar-year", at("2026-12-31T23:59:59")) == Period("2026", day(2026, 1, 1), day(2027, 1, 1))
    assert period_of("calendar-year", at("2027-01-01T00:00:00")) == Period("2027", day(2027, 1, 1), day(2028, 1, 1))
    assert period_of("calendar-quarter", at("2027-03-31T23:59:59")) == Period("2027-Q1", day(2027, 1, 1), day(2027, 4, 1))
    assert period_of("calendar-quarter", at("2027-04-01T00:00:00")) == Period("2027-Q2", day(2027, 4, 1), day(2027, 7, 1))
    assert period_of("calendar-quarter", at("2026-12-31T12:00:00")) == Period("2026-Q4", day(2026, 10, 1), day(2027, 1, 1))
    assert period_of("calendar-month", at("2027-04-02T10:00:00")) == Period("2027-04", day(2027, 4, 1), day(2027, 5, 1))
    assert period_of("calendar-month", at("2026-12-15T00:00:00")) == Period("2026-12", day(2026, 12, 1), day(2027, 1, 1))


def test_a_purpose_cap_keeps_a_share_for_the_scheduled_monitor(tmp_path: Path) -> None:
    def change(covenant: dict[str, Any]) -> None:
        _budget("2")(covenant)
        monitor = {**covenant["purposes"][0], "id": "monitor", "epsilon_cap": "1.5"}
        covenant["purposes"].append(monitor)
    setup = node_setup(tmp_path, change)
    node = setup.service()
    node.answer(sign_query(setup.analyst, epsilon="0.5"))
    with pytest.raises(BudgetExhausted, match="purposes without a cap of their own"):
        node.answer(sign_query(setup.analyst, epsilon="0.5", by=("gemeente",)))


def test_averaging_one_query_asked_a_thousand_times_is_charged_once(tmp_path: Path) -> None:
    setup = node_setup(tmp_path)
    node = setup.service()
    answers = {tuple(c.value for c in pb.Answer.FromString(node.answer(sign_query(setup.analyst)).payload).cells)
               for _ in range(1000)}
    assert len(answers) == 1, "every repeat returns the one stored release"
    assert _spent(node) == Decimal(1) and node.store.count_committed() == 1


def test_differencing_two_overlapping_queries_are_both_charged(tmp_path: Path) -> None:
    setup = node_setup(tmp_path)
    node = setup.service()
    node.answer(sign_query(setup.analyst, by=("sex",)))
    node.answer(sign_query(setup.analyst, by=("sex",), where="gemeente != GM0001"))
    assert _spent(node) == Decimal(2) and node.store.count_committed() == 2


def test_fifty_requests_racing_for_the_last_budget_never_overspend(tmp_path: Path) -> None:
    setup = node_setup(tmp_path, _budget("5"))
    node = setup.service()
    # 50 distinct releases (one per reference date) of ε 0.5 against a budget of 5
    envelopes = [sign_query(setup.analyst, epsilon="0.5", peildatum=tiny.PEILDATUM - dt.timedelta(days=i))
                 for i in range(50)]
    outcomes: list[str] = []
    barrier = threading.Barrier(50)

    def ask(envelope: pb.Signed) -> None:
        barrier.wait()
        try:
            node.answer(envelope)
            outcomes.append("granted")
        except BudgetExhausted:
            outcomes.append("exhausted")

    threads = [threading.Thread(target=ask, args=(e,)) for e in envelopes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("granted") == 10 and outcomes.count("exhausted") == 40
    assert _spent(node) == Decimal(5) and node.store.count_committed() == 10


def test_a_clock_set_back_never_reopens_an_old_period(tmp_path: Path) -> None:
    setup = node_setup(tmp_path, _budget("1"))
    node = setup.service()
    node.answer(sign_query(setup.analyst, epsilon="1"))
    this = current_period(node)
    # four days into the next period (whatever today's is): a new period, a new budget
    later = dt.datetime.combine(this.renews, dt.time(12), dt.UTC).timestamp() + 4 * 86400
    following = period_of(node.covenant.budget.period, int(later))
    assert following.id != this.id and following.start == this.renews
    node.answer(sign_query(setup.analyst, epsilon="1", by=("sex", "gemeente"), now=later), now=later)
    assert _spent(node, following.id) == Decimal(1)
    with pytest.raises(ConfigError, match=f"before the budget period starting {following.start}.*correct the clock"):
        node.answer(sign_query(setup.analyst, epsilon="0.5", by=("gemeente",)))
    assert _spent(node, this.id) == Decimal(1)
    # a fresh state database beside the same high-water mark is no way around it either
    node.state.engine.dispose()
    Path(str(setup.config.parent / "state.sqlite")).unlink()
    with pytest.raises(ConfigError, match="correct the clock"):
        setup.service().answer(sign_query(setup.analyst, epsilon="0.5", by=("gemeente",)))


def _copy_state(source: Path, target: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        (target.parent / (target.name + suffix)).unlink(missing_ok=True)
        if (source.parent / (source.name + suffix)).exists():
            shutil.copy2(source.parent / (source.name + suffix), target.parent / (target.name + suffix))


def test_a_restored_backup_keeps_the_highest_spent_figure(tmp_path: Path) -> None:
    setup = node_setup(tmp_path)
    state = setup.config.parent / "state.sqlite"
    node = setup.service()
    node.answer(sign_query(setup.analyst, epsilon="1"))
    node.state.engine.dispose()
    _copy_state(state, tmp_path / "backup.sqlite")
    node = setup.service()
    heads = []
    for epsilon in ("2", "3"):
        answer = pb.Answer.FromString(node.answer(sign_query(setup.analyst, epsilon=epsilon)).payload)
        heads.append((answer.audit_seq, answer.audit_head.hex()))
    node.state.engine.dispose()
    _copy_state(tmp_path / "backup.sqlite", state)  # the backup only knows of ε 1
    node = setup.service()
    assert _spent(node) == Decimal(6)
    node.answer(sign_query(setup.analyst, epsilon="0.5"))
    assert _spent(node) == Decimal("6.5")
    # the restored trail is intact in itself, but the heads signed into answers show what was lost
    entries = list(audit.entries(node.state))
    assert verify_chain(entries) == []
    assert any("entry 4" in p for p in verify_against_heads(entries, heads))  # ε 2's granted entry


def test_a_failure_after_the_reservation_keeps_the_charge_and_a_restart_does_not_charge_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    setup = node_setup(tmp_path)
    node = setup.service()
    signed = sign_query(setup.analyst, epsilon="0.5")

    def broken(*_args: Any, **_kwargs: Any) -> list[int]:
        raise RuntimeError("power cut while drawing noise")

    monkeypatch.setattr("regiozicht.dp.noisy_counts", broken)
    with pytest.raises(RuntimeError):
        node.answer(signed)
    monkeypatch.undo()
    node = setup.service()  # restart on the same state database
    with pytest.raises(Replayed):
        node.answer(signed)  # the same query id is never charged twice
    assert _spent(node) == Decimal("0.5") and node.store.count_committed() == 0
    assert [e["decision"] for e in audit.entries(node.state)] == ["reserved", "failed", "refused"]


def test_a_crash_between_reserve_and_commit_leaves_one_charge_and_no_release(tmp_path: Path) -> None:
    setup = node_setup(tmp_path)
    signed = sign_query(setup.analyst, epsilon="0.5")
    (tmp_path / "envelope.bin").write_bytes(signed.SerializeToString())
    # a real process killed (SIGKILL) after the reservation committed, before the release did
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from node import config, service
        from regiozicht.v1 import regiozicht_pb2 as pb
        node = service.NodeService(config.load(Path({str(setup.config)!r})))
        node.trust.update_crl(open({str(setup.files.crl)!r}, "rb").read())
        node._commit = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
        node.answer(pb.Signed.FromString(open({str(tmp_path / "envelope.bin")!r}, "rb").read()))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == -9, out.stderr
    node = setup.service()
    assert _spent(node) == Decimal("0.5") and node.store.count_committed() == 0
    with pytest.raises(Replayed):
        node.answer(signed)
    entries = list(audit.entries(node.state))
    assert [e["decision"] for e in entries[:2]] == ["reserved", "abandoned"] and verify_chain(entries) == []
    assert [e["epsilon"] for e in entries[:2]] == ["0.5", "0"]  # charged once, in the reservation's entry
    assert _spent(node) == Decimal("0.5")


def test_a_computation_that_fails_before_any_noise_is_refunded(tmp_path: Path) -> None:
    setup = node_setup(tmp_path)
    node = setup.service()
    node.partner.dispose()
    node.partner = __import__("sqlalchemy").create_engine(f"sqlite:///file:{tmp_path}/gone.sqlite?mode=ro&uri=true")
    with pytest.raises(Unavailable):
        node.answer(sign_query(setup.analyst))
    assert _spent(node) == Decimal(0)
    assert [e["decision"] for e in audit.entries(node.state)] == ["reserved", "refunded"]


def test_a_linked_run_is_charged_once_and_never_refunded(tmp_path: Path) -> None:
    setup = node_setup(tmp_path, _budget("2"))
    node = setup.service()
    now = int(dt.datetime(2027, 1, 5, 12, tzinfo=dt.UTC).timestamp()) - 86400 * 30  # injected: no clock read
    assert _charge_run(node, "q1:wi-1", "1", "0.000000001", "wi-1", now) is True
    assert _charge_run(node, "q1:wi-1", "1", "0.000000001", "wi-1", now) is False
    with node.state.transaction() as tx:
        node.ledger.refund(tx, "q1:wi-1", now)  # only query charges can be refunded
    assert _spent(node, period_of(node.covenant.budget.period, now).id) == Decimal(1)
    with pytest.raises(BudgetExhausted):
        _charge_run(node, "q1:wi-2", "1.5", "0", "wi-1", now)
    with pytest.raises(BudgetExhausted):  # checked before a run's key leaves, charging nothing
        node.ledger.check_affordable(_purpose(node), Decimal("1.5"), Decimal(0), "wi-1", now)


def _purpose(node: NodeService) -> Purpose:
    purpose = node.covenant.purpose("test")
    assert purpose is not None
    return purpose


def _charge_run(node: NodeService, run_id: str, epsilon: str, delta: str, partner: str, now: int) -> bool:
    with node.state.transaction() as tx:
        return node.ledger.charge(tx, charge_id=run_id, kind="linked-run", purpose=_purpose(node),
                                  epsilon=Decimal(epsilon), delta=Decimal(delta), now=now, partner=partner)


def _pair_budget(covenant: dict[str, Any]) -> None:
    _budget("10")(covenant)
    covenant["linked"] = {"counters": ["regio-teller"], "pair_epsilon": "1.5", "failed_runs_alert": 2}


def test_one_partner_cannot_spend_more_than_its_pair_budget_linking_against_a_node(tmp_path: Path) -> None:
    """A node still chooses its own input set, so repeated single-target runs by one partner are
    bounded per period: the covenant's pair budget, whatever the pool has left."""
    setup = node_setup(tmp_path, _pair_budget)
    node = setup.service()
    now = int(time.time())
    assert _charge_run(node, "q1:wi-1", "1", "0", "wi-1", now)
    with pytest.raises(BudgetExhausted, match=r"ε 0.5 of 1.5 left for linking with wi-1"):
        _charge_run(node, "q2:wi-1", "1", "0", "wi-1", now)
    assert _charge_run(node, "q2:wi-2", "1", "0", "wi-2", now)
    assert _spent(node, period_of(node.covenant.budget.period, now).id) == Decimal(2)


def test_budget_show_lists_each_partners_linking_and_alerts_on_failed_runs(tmp_path: Path) -> None:
    setup = node_setup(tmp_path, _pair_budget)
    node = setup.service()
    now = int(time.time())
    _charge_run(node, "q1:wi-1", "1", "0", "wi-1", now)
    assert [node.ledger.record_failed_run("wi-1", now) for _ in range(2)] == [1, 2]
    script = Path(sys.executable).parent / "regiozicht-node"
    shown = subprocess.run([str(script), "budget", "show", "--config", str(setup.config), "--format", "json"],
                           capture_output=True, text=True, timeout=60, check=False)
    assert shown.returncode == 0, shown.stderr
    document = json.loads(shown.stdout)
    period = document["current_period"]
    row = next(r for r in document["rows"] if r["purpose"] == "(linking with wi-1)")
    assert (row["period"], row["epsilon_spent"], row["epsilon_remaining"]) == (period, "1", "0.5")
    assert document["failed_linked_runs"] == {period: {"wi-1": 2}}
    table = subprocess.run([str(script), "budget", "show", "--config", str(setup.config)], capture_output=True,
                           text=True, timeout=60, check=False, env={**__import__("os").environ, "COLUMNS": "200"})
    assert "ALERT" in table.stdout and "2 linked run(s) with wi-1 failed" in table.stdout, table.stdout


def test_budget_show_lists_spent_and_remaining_per_period_and_purpose(tmp_path: Path) -> None:
    setup = node_setup(tmp_path, _budget("3"))
    node = setup.service()
    node.answer(sign_query(setup.analyst, epsilon="0.1"))
    node.answer(sign_query(setup.analyst, epsilon="0.2", by=("gemeente",)))
    script = Path(sys.executable).parent / "regiozicht-node"
    out = subprocess.run([str(script), "budget", "show", "--config", str(setup.config), "--format", "json"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    period = current_period(node)  # the subprocess reads the same clock
    document = json.loads(out.stdout)
    rows = {(r["period"], r["purpose"]): r for r in document["rows"]}
    assert rows[(period.id, "test")]["epsilon_spent"] == "0.3" and rows[(period.id, "test")]["epsilon_remaining"] == "2.7"
    assert document["epsilon_spent_all_periods"] == "0.3" and document["renews_on"] == period.renews.isoformat()
    csv = subprocess.run([str(script), "budget", "show", "--config", str(setup.config), "--format", "csv"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert csv.stdout.splitlines()[0] == "period,purpose,epsilon_spent,epsilon_remaining,delta_spent,delta_remaining"


def test_the_ledger_works_on_postgresql(tmp_path: Path, postgres: Any) -> None:
    setup = node_setup(tmp_path, _budget("2"))
    text = setup.config.read_text().replace('url = "sqlite:///state.sqlite"',
                                            f'url = "{postgres.url()}"\nhigh_water_mark = "hwm.json"')
    setup.config.write_text(text)
    node = setup.service()
    envelopes = [sign_query(setup.analyst, epsilon="0.5", peildatum=tiny.PEILDATUM - dt.timedelta(days=i))
                 for i in range(8)]
    errors: list[Exception] = []

    def ask(envelope: pb.Signed) -> None:
        try:
            node.answer(envelope)
        except BudgetExhausted as exc:
            errors.append(exc)

    threads = [threading.Thread(target=ask, args=(e,)) for e in envelopes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(errors) == 4 and _spent(node) == Decimal(2)
    assert verify_chain(list(audit.entries(node.state))) == []


