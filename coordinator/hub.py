"""The coordinator's view of the region: which nodes are connected, what
they publish, and the fan-out of one signed query to them.

The hub never sees a record: it relays signed envelopes and signed answers.
It plans from the nodes' signed Describes, sends to every online publisher
concurrently with a deadline, and names every node that failed.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from concurrent.futures import Future, wait
from collections.abc import Callable
from dataclasses import dataclass, field

from regiozicht.errors import AlreadyConnected, RegiozichtError, Unavailable
from regiozicht.identity import Identity
from regiozicht.v1 import regiozicht_pb2 as pb

log = logging.getLogger(__name__)

CLOSED = object()


@dataclass
class NodeSession:
    """One connected node: its identity, latest Describe and outgoing queue."""

    identity: Identity
    describe_signed: pb.Signed
    describe: pb.Describe
    outbox: queue.Queue[object] = field(default_factory=queue.Queue)
    pending: dict[str, Future[pb.QueryReply]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    closed: bool = False
    peer_address: str = ""

    def request(self, envelope: pb.Signed) -> Future[pb.QueryReply]:
        future: Future[pb.QueryReply] = Future()
        request_id = uuid.uuid4().hex
        with self.lock:
            if self.closed:
                future.set_exception(Unavailable(f"Node {self.identity.org} went offline; try again when it is back."))
                return future
            self.pending[request_id] = future
        self.outbox.put(pb.CoordinatorMessage(query=pb.QueryRequest(request_id=request_id, envelope=envelope)))
        return future

    def resolve(self, reply: pb.QueryReply) -> None:
        with self.lock:
            future = self.pending.pop(reply.request_id, None)
        if future is not None and not future.done():
            future.set_result(reply)

    def close(self) -> None:
        with self.lock:
            self.closed = True
            pending, self.pending = self.pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(Unavailable(f"Node {self.identity.org} disconnected while answering; try again."))
        self.outbox.put(CLOSED)

    def publishes(self, dataset: str) -> bool:
        return any(d.name == dataset for d in self.describe.datasets)


@dataclass
class KnownNode:
    identity: Identity
    describe_signed: pb.Signed
    describe: pb.Describe
    last_seen: float


class Hub:
    def __init__(self, query_timeout: float = 60.0) -> None:
        self.query_timeout = query_timeout
        self._sessions: dict[str, NodeSession] = {}
        self._known: dict[str, KnownNode] = {}
        self._counters: dict[str, NodeSession] = {}
        self._refused: set[str] = set()  # orgs whose second connection was refused (logged once)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)

    def attach(self, session: NodeSession, peer_address: str = "") -> None:
        """Registers a node. A second connection of an org already connected is refused (the first
        keeps serving): two processes with one certificate would otherwise knock each other off."""
        org = session.identity.org
        with self._lock:
            old = self._sessions.get(org)
            if old is not None and not old.closed:
                first_refusal = org not in self._refused
                self._refused.add(org)
            else:
                self._refused.discard(org)
                self._sessions[org] = session
                self._known[org] = KnownNode(session.identity, session.describe_signed, session.describe, time.time())
                self._changed.notify_all()
                old = None
        if old is None:
            log.info("node %s connected", session.identity)
            return
        if first_refusal:  # once per episode: the refused process retries with backoff
            log.warning("node %s: a second connection%s was refused; it is already connected from %s (two "
                        "`regiozicht-node serve` processes with one certificate?)", session.identity,
                        f" from {peer_address}" if peer_address else "", old.peer_address or "another process")
        raise AlreadyConnected(f"Node {org} is already connected to the coordinator from another process "
                               f"({old.peer_address or 'unknown address'}); stop the other `regiozicht-node serve` "
                               "that uses this certificate (this process retries, and takes over when it stops).")

    def update_describe(self, session: NodeSession, signed: pb.Signed, describe: pb.Describe) -> None:
        with self._lock:
            session.describe_signed, session.describe = signed, describe
            self._known[session.identity.org] = KnownNode(session.identity, signed, describe, time.time())

    def detach(self, session: NodeSession) -> None:
        session.close()
        with self._lock:
            if self._sessions.get(session.identity.org) is session:
                del self._sessions[session.identity.org]
                self._known[session.identity.org].last_seen = time.time()
            self._changed.notify_all()
        log.info("node %s disconnected", session.identity)

    def attach_counter(self, session: NodeSession) -> None:
        """Registers a counter; a second connection of the same org replaces the first."""
        with self._lock:
            old = self._counters.get(session.identity.org)
            self._counters[session.identity.org] = session
        if old is not None:
            old.close()
        log.info("counter %s connected", session.identity)

    def detach_counter(self, session: NodeSession) -> None:
        session.close()
        with self._lock:
            if self._counters.get(session.identity.org) is session:
                del self._counters[session.identity.org]
        log.info("counter %s disconnected", session.identity)

    def counters(self) -> dict[str, NodeSession]:
        with self._lock:
            return dict(self._counters)

    def counter_catalog(self) -> list[pb.CatalogEntry]:
        with self._lock:
            return [pb.CatalogEntry(org=org, kind="counter", online=True, describe=session.describe_signed,
                                    last_seen_unix=int(time.time()))
                    for org, session in sorted(self._counters.items())]

    def sessions(self) -> list[NodeSession]:
        with self._lock:
            return list(self._sessions.values())

    def catalog_describes(self) -> dict[str, tuple[bool, pb.Describe]]:
        """org → (online, latest Describe) of every node ever seen."""
        with self._lock:
            return {org: (org in self._sessions, known.describe) for org, known in self._known.items()}

    def catalog(self) -> list[pb.CatalogEntry]:
        with self._lock:
            online = set(self._sessions)
            return [
                pb.CatalogEntry(
                    org=org, kind=known.identity.kind or "", online=org in online,
                    describe=known.describe_signed,
                    last_seen_unix=int(time.time() if org in online else known.last_seen),
                )
                for org, known in sorted(self._known.items())
            ]

    def dispatch(
        self, envelope: pb.Signed, dataset: str,
        refusal: Callable[[pb.Describe], RegiozichtError | None] = lambda _: None,
    ) -> list[pb.NodeResult]:
        """Sends the envelope to every node publishing `dataset`, concurrently;
        offline, refusing and failing publishers are named in the results."""
        refused: list[pb.NodeResult] = []
        with self._lock:
            online = []
            for session in self._sessions.values():
                if not session.publishes(dataset):
                    continue
                error = refusal(session.describe)
                if error is None:
                    online.append(session)
                else:
                    refused.append(pb.NodeResult(org=session.identity.org, kind=session.identity.kind or "",
                                                 error=pb.Error(kind=error.kind, message=error.message)))
            offline = [
                k for org, k in self._known.items()
                if org not in self._sessions and any(d.name == dataset for d in k.describe.datasets)
            ]
        futures = {session.identity.org: (session, session.request(envelope)) for session in online}
        wait([f for _, f in futures.values()], timeout=self.query_timeout)
        results = []
        for org, (session, future) in sorted(futures.items()):
            result = pb.NodeResult(org=org, kind=session.identity.kind or "")
            if not future.done():
                future.cancel()
                result.error.CopyFrom(pb.Error(
                    kind="Unavailable",
                    message=f"Node {org} did not answer within {self.query_timeout:.0f} s; try again later.",
                ))
            elif future.exception() is not None:
                error = future.exception()
                result.error.CopyFrom(pb.Error(kind=type(error).__name__, message=str(error)))
            else:
                reply = future.result()
                if reply.HasField("answer"):
                    result.answer.CopyFrom(reply.answer)
                else:
                    result.error.CopyFrom(reply.error)
            results.append(result)
        results.extend(refused)
        for known in sorted(offline, key=lambda k: k.identity.org):
            results.append(pb.NodeResult(
                org=known.identity.org, kind=known.identity.kind or "",
                error=pb.Error(kind="Unavailable", message=f"Node {known.identity.org} is offline; its result is missing."),
            ))
        return results
