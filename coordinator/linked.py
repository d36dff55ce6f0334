"""The coordinator's part of a linked count: relay, wait, name failures.

Per run it sends the two nodes and the counter a LinkRequest and forwards
each party's messages to whom they are for: keys, commitments, lists and
weighted sums to the others, sealed slots to the peer node, sealed images
and proofs (all sealed) to the counter, node acknowledgements to the counter and the
analyst, the counter's signed release to the analyst. It holds no secret and
sees no image: slots and images are sealed to their recipient, everything
else is signed, so whatever it alters makes the run fail.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from coordinator.hub import NodeSession
from regiozicht.linkquery import LinkedQuery, LinkSide
from regiozicht.v1 import regiozicht_pb2 as pb

log = logging.getLogger(__name__)

Tap = Callable[[str, pb.LinkMessage], None]
ABORT_GRACE_SECONDS = 5.0
_TO_OTHERS = {"key", "commit", "points", "image_commit", "weighted"}  # a node's: to its peer and the counter


class RunRelay:
    """One run's relay state: which session is which, acknowledgements, release, the first failure."""

    def __init__(self, run_id: str, anchor: NodeSession, other: NodeSession, counter: NodeSession,
                 taps: list[Tap]) -> None:
        self.run_id, self.anchor, self.other, self.counter, self.taps = run_id, anchor, other, counter, taps
        self.verdicts: dict[str, pb.Signed] = {}
        self.release: pb.Signed | None = None
        self.failure: tuple[str, pb.Error] | None = None
        self.bytes_relayed = 0
        self.bytes_to_counter = 0
        self.changed = threading.Condition()
        self.requested = threading.Event()  # every party's LinkRequest is queued: forwarding may begin

    def parties(self) -> tuple[NodeSession, NodeSession, NodeSession]:
        return self.anchor, self.other, self.counter

    def _targets(self, session: NodeSession, message: pb.LinkMessage) -> list[NodeSession]:
        which = message.WhichOneof("payload")
        if session is self.counter:
            return [self.anchor, self.other] if which in ("key", "error", "outcome") else []
        peer = self.other if session is self.anchor else self.anchor
        if which in _TO_OTHERS or which == "error":
            return [peer, self.counter]
        if which == "sealed":
            return [self.counter] if message.sealed.recipient == "counter" else [peer]
        if which == "verdict":
            return [self.counter]
        return []

    def on_message(self, session: NodeSession, message: pb.LinkMessage) -> None:
        """A message from one party's stream: record what the analyst needs, forward the rest."""
        message.sender = session.identity.org  # never what the party claims
        # a fast party may answer before the others' LinkRequests are queued; they must come first
        self.requested.wait(ABORT_GRACE_SECONDS)
        for tap in self.taps:
            tap(self.run_id, message)
        which = message.WhichOneof("payload")
        with self.changed:
            self.bytes_relayed += message.ByteSize()
            if which == "verdict" and session is not self.counter:
                self.verdicts[session.identity.org] = message.verdict
            elif which == "release" and session is self.counter:
                self.release = message.release
                if not _ok_release(message.release) and self.failure is None:
                    self.failure = (_culprit(message.release) or session.identity.org,
                                    pb.Error(kind="AuthenticationFailed", message=_reason(message.release)))
            elif which == "error" and self.failure is None:
                self.failure = (session.identity.org, message.error)
            self.changed.notify_all()
        targets = self._targets(session, message)
        if self.counter in targets:
            with self.changed:
                self.bytes_to_counter += message.ByteSize()
        for target in targets:
            target.outbox.put(pb.CoordinatorMessage(link=message))

    def _tell(self, session: NodeSession, kind: str, text: str) -> None:
        session.outbox.put(pb.CoordinatorMessage(link=pb.LinkMessage(
            run_id=self.run_id, sender="coordinator", error=pb.Error(kind=kind, message=text))))

    def wait(self, deadline: float) -> None:
        """Until the counter's release, or a failure plus a short grace, or the deadline."""
        with self.changed:
            grace_end = None
            while self.release is None:
                if self.failure is not None and grace_end is None:
                    grace_end = time.monotonic() + ABORT_GRACE_SECONDS
                for session in self.parties():
                    if session.closed and self.failure is None:
                        self.failure = (session.identity.org, pb.Error(
                            kind="Unavailable", message=f"{session.identity.org} disconnected during the run; "
                                                        "try again when it is back."))
                end = min(deadline, grace_end or deadline)
                if time.monotonic() >= end:
                    break
                self.changed.wait(min(0.5, end - time.monotonic()))
        if self.release is None:
            if self.failure is None:
                self.failure = (self.counter.identity.org, pb.Error(
                    kind="Unavailable", message=f"The run did not finish in time at counter {self.counter.identity.org} "
                                                "or a node; try again later."))
            for session in self.parties():  # everyone drops the run's secrets now
                self._tell(session, "Unavailable", "The coordinator ended the run.")

    def result(self, peer: LinkSide) -> pb.RunResult:
        result = pb.RunResult(run_id=self.run_id, peer_org=peer.org, peer_kind=peer.kind,
                              bytes_relayed=self.bytes_relayed, counter_org=self.counter.identity.org,
                              bytes_to_counter=self.bytes_to_counter)
        if self.anchor.identity.org in self.verdicts:
            result.anchor_verdict.CopyFrom(self.verdicts[self.anchor.identity.org])
        if self.other.identity.org in self.verdicts:
            result.other_verdict.CopyFrom(self.verdicts[self.other.identity.org])
        if self.release is not None:
            result.release.CopyFrom(self.release)
        if self.failure is not None:
            result.failed_org, error = self.failure
            result.error.CopyFrom(error)
        return result


def _ok_release(signed: pb.Signed) -> bool:
    try:
        return pb.CounterRelease.FromString(signed.payload).ok
    except Exception:  # noqa: BLE001 - an unparsable release is a failed one
        return False


def _culprit(signed: pb.Signed) -> str:
    try:
        return pb.CounterRelease.FromString(signed.payload).culprit
    except Exception:  # noqa: BLE001
        return ""


def _reason(signed: pb.Signed) -> str:
    try:
        return pb.CounterRelease.FromString(signed.payload).reason or "no reason given"
    except Exception:  # noqa: BLE001
        return "its release cannot be read"


class LinkRelays:
    """All running relays, keyed by run id; the hub's streams feed `route`."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.taps: list[Tap] = []
        self._runs: dict[str, RunRelay] = {}
        self._lock = threading.Lock()

    def route(self, session: NodeSession, message: pb.LinkMessage) -> None:
        with self._lock:
            relay = self._runs.get(message.run_id)
        if relay is None or session not in relay.parties():
            log.info("linked message from %s for run %s dropped (not a party)", session.identity, message.run_id)
            return
        relay.on_message(session, message)

    def run_all(self, envelope: pb.Signed, query: LinkedQuery, query_id: str, expires_at: float,
                sessions: dict[str, NodeSession], counters: dict[str, NodeSession]) -> list[pb.RunResult]:
        """Every run of the query, concurrently; offline parties are named."""
        deadline = time.monotonic() + min(self.timeout, max(1.0, expires_at - time.time()))
        with ThreadPoolExecutor(max_workers=len(query.others)) as pool:
            futures = [pool.submit(self._one, envelope, query, query_id, peer, sessions, counters, deadline)
                       for peer in query.others]
            return [f.result() for f in futures]

    def _one(self, envelope: pb.Signed, query: LinkedQuery, query_id: str, peer: LinkSide,
             sessions: dict[str, NodeSession], counters: dict[str, NodeSession], deadline: float) -> pb.RunResult:
        run_id = query.run_id(query_id, peer.org)
        for side in (query.anchor, peer):
            if side.org not in sessions:
                return pb.RunResult(run_id=run_id, peer_org=peer.org, peer_kind=peer.kind, failed_org=side.org,
                                    error=pb.Error(kind="Unavailable", message=f"Node {side.org} is offline; "
                                                   "ask again when it is back."))
        if query.counter not in counters:
            return pb.RunResult(run_id=run_id, peer_org=peer.org, peer_kind=peer.kind, failed_org=query.counter,
                                counter_org=query.counter,
                                error=pb.Error(kind="Unavailable", message=f"Counter {query.counter} is offline; ask "
                                               "again when it is back or choose another with --counter."))
        relay = RunRelay(run_id, sessions[query.anchor.org], sessions[peer.org], counters[query.counter], self.taps)
        with self._lock:
            self._runs[run_id] = relay
        try:
            for session, role in ((relay.counter, "counter"), (relay.anchor, "anchor"), (relay.other, "other")):
                session.outbox.put(pb.CoordinatorMessage(link_request=pb.LinkRequest(
                    request_id=uuid.uuid4().hex, envelope=envelope, run_id=run_id, role=role)))
            relay.requested.set()
            relay.wait(deadline)
            return relay.result(peer)
        finally:
            with self._lock:
                self._runs.pop(run_id, None)
