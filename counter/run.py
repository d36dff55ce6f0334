"""One linked run at the counter: check every proof, count, release, forget.

Pure domain code like the node's `LinkDriver`: `deliver()` hands it the
relayed messages, `send` carries its own out. The counter sees both nodes'
once-blinded lists (to name a culprit when a check fails) and, sealed to its
run key, their images; it never sees a slot, a key of a node or a BSN. It
releases, signed, per anchor cell the matches and |L_A^g|, and drops every
list when `run()` returns.
"""

from __future__ import annotations

from dataclasses import dataclass

from regiozicht import group, linkwire, psi, sealing
from regiozicht.errors import AuthenticationFailed, RegiozichtError
from regiozicht.group import GroupOps
from regiozicht.linkquery import LinkSide
from regiozicht.signed import Signer
from regiozicht.truststore import TrustStore
from regiozicht.v1 import regiozicht_pb2 as pb


@dataclass(frozen=True)
class CounterSpec:
    query_id: str
    run_id: str
    org: str
    anchor: LinkSide
    other: LinkSide
    shift: int
    cells: int
    body_sha256: bytes
    deadline: float

    @property
    def context(self) -> psi.RunContext:
        return psi.RunContext(self.query_id, self.run_id, self.anchor.org, self.other.org, self.org, self.cells,
                              self.shift, self.body_sha256)


class CounterRun:
    def __init__(self, spec: CounterSpec, *, signer: Signer, trust: TrustStore, ops: GroupOps,
                 send: linkwire.Send) -> None:
        self.spec, self.signer, self.ops = spec, signer, ops
        self.inbox = linkwire.Inbox(spec.run_id, spec.deadline, lambda org: f"Node {org}")
        parties = [linkwire.Party(spec.org, None, "counter"),
                   linkwire.Party(spec.anchor.org, spec.anchor.kind, "anchor"),
                   linkwire.Party(spec.other.org, spec.other.kind, "other")]
        self.wire = linkwire.RunWire(spec.context, parties[0], parties, signer=signer, trust=trust, send=send,
                                     inbox=self.inbox)

    def deliver(self, message: pb.LinkMessage) -> None:
        self.inbox.deliver(message)

    def run(self) -> pb.CounterRelease:
        """Runs to the release (ok, or the failed check and its culprit), which it signs and sends."""
        spec = self.spec
        release = pb.CounterRelease(query_id=spec.query_id, run_id=spec.run_id, org=spec.org, shift=spec.shift,
                                    body_sha256=spec.body_sha256)
        try:
            self._count(release)
            release.ok = True
        except psi.ProtocolViolation as exc:
            release.ok, release.reason, release.culprit = False, exc.message, exc.culprit
        except RegiozichtError as exc:
            release.ok, release.reason = False, exc.message
        # the nodes learn the outcome, never a count
        outcome = pb.CounterRelease(query_id=spec.query_id, run_id=spec.run_id, org=spec.org, ok=release.ok,
                                    reason=release.reason, culprit=release.culprit, shift=spec.shift,
                                    body_sha256=spec.body_sha256)
        self.wire.emit(outcome=self.wire.sign(outcome))
        self.wire.emit(release=self.wire.sign(release))
        return release

    def _count(self, release: pb.CounterRelease) -> None:
        spec, wire = self.spec, self.wire
        hpke = sealing.new_key()
        wire.emit(key=wire.sign(pb.LinkKey(query_id=spec.query_id, run_id=spec.run_id, org=spec.org,
                                           hpke_public=sealing.public_bytes(hpke), cells=spec.cells,
                                           role="counter")))
        anchor, other = spec.anchor.org, spec.other.org
        keys = {org: self._key(org) for org in (anchor, other)}
        commits = {org: wire.signed(org, "commit", pb.ListCommit) for org in (anchor, other)}
        if len(commits[anchor].sizes) != spec.cells or len(commits[other].sizes) != 1:
            raise AuthenticationFailed("The nodes committed to another number of lists than the signed query has; "
                                       "the run is aborted.")
        lists = {org: wire.points(org, commits[org]) for org in (anchor, other)}
        for org in (anchor, other):
            ack = wire.signed(org, "verdict", pb.LinkVerdict)
            if not ack.ok or ack.anchor_digest != commits[anchor].digest or \
                    ack.other_digest != commits[other].digest or ack.counter != spec.org:
                raise AuthenticationFailed(f"Node {org} did not acknowledge the lists the counter holds; the run is "
                                           "aborted.")
        image_commits = {org: wire.signed(org, "image_commit", pb.ImageCommit) for org in (anchor, other)}
        images = {}
        for prover, owner in ((other, anchor), (anchor, other)):
            commit = image_commits[prover]
            if commit.owner != owner or list(commit.sizes) != list(commits[owner].sizes):
                raise psi.ProtocolViolation(f"{prover}'s image commitment does not fit {owner}'s lists; the run is "
                                            "aborted.", prover)
            records = wire.sealed(prover, "images", hpke)
            if len(records) != sum(commit.sizes):
                raise psi.ProtocolViolation(f"{prover} sent another number of images than it committed to; the run "
                                            "is aborted.", prover)
            images[prover] = linkwire.split(records, list(commit.sizes))
        public_a, public_b = keys[anchor].group_public, keys[other].group_public
        # N = Σρ·Z at once, while the owners compute their M
        sums = {prover: psi.image_sum(spec.context, prover, owner, public_a, public_b, lists[owner],
                                      commits[owner].digest, images[prover], image_commits[prover].digest, self.ops)
                for prover, owner in ((other, anchor), (anchor, other))}
        weighted = {org: wire.signed(org, "weighted", pb.WeightedSum) for org in (anchor, other)}
        proofs = {org: wire.sealed_signed(org, "proof", hpke, pb.ImageProof) for org in (anchor, other)}
        for prover, owner in ((other, anchor), (anchor, other)):
            if weighted[owner].image_digest != image_commits[prover].digest or \
                    proofs[prover].image_digest != image_commits[prover].digest:
                raise psi.ProtocolViolation(f"A weighted sum or proof answers other images than {prover} committed "
                                            "to; the run is aborted.", prover)
            psi.check_images(spec.context, sums[prover], weighted[owner].point, proofs[prover].proof, self.ops)
        release.matches.extend(psi.count(images[other], images[anchor][0]))
        release.anchor_sizes.extend(commits[anchor].sizes)
        release.anchor_digest, release.other_digest = commits[anchor].digest, commits[other].digest
        release.other_size = commits[other].sizes[0]
        lists.clear()
        images.clear()  # the counter deletes the lists once it has counted

    def _key(self, org: str) -> pb.LinkKey:
        key = self.wire.signed(org, "key", pb.LinkKey)
        if key.org != org or key.cells != self.spec.cells or not group.is_valid(key.group_public):
            raise psi.ProtocolViolation(f"{org}'s run key is malformed or names another number of cells than the "
                                        "signed query; the run is aborted.", org)
        return key
