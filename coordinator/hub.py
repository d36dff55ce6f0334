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
from collections.abc import Callable
from concurrent.futures import Future, wait
from dataclasses import dataclass, field
from typing import Any

from regiozicht.bindings import DatasetBindings
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
    instance: str = ""  # the node process's random id (NodeMessage.instance)
    unbound: tuple[str, ...] = ()  # datasets its Describe lists that the bindings leave out

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
        return dataset not in self.unbound and any(d.name == dataset for d in self.describe.datasets)


@dataclass
class KnownNode:
    identity: Identity
    describe_signed: pb.Signed
    describe: pb.Describe
    last_seen: float
    unbound: tuple[str, ...] = ()

    def publishes(self, dataset: str) -> bool:
        return dataset not in self.unbound and any(d.name == dataset for d in self.describe.datasets)


@dataclass
class NodeHealth:
    """What the coordinator saw of one node since it started (for `regiozicht status`)."""

    connected_since: float = 0.0
    last_error: str = ""
    last_error_at: float = 0.0
    queries_sent: int = 0
    queries_answered: int = 0
    queries_failed: int = 0
    connections: int = 0
    refused_connections: int = 0

    def failed(self, message: str) -> None:
        self.last_error, self.last_error_at = message, time.time()

    def fields(self) -> dict[str, Any]:
        return dict(last_error=self.last_error, last_error_unix=int(self.last_error_at),
                    connected_since_unix=int(self.connected_since), queries_sent=self.queries_sent,
                    queries_answered=self.queries_answered, queries_failed=self.queries_failed,
                    connections=self.connections, refused_connections=self.refused_connections)


class Hub:
    def __init__(self, query_timeout: float = 60.0, bindings: DatasetBindings | None = None,
                 remember: Callable[[KnownNode], None] | None = None) -> None:
        self.query_timeout = query_timeout
        self.bindings = bindings or DatasetBindings()
        # told of every change to a known node (the server keeps them across restarts)
        self._remember = remember or (lambda _known: None)
        self._health: dict[str, NodeHealth] = {}
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
        session.unbound = self._unbound(session.identity, session.describe, log_it=False)
        stale: NodeSession | None = None
        with self._lock:
            health = self._health.setdefault(org, NodeHealth())
            old = self._sessions.get(org)
            if old is not None and not old.closed and not (session.instance and session.instance == old.instance):
                first_refusal = org not in self._refused
                self._refused.add(org)
                health.refused_connections += 1
                health.failed(f"a second connection{f' from {peer_address}' if peer_address else ''} was refused: "
                              "the node is already connected (two processes with one certificate?)")
            else:
                stale = old  # the same process reconnecting: its old stream is dead or dying
                self._refused.discard(org)
                self._sessions[org] = session
                self._known[org] = KnownNode(session.identity, session.describe_signed, session.describe, time.time(),
                                             session.unbound)
                health.connections += 1
                health.connected_since = time.time()
                self._changed.notify_all()
                old = None
        if old is None:
            if stale is not None:
                stale.close()
            self._remember(self._known[org])
            log.info("node %s connected", session.identity)
            self._unbound(session.identity, session.describe, log_it=True)  # says why, once per connection
            return
        if first_refusal:  # once per episode: the refused process retries with backoff
            log.warning("node %s: a second connection%s was refused; it is already connected from %s (two "
                        "`regiozicht-node serve` processes with one certificate?)", session.identity,
                        f" from {peer_address}" if peer_address else "", old.peer_address or "another process")
        raise AlreadyConnected(f"Node {org} is already connected to the coordinator from another process "
                               f"({old.peer_address or 'unknown address'}); stop the other `regiozicht-node serve` "
                               "that uses this certificate (this process retries, and takes over when it stops).")

    def restore(self, identity: Identity, signed: pb.Signed, describe: pb.Describe, last_seen: float) -> None:
        """A node seen before a restart: listed offline (its part of a count named missing) until it connects."""
        unbound = self._unbound(identity, describe, log_it=False)
        with self._lock:
            if identity.org not in self._known:
                self._known[identity.org] = KnownNode(identity, signed, describe, last_seen, unbound)

    def _unbound(self, identity: Identity, describe: pb.Describe, log_it: bool) -> tuple[str, ...]:
        """The datasets of a Describe that the bindings do not allow this node to publish (logged why)."""
        out = []
        for dataset in describe.datasets:
            reason = self.bindings.refusal(dataset.name, identity.org, identity.kind or "")
            if reason is not None:
                out.append(dataset.name)
                if log_it:
                    log.warning("node %s: left out of the catalog and never queried for it: %s", identity, reason)
        return tuple(out)

    def update_describe(self, session: NodeSession, signed: pb.Signed, describe: pb.Describe) -> None:
        unbound = self._unbound(session.identity, describe, log_it=False)
        for name in sorted(set(unbound) - set(session.unbound)):
            log.warning("node %s: %s", session.identity,
                        self.bindings.refusal(name, session.identity.org, session.identity.kind or ""))
        with self._lock:
            session.describe_signed, session.describe, session.unbound = signed, describe, unbound
            self._known[session.identity.org] = KnownNode(session.identity, signed, describe, time.time(), unbound)
        # kept across restarts when the node connects and disconnects, not on every budget update:
        # a durable write per spend would cost every fresh answer

    def detach(self, session: NodeSession, reason: str = "") -> None:
        session.close()
        with self._lock:
            if self._sessions.get(session.identity.org) is session:
                del self._sessions[session.identity.org]
                self._known[session.identity.org].last_seen = time.time()
                health = self._health[session.identity.org]
                health.connected_since = 0.0
                if reason:
                    health.failed(f"connection ended: {reason}")
            else:
                return  # a refused second connection, or detached already
            self._changed.notify_all()
            known = self._known[session.identity.org]
        self._remember(known)
        log.info("node %s disconnected", session.identity)

    def _count(self, org: str, result: pb.NodeResult | None = None) -> None:
        with self._lock:
            health = self._health.setdefault(org, NodeHealth())
            if result is None:
                health.queries_sent += 1
            elif result.HasField("answer"):
                health.queries_answered += 1
            else:
                health.queries_failed += 1
                health.failed(f"{result.error.kind}: {result.error.message}")

    def attach_counter(self, session: NodeSession) -> None:
        """Registers a counter; a second connection of a counter already connected is refused, as for nodes."""
        org = session.identity.org
        with self._lock:
            old = self._counters.get(org)
            if old is None or old.closed:
                self._counters[org] = session
                self._refused.discard(f"counter:{org}")
                old = None
            else:
                first_refusal = f"counter:{org}" not in self._refused
                self._refused.add(f"counter:{org}")
        if old is None:
            log.info("counter %s connected", session.identity)
            return
        if first_refusal:
            log.warning("counter %s: a second connection was refused; it is already connected from %s",
                        session.identity, old.peer_address or "another process")
        raise AlreadyConnected(f"Counter {org} is already connected to the coordinator from another process "
                               f"({old.peer_address or 'unknown address'}); stop the other `regiozicht counter serve` "
                               "that uses this certificate (this process retries, and takes over when it stops).")

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
        """org → (online, latest Describe without its unbound datasets) of every node ever seen."""
        with self._lock:
            return {org: (org in self._sessions, _bound_only(known.describe, known.unbound))
                    for org, known in self._known.items()}

    def catalog(self) -> list[pb.CatalogEntry]:
        with self._lock:
            online = set(self._sessions)
            return [
                pb.CatalogEntry(
                    org=org, kind=known.identity.kind or "", online=org in online,
                    describe=known.describe_signed,
                    last_seen_unix=int(time.time() if org in online else known.last_seen),
                    unbound_datasets=list(known.unbound),
                    **self._health.get(org, NodeHealth()).fields(),
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
            offline = [k for org, k in self._known.items() if org not in self._sessions and k.publishes(dataset)]
        for session in online:
            self._count(session.identity.org)
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
                failure = future.exception()
                result.error.CopyFrom(pb.Error(kind=type(failure).__name__, message=str(failure)))
            else:
                reply = future.result()
                if reply.HasField("answer"):
                    result.answer.CopyFrom(reply.answer)
                else:
                    result.error.CopyFrom(reply.error)
            self._count(org, result)
            results.append(result)
        results.extend(refused)
        for known in sorted(offline, key=lambda k: k.identity.org):
            results.append(pb.NodeResult(
                org=known.identity.org, kind=known.identity.kind or "",
                error=pb.Error(kind="Unavailable", message=f"Node {known.identity.org} is offline; its result is missing."),
            ))
        return results


def _bound_only(describe: pb.Describe, unbound: tuple[str, ...]) -> pb.Describe:
    if not unbound:
        return describe
    copy = pb.Describe()
    copy.CopyFrom(describe)
    del copy.datasets[:]
    copy.datasets.extend(d for d in describe.datasets if d.name not in unbound)
    return copy
