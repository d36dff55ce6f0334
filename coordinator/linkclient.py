"""The analyst's side of a linked count: resolve, sign, submit, verify, estimate.

Nothing the coordinator says is taken on trust: each run needs both nodes'
signed verdicts (role node, org and kind as the signed query names them),
both ok, with identical matches, sizes and shift — equal to the
coordinator's own count. Estimates and intervals are computed here.
"""

from __future__ import annotations

import datetime as dt
import itertools
import time
from dataclasses import dataclass, field

from coordinator.client import EXPIRY_SECONDS, AnalystClient, NodeInfo
from regiozicht import linknoise
from regiozicht.errors import AuthenticationFailed, BadQuery
from regiozicht.linkquery import LinkedQuery, LinkSide, build_linked
from regiozicht.query import ONBEKEND, MAX_EXPIRY_SECONDS, body_hash, check_against_domains, default_peildatum, new_query_id
from regiozicht.signed import open_signed
from regiozicht.v1 import regiozicht_pb2 as pb


@dataclass(frozen=True)
class LinkedCell:
    group: tuple[str, ...]
    inter: int
    inter_ci: tuple[int, int]
    only: int
    only_ci: tuple[int, int]


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    peer: str
    costs: dict[str, tuple[str, str]] = field(default_factory=dict)  # org → (ε, δ) spent
    error: str = ""
    failed_org: str = ""
    bytes_relayed: int = 0


@dataclass(frozen=True)
class LinkedResult:
    query: LinkedQuery
    query_id: str
    cells: list[LinkedCell]
    runs: list[RunOutcome]

    @property
    def failures(self) -> list[RunOutcome]:
        return [r for r in self.runs if r.error]


def split_target(text: str) -> tuple[str, str]:
    """`DATASET@KIND` or `DATASET@ORG` → (dataset, kind-or-org)."""
    dataset, at, who = text.partition("@")
    if not at or not dataset or not who:
        raise BadQuery(f"{text!r} is not DATASET@KIND or DATASET@ORG; write for example vsv@rmc.")
    return dataset, who


def _matching(nodes: list[NodeInfo], text: str) -> list[NodeInfo]:
    dataset, who = split_target(text)
    found = [n for n in nodes if (n.org == who or n.kind == who) and n.dataset(dataset) is not None]
    if not found:
        raise BadQuery(f"No node of kind or organisation {who!r} publishes dataset {dataset!r}; "
                       "`regiozicht catalog` lists who publishes what.")
    return found


def _side(node: NodeInfo, dataset: str, at: dt.date | None) -> LinkSide:
    peildatum = at or default_peildatum(node.data_as_of.date())
    if peildatum > node.data_as_of.date():
        raise BadQuery(f"Reference date {peildatum} is after {node.org}'s data-as-of date {node.data_as_of.date()}; "
                       "choose an earlier date.")
    return LinkSide(node.org, node.kind, dataset, peildatum)


def resolve_linked(nodes: list[NodeInfo], anchor: str, other: str, *, epsilon: str, delta: str, purpose: str,
                   by: list[str], where: str | None, at: dt.date | None, with_at: dt.date | None) -> LinkedQuery:
    """The anchor node and every node publishing the other dataset, from the catalog."""
    anchors = _matching(nodes, anchor)
    if len(anchors) > 1:
        raise BadQuery(f"{len(anchors)} nodes match {anchor!r} ({', '.join(n.org for n in anchors)}); name one as "
                       "DATASET@ORG.")
    node = anchors[0]
    peers = [n for n in _matching(nodes, other) if n.org != node.org]
    if not peers:
        raise BadQuery(f"Only the anchor itself publishes {other!r}; link with another node's dataset.")
    other_dataset = split_target(other)[0]
    query = build_linked(_side(node, split_target(anchor)[0], at),
                         [_side(p, other_dataset, with_at) for p in peers],
                         epsilon=epsilon, delta=delta, purpose=purpose, by=by, where=where)
    described = node.dataset(query.anchor.dataset)
    assert described is not None
    check_against_domains(query.anchor.dataset, {d.name: list(d.domain) for d in described.dimensions},
                          query.anchor_count())
    return query


def submit_linked(client: AnalystClient, query: LinkedQuery, groups: list[tuple[str, ...]],
                  timeout: float = 900) -> LinkedResult:
    query_id = new_query_id()
    body = query.canonical()
    now = int(time.time())
    envelope = pb.QueryEnvelope(body=body, query_id=query_id, issued_at_unix=now,
                                expires_at_unix=now + min(EXPIRY_SECONDS, MAX_EXPIRY_SECONDS))
    signed = client.signer.sign(envelope.SerializeToString())
    response = client._call("Submit", pb.SubmitRequest(envelope=signed), timeout)
    assert isinstance(response, pb.SubmitResponse)
    return verify_linked(client, query, query_id, body, response, groups)


def _open_verdict(client: AnalystClient, signed: pb.Signed, side: LinkSide, role: str, query_id: str,
                  run_id: str, body: bytes) -> pb.LinkVerdict:
    _, signer = open_signed(signed, client.trust, ("node",))
    verdict = pb.LinkVerdict.FromString(signed.payload)
    if (signer.org, signer.kind) != (side.org, side.kind) or verdict.org != side.org or verdict.role != role \
            or verdict.query_id != query_id or verdict.run_id != run_id or verdict.body_sha256 != body_hash(body):
        raise AuthenticationFailed(f"A verdict of run {run_id} is not {side.org}'s for this query; the coordinator "
                                   "is misbehaving.")
    return verdict


def verify_linked(client: AnalystClient, query: LinkedQuery, query_id: str, body: bytes,
                  response: pb.SubmitResponse, groups: list[tuple[str, ...]]) -> LinkedResult:
    shift = linknoise.shift_for(query.epsilon_value, query.delta_value)
    outcomes, matches, sizes = [], [], []
    peers = {p.org: p for p in query.others}
    for run in response.runs:
        peer = peers.get(run.peer_org)
        if peer is None or run.run_id != query.run_id(query_id, peer.org):
            raise AuthenticationFailed("The coordinator returned a run this query did not ask for.")
        if run.HasField("error"):
            outcomes.append(RunOutcome(run.run_id, peer.org, error=run.error.message, failed_org=run.failed_org,
                                       bytes_relayed=run.bytes_relayed))
            continue
        a = _open_verdict(client, run.anchor_verdict, query.anchor, "anchor", query_id, run.run_id, body)
        b = _open_verdict(client, run.other_verdict, peer, "other", query_id, run.run_id, body)
        if not (a.ok and b.ok) or list(a.matches) != list(b.matches) or list(a.anchor_sizes) != list(b.anchor_sizes) \
                or a.shift != shift or b.shift != shift or list(run.matches) != list(a.matches):
            raise AuthenticationFailed(f"The nodes' signed verdicts of run {run.run_id} disagree with each other or "
                                       "with the coordinator; report this to the region.")
        matches.append(list(a.matches))
        sizes.append(list(a.anchor_sizes))
        outcomes.append(RunOutcome(run.run_id, peer.org, {a.org: (a.epsilon, a.delta), b.org: (b.epsilon, b.delta)},
                                   bytes_relayed=run.bytes_relayed))
    if len(outcomes) != len(query.others):
        raise AuthenticationFailed("The coordinator left out runs of this query; report this to the region.")
    return LinkedResult(query, query_id, _cells(query, groups, matches, sizes, shift), outcomes)


def _cells(query: LinkedQuery, groups: list[tuple[str, ...]], matches: list[list[int]], sizes: list[list[int]],
           shift: int) -> list[LinkedCell]:
    if not matches:
        return []
    if any(len(m) != len(groups) for m in matches):
        raise AuthenticationFailed("The nodes counted another number of cells than the anchor publishes; "
                                   "report this to the region.")
    width = linknoise.linked_half_width(query.epsilon_value, shift, len(matches))
    return [LinkedCell(group, inter, (inter - width, inter + width), only, (only - width, only + width))
            for group, (inter, only) in zip(groups, linknoise.linked_estimates(matches, sizes, shift))]


def anchor_cells(nodes: list[NodeInfo], query: LinkedQuery) -> list[tuple[str, ...]]:
    """The anchor's cells in its node's order: every value of the public domain, then `onbekend`."""
    node = next(n for n in nodes if n.org == query.anchor.org)
    described = node.dataset(query.anchor.dataset)
    assert described is not None
    domains = {d.name: (*d.domain, ONBEKEND) for d in described.dimensions}
    return [tuple(c) for c in itertools.product(*(domains[name] for name in query.by))]


def expected_linked_half_width(query: LinkedQuery) -> int:
    return linknoise.linked_half_width(query.epsilon_value, linknoise.shift_for(query.epsilon_value,
                                                                               query.delta_value), len(query.others))
