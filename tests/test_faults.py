"""Faults over real processes: whatever fails — a node killed mid-query, its partner database gone,
a node too slow, the coordinator killed mid linked run, the ledger's disk full — nothing is released
without its charge, every charge is in the audit trail the moment it is in the ledger (read straight
from the state file, no restart), the CLI names the node that did not answer, and the region recovers
without restarting what did not fail (issue 14)."""

from __future__ import annotations

import contextlib
import resource
import signal
import sqlite3
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import tomli_w

from bench import consistency
from demo.region import RegionFiles
from regiozicht.query import build_count
from tests import tiny
from tests.conftest import TinyRegion, running_tiny

pytestmark = pytest.mark.processes  # starts real processes: left out of `make test-fast`

BIN = Path(sys.executable).parent
QUERY_TIMEOUT = 5  # the coordinator's deadline for a node's answer, seconds
SLOW_ROWS = 60_000_000  # a scalar subquery that keeps SQLite busy for well over QUERY_TIMEOUT


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TinyRegion]:
    def short_deadline(files: RegionFiles) -> None:
        config = tomllib.loads(files.coordinator_config.read_text())
        config["server"]["query_timeout_seconds"] = QUERY_TIMEOUT
        files.coordinator_config.write_text(tomli_w.dumps(config))

    with running_tiny(tmp_path_factory.mktemp("faults"), configure=short_deadline) as running:
        yield running


@contextlib.contextmanager
def slow(database: Path, table: str = "registratie") -> Iterator[None]:
    """The partner's table behind a view that first counts to SLOW_ROWS: every statement on it is slow."""
    with sqlite3.connect(database) as connection:
        connection.execute(f"ALTER TABLE {table} RENAME TO {table}_rows")
        connection.execute(f"CREATE VIEW {table} AS SELECT * FROM {table}_rows WHERE (WITH RECURSIVE "
                           f"c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < {SLOW_ROWS}) "
                           "SELECT count(*) FROM c) > 0")
    try:
        yield
    finally:
        with sqlite3.connect(database, timeout=300) as connection:  # waits for a slow statement still reading
            connection.execute(f"DROP VIEW {table}")
            connection.execute(f"ALTER TABLE {table}_rows RENAME TO {table}")


def ask(region: TinyRegion, epsilon: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([str(BIN / "regiozicht"), "query", "count", "registratie", "--by", "sex", "--epsilon",
                             epsilon, "--purpose", "test", "--at", tiny.PEILDATUM.isoformat(), *extra, "--profile",
                             str(region.files.profile)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def entries_with(state_db: Path, decision: str) -> list[dict[str, object]]:
    return [e for e in consistency.read(state_db).entries if e["decision"] == decision]


def wait_for(condition, timeout: float = 60, what: str = "") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def restart(region: TinyRegion, node_id: str) -> None:
    region.running.start_node(node_id)
    region.running.wait_until_online({"school-1", "school-2"})


def test_a_node_killed_mid_query_is_named_and_its_charge_audited_at_once(region: TinyRegion) -> None:
    state = region.state_db("school2")
    before = set(consistency.read(state).charged)
    with slow(region.databases["school2"]):
        cli = ask(region, "0.7")
        wait_for(lambda: set(consistency.read(state).charged) - before, what="the charge")
        node = region.running.processes.pop("node-school2")
        node.send_signal(signal.SIGKILL)  # mid-statement: charged, nothing computed
        node.wait()
        out, err = cli.communicate(timeout=120)
    assert cli.returncode == 6, out + err
    assert "missing: school-2" in err
    # straight from the state file, the node still dead: the charge, its audit entry, no release
    report = consistency.read(state)
    (query_id,) = set(report.charged) - before
    assert report.charged[query_id] == Decimal("0.7") and query_id not in report.committed
    assert report.entries_for(query_id) == ["reserved"], "the charge is in the ledger but not in the audit trail"
    assert report.problems == []
    restart(region, "school2")
    report = consistency.read(state)
    assert report.entries_for(query_id) == ["reserved", "abandoned"]  # charged once, nothing released
    assert report.problems == []


def fresh(region: TinyRegion, epsilon: str):  # type: ignore[no-untyped-def]
    client = region.client()
    try:
        return client.count(build_count("registratie", epsilon=epsilon, purpose="test", peildatum=tiny.PEILDATUM,
                                        by=["sex"]))
    finally:
        client.close()


def failures(result) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {n.org: n.error_kind for n in result.failures}


def test_a_partner_database_gone_and_back_is_unavailable_then_recovers_without_restart(region: TinyRegion) -> None:
    database, state = region.databases["school1"], region.state_db("school1")
    kept = database.read_bytes()
    charged = set(consistency.read(state).charged)
    database.write_bytes(b"")  # gone, in place: the node's open connections see it too
    try:
        result = fresh(region, "0.61")
    finally:
        database.write_bytes(kept)
    assert failures(result) == {"school-1": "Unavailable"}
    assert "partner database" in result.failures[0].error
    report = consistency.read(state)
    assert set(report.charged) == charged and report.problems == []  # refunded: no noise was drawn
    result = fresh(region, "0.62")  # back, the same node process
    assert failures(result) == {} and len(result.nodes) == 2


def test_a_slow_node_misses_the_deadline_and_the_result_is_named_partial(region: TinyRegion) -> None:
    state = region.state_db("school2")
    granted = len(entries_with(state, "granted"))
    with slow(region.databases["school2"]):
        began = time.monotonic()
        cli = ask(region, "0.63")
        out, err = cli.communicate(timeout=120)
        waited = time.monotonic() - began
        assert cli.returncode == 6, out + err
        assert f"did not answer within {QUERY_TIMEOUT} s" in err and "missing: school-2" in err
        assert "partial result: the sum of 1 of 2 nodes" in err.lower() and "school-1 (school): spent ε 0.63" in err
        assert waited < QUERY_TIMEOUT + 30
        # the slow node finishes on its own: charged, released into its store, audited
        wait_for(lambda: len(entries_with(state, "granted")) > granted, timeout=300, what="the slow node")
    report = consistency.read(state)
    assert report.problems == []


def test_a_full_ledger_disk_refuses_and_nothing_is_released_without_its_charge(region: TinyRegion) -> None:
    state = region.state_db("school1")
    before = consistency.read(state)
    node = region.running.processes["node-school1"]
    limit = resource.prlimit(node.pid, resource.RLIMIT_FSIZE)
    resource.prlimit(node.pid, resource.RLIMIT_FSIZE, (1, limit[1]))  # every file write fails, like a full disk
    try:
        result = fresh(region, "0.64")
    finally:
        resource.prlimit(node.pid, resource.RLIMIT_FSIZE, limit)
    assert failures(result) == {"school-1": "Unavailable"}
    assert "cannot write its ledger" in result.failures[0].error
    assert [n.org for n in result.nodes if not n.error] == ["school-2"]  # school-1 released nothing
    after = consistency.read(state)
    assert set(after.charged) == set(before.charged) and after.committed == before.committed
    assert after.problems == []
    result = fresh(region, "0.65")  # space again: the same process answers and charges
    assert failures(result) == {}
    assert consistency.read(state).problems == []


def test_the_coordinator_killed_mid_linked_run_makes_the_nodes_drop_the_run(tmp_path: Path) -> None:
    from tests.linked_region import linked_region

    with linked_region(tmp_path) as linked:
        wi = next(p for p in linked.partners if p.node_id == "wi-regio")
        states = {node_id: linked.state_db(node_id) for node_id in ("rmc", "wi-regio")}
        with slow(Path(wi.database_url.removeprefix("sqlite:///")), "uitkering"):  # W&I reads its members slowly
            cli = subprocess.Popen([str(BIN / "regiozicht"), "query", "linked", "rmc_stock@rmc", "--with",
                                    f"bijstand@{wi.org}", "--epsilon", "1", "--delta", "1e-6", "--purpose",
                                    "rmc-monitor", "--profile", str(linked.files.profile)],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            time.sleep(5)  # the RMC node has sent its key and waits for the W&I node's
            coordinator = linked.running.processes.pop("coordinator")
            coordinator.send_signal(signal.SIGKILL)
            coordinator.wait()
            out, err = cli.communicate(timeout=60)
            assert cli.returncode == 6, out + err

            def dropped(node_id: str) -> bool:
                return any(e["decision"] == "refused" and "aborted" in str(e["reason"])
                           for e in consistency.read(states[node_id]).entries)

            # long before the query expires (10 minutes): the runs' relay is gone, so each node drops its run
            wait_for(lambda: dropped("rmc"), timeout=60, what="the RMC node to drop the run")
            wait_for(lambda: dropped("wi-regio"), timeout=120, what="the W&I node to drop the run")
        for node_id, state in states.items():
            report = consistency.read(state)
            assert report.charged == {} and report.problems == [], node_id  # dropped before any charge
        linked.running.start_coordinator()  # the rest of the region carries on
        linked.running.wait_until_online({p.org for p in linked.partners})


def test_after_a_coordinator_restart_a_node_not_back_yet_is_named_missing(region: TinyRegion) -> None:
    """The coordinator keeps every node's last signed Describe across a restart: until school-2
    reconnects it is listed offline and a count names its part missing (exit 6) instead of
    passing school-1's answer off as the region's (the scheduled monitor would publish that)."""
    region.running.stop_process("node-school2")
    region.running.stop_process("coordinator")
    region.running.start_coordinator()
    try:
        region.running.wait_until_online({"school-1"})
        client = region.client()
        try:
            listed = {node.org: node.online for node in client.catalog()}
        finally:
            client.close()
        assert listed == {"school-1": True, "school-2": False}
        cli = ask(region, "0.3")
        out, err = cli.communicate(timeout=120)
        assert cli.returncode == 6, out + err
        assert "school-2" in err and "offline" in err and "Traceback" not in err
    finally:
        restart(region, "school2")
