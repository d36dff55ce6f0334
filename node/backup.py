"""Backup and restore of a node's SQLite state database, never of its high-water mark.

A backup is a consistent copy taken with SQLite's online backup API, so the node may keep
serving while it runs. A restore puts such a copy back while the node is stopped: `serve`
holds a shared lock on `<state>.serving.lock`, and a restore takes it exclusively or refuses.
The high-water mark (node/watermark.py) is left alone on purpose: the ledger keeps using the
higher of its figures and the restored database's, so a restore never gives budget back.
Audit entries written after the backup are gone from the restored trail; the heads the
coordinator holds from signed answers still name them (`regiozicht audit compare`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from node.config import StateSection
from regiozicht.audit_chain import verify_chain
from regiozicht.errors import AuditFailed, ConfigError, PermissionDenied

# the tables that make a file a node's state database (node/state.py)
REQUIRED_TABLES = ("audit_entries", "budget_totals", "ledger_charges", "releases")
_SQLITE = "sqlite:///"


@dataclass(frozen=True)
class Summary:
    """What a state database (or a backup of one) holds, for the operator's one-line report."""

    path: Path
    audit_entries: int
    audit_head_seq: int


def state_file(state: StateSection) -> Path:
    """The SQLite file of the node's state; other databases have their own backup tools."""
    url = state.url
    if url.startswith(_SQLITE) and ":memory:" not in url and url != "sqlite://":
        return Path(url[len(_SQLITE):].split("?", 1)[0])
    engine = url.split(":", 1)[0].split("+", 1)[0]
    tool = ("pg_dump -Fc (back up) and pg_restore --clean (restore, node stopped)" if engine.startswith("postgres")
            else "that database's own backup tool")
    raise ConfigError(f"[state] url is a {engine} database, not a SQLite file: use {tool}, and keep the high-water "
                      f"mark {state.high_water_mark} out of that backup set.")


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + ".serving.lock")


@contextlib.contextmanager
def serving(state: StateSection) -> Iterator[None]:
    """Held by `regiozicht-node serve` (shared: two serves are the coordinator's business, not ours)."""
    try:
        database = state_file(state)
    except ConfigError:  # PostgreSQL and the like: restored with their own tools, node stopped
        yield
        return
    with _open_lock(database) as lock:
        if lock is not None:
            fcntl.flock(lock, fcntl.LOCK_SH)
        yield


@contextlib.contextmanager
def _open_lock(database: Path) -> Iterator[IO[bytes] | None]:
    try:
        lock = open(lock_path(database), "ab")  # noqa: SIM115 - held for the block
    except OSError:
        yield None  # a read-only state folder fails later, with the state database's own message
        return
    with lock:
        yield lock


def backup(state: StateSection, out: Path) -> Summary:
    """Copies the live state database to `out` (mode 0600), consistently, while the node may serve."""
    database = state_file(state)
    if not database.is_file():
        raise ConfigError(f"The state database {database} does not exist; check [state] url in node.toml.")
    if out.resolve() == database.resolve():
        raise ConfigError("--out names the live state database itself; give a file elsewhere.")
    partial = out.with_name(out.name + ".partial")
    try:
        _copy(database, partial, source_mode="rw")
        summary = summarise(partial, verify=False)  # a broken trail is backed up too: it is evidence
        os.replace(partial, out)
    except (OSError, sqlite3.Error) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        raise ConfigError(f"Cannot write the backup {out} ({reason}); give --out a writable folder with room.") from None
    finally:
        partial.unlink(missing_ok=True)
    return Summary(out, summary.audit_entries, summary.audit_head_seq)


def restore(state: StateSection, backup_file: Path) -> tuple[Summary, Path]:
    """Puts `backup_file` in place of the stopped node's state database.

    Returns what was restored and where the replaced database was kept (as evidence)."""
    database = state_file(state)
    if backup_file.exists() and database.exists() and backup_file.resolve() == database.resolve():
        raise ConfigError(f"{backup_file} is the live state database itself; give a file `state backup` wrote.")
    restored = summarise(backup_file)
    with _open_lock(database) as lock:
        if lock is None:
            raise ConfigError(f"Cannot open {lock_path(database)} in the state folder; run the restore as the "
                              "node's service user.")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PermissionDenied("The node is running (it holds the state database's lock); stop it first "
                                   "(`systemctl stop regiozicht-node`) and run the restore again.") from None
        kept = database.with_name(f"{database.name}.before-restore-{time.strftime('%Y%m%dT%H%M%S')}")
        try:
            if database.exists():
                _copy(database, kept, source_mode="rw")
            _copy(backup_file, database, source_mode="ro")  # SQLite's own transaction: WAL and all, or nothing
        except (OSError, sqlite3.Error) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else str(exc)
            raise ConfigError(f"Cannot restore into {database} ({reason}); run the restore as the node's service "
                              "user, with room in the state folder.") from None
    return restored, kept


def summarise(path: Path, *, verify: bool = True) -> Summary:
    """Checks that `path` is an intact node state database (and, with `verify`, that its trail verifies)."""
    if not path.is_file():
        raise ConfigError(f"No backup file {path}; give the file `regiozicht-node state backup` wrote.")
    try:
        with contextlib.closing(sqlite3.connect(_uri(path, "ro"), uri=True)) as connection:
            check = connection.execute("PRAGMA quick_check").fetchone()
            tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            missing = [name for name in REQUIRED_TABLES if name not in tables]
            if missing:
                raise ConfigError(f"{path} is a SQLite database but not a node's state (no {missing[0]} table); "
                                  "give the file `regiozicht-node state backup` wrote.")
            rows = connection.execute("SELECT entry FROM audit_entries ORDER BY position").fetchall()
    except sqlite3.DatabaseError as exc:
        raise ConfigError(f"{path} is not a readable SQLite database ({exc}); give the file "
                          "`regiozicht-node state backup` wrote.") from None
    if check is None or check[0] != "ok":
        raise ConfigError(f"{path} fails SQLite's integrity check ({check[0] if check else 'no answer'}); use an "
                          "older backup.")
    entries = [json.loads(row[0]) for row in rows]
    problems = verify_chain(entries) if verify else []
    if problems:
        raise AuditFailed(f"The audit trail in {path} is not intact ({problems[0]}); keep it as evidence and use "
                          "another backup.")
    return Summary(path, len(entries), int(entries[-1]["seq"]) if entries else 0)


def _copy(source: Path, target: Path, *, source_mode: str) -> None:
    """SQLite's online backup: a consistent snapshot of `source`, whoever writes to it meanwhile."""
    created = not target.exists()
    if created:  # the copy holds the audit trail and releases: only the service user reads it
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    with contextlib.closing(sqlite3.connect(_uri(source, source_mode), uri=True)) as src, \
            contextlib.closing(sqlite3.connect(target)) as dst:
        src.execute("PRAGMA busy_timeout=30000")
        dst.execute("PRAGMA busy_timeout=30000")
        src.backup(dst)
        if created:  # a backup file stands alone: no -wal beside it
            dst.execute("PRAGMA journal_mode=DELETE")


def _uri(path: Path, mode: str) -> str:
    """An SQLite URI that opens `path` without creating it (file names with ? or # included)."""
    return f"{path.resolve().as_uri()}?mode={mode}"
