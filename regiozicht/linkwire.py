"""The wire side of a linked run, shared by the nodes and the counter.

An `Inbox` receives the relayed messages of one run and hands them out by
(sender, kind): messages of one sender arrive in order, but those of two
senders interleave, so early ones wait in a bounded stash. `RunWire` sends
and receives the run's signed, sealed and chunked messages and checks what
the relay could have touched: signer, run binding, chunk order, digests.
"""

from __future__ import annotations

import queue
import time
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from google.protobuf.message import Message

from regiozicht import group, psi, sealing
from regiozicht.errors import AuthenticationFailed, Unavailable
from regiozicht.identity import Identity
from regiozicht.signed import Signer, open_signed
from regiozicht.truststore import TrustStore
from regiozicht.v1 import regiozicht_pb2 as pb

Send = Callable[[pb.LinkMessage], None]


class _RunMessage(Protocol):
    """What every signed message of a run carries (protos/regiozicht/v1): its query and its run."""

    query_id: str
    run_id: str

    def ParseFromString(self, serialized: bytes) -> int: ...


M = TypeVar("M", bound=_RunMessage)
T = TypeVar("T")
CHUNK_POINTS = sealing.CHUNK_POINTS  # one chunk size for lists in clear and sealed
MAX_STASHED = 200_000
SLOT_RECORD = 32 + 32 + 128  # h ‖ w ‖ OR-proof


@dataclass(frozen=True)
class Party:
    """A party of the run as the signed query names it."""

    org: str
    kind: str | None  # None for the counter
    role: str  # anchor | other | counter


class Inbox:
    def __init__(self, run_id: str, deadline: float, describe: Callable[[str], str]) -> None:
        self.run_id, self.deadline, self.describe = run_id, deadline, describe
        self._queue: queue.Queue[pb.LinkMessage] = queue.Queue()
        self._stash: dict[tuple[str, str], deque[pb.LinkMessage]] = defaultdict(deque)
        self._stashed = 0
        self._aborted = ""

    def deliver(self, message: pb.LinkMessage) -> None:
        self._queue.put(message)

    def abort(self, reason: str) -> None:
        """Ends the run at its next step, before any message still queued (nothing more can arrive)."""
        self._aborted = reason
        self._queue.put(pb.LinkMessage(run_id=self.run_id, error=pb.Error(kind="Unavailable", message=reason)))

    def next(self, sender: str, kind: str) -> pb.LinkMessage:
        """The next message of `kind` from `sender`; an error from anyone aborts the run."""
        if self._aborted:
            raise Unavailable(f"Run {self.run_id} was aborted: {self._aborted}.")
        waiting = self._stash.get((sender, kind))
        if waiting:
            self._stashed -= 1
            return waiting.popleft()
        while True:
            remaining = self.deadline - time.time()
            try:
                message = self._queue.get(timeout=max(0.0, remaining))
            except queue.Empty:
                raise Unavailable(f"{self.describe(sender)} did not continue run {self.run_id} in time; the run is "
                                  "aborted, ask again later.") from None
            which = message.WhichOneof("payload")
            if which == "error":
                raise Unavailable(f"The run was aborted elsewhere ({message.error.message})")
            if message.run_id != self.run_id:
                raise AuthenticationFailed(f"Run {self.run_id} received a message of run {message.run_id}; the relay "
                                           "misbehaved and the run is aborted.")
            if (message.sender, which) == (sender, kind):
                return message
            self._stashed += 1
            if self._stashed > MAX_STASHED:
                raise AuthenticationFailed("The relay sent more messages than the run can hold; the run is aborted.")
            self._stash[(message.sender, str(which))].append(message)


class RunWire:
    """One party's messages of one run: sign, seal, chunk; open, check, reassemble."""

    def __init__(self, ctx: psi.RunContext, me: Party, parties: Sequence[Party], *, signer: Signer,
                 trust: TrustStore, send: Send, inbox: Inbox, chunk_points: int = CHUNK_POINTS) -> None:
        self.ctx, self.me, self.signer, self.trust = ctx, me, signer, trust
        self.parties = {p.org: p for p in parties}
        self._send, self.inbox, self.chunk_points = send, inbox, chunk_points
        self.signers: dict[str, Identity] = {}  # org → the certificate identity that signed its key

    # -- sending -----------------------------------------------------------

    def emit(self, **payload: Any) -> None:
        self._send(pb.LinkMessage(run_id=self.ctx.run_id, sender=self.me.org, **payload))

    def sign(self, message: Message) -> pb.Signed:
        return self.signer.sign(message.SerializeToString())

    def send_points(self, lists: Sequence[Sequence[bytes]]) -> None:
        """Lists in clear, chunked (a signed commitment binds them)."""
        for index, points in enumerate(lists):
            pieces = [points[i:i + self.chunk_points] for i in range(0, len(points), self.chunk_points)] or [[]]
            for number, piece in enumerate(pieces):
                self.emit(points=pb.PointChunk(list_index=index, index=number, count=len(pieces),
                                               points=sealing.pack(piece)))

    def send_sealed(self, records: Sequence[bytes], recipient: str, public: bytes, step: str) -> None:
        """Records sealed to one party (`recipient` is its org); the relay learns only their number."""
        route = "counter" if self.parties[recipient].role == "counter" else "peer"
        binding = sealing.Binding(self.ctx.query_id, self.ctx.run_id, self.me.org, recipient, step)
        for chunk in sealing.seal_list(records, public, binding, self.chunk_points):
            self.emit(sealed=pb.Sealed(step=step, recipient=route, index=chunk.index, count=chunk.count,
                                       content_hash=chunk.list_hash, ciphertext=chunk.ciphertext))

    # -- receiving ---------------------------------------------------------

    def send_sealed_signed(self, message: Message, recipient: str, public: bytes, step: str) -> None:
        """A signed message sealed to one party: authentic for it, unreadable for the relay."""
        self.send_sealed([self.sign(message).SerializeToString()], recipient, public, step)

    def signed(self, sender: str, kind: str, message_type: type[M]) -> M:
        """The next signed message of `kind` from `sender`, verified: signer and run binding."""
        return self._verified(sender, getattr(self.inbox.next(sender, kind), kind), message_type)

    def sealed_signed(self, sender: str, step: str, key: sealing.RunKey, message_type: type[M]) -> M:
        records = self.sealed(sender, step, key, size=0)
        try:
            signed = pb.Signed.FromString(b"".join(records))
        except Exception:  # noqa: BLE001 - protobuf raises DecodeError subclasses
            raise AuthenticationFailed(f"A sealed {step} message cannot be read; the run is aborted.") from None
        return self._verified(sender, signed, message_type)

    def _verified(self, sender: str, signed: pb.Signed, message_type: type[M]) -> M:
        party = self.parties[sender]
        roles = ("counter",) if party.role == "counter" else ("node",)
        payload, signer = open_signed(signed, self.trust, roles)
        if signer.org != party.org or (party.kind is not None and signer.kind != party.kind):
            raise AuthenticationFailed(f"A run message is signed by {signer}, not by {party.org} as the signed query "
                                       "names; the run is aborted.")
        self.signers.setdefault(sender, signer)
        parsed = message_type()
        parsed.ParseFromString(payload)
        if parsed.query_id != self.ctx.query_id or parsed.run_id != self.ctx.run_id:
            raise AuthenticationFailed("A signed run message belongs to another run (replayed); the run is aborted.")
        return parsed

    def points(self, sender: str, commit: pb.ListCommit) -> list[psi.Points]:
        """A party's revealed lists, checked against its signed commitment."""
        lists = []
        for index in range(len(commit.sizes)):
            chunks = self._chunks(sender, "points", index)
            lists.append([p for c in chunks for p in sealing.unpack(c.points.points)])
        if [len(points) for points in lists] != list(commit.sizes) or psi.digest(lists) != commit.digest:
            # lists travel in clear: the relay could have altered them as well as the sender, so no one is named
            raise AuthenticationFailed(f"The lists of {sender} differ from its signed commitment (altered on the way "
                                       "or by the sender); the run is aborted.")
        return lists

    def sealed(self, sender: str, step: str, key: sealing.RunKey, size: int = group.POINT_BYTES) -> list[bytes]:
        chunks = self._chunks(sender, "sealed", None)
        if any(c.sealed.step != step for c in chunks):
            raise AuthenticationFailed(f"A sealed message of step {step} was expected; the run is aborted.")
        binding = sealing.Binding(self.ctx.query_id, self.ctx.run_id, sender, self.me.org, step)
        return sealing.open_list([sealing.SealedChunk(c.sealed.index, c.sealed.count, c.sealed.content_hash,
                                                      c.sealed.ciphertext) for c in chunks], key, binding, size)

    def _chunks(self, sender: str, kind: str, list_index: int | None) -> list[pb.LinkMessage]:
        first = self.inbox.next(sender, kind)
        part = getattr(first, kind)
        if (list_index is not None and part.list_index != list_index) or part.index != 0 \
                or not 1 <= part.count <= 1_000_000:
            raise AuthenticationFailed("Chunks arrived out of order; the run is aborted.")
        out = [first]
        for number in range(1, part.count):
            message = self.inbox.next(sender, kind)
            piece = getattr(message, kind)
            if (list_index is not None and piece.list_index != list_index) or piece.index != number \
                    or piece.count != part.count:
                raise AuthenticationFailed("Chunks arrived out of order or repeated; the run is aborted.")
            out.append(message)
        return out


def split(records: Sequence[T], sizes: Sequence[int]) -> list[list[T]]:
    out: list[list[T]] = []
    start = 0
    for size in sizes:
        out.append(list(records[start:start + size]))
        start += size
    return out
