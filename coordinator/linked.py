"""The coordinator's part of a linked count: relay, count, wait, name failures.

Per run it sends both nodes a LinkRequest, forwards every message of one
node's stream to the other's, counts matches from the Z lists (which travel
in clear), and waits for both signed verdicts with a deadline. It holds no
secret: lists are sealed to the peer, and keys, announces and verdicts are
signed by the nodes, so whatever it alters makes the run fail.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from coordinator.hub import NodeSession
from regiozicht import psi, sealing
from regiozicht.linkquery import LinkedQuery, LinkSide
from regiozicht.v1 import regiozicht_pb2 as pb

log = logging.getLogger(__name__)

Tap = Callable[[str, pb.LinkMessage], None]
ABORT_GRACE_SECONDS = 5.0


class RunRelay:
    """One run's relay state: which session is which, Z lists, verdicts, the first failure."""

    def __init__(self, run_id: str, anchor: NodeSession, other: NodeSession, taps: list[Tap]) -> None:
        self.run_id, self.anchor, self.other, self.taps = run_id, anchor, other, taps
        self.z_of_anchor: dict[int, list[bytes]] = {}  # Z_A^g, built by the other node, keyed by cell
        self.z_of_other: list[bytes] = []  # Z_B, built by the anchor
        self.verdicts: dict[str, pb.Signed] = {}
        self.errored: set[str] = set()  # parties that sent an error: no verdict follows from them
        self.failure: tuple[str, pb.Error] | None = None
        self.bytes_relayed = 0
        self.changed = threading.Condition()

    def parties(self) -> tuple[NodeSession, NodeSession]:
        return self.anchor, self.other

    def peer_of(self, session: NodeSession) -> NodeSession:
        return self.other if session is self.anchor else self.anchor

    def on_message(self, session: NodeSession, message: pb.LinkMessage) -> None:
        """A message from one party's stream: record what is ours to see, forward the rest."""
        message.sender = session.identity.org  # never what the node claims
        for tap in self.taps:
            tap(self.run_id, message)
        which = message.WhichOneof("payload")
        with self.changed:
            if which == "verdict":
                self.verdicts[session.identity.org] = message.verdict
                if not _ok(message.verdict) and self.failure is None:
                    self.failure = (session.identity.org, pb.Error(kind="AuthenticationFailed",
                                                                   message=_reason(message.verdict)))
                self.changed.notify_all()
            elif which == "error":
                if self.failure is None:
                    self.failure = (session.identity.org, message.error)
                self.errored.add(session.identity.org)
                self.changed.notify_all()
            elif which == "z_chunk":
                points = sealing.unpack(message.z_chunk.points)
                if session is self.other:
                    self.z_of_anchor.setdefault(message.z_chunk.list_index, []).extend(points)
                else:
                    self.z_of_other.extend(points)
            if which != "verdict":
                self.bytes_relayed += message.ByteSize()
        if which == "verdict":
            if not _ok(message.verdict):
                self._tell(self.peer_of(session), "Unavailable",
                           f"Node {session.identity.org} aborted the run: {_reason(message.verdict)}")
            return  # verdicts are for the analyst, not the peer
        self.peer_of(session).outbox.put(pb.CoordinatorMessage(link=message))

    def _tell(self, session: NodeSession, kind: str, text: str) -> None:
        session.outbox.put(pb.CoordinatorMessage(link=pb.LinkMessage(
            run_id=self.run_id, sender="coordinator", error=pb.Error(kind=kind, message=text))))

    def wait(self, deadline: float) -> None:
        """Until both parties sent their verdict (or an error, after which none comes), or a
        failure plus a short grace, or the deadline."""
        with self.changed:
            grace_end = None
            while len(set(self.verdicts) | self.errored) < 2:
                if self.failure is not None and grace_end is None:
                    grace_end = time.monotonic() + ABORT_GRACE_SECONDS
                for session in self.parties():
                    if session.closed and self.failure is None:
                        self.failure = (session.identity.org, pb.Error(
                            kind="Unavailable", message=f"Node {session.identity.org} disconnected during the run; "
                                                        "try again when it is back."))
                end = min(deadline, grace_end or deadline)
                if time.monotonic() >= end:
                    break
                self.changed.wait(min(0.5, end - time.monotonic()))
        if len(self.verdicts) < 2:
            late = [s for s in self.parties() if s.identity.org not in self.verdicts]
            if self.failure is None:
                self.failure = (late[0].identity.org, pb.Error(
                    kind="Unavailable", message=f"Node {late[0].identity.org} did not finish the run in time; "
                                                "try again later."))
            for session in self.parties():  # both drop the run's secrets now
                self._tell(session, "Unavailable", "The coordinator ended the run.")

    def result(self, peer: LinkSide) -> pb.RunResult:
        result = pb.RunResult(run_id=self.run_id, peer_org=peer.org, peer_kind=peer.kind,
                              bytes_relayed=self.bytes_relayed)
        if self.anchor.identity.org in self.verdicts:
            result.anchor_verdict.CopyFrom(self.verdicts[self.anchor.identity.org])
        if self.other.identity.org in self.verdicts:
            result.other_verdict.CopyFrom(self.verdicts[self.other.identity.org])
        if self.failure is not None:
            result.failed_org, error = self.failure
            result.error.CopyFrom(error)
        else:
            cells = [self.z_of_anchor.get(i, []) for i in range(max(self.z_of_anchor, default=-1) + 1)]
            result.matches.extend(psi.count_matches(cells, self.z_of_other))
        self.z_of_anchor, self.z_of_other = {}, []
        return result


def _ok(signed: pb.Signed) -> bool:
    try:
        return pb.LinkVerdict.FromString(signed.payload).ok
    except Exception:  # noqa: BLE001 - an unparsable verdict is a failed one
        return False


def _reason(signed: pb.Signed) -> str:
    try:
        return pb.LinkVerdict.FromString(signed.payload).reason or "no reason given"
    except Exception:  # noqa: BLE001
        return "its verdict cannot be read"


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
                sessions: dict[str, NodeSession]) -> list[pb.RunResult]:
        """Every run of the query, concurrently; offline parties are named."""
        deadline = time.monotonic() + min(self.timeout, max(1.0, expires_at - time.time()))
        with ThreadPoolExecutor(max_workers=len(query.others)) as pool:
            futures = [pool.submit(self._one, envelope, query, query_id, peer, sessions, deadline)
                       for peer in query.others]
            return [f.result() for f in futures]

    def _one(self, envelope: pb.Signed, query: LinkedQuery, query_id: str, peer: LinkSide,
             sessions: dict[str, NodeSession], deadline: float) -> pb.RunResult:
        run_id = query.run_id(query_id, peer.org)
        for side in (query.anchor, peer):
            if side.org not in sessions:
                return pb.RunResult(run_id=run_id, peer_org=peer.org, peer_kind=peer.kind, failed_org=side.org,
                                    error=pb.Error(kind="Unavailable", message=f"Node {side.org} is offline; "
                                                   "ask again when it is back."))
        relay = RunRelay(run_id, sessions[query.anchor.org], sessions[peer.org], self.taps)
        with self._lock:
            self._runs[run_id] = relay
        try:
            for session, role in ((relay.anchor, "anchor"), (relay.other, "other")):
                session.outbox.put(pb.CoordinatorMessage(link_request=pb.LinkRequest(
                    request_id=uuid.uuid4().hex, envelope=envelope, run_id=run_id, role=role)))
            relay.wait(deadline)
            return relay.result(peer)
        finally:
            with self._lock:
                self._runs.pop(run_id, None)
