"""One linked run at one node: linked counts v2, steps 0–3 (docs/linked-counts.md).

Pure domain code, fed by the agent: `deliver()` hands it the relayed
messages of the peer node and the counter, `send` carries its own out; no
gRPC here. The run has been authorised before a driver exists; it is charged
once the peer's signed key shows the peer authorised it too, before anything
data-dependent leaves. The secrets (a or b, the run's HPKE key, slot scalars)
live in this object only and are dropped when `run()` returns.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from regiozicht import group, linkwire, psi, sealing
from regiozicht.errors import AuthenticationFailed, BudgetExhausted, PermissionDenied, RegiozichtError
from regiozicht.group import GroupOps
from regiozicht.identity import identity_of
from regiozicht.linknoise import ShiftedLaplace
from regiozicht.linkquery import LinkSide
from regiozicht.signed import Signer
from regiozicht.truststore import TrustStore
from regiozicht.v1 import regiozicht_pb2 as pb

Charge = Callable[[], tuple[int, bytes]]


@dataclass(frozen=True)
class RunSpec:
    """What a driver needs to know about its run (from the authorised plan)."""

    query_id: str
    run_id: str
    role: str  # anchor | other
    me: LinkSide
    peer: LinkSide
    counter: str
    accepted_counters: tuple[str, ...]
    epsilon: str
    delta: str
    shift: int
    cells: int  # C, from the signed query, at both nodes
    body_sha256: bytes
    deadline: float  # time.time() after which the run is aborted

    @property
    def context(self) -> psi.RunContext:
        anchor, other = (self.me, self.peer) if self.role == "anchor" else (self.peer, self.me)
        return psi.RunContext(self.query_id, self.run_id, anchor.org, other.org, self.counter, self.cells, self.shift,
                              self.body_sha256)


class LinkDriver:
    def __init__(self, spec: RunSpec, members: Sequence[Sequence[bytes]], *, signer: Signer, trust: TrustStore,
                 pool: GroupOps | None, send: linkwire.Send, charge: Charge,
                 chunk_points: int = linkwire.CHUNK_POINTS) -> None:
        self.spec, self.members, self.signer, self.pool, self._charge = spec, members, signer, pool, charge
        self.inbox = linkwire.Inbox(spec.run_id, spec.deadline, self._describe)
        parties = [linkwire.Party(spec.me.org, spec.me.kind, spec.role),
                   linkwire.Party(spec.peer.org, spec.peer.kind, "other" if spec.role == "anchor" else "anchor"),
                   linkwire.Party(spec.counter, None, "counter")]
        self.wire = linkwire.RunWire(spec.context, parties[0], parties, signer=signer, trust=trust, send=send,
                                     inbox=self.inbox, chunk_points=chunk_points)
        self.charged: tuple[int, bytes] | None = None
        self.timings: list[tuple[str, float]] = []  # (step, seconds since the run started), for the node's log
        self.lists: tuple[list[psi.Points], list[psi.Points]] = ([], [])  # (anchor's, other's), for the ack
        self.digests: tuple[bytes, bytes] = (b"", b"")  # their digests, computed once

    def deliver(self, message: pb.LinkMessage) -> None:
        self.inbox.deliver(message)

    def abort(self, reason: str) -> None:
        """Ends the run at its next step, whatever is still queued for it."""
        self.inbox.abort(reason)

    def _describe(self, org: str) -> str:
        return f"Counter {org}" if org == self.spec.counter else f"Node {org}"

    # -- the run ----------------------------------------------------------

    def run(self) -> pb.LinkVerdict:
        """Runs to the end of this node's part; on an abort, sends the reason to the others."""
        try:
            self._protocol()
            return self._verdict(ok=True)
        except RegiozichtError as exc:
            verdict = self._verdict(ok=False, reason=exc.message)
            if isinstance(exc, BudgetExhausted):
                raise  # refused before anything left: the analyst sees the budget refusal itself
            self.wire.emit(error=pb.Error(kind=exc.kind, message=f"Node {self.spec.me.org}: {exc.message}"))
            return verdict
        finally:
            self.members = []

    def _mark(self, step: str) -> None:
        self.timings.append((step, time.monotonic() - self._started))

    def _protocol(self) -> None:
        spec, wire = self.spec, self.wire
        self._started = time.monotonic()
        ctx = spec.context
        self._hpke = hpke = sealing.new_key()
        draw = ShiftedLaplace(float(spec.epsilon), spec.shift)
        party: psi.AnchorParty | psi.OtherParty = (psi.AnchorParty(ctx, draw) if spec.role == "anchor"
                                                   else psi.OtherParty(ctx, draw))
        wire.emit(key=wire.sign(pb.LinkKey(query_id=spec.query_id, run_id=spec.run_id, org=spec.me.org,
                                           kind=spec.me.kind, hpke_public=sealing.public_bytes(hpke),
                                           cells=spec.cells, group_public=party.public, role=spec.role)))
        # the bulk of this node's work, while the others' keys travel: nothing leaves before the charge
        members = sum(map(len, self.members)) if spec.role == "anchor" else len(self.members[0])
        party.ops = group.ops_for(self.pool, party.list_length(members))
        if isinstance(party, psi.AnchorParty):
            party.blind(self.members)
        else:
            party.blind(self.members[0])
        self.members = []
        self._mark("blinded")
        counter_key = self._counter_key()
        peer_key = self._peer_key()
        self._mark("keys")
        # the peer's signed key says it authorised the run: charge before anything data-dependent leaves
        self.charged = self._charge()
        peer_public = peer_key.group_public
        if isinstance(party, psi.AnchorParty):
            lists = self._anchor_lists(party, peer_key)
        else:
            lists = self._other_lists(party, peer_key)
        self._mark("lists")
        own_digest = psi.digest(lists)
        wire.emit(commit=wire.sign(pb.ListCommit(query_id=spec.query_id, run_id=spec.run_id, sender=spec.me.org,
                                                 sizes=[len(points) for points in lists], digest=own_digest)))
        peer_commit = wire.signed(spec.peer.org, "commit", pb.ListCommit)
        expected = 1 if spec.role == "anchor" else spec.cells
        if len(peer_commit.sizes) != expected:
            raise psi.ProtocolViolation(f"{spec.peer.org} committed to {len(peer_commit.sizes)} lists where the "
                                        f"signed query implies {expected}; the run is aborted.", spec.peer.org)
        wire.send_points(lists)  # revealed only now: no list can depend on the peer's sizes
        theirs = wire.points(spec.peer.org, peer_commit)
        if isinstance(party, psi.AnchorParty):
            party.check_peer_list(theirs[0])
            self.lists, self.digests = (lists, theirs), (own_digest, peer_commit.digest)
        else:
            party.check_peer_lists(theirs)
            self.lists, self.digests = (theirs, lists), (peer_commit.digest, own_digest)
        self._mark("checked")
        wire.emit(verdict=wire.sign(self._verdict(ok=True)))  # the acknowledgement: both lists' digests
        # step 3: images of the peer's lists, to the counter only
        images = party.image(theirs, spec.peer.org)
        self._mark("imaged")
        image_digest = psi.digest(images)
        wire.emit(image_commit=wire.sign(pb.ImageCommit(
            query_id=spec.query_id, run_id=spec.run_id, sender=spec.me.org, owner=spec.peer.org,
            sizes=[len(z) for z in images], digest=image_digest)))
        wire.send_sealed(psi.flat(images), spec.counter, counter_key.hpke_public, "images")
        del images
        their_commit = wire.signed(spec.peer.org, "image_commit", pb.ImageCommit)
        if their_commit.owner != spec.me.org or list(their_commit.sizes) != [len(points) for points in lists]:
            raise psi.ProtocolViolation(f"{spec.peer.org}'s image commitment does not fit this node's lists; the run "
                                        "is aborted.", spec.peer.org)
        publics = (party.public, peer_public) if spec.role == "anchor" else (peer_public, party.public)
        mine_seed = ctx.dleq_seed(spec.peer.org, *publics, own_digest, their_commit.digest)
        wire.emit(weighted=wire.sign(pb.WeightedSum(query_id=spec.query_id, run_id=spec.run_id, sender=spec.me.org,
                                                    image_digest=their_commit.digest,
                                                    point=party.weighted_own(mine_seed))))
        self._mark("summed")
        weighted = wire.signed(spec.peer.org, "weighted", pb.WeightedSum)
        if weighted.image_digest != image_digest:
            raise psi.ProtocolViolation(f"{spec.peer.org}'s weighted sum answers other images; the run is aborted.",
                                        spec.peer.org)
        seed = ctx.dleq_seed(spec.me.org, *publics, peer_commit.digest, image_digest)
        # sealed to the counter: (c, z) with a peer-chosen M would let a relay test guesses against L_B
        wire.send_sealed_signed(pb.ImageProof(query_id=spec.query_id, run_id=spec.run_id, sender=spec.me.org,
                                              image_digest=image_digest, proof=party.prove(weighted.point, seed)),
                                spec.counter, counter_key.hpke_public, "proof")
        self._mark("proved")
        outcome = wire.signed(spec.counter, "outcome", pb.CounterRelease)
        self._mark("counted")
        if not outcome.ok:
            raise psi.ProtocolViolation(f"Counter {spec.counter} aborted the run: {outcome.reason}", outcome.culprit)

    # -- steps 0–2 ----------------------------------------------------------

    def _counter_key(self) -> pb.LinkKey:
        spec = self.spec
        key = self.wire.signed(spec.counter, "key", pb.LinkKey)
        if key.org != spec.counter or key.role != "counter" or key.cells != spec.cells:
            raise AuthenticationFailed("The counter's run key is malformed; the run is aborted.")
        if spec.counter not in spec.accepted_counters:
            raise PermissionDenied(f"The covenant of {spec.me.org} does not accept counter {spec.counter}; choose an "
                                   "accepted counter or have the privacy officer add it.")
        return key

    def _peer_key(self) -> pb.LinkKey:
        spec = self.spec
        key = self.wire.signed(spec.peer.org, "key", pb.LinkKey)
        if key.org != spec.peer.org or key.cells != spec.cells or not group.is_valid(key.group_public):
            raise psi.ProtocolViolation(f"{spec.peer.org}'s run key is malformed or names another number of cells "
                                        f"than the signed query ({spec.cells}); the run is aborted.", spec.peer.org)
        # independence is a matter of legal entity, not of name (an RMC and a W&I are often one municipality)
        counter = self.wire.signers[spec.counter].legal_entity
        if counter in (identity_of(self.signer.certificate).legal_entity, self.wire.signers[spec.peer.org].legal_entity):
            raise PermissionDenied(f"Counter {spec.counter} is the same legal entity as a party of the run "
                                   f"({counter}); a counter must be independent of both nodes.")
        return key

    def _anchor_lists(self, party: psi.AnchorParty, peer_key: pb.LinkKey) -> list[psi.Points]:
        spec, wire = self.spec, self.wire
        slots = party.make_slots(peer_key.group_public)
        wire.send_sealed([s.h + s.w + s.proof for cell in slots for s in cell], spec.peer.org, peer_key.hpke_public,
                         "slots")
        peer_slots = linkwire.split(wire.sealed(spec.peer.org, "slots", self._hpke),
                                    [2 * spec.shift] * spec.cells)
        party.check_peer_slots(peer_slots)
        return party.build_lists(None, peer_slots)

    def _other_lists(self, party: psi.OtherParty, peer_key: pb.LinkKey) -> list[psi.Points]:
        spec, wire = self.spec, self.wire
        wire.send_sealed(psi.flat(party.make_slots(peer_key.group_public)), spec.peer.org, peer_key.hpke_public,
                         "slots")
        records = wire.sealed(spec.peer.org, "slots", self._hpke, linkwire.SLOT_RECORD)
        slots = [psi.Slot(r[:32], r[32:64], r[64:]) for r in records]
        party.check_peer_slots(linkwire.split(slots, [2 * spec.shift] * spec.cells), peer_key.group_public)
        return [party.build_list(None)]

    # -- the outcome -----------------------------------------------------------

    def _verdict(self, *, ok: bool, reason: str = "") -> pb.LinkVerdict:
        spec = self.spec
        anchor_lists, other_lists = self.lists
        return pb.LinkVerdict(
            query_id=spec.query_id, run_id=spec.run_id, org=spec.me.org, kind=spec.me.kind, role=spec.role, ok=ok,
            reason=reason, anchor_sizes=[len(points) for points in anchor_lists], shift=spec.shift,
            epsilon=spec.epsilon, delta=spec.delta, audit_seq=self.charged[0] if self.charged else 0,
            audit_head=self.charged[1] if self.charged else b"", body_sha256=spec.body_sha256,
            anchor_digest=self.digests[0], other_digest=self.digests[1], other_size=len(other_lists[0]) if other_lists else 0, counter=spec.counter)
