"""The coordinator's own store: results history and the nodes' signed audit heads.

Holds no records and no exact counts: only what nodes signed and released.
Keeping every audit head a node signed lets anyone later check that node's
exported audit trail against it (`regiozicht audit compare`), so a node
cannot silently truncate or rewrite its trail.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    Column,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    bindparam,
    create_engine,
    event,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from regiozicht.errors import ConfigError
from regiozicht.v1 import regiozicht_pb2 as pb

metadata = MetaData()

audit_heads = Table(
    "audit_heads",
    metadata,
    Column("org", String(64), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("head", String(64), nullable=False),
    Column("query_id", String(64), nullable=False),
    Column("received_at", Integer, nullable=False),
)

releases = Table(
    "releases",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("query_id", String(64), nullable=False, index=True),
    Column("requester", String(200), nullable=False),
    Column("dataset", String(64), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("results", LargeBinary, nullable=False),  # serialized SubmitResponse: signed answers as received
    Column("summary", String, nullable=False),  # JSON: nodes answered / failed
    Column("received_at", Integer, nullable=False),
)

# who answered which body: the "answered before" lookup is one indexed read, however many
# queries the history holds and however often one body was asked
answered = Table(
    "answered",
    metadata,
    Column("body_sha256", String(64), nullable=False),
    Column("org", String(64), nullable=False),
    PrimaryKeyConstraint("body_sha256", "org"),
)

# every node the coordinator has seen, with its last signed Describe: after a restart the catalog
# still lists a node that has not reconnected yet (offline), so a count or a scheduled monitor run
# names its part missing instead of summing the others as if they were the region
known_nodes = Table(
    "known_nodes",
    metadata,
    Column("org", String(64), primary_key=True),
    Column("describe", LargeBinary, nullable=False),  # serialized pb.Signed, as the node signed it
    Column("last_seen", Integer, nullable=False),
)

_ANSWERED = select(answered.c.org).where(answered.c.body_sha256 == bindparam("b_digest"))
# every statement of the hot path built once: SQLAlchemy then reuses its compiled form instead of
# building, hashing and looking up a new construct per request (most of the coordinator's CPU)
_INSERT_RELEASE = insert(releases)
_INSERT_ANSWERED = insert(answered)
_HEAD_AT = select(audit_heads.c.head).where(audit_heads.c.org == bindparam("h_org"),
                                            audit_heads.c.seq == bindparam("h_seq"))
_INSERT_HEAD = insert(audit_heads)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL: one sync per commit instead of a rollback journal's several, and readers (`audit compare`)
    # never block the server. NORMAL: a power cut may lose the last commits of this history, never
    # corrupt it; the nodes' own ledgers and trails, which the budget rests on, stay FULL.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


class History:
    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._lock = threading.Lock()
        try:
            migrating = inspect(self.engine).has_table("releases") and not inspect(self.engine).has_table("answered")
            metadata.create_all(self.engine)
            if migrating:
                self._backfill_answered()
        except OperationalError as exc:
            raise ConfigError(f"The coordinator's store cannot be opened ({exc.orig}); check [store] url.") from None

    def record(self, query_id: str, requester: str, dataset: str, body: bytes, response: pb.SubmitResponse,
               answers: Iterable[pb.Answer]) -> None:
        now = int(time.time())
        results = response.count.results  # a linked outcome's runs are summarised by their verdicts
        summary = {"answered": [r.org for r in results if r.HasField("answer")],
                   "failed": {r.org: r.error.kind for r in results if r.HasField("error")}}
        with self._lock, self.engine.begin() as tx:
            tx.execute(_INSERT_RELEASE, {"query_id": query_id, "requester": requester, "dataset": dataset,
                                         "body": body, "results": response.SerializeToString(),
                                         "summary": json.dumps(summary), "received_at": now})
            self._mark_answered(tx, _digest(body), summary["answered"])
            for answer in answers:
                self._head(tx, answer.org, answer.audit_seq, answer.audit_head, answer.query_id, now)

    @staticmethod
    def _mark_answered(tx: Connection, digest: str, orgs: Iterable[str]) -> None:
        known = {org for (org,) in tx.execute(_ANSWERED, {"b_digest": digest})}
        new = sorted(set(orgs) - known)
        if new:
            tx.execute(_INSERT_ANSWERED, [{"body_sha256": digest, "org": org} for org in new])

    def _backfill_answered(self) -> None:
        """A store written before the `answered` table: index what its releases already hold, once."""
        with self._lock, self.engine.begin() as tx:
            for body, summary in tx.execute(select(releases.c.body, releases.c.summary)):
                self._mark_answered(tx, _digest(body), json.loads(summary)["answered"])

    def record_head(self, org: str, seq: int, head: bytes, source: str) -> None:
        with self._lock, self.engine.begin() as tx:
            self._head(tx, org, seq, head, source, int(time.time()))

    @staticmethod
    def _head(tx: Connection, org: str, seq: int, head: bytes, source: str, now: int) -> None:
        if not seq or not head:
            return
        # one writer at a time (self._lock) and the read in the same transaction: no race to insert
        existing = tx.execute(_HEAD_AT, {"h_org": org, "h_seq": seq}).scalar()
        if existing is None:
            tx.execute(_INSERT_HEAD, {"org": org, "seq": seq, "head": head.hex(), "query_id": source,
                                      "received_at": now})
        elif existing != head.hex():
            # two different signed heads for one position: keep both in the log; compare reports it
            import logging

            logging.getLogger(__name__).error("node %s signed two different audit heads for entry %d", org, seq)

    def remember_node(self, org: str, describe: pb.Signed, last_seen: float) -> None:
        """Keeps a node's newest signed Describe (and when it was last seen) across restarts."""
        values = {"describe": describe.SerializeToString(), "last_seen": int(last_seen)}
        with self._lock, self.engine.begin() as tx:
            if tx.execute(update(known_nodes).where(known_nodes.c.org == org).values(**values)).rowcount == 0:
                tx.execute(insert(known_nodes).values(org=org, **values))

    def remembered_nodes(self) -> list[tuple[str, pb.Signed, float]]:
        """Every node ever seen: (org, its last signed Describe, last seen)."""
        with self.engine.connect() as connection:
            rows = connection.execute(select(known_nodes.c.org, known_nodes.c.describe, known_nodes.c.last_seen)
                                      .order_by(known_nodes.c.org)).all()
        return [(str(org), pb.Signed.FromString(describe), float(seen)) for org, describe, seen in rows]

    def heads(self, org: str) -> list[tuple[int, str]]:
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(audit_heads.c.seq, audit_heads.c.head).where(audit_heads.c.org == org)
                .order_by(audit_heads.c.seq)).all()
        return [(int(seq), str(head)) for seq, head in rows]

    def answered_before(self, body: bytes) -> set[str]:
        """Orgs that already released an answer to exactly this body (free to ask again)."""
        with self.engine.connect() as connection:
            return {str(org) for (org,) in connection.execute(_ANSWERED, {"b_digest": _digest(body)})}
