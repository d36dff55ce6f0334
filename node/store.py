"""The node's own store: releases and used query ids.

Lives in a node-owned database (SQLite by default), separate from partner
data. A release goes reserve → compute → commit: the reservation is written
before any noise is drawn, the release is stored in the same transaction
that marks it committed, and a stored release is returned at no cost
forever. The ledger and audit trail join these transactions later.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import (
    Column,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    create_engine,
    delete,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from regiozicht.errors import ConfigError, Replayed
from regiozicht.query import CLOCK_SKEW_SECONDS

metadata = MetaData()

releases = Table(
    "releases",
    metadata,
    Column("release_id", Integer, primary_key=True, autoincrement=True),
    Column("release_key", String(64), nullable=False, index=True),
    Column("query_id", String(64), nullable=False),
    Column("dataset", String(64), nullable=False),
    Column("definition_hash", String(64), nullable=False),
    Column("peildatum", String(10), nullable=False),
    Column("epsilon", String(32), nullable=False),
    Column("purpose", String(64), nullable=False),
    Column("requester", String(200), nullable=False),
    Column("status", String(16), nullable=False),  # reserved | committed
    Column("answer", LargeBinary, nullable=True),  # serialized regiozicht.v1.Answer
    Column("reserved_at", Integer, nullable=False),
    Column("committed_at", Integer, nullable=True),
)

used_queries = Table(
    "used_queries",
    metadata,
    Column("query_id", String(64), primary_key=True),
    Column("expires_at", Integer, nullable=False),
)


@dataclass(frozen=True)
class Reservation:
    release_id: int
    stored_answer: bytes | None  # set when an earlier release is returned


def make_engine(url: str) -> Engine:
    engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")  # a committed release survives a power cut
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.close()
    return engine


def make_partner_engine(url: str) -> Engine:
    """The partner database, opened read-only where the engine allows it.

    A SQLite path that does not exist is refused instead of silently
    created empty.
    """
    from pathlib import Path

    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database)
        if not path.is_file():
            raise ConfigError(f"The partner database {path} does not exist; check [database] url in node.toml.")
        return create_engine(f"sqlite:///file:{path}?mode=ro&uri=true", pool_pre_ping=True)
    return create_engine(url, pool_pre_ping=True)


class ReleaseStore:
    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self._lock = threading.Lock()  # one writer at a time; SQLite would serialise anyway
        try:
            metadata.create_all(self.engine)
        except OperationalError as exc:
            raise ConfigError(
                f"The node's state database cannot be opened ({exc.orig}); check [state] url in node.toml."
            ) from None

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        with self._lock, self.engine.begin() as connection:
            yield connection

    def reserve(
        self,
        *,
        release_key: str,
        query_id: str,
        expires_at: int,
        dataset: str,
        definition_hash: str,
        peildatum: dt.date,
        epsilon: str,
        purpose: str,
        requester: str,
        refresh: bool,
    ) -> Reservation:
        """Marks the query id used and either returns the stored release or
        reserves a new one, in one transaction."""
        now = int(time.time())
        with self._transaction() as tx:
            tx.execute(delete(used_queries).where(used_queries.c.expires_at < now - CLOCK_SKEW_SECONDS))
            try:
                with tx.begin_nested():
                    tx.execute(insert(used_queries).values(query_id=query_id, expires_at=expires_at))
            except IntegrityError:
                raise Replayed(
                    f"Query id {query_id} was already used; run the command again to sign a fresh query."
                ) from None
            if not refresh:
                stored = tx.execute(
                    select(releases.c.answer)
                    .where(releases.c.release_key == release_key, releases.c.status == "committed")
                    .order_by(releases.c.release_id.desc())
                    .limit(1)
                ).scalar()
                if stored is not None:
                    return Reservation(release_id=0, stored_answer=stored)
            release_id = tx.execute(
                insert(releases).values(
                    release_key=release_key, query_id=query_id, dataset=dataset,
                    definition_hash=definition_hash, peildatum=peildatum.isoformat(), epsilon=epsilon,
                    purpose=purpose, requester=requester, status="reserved", reserved_at=now,
                )
            ).inserted_primary_key[0]
        return Reservation(release_id=int(release_id), stored_answer=None)

    def commit(self, release_id: int, answer: bytes) -> None:
        with self._transaction() as tx:
            tx.execute(
                update(releases)
                .where(releases.c.release_id == release_id, releases.c.status == "reserved")
                .values(status="committed", answer=answer, committed_at=int(time.time()))
            )

    def cancel(self, release_id: int) -> None:
        """Drops a reservation whose computation failed before any noise was drawn."""
        with self._transaction() as tx:
            tx.execute(delete(releases).where(releases.c.release_id == release_id, releases.c.status == "reserved"))

    def count_committed(self) -> int:
        with self.engine.connect() as connection:
            rows = connection.execute(select(releases.c.release_id).where(releases.c.status == "committed")).all()
        return len(rows)
