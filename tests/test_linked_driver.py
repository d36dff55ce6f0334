"""Two run drivers in one process, joined by a relay the test controls: a
relay that alters, injects, drops, reorders, replays or misroutes a message
makes the run fail, and a peer that lies about its public value is caught."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from demo.region import PartnerSetup, build
from node.linked import LinkDriver, RunSpec
from regiozicht import group, psi
from regiozicht.linkquery import LinkSide
from regiozicht.pki import TrustStore, load_certificate, load_private_key
from regiozicht.signed import Signer
from regiozicht.v1 import regiozicht_pb2 as pb
from tests import tiny

A = LinkSide.of("rmc-1", "rmc", "vsv", tiny.PEILDATUM)
B = LinkSide.of("wi-1", "wi", "bijstand", tiny.PEILDATUM)
SHIFT = 3
Hostile = Callable[[str, pb.LinkMessage], list[pb.LinkMessage]]


@pytest.fixture(scope="module")
def identities(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Signer], TrustStore]:
    root = tmp_path_factory.mktemp("driver")
    partners = [PartnerSetup(side.org, side.org, side.kind, "sqlite:///unused.sqlite", tiny.DATA_AS_OF,
                             [tiny.DATASET]) for side in (A, B)]
    files = build(root / "region", partners)
    signers = {}
    for side in (A, B):
        directory = files.node_configs[side.org].parent
        signers[side.org] = Signer(load_private_key(directory / "key.pem"),
                                   load_certificate((directory / "cert.pem").read_bytes()))
    trust = TrustStore.from_files(files.ca_dir / "ca.crt" if (files.ca_dir / "ca.crt").exists()
                                  else files.root / "analyst" / "ca.crt", files.crl)
    return signers, trust


def _spec(role: str, run_id: str = "q:wi-1", deadline: float = 2.0) -> RunSpec:
    me, peer = (A, B) if role == "anchor" else (B, A)
    return RunSpec("q", run_id, role, me, peer, "1", "0.001", SHIFT, 2 if role == "anchor" else 0, b"h" * 32,
                   time.time() + deadline)


def run_pair(identities, hostile: Hostile | None = None, *, liar: bool = False,  # type: ignore[no-untyped-def]
             run_id: str = "q:wi-1", replay: list[pb.LinkMessage] | None = None):
    """Runs both drivers; returns their verdicts and every message the relay saw."""
    signers, trust = identities
    shared = [f"{100000000 + i}".encode() for i in range(6)]
    members_a = [shared[:3] + [b"a1", b"a2"], shared[3:4] + [b"a3"]]
    members_b = [shared + [b"b1", b"b2", b"b3"]]
    seen: list[tuple[str, pb.LinkMessage]] = []
    drivers: dict[str, LinkDriver] = {}

    def sender(org: str) -> Callable[[pb.LinkMessage], None]:
        def send(message: pb.LinkMessage) -> None:
            seen.append((org, message))
            if message.WhichOneof("payload") == "verdict":
                return
            peer = B.org if org == A.org else A.org
            for out in (hostile(org, message) if hostile else [message]):
                drivers[org if out.sender == "to-self" else peer].deliver(out)
        return send

    charge = lambda: (1, b"\0" * 32)  # noqa: E731
    drivers[A.org] = LinkDriver(_spec("anchor", run_id), members_a, signer=signers[A.org], trust=trust,
                                ops=psi.LocalOps(), send=sender(A.org), charge=charge, chunk_points=4)
    drivers[B.org] = LinkDriver(_spec("other", run_id), members_b, signer=signers[B.org], trust=trust,
                                ops=psi.LocalOps(), send=sender(B.org), charge=charge, chunk_points=4)
    for message in replay or []:
        drivers[B.org].deliver(message)
    if liar:
        fake = group.raise_base_by(group.base_point(), [group.new_scalar()])[0]
        original = psi.OtherRun.public
        psi.OtherRun.public = property(lambda self: fake)  # type: ignore[assignment,method-assign]
    verdicts: dict[str, pb.LinkVerdict] = {}
    try:
        threads = [threading.Thread(target=lambda o=org: verdicts.__setitem__(o, drivers[o].run())) for org in drivers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    finally:
        if liar:
            psi.OtherRun.public = original  # type: ignore[method-assign]
    return verdicts, seen


def test_an_honest_relay_gives_both_nodes_the_same_count(identities) -> None:  # type: ignore[no-untyped-def]
    verdicts, _ = run_pair(identities)
    a, b = verdicts[A.org], verdicts[B.org]
    assert a.ok and b.ok, (a.reason, b.reason)
    assert list(a.matches) == list(b.matches) and list(a.anchor_sizes) == list(b.anchor_sizes)
    estimates = psi.estimates(a.matches, a.anchor_sizes, SHIFT)
    # the truth is (3, 2) and (1, 1); noise is bounded by the truncation at ±2T
    assert all(abs(est[0] - true[0]) <= 2 * SHIFT and abs(est[1] - true[1]) <= 2 * SHIFT
               for est, true in zip(estimates, [(3, 2), (1, 1)]))


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
    part = altered.chunk if message.WhichOneof("payload") == "chunk" else altered.z_chunk
    field = "sealed" if message.WhichOneof("payload") == "chunk" else "points"
    raw = bytearray(getattr(part, field))
    raw[-1] ^= 1
    setattr(part, field, bytes(raw))
    return [altered]


class _Held:
    """Holds one message back and releases it after the next (a reorder)."""

    def __init__(self) -> None:
        self.held: pb.LinkMessage | None = None

    def __call__(self, org: str, message: pb.LinkMessage) -> list[pb.LinkMessage]:
        if org != A.org or message.WhichOneof("payload") != "chunk":
            return [message]
        if self.held is None:
            self.held = message
            return []
        out, self.held = [message, self.held], None
        return out


ATTACKS: dict[str, Hostile] = {
    "alter a list chunk": _nth("chunk", 1, _flip),
    "alter a Z chunk": _nth("z_chunk", 1, _flip, sender=B.org),
    "inject a chunk": _nth("chunk", 1, lambda m: [m, m]),
    "drop a chunk": _nth("chunk", 2, lambda m: []),
    "drop the key": _nth("key", 1, lambda m: []),
    "reorder chunks": _Held(),
    "misroute to its sender": _nth("key", 1, lambda m: [pb.LinkMessage(run_id=m.run_id, sender="to-self",
                                                                        key=m.key)]),
    "swap the announce for a chunk": _nth("announce", 1, lambda m: []),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_a_hostile_relay_makes_the_run_fail(identities, attack: str) -> None:  # type: ignore[no-untyped-def]
    verdicts, _ = run_pair(identities, ATTACKS[attack])
    assert not (verdicts[A.org].ok and verdicts[B.org].ok), attack
    assert any(v.reason for v in verdicts.values())


def test_a_replayed_message_of_an_earlier_run_fails(identities) -> None:  # type: ignore[no-untyped-def]
    _, earlier = run_pair(identities, run_id="q:wi-1")
    old_key = next(m for org, m in earlier if org == A.org and m.WhichOneof("payload") == "key")
    replayed = pb.LinkMessage()
    replayed.CopyFrom(old_key)
    replayed.run_id = "q2:wi-1"
    verdicts, _ = run_pair(identities, run_id="q2:wi-1", replay=[replayed])
    assert not verdicts[B.org].ok and "another run" in verdicts[B.org].reason


def test_a_peer_lying_about_its_public_value_is_caught_by_the_phantom_check(identities) -> None:  # type: ignore[no-untyped-def]
    verdicts, _ = run_pair(identities, liar=True)
    assert not verdicts[A.org].ok and "phantoms" in verdicts[A.org].reason


def test_lists_go_out_only_after_the_peers_key_and_z_only_after_the_whole_list(identities) -> None:  # type: ignore[no-untyped-def]
    _, seen = run_pair(identities)
    order = [(org, m.WhichOneof("payload")) for org, m in seen]
    for me, peer in ((A.org, B.org), (B.org, A.org)):
        first_chunk = order.index((me, "chunk"))
        first_z = order.index((me, "z_chunk"))
        assert order.index((peer, "key")) < first_chunk
        last_peer_chunk = max(i for i, item in enumerate(order) if item == (peer, "chunk"))
        assert last_peer_chunk < first_z


def test_invalid_and_duplicate_bsns_never_link() -> None:
    """The other node drops them; the anchor keeps each as an element nobody can
    match, so the person still counts in anchor ∖ other."""
    from node.linkmembers import is_valid_bsn, prepare

    valid, broken = "111222333", "111222334"
    assert is_valid_bsn(valid) and not is_valid_bsn(broken) and not is_valid_bsn("12345678x")
    rows = [(valid, "GM1"), (valid, "GM2"), (broken, "GM1"), (None, "GM2")]
    other = prepare(rows, None)
    assert other.by_cell == [[valid.encode()]] and (other.invalid, other.duplicate) == (2, 1)
    anchor = prepare(rows, {("GM1",): 0, ("GM2",): 1})
    assert [len(cell) for cell in anchor.by_cell] == [2, 2]
    linkable = [item for cell in anchor.by_cell for item in cell if item == valid.encode()]
    assert len(linkable) == 1 and broken.encode() not in {i for c in anchor.by_cell for i in c}
