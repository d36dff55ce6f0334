"""The node's own state database: releases, used query ids, the privacy-budget
ledger and the audit trail, in one SQLAlchemy Core schema.

Separate from partner data; SQLite by default, PostgreSQL works too (only
portable Core statements). One `transaction()` holds a release, its ledger
charge and its audit entry together, so they commit or vanish as one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    create_engine,
    event,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from regiozicht.errors import ConfigError, Unavailable

metadata = MetaData()

releases = Table(
    "releases", metadata,
    Column("release_id", Integer, primary_key=True, autoincrement=True),
    Column("release_key", String(64), nullable=False, index=True),
    Column("query_id", String(64), nullable=False),
    Column("dataset", String(64), nullable=False),
    Column("definition_hash", String(64), nullable=False),
    Column("peildatum", String(10), nullable=False),
    Column("epsilon", String(32), nullable=False),
    Column("purpose", String(64), nullable=False),
    Column("requester", String(200), nullable=False),
    Column("status", String(16), nullable=False),  # reserved | committed | failed | abandoned
    Column("answer", LargeBinary, nullable=True),  # serialized regiozicht.v1.Answer
    Column("reserved_at", BigInteger, nullable=False),
    Column("committed_at", BigInteger, nullable=True),
)

used_queries = Table(
    "used_queries", metadata,
    Column("query_id", String(64), primary_key=True),
    Column("expires_at", BigInteger, nullable=False),
)

# running totals per period and pot ("*" = the whole node, "shared" = purposes
# without a cap, else a capped purpose's id); amounts are exact decimal strings
budget_totals = Table(
    "budget_totals", metadata,
    Column("period", String(16), nullable=False),
    Column("pot", String(64), nullable=False),
    Column("epsilon_spent", String(64), nullable=False),
    Column("delta_spent", String(64), nullable=False),
    Column("updates", BigInteger, nullable=False),
    PrimaryKeyConstraint("period", "pot"),
)

ledger_charges = Table(
    "ledger_charges", metadata,
    Column("charge_id", String(200), primary_key=True),  # query id, or run id of a linked run
    Column("kind", String(16), nullable=False),  # query | linked-run
    Column("period", String(16), nullable=False),
    Column("purpose", String(64), nullable=False),
    Column("epsilon", String(64), nullable=False),
    Column("delta", String(64), nullable=False),
    Column("status", String(16), nullable=False),  # charged | refunded
    Column("charged_at", BigInteger, nullable=False),
)

ledger_meta = Table(
    "ledger_meta", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(200), nullable=False),
)

revocation_lists = Table(  # the newest revocation list the node accepted: it never goes back to an older one
    "revocation_lists", metadata,
    Column("number", BigInteger, primary_key=True),
    Column("crl", Text, nullable=False),  # PEM
)

audit_entries = Table(
    "audit_entries", metadata,
    Column("position", Integer, primary_key=True, autoincrement=True),  # storage order
    Column("seq", BigInteger, nullable=False, index=True),
    Column("hash", String(64), nullable=False),
    Column("entry", Text, nullable=False),  # canonical JSON of the whole entry
)


def make_engine(url: str) -> Engine:
    # a server database may drop idle connections: ping those before use; a SQLite file cannot
    sqlite = url.startswith("sqlite")
    # every transaction here ends in COMMIT or ROLLBACK itself: SQLite connections need no
    # reset-rollback on return to the pool
    engine = create_engine(url, pool_pre_ping=not sqlite, pool_reset_on_return=None if sqlite else "rollback")
    if engine.dialect.name == "sqlite":
        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")  # a committed release survives a power cut
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(connection: Connection) -> None:
            # writers take the write lock up front, so a read-then-write budget
            # check in another process never interleaves with ours; readers
            # stay deferred (WAL: they never block a writer)
            reader = connection.get_execution_options().get("reader", False)
            connection.exec_driver_sql("BEGIN" if reader else "BEGIN IMMEDIATE")
    return engine


T = TypeVar("T")

# what a state write that cannot reach the disk raises: SQLite's "database or disk is full" and I/O
# errors, and the high-water mark's own write (OSError), all before anything commits
_WRITE_FAILURES = (OSError, OperationalError)


def write_failed() -> Unavailable:
    return Unavailable("This node cannot write its ledger and audit trail (disk full or read-only?), so nothing "
                       "was charged or released; its IT staff should free space and run `regiozicht-node check`.")


class _Work:
    """One caller's part of a group-committed transaction."""

    def __init__(self, work: Callable[[Connection], Any]) -> None:
        self.work = work
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None


class StateDB:
    """The engine plus one-writer-at-a-time transactions, with group commit.

    Writers that arrive while another commits queue up; the next one to get
    the writer lock runs every queued piece of work in one transaction, each
    in its own savepoint (a refusal rolls back only its own changes), and
    pays for one durable commit — and one high-water-mark write — for all.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._lock = threading.Lock()  # SQLite serialises writers anyway; PostgreSQL also locks the pot rows
        self._hooks: list[Callable[[], None]] = []
        self._pending: list[_Work] = []
        self._pending_lock = threading.Lock()
        try:
            metadata.create_all(self.engine)
        except OperationalError as exc:
            raise ConfigError(
                f"The node's state database cannot be opened ({exc.orig}); check [state] url in node.toml."
            ) from None

    def before_commit(self, hook: Callable[[], None]) -> None:
        """Runs `hook` inside every transaction, just before it commits."""
        self._hooks.append(hook)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        try:
            with self._lock, self.engine.begin() as connection:
                yield connection
                for hook in self._hooks:
                    hook()
        except _WRITE_FAILURES:
            raise write_failed() from None

    def grouped(self, work: Callable[[Connection], T]) -> T:
        """Runs `work(tx)` in a transaction shared with the other writers waiting now."""
        item = _Work(work)
        with self._pending_lock:
            self._pending.append(item)
        with self._lock:
            if not item.done:
                with self._pending_lock:
                    batch, self._pending = self._pending, []
                self._run_batch(batch)
        if item.error is not None:
            raise item.error
        result: T = item.result
        return result

    def _run_batch(self, batch: list[_Work]) -> None:
        try:
            with self.engine.begin() as connection:
                if len(batch) == 1:  # alone: its own transaction is its savepoint
                    batch[0].result = batch[0].work(connection)
                for item in batch if len(batch) > 1 else ():
                    try:
                        with connection.begin_nested():
                            item.result = item.work(connection)
                    except Exception as exc:  # noqa: BLE001 - handed back to its own caller
                        item.error = exc
                for hook in self._hooks:
                    hook()
        except Exception as exc:  # noqa: BLE001 - a failed commit fails every item of the batch
            failure = write_failed() if isinstance(exc, _WRITE_FAILURES) else exc
            for item in batch:
                if item.error is None or isinstance(item.error, _WRITE_FAILURES):
                    item.error = failure
        finally:
            for item in batch:
                item.done = True

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        with self.engine.connect().execution_options(reader=True) as connection:
            yield connection
