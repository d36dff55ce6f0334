"""The analyst's side of a linked count: resolve, sign, submit, verify, estimate.

Each side is written SET@WHO: a boolean combination of datasets
(`regiozicht/linksets.py`) at a node kind or organisation. Nothing the
coordinator says is taken on trust: each peer's run must appear exactly once,
with the counter's signed release (role counter, the org the signed query
names) and both nodes' signed acknowledgements (role node, org and kind as
the signed query names them), which must name the same lists (digests and
sizes) as the release. Estimates, intervals and shares are computed here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from analyst.client import AnalystClient, NodeInfo
from regiozicht import linknoise, linksets, psi
from regiozicht.cells import cell_list
from regiozicht.errors import AuthenticationFailed, BadQuery
from regiozicht.linkquery import LinkedQuery, LinkSide, Split, build_linked
from regiozicht.query import (
    body_hash,
    check_against_domains,
    data_as_of_refusal,
    default_peildatum,
)
from regiozicht.signed import open_signed
from regiozicht.v1 import regiozicht_pb2 as pb

LINKED_SETS = "linked-sets"  # the Describe capability of nodes that take sets in a linked query


@dataclass(frozen=True)
class LinkedCell:
    group: tuple[str, ...]
    inter: int
    inter_ci: tuple[int, int]
    only: int
    only_ci: tuple[int, int]
    share: float | None = None  # ∩ / (∩ + ∖), the share of the anchor cell found in the other set
    share_ci: tuple[float, float] = (0.0, 1.0)

    @property
    def anchor(self) -> int:
        """The estimate of the anchor cell's size, ∩ + ∖."""
        return self.inter + self.only


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    peer: str
    costs: dict[str, tuple[str, str]] = field(default_factory=dict)  # org → (ε, δ) spent
    error: str = ""
    failed_org: str = ""
    bytes_relayed: int = 0
    bytes_to_counter: int = 0


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
    """`SET@KIND` or `SET@ORG` → (set text, kind-or-org); the set may be "baan or bijstand"."""
    expression, at, who = text.rpartition("@")
    if not at or not expression.strip() or not who:
        raise BadQuery(f"{text!r} is not SET@KIND or SET@ORG; write for example vsv@rmc or \"baan or bijstand\"@wi.")
    return expression, who


def _matching(nodes: list[NodeInfo], text: str) -> tuple[linksets.Tree, list[NodeInfo]]:
    """The set and every node of that kind or org that publishes its datasets (all of them)."""
    expression, who = split_target(text)
    tree = linksets.parse(expression)
    names = linksets.datasets(tree)
    candidates = [n for n in nodes if n.org == who or n.kind == who]
    for name in names:
        if not any(n.dataset(name) is not None for n in candidates):
            raise BadQuery(f"No node of kind or organisation {who!r} publishes dataset {name!r}; "
                           "`regiozicht catalog` lists who publishes what.")
    found = [n for n in candidates if all(n.dataset(name) is not None for name in names)]
    partial = [n for n in candidates if n not in found and any(n.dataset(name) is not None for name in names)]
    if partial or not found:
        node = (partial or candidates)[0]
        missing = next(name for name in names if node.dataset(name) is None)
        # leaving out a node that holds part of the set would undercount it without a word
        raise BadQuery(f"Node {node.org} publishes some datasets of {linksets.render(tree)!r} but not {missing!r}; "
                       "name the nodes that publish all of them as SET@ORG.")
    for node in found:
        if LINKED_SETS not in node.describe.capabilities:
            raise BadQuery(f"Node {node.org} runs a version without sets in linked counts; ask its IT staff to "
                           "upgrade it before linking with it.")
    return tree, found


def _side(node: NodeInfo, tree: linksets.Tree, at: dt.date | None) -> LinkSide:
    peildatum = at or default_peildatum(node.data_as_of.date())
    if peildatum > node.data_as_of.date():
        raise data_as_of_refusal(peildatum, node.org, node.data_as_of.date())
    return LinkSide(node.org, node.kind, tree, peildatum)


def coverage_split(anchor: NodeInfo, dataset: str, peers: list[NodeInfo], by: list[str] | tuple[str, ...]
                   ) -> Split | None:
    """Coverage-aware runs, where the peers' signed Describes allow them: a dimension of the grouping
    that every peer covers (in any of its datasets) with values that no two peers share; each peer's
    run then holds only the anchor persons of its values. None where no dimension qualifies."""
    described = anchor.dataset(dataset)
    if described is None or len(peers) < 2:
        return None
    domains = {d.name: set(d.domain) for d in described.dimensions}
    for name in by:
        covered = {p.org: sorted({v for d in p.describe.datasets for c in d.coverage if c.dimension == name
                                  for v in c.values} & domains.get(name, set())) for p in peers}
        values = [v for found in covered.values() for v in found]
        if all(covered.values()) and len(values) == len(set(values)):
            return Split.of(name, covered)
    return None


def resolve_linked(nodes: list[NodeInfo], anchor: str, other: str, *, epsilon: str, delta: str, purpose: str,
                   by: list[str], where: str | None, at: dt.date | None, with_at: dt.date | None,
                   counters: list[str], counter: str | None = None, split: bool = False) -> LinkedQuery:
    """The anchor node and every node publishing the other set, from the catalog, and the counter:
    `counter` if asked for, else the first of `counters` (online, `AnalystClient.counters`) that is no party.
    `split`: run each peer only over the anchor cells it covers (`coverage_split`); refused where the
    peers' coverage does not allow it."""
    anchor_set, anchors = _matching(nodes, anchor)
    if len(anchors) > 1:
        raise BadQuery(f"{len(anchors)} nodes match {anchor!r} ({', '.join(n.org for n in anchors)}); name one as "
                       "SET@ORG.")
    node = anchors[0]
    other_set, found = _matching(nodes, other)
    peers = [n for n in found if n.org != node.org]
    if not peers:
        raise BadQuery(f"Only the anchor itself publishes {other!r}; link with another node's dataset.")
    anchor_side = _side(node, anchor_set, at)
    described = node.dataset(anchor_side.dataset)
    assert described is not None
    domains = {d.name: list(d.domain) for d in described.dimensions}
    for name in by:
        if name not in domains:
            raise BadQuery(f"Dataset {anchor_side.dataset!r} has no dimension {name!r}; `regiozicht catalog` lists "
                           "its dimensions.")
    cells = len(cell_list(domains, by))
    others = [_side(p, other_set, with_at) for p in peers]
    chosen = choose_counter(counters, [anchor_side.org, *(o.org for o in others)], counter)
    chosen_split = coverage_split(node, anchor_side.dataset, peers, by) if split else None
    if split and chosen_split is None:
        raise BadQuery(f"The nodes publishing {other!r} do not cover disjoint values of a dimension in --by "
                       f"({', '.join(by) or 'none'}); group by their covered dimension (e.g. --by gemeente) or ask "
                       "without a split.")
    query = build_linked(anchor_side, others, epsilon=epsilon, delta=delta, purpose=purpose, counter=chosen,
                         cells=cells, by=by, where=where, split=chosen_split)
    check_against_domains(query.anchor.dataset, domains, query.anchor_count())
    return query


def choose_counter(counters: list[str], query_parties: list[str], wanted: str | None) -> str:
    """The counter to name in the query: the one asked for, or the first online that is no party."""
    if wanted:
        return wanted
    free = [org for org in counters if org not in query_parties]
    if not free:
        raise BadQuery("No counter is online for linked counts; ask the region's operators to start one "
                       "(`regiozicht counter serve`), or name one with --counter.")
    return free[0]


def submit_linked(client: AnalystClient, query: LinkedQuery, groups: list[tuple[str, ...]],
                  timeout: float = 900) -> LinkedResult:
    body = query.canonical()
    query_id, response = client.submit(body, timeout=timeout)
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


def _open_release(client: AnalystClient, signed: pb.Signed, counter: str, query_id: str, run_id: str,
                  body: bytes) -> pb.CounterRelease:
    _, signer = open_signed(signed, client.trust, ("counter",))
    release = pb.CounterRelease.FromString(signed.payload)
    if signer.org != counter or release.org != counter or release.query_id != query_id or \
            release.run_id != run_id or release.body_sha256 != body_hash(body) or not release.ok:
        raise AuthenticationFailed(f"The release of run {run_id} is not counter {counter}'s for this query; the "
                                   "coordinator is misbehaving.")
    return release


def verify_linked(client: AnalystClient, query: LinkedQuery, query_id: str, body: bytes,
                  response: pb.SubmitResponse, groups: list[tuple[str, ...]]) -> LinkedResult:
    shift = linknoise.shift_for(query.epsilon_value, query.delta_value)
    outcomes, matches, sizes, peers_counted = [], [], [], []
    peers = {p.org: p for p in query.others}
    seen: set[str] = set()
    if response.WhichOneof("outcome") != "linked":
        raise AuthenticationFailed("The coordinator's response to a linked count is not a linked outcome; it runs "
                                   "another version or is misbehaving: report this to the region.")
    for run in response.linked.runs:
        peer = peers.get(run.peer_org)
        if peer is None or run.run_id != query.run_id(query_id, peer.org):
            raise AuthenticationFailed("The coordinator returned a run this query did not ask for.")
        if peer.org in seen:
            raise AuthenticationFailed(f"The coordinator returned the run with {peer.org} twice; report this to the "
                                       "region.")
        seen.add(peer.org)
        if run.HasField("error"):
            outcomes.append(RunOutcome(run.run_id, peer.org, error=run.error.message, failed_org=run.failed_org,
                                       bytes_relayed=run.bytes_relayed))
            continue
        a = _open_verdict(client, run.anchor_verdict, query.anchor, "anchor", query_id, run.run_id, body)
        b = _open_verdict(client, run.other_verdict, peer, "other", query_id, run.run_id, body)
        release = _open_release(client, run.release, query.counter, query_id, run.run_id, body)
        lists = [(v.anchor_digest, v.other_digest, list(v.anchor_sizes), v.other_size, v.counter) for v in (a, b)]
        counted = (release.anchor_digest, release.other_digest, list(release.anchor_sizes), release.other_size,
                   query.counter)
        if not (a.ok and b.ok) or lists[0] != counted or lists[1] != counted or a.shift != shift \
                or b.shift != shift or release.shift != shift or len(release.matches) != len(release.anchor_sizes):
            raise AuthenticationFailed(f"The nodes' signed acknowledgements of run {run.run_id} disagree with each "
                                       "other or with the counter's release; report this to the region.")
        matches.append(list(release.matches))
        sizes.append([size - psi.slot_offset(shift) for size in release.anchor_sizes])
        peers_counted.append(peer.org)
        outcomes.append(RunOutcome(run.run_id, peer.org, {a.org: (a.epsilon, a.delta), b.org: (b.epsilon, b.delta)},
                                   bytes_relayed=run.bytes_relayed, bytes_to_counter=run.bytes_to_counter))
    if len(outcomes) != len(query.others):
        raise AuthenticationFailed("The coordinator left out runs of this query; report this to the region.")
    if query.split is not None:
        return LinkedResult(query, query_id, _split_cells(query, query.split, groups,
                                                          dict(zip(peers_counted, zip(matches, sizes))), shift),
                            outcomes)
    return LinkedResult(query, query_id, _cells(query, groups, matches, sizes, shift), outcomes)


def _cells(query: LinkedQuery, groups: list[tuple[str, ...]], matches: list[list[int]], sizes: list[list[int]],
           shift: int) -> list[LinkedCell]:
    if not matches:
        return []
    if any(len(m) != len(groups) for m in matches):
        raise AuthenticationFailed("The nodes counted another number of cells than the anchor publishes; "
                                   "report this to the region.")
    runs, epsilon = len(matches), query.epsilon_value
    width = linknoise.linked_half_width(epsilon, shift, runs)
    cells = []
    for group, (inter, only) in zip(groups, linknoise.linked_estimates(matches, sizes, shift)):
        share_ci = linknoise.share_interval(inter, inter + only, epsilon, shift, runs)
        cells.append(LinkedCell(group, inter, (inter - width, inter + width), only, (only - width, only + width),
                                linknoise.share_estimate(inter, inter + only), share_ci))
    return cells


def _split_cells(query: LinkedQuery, split: Split, groups: list[tuple[str, ...]],
                 runs: dict[str, tuple[list[int], list[int]]], shift: int) -> list[LinkedCell]:
    """A split query's cells: each from the one run holding its persons (a cell whose value no peer
    covers, such as `onbekend`, was in no run and has no estimate)."""
    if any(len(m) != len(groups) for m, _ in runs.values()):
        raise AuthenticationFailed("The nodes counted another number of cells than the anchor publishes; "
                                   "report this to the region.")
    epsilon, index = query.epsilon_value, query.by.index(split.dimension)
    width = linknoise.linked_half_width(epsilon, shift, 1)
    cells = []
    for position, group in enumerate(groups):
        peer = split.run_of(group[index])
        if peer is None or peer not in runs:
            continue
        matches, sizes = runs[peer]
        (inter, only), = linknoise.linked_estimates([[matches[position]]], [[sizes[position]]], shift)
        share_ci = linknoise.share_interval(inter, inter + only, epsilon, shift, 1)
        cells.append(LinkedCell(group, inter, (inter - width, inter + width), only, (only - width, only + width),
                                linknoise.share_estimate(inter, inter + only), share_ci))
    return cells


def anchor_cells(nodes: list[NodeInfo], query: LinkedQuery) -> list[tuple[str, ...]]:
    """The anchor's cells in its node's order: every value of the public domain, then `onbekend`."""
    node = next(n for n in nodes if n.org == query.anchor.org)
    described = node.dataset(query.anchor.dataset)
    assert described is not None
    return cell_list({d.name: list(d.domain) for d in described.dimensions}, query.by)


def expected_linked_half_width(query: LinkedQuery) -> int:
    runs = 1 if query.split is not None else len(query.others)  # a split cell comes from one run
    return linknoise.linked_half_width(query.epsilon_value, linknoise.shift_for(query.epsilon_value,
                                                                               query.delta_value), runs)
