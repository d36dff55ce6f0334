"""Backing up and restoring a node's state never gives budget back: after `regiozicht-node state
restore`, `budget show` reports the highest ε ever spent (the high-water mark is not rolled back),
the restored trail verifies, a restore refuses while `serve` runs or when handed a bad file, and
the backup and restore blocks of deploy/OPERATIONS.md run as written."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest

from regiozicht.audit_chain import verify_chain
from tests.conftest import NodeSetup, node_setup, sign_query

pytestmark = [pytest.mark.processes, pytest.mark.postgres]  # real processes and PostgreSQL: left out of `make test-fast`

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent


def _node(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "regiozicht-node"), *map(str, args)], capture_output=True, text=True,
                          timeout=120, check=False)


def _spend(setup: NodeSetup, *epsilons: str) -> None:
    node = setup.service()
    for epsilon in epsilons:
        node.answer(sign_query(setup.analyst, epsilon=epsilon))
    node.state.engine.dispose()


def _pool_spent(config: Path) -> Decimal:
    done = _node("budget", "show", "--config", config, "--format", "json")
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    row = next(r for r in shown["rows"] if r["period"] == shown["current_period"] and r["purpose"] == "(all purposes)")
    return Decimal(row["epsilon_spent"])


def test_a_restore_keeps_the_highest_spent_budget_and_a_verifiable_trail(tmp_path: Path) -> None:
    setup = node_setup(tmp_path)
    _spend(setup, "1")
    backed_up = _node("state", "backup", "--config", setup.config, "--out", tmp_path / "state.backup")
    assert backed_up.returncode == 0, backed_up.stderr
    assert (tmp_path / "state.backup").stat().st_mode & 0o077 == 0  # the trail and releases: owner only
    assert _pool_spent(setup.config) == Decimal(1)
    _spend(setup, "2", "3")
    assert _pool_spent(setup.config) == Decimal(6)

    restored = _node("state", "restore", tmp_path / "state.backup", "--config", setup.config)
    assert restored.returncode == 0, restored.stderr
    assert "ε 6 " in restored.stdout and "not in this backup" in restored.stdout, restored.stdout
    assert _pool_spent(setup.config) == Decimal(6)  # never the backup's 1
    verified = _node("audit", "verify", "--config", setup.config)
    assert verified.returncode == 0 and "audit trail intact" in verified.stdout, verified.stdout + verified.stderr
    # the replaced database is kept beside it, as the record of what the backup lacks
    kept = list(setup.config.parent.glob("state.sqlite.before-restore-*"))
    assert len(kept) == 1 and kept[0].stat().st_mode & 0o077 == 0
    _spend(setup, "0.5")  # the node charges on from the high-water mark
    assert _pool_spent(setup.config) == Decimal("6.5")


def test_a_backup_taken_while_the_node_writes_is_consistent(tmp_path: Path) -> None:
    setup = node_setup(tmp_path)
    node = setup.service()
    stop = threading.Event()

    def answering() -> None:
        while not stop.is_set():
            node.answer(sign_query(setup.analyst, epsilon="0.01", by=("gemeente",)))

    writer = threading.Thread(target=answering)
    writer.start()
    try:
        time.sleep(0.3)
        copies = [_node("state", "backup", "--config", setup.config, "--out", tmp_path / f"b{i}") for i in range(3)]
    finally:
        stop.set()
        writer.join()
    for index, done in enumerate(copies):
        assert done.returncode == 0, done.stderr
        with sqlite3.connect(tmp_path / f"b{index}") as connection:
            assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            entries = [json.loads(e) for (e,) in connection.execute("SELECT entry FROM audit_entries ORDER BY position")]
        assert entries and verify_chain(entries) == []


def test_restore_refuses_while_the_node_serves(tmp_path: Path) -> None:
    setup = node_setup(tmp_path)
    _spend(setup, "1")
    assert _node("state", "backup", "-c", setup.config, "--out", tmp_path / "state.backup").returncode == 0
    log = (tmp_path / "serve.log").open("w")
    # no coordinator listens: serve keeps retrying, holding the state database as a serving node does
    serving = subprocess.Popen([str(BIN / "regiozicht-node"), "serve", "--config", str(setup.config)],
                               stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while "dialling" not in (tmp_path / "serve.log").read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        refused = _node("state", "restore", tmp_path / "state.backup", "--config", setup.config)
        assert refused.returncode == 4, refused.stdout + refused.stderr
        assert "stop it first" in refused.stderr and "Traceback" not in refused.stderr
        assert not list(setup.config.parent.glob("state.sqlite.before-restore-*"))  # nothing touched
    finally:
        serving.terminate()
        serving.wait(timeout=30)
        log.close()
    assert _node("state", "restore", tmp_path / "state.backup", "--config", setup.config).returncode == 0


def test_a_bad_backup_file_is_one_sentence_and_exit_2(tmp_path: Path) -> None:
    setup = node_setup(tmp_path)
    _spend(setup, "1")
    (tmp_path / "notes.txt").write_text("not a database at all\n" * 100)
    with sqlite3.connect(tmp_path / "other.sqlite") as connection:
        connection.execute("CREATE TABLE t (x)")
    for bad, says in [(tmp_path / "missing.backup", "No backup file"),
                      (tmp_path / "notes.txt", "not a readable SQLite database"),
                      (tmp_path / "other.sqlite", "not a node's state")]:
        done = _node("state", "restore", bad, "--config", setup.config)
        assert done.returncode == 2, done.stdout + done.stderr
        assert says in done.stderr and "Traceback" not in done.stderr
        assert done.stderr.strip().startswith("error:") and len(done.stderr.strip().splitlines()) <= 3
    assert _pool_spent(setup.config) == Decimal(1)  # the live state is untouched


def test_a_state_database_that_is_not_sqlite_names_its_own_tool(tmp_path: Path) -> None:
    setup = node_setup(tmp_path)
    text = setup.config.read_text()
    assert 'url = "sqlite:///state.sqlite"' in text
    setup.config.write_text(text.replace('url = "sqlite:///state.sqlite"',
                                         'url = "postgresql+psycopg://regiozicht@db.local/state"\n'
                                         f'high_water_mark = "{tmp_path / "hwm.json"}"'))
    done = _node("state", "backup", "--config", setup.config, "--out", tmp_path / "x")
    assert done.returncode == 2 and "pg_dump" in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_a_backup_whose_audit_trail_was_edited_is_refused_with_exit_8(tmp_path: Path) -> None:
    setup = node_setup(tmp_path)
    _spend(setup, "1")
    assert _node("state", "backup", "-c", setup.config, "--out", tmp_path / "state.backup").returncode == 0
    with sqlite3.connect(tmp_path / "state.backup") as connection:
        connection.execute("UPDATE audit_entries SET entry = replace(entry, '\"epsilon\":\"1\"', '\"epsilon\":\"0\"')")
    done = _node("state", "restore", tmp_path / "state.backup", "--config", setup.config)
    assert done.returncode == 8 and "not intact" in done.stderr and "Traceback" not in done.stderr, done.stderr


def _ops_blocks() -> list[tuple[list[str], str]]:
    text = (ROOT / "deploy" / "OPERATIONS.md").read_text()
    found = re.findall(r"^```sh ([^\n]*)\n(.*?)^```", text, re.DOTALL | re.MULTILINE)
    return [(info.split(), script) for info, script in found if "host=node" in info.split()]


def test_the_ops_runbooks_node_blocks_run_as_written(tmp_path: Path) -> None:
    setup = node_setup(tmp_path)
    _spend(setup, "1")
    blocks = _ops_blocks()
    assert [words for words, _ in blocks] == [["host=node"], ["host=node", "stopped"]]
    folder = setup.config.parent  # stands in for both /etc/regiozicht and /var/lib/regiozicht
    assert setup.config == folder / "node.toml"

    def run(script: str) -> str:
        script = script.replace("/etc/regiozicht", str(folder)).replace("/var/lib/regiozicht", str(folder))
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=120,
                              env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}, check=False)
        assert done.returncode == 0, script + done.stdout + done.stderr
        return done.stdout

    log = (tmp_path / "serve.log").open("w")
    serving = subprocess.Popen([str(BIN / "regiozicht-node"), "serve", "--config", str(folder / "node.toml")],
                               stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while "dialling" not in (tmp_path / "serve.log").read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        run(blocks[0][1])  # the backup, while the node serves
    finally:
        serving.terminate()
        serving.wait(timeout=30)
        log.close()
    _spend(setup, "2")
    out = run(blocks[1][1])  # the restore, the node stopped
    assert "audit trail intact" in out and _pool_spent(setup.config) == Decimal(3)
