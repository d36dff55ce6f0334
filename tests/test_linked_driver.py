"""Three run drivers in one process — anchor, other node and counter — joined by
a relay the test controls, routing as the coordinator does: a relay that
alters, injects, drops, reorders, replays or misroutes a message makes the
run fail, and a node lying about its public value is named by the counter."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from counter.run import CounterRun, CounterSpec
from demo.region import COUNTER_ORG, PartnerSetup, build
from node.linked import LinkDriver, RunSpec
from regiozicht import group, psi
from regiozicht.identity import Identity
from regiozicht.linkquery import LinkSide
from regiozicht.pemfiles import load_certificate, load_private_key
from regiozicht.signed import Signer
from regiozicht.truststore import TrustStore
from regiozicht.v1 import regiozicht_pb2 as pb
from tests import tiny

A = LinkSide.of("rmc-1", "rmc", "vsv", tiny.PEILDATUM)
B = LinkSide.of("wi-1", "wi", "bijstand", tiny.PEILDATUM)
K = COUNTER_ORG
SHIFT = 3
CELLS = 2
Hostile = Callable[[str, pb.LinkMessage], list[pb.LinkMessage]]


@pytest.fixture(scope="module")
def identities(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Signer], TrustStore]:
    root = tmp_path_factory.mktemp("driver")
    partners = [PartnerSetup(side.org, side.org, side.kind, "sqlite:///unused.sqlite", tiny.DATA_AS_OF,
                             [tiny.DATASET]) for side in (A, B)]
    files = build(root / "region", partners)
    signers = {}
    for org, directory in [(A.org, files.node_configs[A.org].parent), (B.org, files.node_configs[B.org].parent),
                           (K, files.root / "counter")]:
        signers[org] = Signer(load_private_key(directory / "key.pem"),
                              load_certificate((directory / "cert.pem").read_bytes()))
    trust = TrustStore.from_files(files.root / "analyst" / "ca.crt", files.crl)
    return signers, trust


def _spec(role: str, run_id: str, deadline: float, accepted: tuple[str, ...]) -> RunSpec:
    me, peer = (A, B) if role == "anchor" else (B, A)
    return RunSpec("q", run_id, role, me, peer, K, accepted, "1", "0.001", SHIFT, CELLS, b"h" * 32,
                   time.time() + deadline)


def _targets(org: str, message: pb.LinkMessage) -> list[str]:
    """Where the coordinator takes a message (coordinator/linked.py `RunRelay._targets`)."""
    which = message.WhichOneof("payload")
    if org == K:
        return [A.org, B.org] if which in ("key", "error", "outcome") else []
    peer = B.org if org == A.org else A.org
    if which in ("key", "commit", "points", "image_commit", "weighted", "error"):
        return [peer, K]
    if which == "sealed":
        return [K] if message.sealed.recipient == "counter" else [peer]
    return [K] if which == "verdict" else []


def run_three(identities, hostile: Hostile | None = None, *, run_id: str = "q:wi-1",  # type: ignore[no-untyped-def]
              replay: list[pb.LinkMessage] | None = None, accepted: tuple[str, ...] = (K,),
              deadline: float = 3.0, liar: bool = False):
    """Runs all three; returns (node verdicts, the counter's release, every message the relay saw)."""
    signers, trust = identities
    shared = [f"{100000000 + i}".encode() for i in range(6)]
    members_a = [shared[:3] + [b"a1", b"a2"], shared[3:4] + [b"a3"]]
    members_b = [shared + [b"b1", b"b2", b"b3"]]
    seen: list[tuple[str, pb.LinkMessage]] = []
    parties: dict[str, LinkDriver | CounterRun] = {}

    def sender(org: str) -> Callable[[pb.LinkMessage], None]:
        def send(message: pb.LinkMessage) -> None:
            message.sender = org
            seen.append((org, message))
            for out in (hostile(org, message) if hostile else [message]):
                for target in ([org] if out.sender == "to-self" else _targets(org, out)):
                    out.sender = org
                    parties[target].deliver(out)
        return send

    charge = lambda: (1, b"\0" * 32)
    parties[A.org] = LinkDriver(_spec("anchor", run_id, deadline, accepted), members_a, signer=signers[A.org],
                                trust=trust, pool=None, send=sender(A.org), charge=charge, chunk_points=4)
    parties[B.org] = LinkDriver(_spec("other", run_id, deadline, accepted), members_b, signer=signers[B.org],
                                trust=trust, pool=None, send=sender(B.org), charge=charge, chunk_points=4)
    spec = CounterSpec("q", run_id, K, A, B, SHIFT, CELLS, b"h" * 32, time.time() + deadline)
    parties[K] = CounterRun(spec, signer=signers[K], trust=trust, ops=group.LocalOps(), send=sender(K))
    for message in replay or []:
        parties[B.org].deliver(message)
    original = psi.OtherParty.public
    if liar:
        fake = group.mul_base(group.new_scalar())
        psi.OtherParty.public = property(lambda self: fake)  # type: ignore[assignment,method-assign]
    outcomes: dict[str, object] = {}
    try:
        threads = [threading.Thread(target=lambda o=org: outcomes.__setitem__(o, parties[o].run())) for org in parties]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    finally:
        psi.OtherParty.public = original  # type: ignore[method-assign]
    release = outcomes[K]
    assert isinstance(release, pb.CounterRelease)
    return {o: outcomes[o] for o in (A.org, B.org)}, release, seen


def test_an_honest_relay_gives_a_release_within_the_noise_bound(identities) -> None:  # type: ignore[no-untyped-def]
    verdicts, release, seen = run_three(identities)
    assert all(v.ok for v in verdicts.values()), [v.reason for v in verdicts.values()]
    assert release.ok, release.reason
    estimates = psi.estimates(release.matches, release.anchor_sizes, SHIFT)
    # the truth is (3, 2) and (1, 1); noise is bounded by the truncation at ±2T
    assert all(abs(est[0] - true[0]) <= 2 * SHIFT and abs(est[1] - true[1]) <= 2 * SHIFT
               for est, true in zip(estimates, [(3, 2), (1, 1)]))
    # the acknowledgements name exactly the lists the counter counted
    for org, message in seen:
        if message.WhichOneof("payload") == "verdict":
            ack = pb.LinkVerdict.FromString(message.verdict.payload)
            assert (ack.anchor_digest, ack.other_digest) == (release.anchor_digest, release.other_digest)


def test_nodes_never_receive_an_image_or_a_count(identities) -> None:  # type: ignore[no-untyped-def]
    """Images go sealed to the counter and the release to the analyst only."""
    _, _release, seen = run_three(identities)
    to_nodes = [(org, m) for org, m in seen for target in _targets(org, m) if target != K]
    kinds = {m.WhichOneof("payload") for _, m in to_nodes}
    assert "release" not in kinds and "outcome" in kinds
    assert all(m.sealed.step == "slots" for _, m in to_nodes if m.WhichOneof("payload") == "sealed")


def _nth(kind: str, n: int, action: Callable[[pb.LinkMessage], list[pb.LinkMessage]], sender: str = A.org) -> Hostile:
    counter = {"n": 0}

    def hostile(org: str, message: pb.LinkMessage) -> list[pb.LinkMessage]:
        if org == sender and message.WhichOneof("payload") == kind:
            counter["n"] += 1
            if counter["n"] == n:
                return action(message)
        return [message]
    return hostile


def _flip(message: pb.LinkMessage) -> list[pb.LinkMessage]:
    altered = pb.LinkMessage()
    altered.CopyFrom(message)
    part = altered.sealed if message.WhichOneof("payload") == "sealed" else altered.points
    field = "ciphertext" if message.WhichOneof("payload") == "sealed" else "points"
    raw = bytearray(getattr(part, field))
    raw[-1] ^= 1
    setattr(part, field, bytes(raw))
    return [altered]


class _Held:
    """Holds one message back and releases it after the next (a reorder)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.held: pb.LinkMessage | None = None

    def __call__(self, org: str, message: pb.LinkMessage) -> list[pb.LinkMessage]:
        if org != A.org or message.WhichOneof("payload") != self.kind:
            return [message]
        if self.held is None:
            self.held = message
            return []
        out, self.held = [message, self.held], None
        return out


ATTACKS: dict[str, Callable[[], Hostile]] = {
    "alter a sealed slot chunk": lambda: _nth("sealed", 1, _flip),
    "alter a revealed list chunk": lambda: _nth("points", 1, _flip),
    "alter a sealed image chunk": lambda: _nth("sealed", 1, _flip, sender=B.org),
    "inject a list chunk": lambda: _nth("points", 1, lambda m: [m, m]),
    "drop a list chunk": lambda: _nth("points", 2, lambda m: []),
    "drop the key": lambda: _nth("key", 1, lambda m: []),
    "drop the counter's key": lambda: _nth("key", 1, lambda m: [], sender=K),
    "drop a proof": lambda: _drop_step("proof"),
    "reorder list chunks": lambda: _Held("points"),
    "misroute a key to its sender": lambda: _nth("key", 1, lambda m: [pb.LinkMessage(run_id=m.run_id,
                                                                                     sender="to-self", key=m.key)]),
    "drop the commitment": lambda: _nth("commit", 1, lambda m: []),
    "route images to the peer": lambda: _nth("sealed", 2, lambda m: [_reroute(m)], sender=B.org),
}


def _drop_step(step: str) -> Hostile:
    def hostile(org: str, message: pb.LinkMessage) -> list[pb.LinkMessage]:
        dropped = org == B.org and message.WhichOneof("payload") == "sealed" and message.sealed.step == step
        return [] if dropped else [message]
    return hostile


def _reroute(message: pb.LinkMessage) -> pb.LinkMessage:
    altered = pb.LinkMessage()
    altered.CopyFrom(message)
    altered.sealed.recipient = "peer" if message.sealed.recipient == "counter" else "counter"
    return altered


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_a_hostile_relay_makes_the_run_fail(identities, attack: str) -> None:  # type: ignore[no-untyped-def]
    verdicts, release, _ = run_three(identities, ATTACKS[attack](), deadline=2.0)
    assert not release.ok, attack
    assert release.reason or any(not v.ok for v in verdicts.values())


def test_a_replayed_message_of_an_earlier_run_fails(identities) -> None:  # type: ignore[no-untyped-def]
    _, _, earlier = run_three(identities, run_id="q:wi-1")
    old_key = next(m for org, m in earlier if org == A.org and m.WhichOneof("payload") == "key")
    replayed = pb.LinkMessage()
    replayed.CopyFrom(old_key)
    replayed.run_id = "q2:wi-1"
    verdicts, release, _ = run_three(identities, run_id="q2:wi-1", replay=[replayed])
    assert not verdicts[B.org].ok and "another run" in verdicts[B.org].reason and not release.ok


def test_a_node_lying_about_its_public_value_is_named_by_the_counter(identities) -> None:  # type: ignore[no-untyped-def]
    """v1 caught this with phantoms; v2's counter checks every image against the key the node signed."""
    _verdicts, release, _ = run_three(identities, liar=True)
    assert not release.ok and release.culprit == B.org


def test_a_counter_the_covenant_does_not_accept_is_refused(identities) -> None:  # type: ignore[no-untyped-def]
    verdicts, release, _ = run_three(identities, accepted=("another-counter",))
    assert not verdicts[A.org].ok and "does not accept counter" in verdicts[A.org].reason
    assert not release.ok


def test_a_counter_of_the_same_legal_entity_as_a_party_is_refused(identities, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Independence is by legal entity: give the counter's and the anchor's certificates one entity."""
    monkeypatch.setattr(Identity, "legal_entity", property(lambda self: "KVK:12345678" if self.org in (K, A.org)
                                                           else f"org:{self.org}"))
    verdicts, release, _ = run_three(identities)
    assert not verdicts[B.org].ok and "same legal entity" in verdicts[B.org].reason and not release.ok


def test_lists_are_revealed_only_after_the_peers_commitment(identities) -> None:  # type: ignore[no-untyped-def]
    _, _, seen = run_three(identities)
    order = [(org, m.WhichOneof("payload")) for org, m in seen]
    for me, peer in ((A.org, B.org), (B.org, A.org)):
        assert order.index((peer, "commit")) < order.index((me, "points")) or \
            order.index((me, "commit")) < order.index((me, "points"))
        assert order.index((peer, "key")) < order.index((me, "commit"))


def test_invalid_and_repeated_bsns_never_link() -> None:
    """Every record of a BSN that appears more than once is unlinkable, and
    together they are one element (in the cell of the first record); the
    other node drops them; the anchor keeps each unlinkable element, so it
    still counts in anchor ∖ other."""
    from node.linkmembers import is_valid_bsn, prepare

    valid, repeated, broken = "123456782", "111222333", "111222334"
    assert is_valid_bsn(valid) and is_valid_bsn(repeated) and not is_valid_bsn(broken)
    assert not is_valid_bsn("12345678x")
    rows = [(repeated, "GM1"), (repeated, "GM2"), (valid, "GM2"), (broken, "GM1"), (None, "GM2")]
    other = prepare(rows, None)
    assert other.by_cell == [[valid.encode()]] and (other.invalid, other.duplicate) == (2, 2)
    anchor = prepare(rows, {("GM1",): 0, ("GM2",): 1})
    assert [len(cell) for cell in anchor.by_cell] == [2, 2]  # GM1: repeated + broken; GM2: valid + None
    items = {i for c in anchor.by_cell for i in c}
    assert valid.encode() in items and repeated.encode() not in items and broken.encode() not in items


def test_removing_one_bsn_moves_at_most_one_element() -> None:
    """The sensitivity the noise is calibrated for: take away every record of one
    BSN and at most one element of one cell changes (v1 moved up to three draws
    when a BSN appeared in several anchor rows)."""
    from node.linkmembers import Members, prepare

    def shape(members: Members) -> list[list[tuple[str, bytes]]]:
        return [sorted(("link" if len(i) == 9 else "unlinkable", i if len(i) == 9 else b"") for i in cell)
                for cell in members.by_cell]

    cells: dict[tuple[str, ...], int] = {("GM1",): 0, ("GM2",): 1}
    rows = [("111222333", "GM1"), ("111222333", "GM2"), ("111222333", "GM2"), ("123456782", "GM1"),
            ("999999990", "GM2"), ("bad", "GM1")]
    full = shape(prepare(rows, cells))
    for bsn in {r[0] for r in rows}:
        less = shape(prepare([r for r in rows if r[0] != bsn], cells))
        changed = sum(len(set(map(tuple, a)) ^ set(map(tuple, b))) for a, b in zip(full, less))
        size_change = sum(abs(len(a) - len(b)) for a, b in zip(full, less))
        assert size_change <= 1 and changed <= 1, bsn
