"""One linked run at one node: the protocol of docs/linked-counts.md, steps 0–3.

Pure domain code, fed by the agent: `deliver()` hands it the peer's relayed
messages, `send` carries its own out; no gRPC here. The run has been
authorised and charged before a driver exists. The secrets (a or b, the
HPKE key, phantom scalars) live in this object only and are dropped when
`run()` returns, by success, abort or timeout.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from regiozicht import psi, sealing
from regiozicht.errors import AuthenticationFailed, BudgetExhausted, RegiozichtError, Unavailable
from regiozicht.linknoise import ShiftedLaplace
from regiozicht.linkquery import LinkSide
from regiozicht.pki import TrustStore
from regiozicht.signed import Signer, open_signed
from regiozicht.v1 import regiozicht_pb2 as pb

Send = Callable[[pb.LinkMessage], None]
Charge = Callable[[], tuple[int, bytes]]
Z_CHUNK_POINTS = 8192


@dataclass(frozen=True)
class RunSpec:
    """What a driver needs to know about its run (from the authorised plan and its charge)."""

    query_id: str
    run_id: str
    role: str  # anchor | other
    me: LinkSide
    peer: LinkSide
    epsilon: str
    delta: str
    shift: int
    cells: int  # the anchor's number of cells (0 at the other node: the anchor's signed key says)
    body_sha256: bytes
    deadline: float  # time.time() after which the run is aborted


class LinkDriver:
    def __init__(self, spec: RunSpec, members: Sequence[Sequence[bytes]], *, signer: Signer, trust: TrustStore,
                 ops: psi.GroupOps, send: Send, charge: Charge, chunk_points: int = sealing.CHUNK_POINTS) -> None:
        self.spec, self.members, self.signer, self.trust = spec, members, signer, trust
        self.ops, self._send, self._charge, self.chunk_points = ops, send, charge, chunk_points
        self.inbox: queue.Queue[pb.LinkMessage] = queue.Queue()
        self.charged: tuple[int, bytes] | None = None

    def deliver(self, message: pb.LinkMessage) -> None:
        self.inbox.put(message)

    # -- the run ----------------------------------------------------------

    def run(self) -> pb.LinkVerdict:
        """Runs to the end; always sends a signed verdict (ok, or abort with the reason)."""
        try:
            verdict = self._protocol()
        except RegiozichtError as exc:
            verdict = self._verdict(ok=False, reason=exc.message)
            if isinstance(exc, BudgetExhausted):
                raise  # refused before anything left: the analyst sees the budget refusal itself
        finally:
            self.members = []
        self._emit(verdict=self.signer.sign(verdict.SerializeToString()))
        return verdict

    def _protocol(self) -> pb.LinkVerdict:
        spec = self.spec
        hpke = sealing.new_key()
        self._emit(key=self._sign(pb.LinkKey(query_id=spec.query_id, run_id=spec.run_id, org=spec.me.org,
                                             kind=spec.me.kind, hpke_public=sealing.public_bytes(hpke),
                                             cells=spec.cells)))
        domain = psi.domain_separator(spec.query_id, spec.run_id)
        draw = ShiftedLaplace(float(spec.epsilon), spec.shift)
        if spec.role == "anchor":
            run: psi.AnchorRun | psi.OtherRun = psi.AnchorRun(domain, spec.shift, draw, self.ops)
            mine = run.lists(self.members)  # before the peer's key: it needs nothing from the peer
            peer_key = self._peer_key()
        else:
            peer_key = self._peer_key()
            if not 1 <= peer_key.cells <= 100_000:
                raise AuthenticationFailed("The anchor announced an impossible number of cells; the run is aborted.")
            run = psi.OtherRun(domain, spec.shift, peer_key.cells, draw, self.ops)
            mine = [run.list(self.members[0])]
        self.members = []
        # the peer's signed key says it was authorised; charge before the first list leaves
        self.charged = self._charge()
        self._send_lists(mine, run.public, peer_key.hpke_public)
        expected = 1 if spec.role == "anchor" else peer_key.cells
        peer_public, theirs = self._receive_lists(hpke, expected)
        del hpke
        # only now, with the peer's whole list in hand, may Z leave
        if isinstance(run, psi.AnchorRun):
            built = [run.answer(peer_public, theirs[0])]
        else:
            built = run.answer(peer_public, theirs)
        self._send_z(built)
        returned = self._receive_z(len(mine))
        if isinstance(run, psi.AnchorRun):
            run.check(returned)
            matches, sizes = psi.count_matches(returned, built[0]), run.sizes
        else:
            run.check(returned[0])
            matches, sizes = psi.count_matches(built, returned[0]), [len(cell) for cell in theirs]
        return self._verdict(ok=True, matches=matches, sizes=sizes)

    # -- sending ------------------------------------------------------------

    def _emit(self, **payload: object) -> None:
        self._send(pb.LinkMessage(run_id=self.spec.run_id, sender=self.spec.me.org, **payload))  # type: ignore[arg-type]

    def _sign(self, message: object) -> pb.Signed:
        return self.signer.sign(message.SerializeToString())  # type: ignore[attr-defined]

    def _send_lists(self, lists: list[psi.Points], public: bytes, peer_hpke: bytes) -> None:
        spec = self.spec
        self._emit(announce=self._sign(pb.ListAnnounce(
            query_id=spec.query_id, run_id=spec.run_id, sender=spec.me.org, recipient=spec.peer.org,
            group_public=public, sizes=[len(points) for points in lists],
            list_hashes=[sealing.list_hash(points) for points in lists])))
        for index, points in enumerate(lists):
            binding = self._binding(spec.me.org, spec.peer.org, index)
            for chunk in sealing.seal_list(points, peer_hpke, binding, self.chunk_points):
                self._emit(chunk=pb.ListChunk(list_index=index, index=chunk.index, count=chunk.count,
                                              list_hash=chunk.list_hash, sealed=chunk.ciphertext))

    def _send_z(self, lists: list[psi.Points]) -> None:
        spec = self.spec
        self._emit(z_announce=self._sign(pb.ZAnnounce(
            query_id=spec.query_id, run_id=spec.run_id, sender=spec.me.org, owner=spec.peer.org,
            sizes=[len(points) for points in lists], list_hashes=[sealing.list_hash(points) for points in lists])))
        for index, points in enumerate(lists):
            pieces = [points[i:i + Z_CHUNK_POINTS] for i in range(0, len(points), Z_CHUNK_POINTS)] or [[]]
            for number, piece in enumerate(pieces):
                self._emit(z_chunk=pb.ZChunk(list_index=index, index=number, count=len(pieces),
                                             points=sealing.pack(piece)))

    def _binding(self, sender: str, recipient: str, index: int) -> sealing.Binding:
        return sealing.Binding(self.spec.query_id, self.spec.run_id, sender, recipient, f"L{index}")

    # -- receiving -----------------------------------------------------------

    def _next(self, expected: str) -> pb.LinkMessage:
        """The next relayed message, which must be of the expected kind (the relay cannot reorder steps)."""
        remaining = self.spec.deadline - time.time()
        try:
            message = self.inbox.get(timeout=max(0.0, remaining))
        except queue.Empty:
            raise Unavailable(f"Node {self.spec.peer.org} did not continue run {self.spec.run_id} in time; "
                              "the run is aborted, ask again later.") from None
        which = message.WhichOneof("payload")
        if which == "error":
            raise Unavailable(f"The run was aborted elsewhere ({message.error.message})")
        if which != expected or message.run_id != self.spec.run_id:
            raise AuthenticationFailed(f"Run {self.spec.run_id} received a {which} where a {expected} was due; "
                                       "the relay misbehaved and the run is aborted.")
        return message

    def _open_peer(self, signed: pb.Signed, message: type) -> object:
        payload, signer = open_signed(signed, self.trust, ("node",))
        peer = self.spec.peer
        if (signer.org, signer.kind) != (peer.org, peer.kind):
            raise AuthenticationFailed(f"A run message is signed by {signer}, not by {peer.org} ({peer.kind}) as the "
                                       "signed query names; the run is aborted.")
        parsed = message()
        parsed.ParseFromString(payload)
        if parsed.query_id != self.spec.query_id or parsed.run_id != self.spec.run_id:
            raise AuthenticationFailed("A signed run message belongs to another run (replayed); the run is aborted.")
        return parsed

    def _peer_key(self) -> pb.LinkKey:
        key = self._open_peer(self._next("key").key, pb.LinkKey)
        assert isinstance(key, pb.LinkKey)
        if key.org != self.spec.peer.org or len(key.hpke_public) != 32:
            raise AuthenticationFailed("The peer's run key is malformed; the run is aborted.")
        return key

    def _receive_lists(self, hpke: object, expected: int) -> tuple[bytes, list[psi.Points]]:
        announce = self._open_peer(self._next("announce").announce, pb.ListAnnounce)
        assert isinstance(announce, pb.ListAnnounce)
        spec = self.spec
        if (announce.sender, announce.recipient) != (spec.peer.org, spec.me.org) or len(announce.sizes) != expected \
                or len(announce.list_hashes) != expected:
            raise AuthenticationFailed("The peer's list announcement is not for this node or has the wrong number "
                                       "of lists; the run is aborted.")
        lists = []
        for index in range(expected):
            chunks = self._chunks("chunk", index)
            sealed = [sealing.SealedChunk(c.chunk.index, c.chunk.count, c.chunk.list_hash, c.chunk.sealed)
                      for c in chunks]
            points = sealing.open_list(sealed, hpke, self._binding(spec.peer.org, spec.me.org, index))  # type: ignore[arg-type]
            if len(points) != announce.sizes[index] or sealing.list_hash(points) != announce.list_hashes[index]:
                raise AuthenticationFailed("A received list differs from its signed announcement; the run is aborted.")
            lists.append(points)
        return announce.group_public, lists

    def _chunks(self, kind: str, index: int) -> list[pb.LinkMessage]:
        first = self._next(kind)
        part = getattr(first, kind)
        if part.list_index != index or part.index != 0 or not 1 <= part.count <= 1_000_000:
            raise AuthenticationFailed("List chunks arrived out of order; the run is aborted.")
        out = [first]
        for number in range(1, part.count):
            message = self._next(kind)
            if getattr(message, kind).list_index != index or getattr(message, kind).index != number:
                raise AuthenticationFailed("List chunks arrived out of order or repeated; the run is aborted.")
            out.append(message)
        return out

    def _receive_z(self, expected: int) -> list[psi.Points]:
        announce = self._open_peer(self._next("z_announce").z_announce, pb.ZAnnounce)
        assert isinstance(announce, pb.ZAnnounce)
        if (announce.sender, announce.owner) != (self.spec.peer.org, self.spec.me.org) \
                or len(announce.sizes) != expected or len(announce.list_hashes) != expected:
            raise AuthenticationFailed("The returned lists' announcement is not for this node's lists; "
                                       "the run is aborted.")
        lists = []
        for index in range(expected):
            points = [p for c in self._chunks("z_chunk", index) for p in sealing.unpack(c.z_chunk.points)]
            if len(points) != announce.sizes[index] or sealing.list_hash(points) != announce.list_hashes[index]:
                raise AuthenticationFailed("A returned list differs from its signed announcement (altered by the "
                                           "relay); the run is aborted.")
            lists.append(points)
        return lists

    # -- the outcome -----------------------------------------------------------

    def _verdict(self, *, ok: bool, reason: str = "", matches: Sequence[int] = (),
                 sizes: Sequence[int] = ()) -> pb.LinkVerdict:
        spec = self.spec
        return pb.LinkVerdict(
            query_id=spec.query_id, run_id=spec.run_id, org=spec.me.org, kind=spec.me.kind, role=spec.role, ok=ok,
            reason=reason, matches=list(matches), anchor_sizes=list(sizes), shift=spec.shift, epsilon=spec.epsilon,
            delta=spec.delta, audit_seq=self.charged[0] if self.charged else 0,
            audit_head=self.charged[1] if self.charged else b"", body_sha256=spec.body_sha256)
