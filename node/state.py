"""The node's own state database: releases, used query ids, the privacy-budget
ledger and the audit trail, in one SQLAlchemy Core schema.

Separate from partner data; SQLite by default, PostgreSQL works too (only
portable Core statements). One `transaction()` holds a release, its ledger
charge and its audit entry together, so they commit or vanish as one.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

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

from regiozicht.errors import ConfigError

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

audit_entries = Table(
    "audit_entries", metadata,
    Column("position", Integer, primary_key=True, autoincrement=True),  # storage order
    Column("seq", BigInteger, nullable=False, index=True),
    Column("hash", String(64), nullable=False),
    Column("entry", Text, nullable=False),  # canonical JSON of the whole entry
)


def make_engine(url: str) -> Engine:
    engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")  # a committed release survives a power cut
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(connection):  # type: ignore[no-untyped-def]
            # writers take the write lock up front, so a read-then-write budget
            # check in another process never interleaves with ours; readers
            # stay deferred (WAL: they never block a writer)
            reader = connection.get_execution_options().get("reader", False)
            connection.exec_driver_sql("BEGIN" if reader else "BEGIN IMMEDIATE")
    return engine


class StateDB:
    """The engine plus one-writer-at-a-time transactions."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._lock = threading.Lock()  # SQLite serialises writers anyway; PostgreSQL also locks the pot rows
        try:
            metadata.create_all(self.engine)
        except OperationalError as exc:
            raise ConfigError(
                f"The node's state database cannot be opened ({exc.orig}); check [state] url in node.toml."
            ) from None

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self._lock, self.engine.begin() as connection:
            yield connection

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        with self.engine.connect().execution_options(reader=True) as connection:
            yield connection
