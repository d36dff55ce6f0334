"""Releases and used query ids, inside the node's state database.

A release goes reserve → compute → commit: the reservation row is written
(with its ledger charge) before any noise is drawn, and the release is
stored in the same transaction as its audit entry. A committed release is
returned at no cost forever. Every function here works inside a
transaction the caller holds, so the service can join them with the ledger
and the audit trail.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import bindparam, create_engine, delete, func, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from node.config import DatabaseSection
from node.state import StateDB, releases, used_queries
from regiozicht.errors import ConfigError, Replayed
from regiozicht.query import CLOCK_SKEW_SECONDS


def make_partner_engine(database: DatabaseSection | str) -> Engine:
    """The partner database, opened read-only where the engine allows it.

    A SQLite path that does not exist is refused instead of silently
    created empty. A folder of extract files is read through DuckDB
    (node/extracts.py).
    """
    from sqlalchemy.engine import make_url

    if isinstance(database, DatabaseSection):
        if database.folder is not None:
            from node.extracts import make_folder_engine

            return make_folder_engine(database)
        assert database.url is not None
        url = database.url
    else:
        url = database
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database)
        if not path.is_file():
            raise ConfigError(f"The partner database {path} does not exist; check [database] url in node.toml.")
        return create_engine(f"sqlite:///file:{path}?mode=ro&uri=true", pool_pre_ping=True)
    return create_engine(url, pool_pre_ping=True)


_USED = select(used_queries.c.query_id).where(used_queries.c.query_id == bindparam("b_query_id"))
_USE = insert(used_queries).values(query_id=bindparam("b_query_id"), expires_at=bindparam("b_expires_at"))
_PURGE = delete(used_queries).where(used_queries.c.expires_at < bindparam("before"))
_PURGE_EVERY_SECONDS = 60
_last_purge = [0]


def mark_used(tx: Connection, query_id: str, expires_at: int, now: int) -> None:
    """Remembers a query id until expiry plus clock skew; a second use is refused."""
    if now - _last_purge[0] >= _PURGE_EVERY_SECONDS:  # ids past expiry are refused anyway: purge now and then
        tx.execute(_PURGE, {"before": now - CLOCK_SKEW_SECONDS})
        _last_purge[0] = now
    # the transaction holds the write lock, so no other writer slips in between these two
    if tx.execute(_USED, {"b_query_id": query_id}).first() is not None:
        raise Replayed(f"Query id {query_id} was already used; run the command again to sign a fresh query.")
    try:
        tx.execute(_USE, {"b_query_id": query_id, "b_expires_at": expires_at})
    except IntegrityError:
        raise Replayed(f"Query id {query_id} was already used; run the command again to sign a fresh query.") from None


# built once (every answer runs them): SQLAlchemy reuses the compiled statements
_STORED = (select(releases.c.answer)
           .where(releases.c.release_key == bindparam("b_key"), releases.c.status == "committed")
           .order_by(releases.c.release_id.desc()).limit(1))
_RESERVE = insert(releases)
_COMMIT = (update(releases)
           .where(releases.c.release_id == bindparam("b_id"), releases.c.status == "reserved")
           .values(status="committed", answer=bindparam("b_answer"), committed_at=bindparam("b_at")))


def stored_answer(tx: Connection, release_key: str) -> bytes | None:
    answer: bytes | None = tx.execute(_STORED, {"b_key": release_key}).scalar()
    return answer


def reserve(tx: Connection, *, release_key: str, query_id: str, dataset: str, definition_hash: str,
            peildatum: dt.date, epsilon: str, purpose: str, requester: str, now: int) -> int:
    key = tx.execute(_RESERVE, {
        "release_key": release_key, "query_id": query_id, "dataset": dataset, "definition_hash": definition_hash,
        "peildatum": peildatum.isoformat(), "epsilon": epsilon, "purpose": purpose, "requester": requester,
        "status": "reserved", "reserved_at": now,
    }).inserted_primary_key
    assert key is not None  # an INSERT's result always carries the new row's key
    return int(key[0])


def commit(tx: Connection, release_id: int, answer: bytes, now: int) -> None:
    tx.execute(_COMMIT, {"b_id": release_id, "b_answer": answer, "b_at": now})


def set_status(tx: Connection, release_id: int, status: str) -> None:
    """Marks a reservation failed (charged, nothing released) or abandoned after a crash."""
    tx.execute(update(releases).where(releases.c.release_id == release_id, releases.c.status == "reserved")
               .values(status=status))


def cancel(tx: Connection, release_id: int) -> None:
    """Drops a reservation whose computation failed before any noise was drawn."""
    tx.execute(delete(releases).where(releases.c.release_id == release_id, releases.c.status == "reserved"))


def open_reservations(tx: Connection) -> list[tuple[int, str, str, str]]:
    """(release id, query id, purpose, epsilon) of reservations never committed."""
    rows = tx.execute(select(releases.c.release_id, releases.c.query_id, releases.c.purpose, releases.c.epsilon)
                      .where(releases.c.status == "reserved")).all()
    return [(int(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows]


class ReleaseStore:
    """Read-only views of the releases, for the CLI and tests."""

    def __init__(self, state: StateDB) -> None:
        self.state = state
        self.engine = state.engine

    def count_committed(self) -> int:
        with self.state.reading() as connection:
            return int(connection.execute(
                select(func.count()).select_from(releases).where(releases.c.status == "committed")).scalar_one())
