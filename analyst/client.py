"""The analyst's side: sign queries, submit them, verify every answer.

Nothing the coordinator says is taken on trust: each node's answer is
checked against the regional CA, the signed query id and body hash, and the
sum is recomputed here and compared with the coordinator's.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from pydantic import Field

from regiozicht import dp, rpc
from regiozicht.bindings import DatasetBindings
from regiozicht.cells import cell_list, covered_cell_list
from regiozicht.combine import sum_cells
from regiozicht.errors import AuthenticationFailed, BadQuery
from regiozicht.identity import Identity
from regiozicht.pemfiles import load_certificate, load_private_key
from regiozicht.query import (
    MAX_EXPIRY_SECONDS,
    CountQuery,
    body_hash,
    check_against_domains,
    data_as_of_refusal,
    default_peildatum,
    new_query_id,
)
from regiozicht.signed import Signer, open_signed
from regiozicht.tomlconfig import ConfigPath, Frozen, load_model
from regiozicht.truststore import TrustStore
from regiozicht.v1 import regiozicht_pb2 as pb
from regiozicht.v1 import regiozicht_pb2_grpc as pb_grpc

DEFAULT_PROFILE = Path("~/.config/regiozicht/profile.toml").expanduser()
EXPIRY_SECONDS = 10 * 60


class Profile(Frozen):
    """`profile.toml`: where the coordinator is and who the analyst is."""

    coordinator: str = Field(description="host:port of the region's coordinator.")
    server_name: str | None = Field(None, description="Name to check in the coordinator's certificate, if not the host.")
    ca: ConfigPath = Field(description="The regional CA certificate (PEM).")
    certificate: ConfigPath = Field(description="The analyst's certificate (PEM).")
    key: ConfigPath = Field(description="The analyst's private key (PEM, 0600).")
    datasets: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Dataset name → the partner kinds or orgs whose answers this analyst sums; adds to or "
                    "replaces the standard table (regiozicht/bindings.py), checked against each node's certificate.")

    @classmethod
    def load(cls, path: Path | None) -> Profile:
        return load_model(cls, path or DEFAULT_PROFILE, "analyst profile", "regiozicht catalog")


@dataclass(frozen=True)
class NodeInfo:
    org: str
    kind: str
    online: bool
    describe: pb.Describe  # without the datasets left out (`left_out`)
    left_out: tuple[tuple[str, str], ...] = ()  # (dataset, why) the node lists but may not publish
    entry: pb.CatalogEntry | None = None  # the coordinator's unsigned view of the node (status)

    @property
    def data_as_of(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.describe.data_as_of)

    def dataset(self, name: str) -> pb.Dataset | None:
        return next((d for d in self.describe.datasets if d.name == name), None)

    def coverage(self, name: str) -> dict[str, list[str]]:
        """The values of each dimension of dataset `name` this node covers (none: it covers every value)."""
        dataset = self.dataset(name)
        return {} if dataset is None else {c.dimension: list(c.values) for c in dataset.coverage}

    def count_cells(self, name: str, by: tuple[str, ...]) -> list[tuple[str, ...]]:
        """The cells this node answers for a count of dataset `name` grouped `by`."""
        dataset = self.dataset(name)
        assert dataset is not None
        return covered_cell_list({d.name: list(d.domain) for d in dataset.dimensions}, by, self.coverage(name))


@dataclass(frozen=True)
class CellResult:
    group: tuple[str, ...]
    value: int
    ci_low: float
    ci_high: float
    suppressed: bool = False


@dataclass(frozen=True)
class NodeOutcome:
    org: str
    kind: str
    epsilon: str = ""
    from_store: bool = False
    error_kind: str = ""
    error: str = ""


@dataclass(frozen=True)
class CountResult:
    query: CountQuery
    query_id: str
    cells: list[CellResult]
    nodes: list[NodeOutcome] = field(default_factory=list)
    noise_scales: list[float] = field(default_factory=list)

    @property
    def failures(self) -> list[NodeOutcome]:
        return [n for n in self.nodes if n.error]


class AnalystClient:
    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        ca = rpc.read(profile.ca, "CA certificate")
        certificate = rpc.read(profile.certificate, "analyst certificate")
        self.trust = TrustStore(load_certificate(ca))
        self.signer = Signer(load_private_key(profile.key), load_certificate(certificate))
        # refuse early, with a clear reason, what the coordinator's TLS would refuse silently
        self.identity = self.trust.verify(self.signer.certificate)
        options = list(rpc.CHANNEL_OPTIONS)
        if profile.server_name:
            options.append(("grpc.ssl_target_name_override", profile.server_name))
        self.channel = grpc.secure_channel(
            profile.coordinator,
            rpc.channel_credentials(ca, certificate, rpc.read(profile.key, "analyst key")),
            options=options,
        )
        self.stub = pb_grpc.CoordinatorStub(self.channel)
        # which kinds or orgs may publish a dataset: the analyst's own table, never the coordinator's
        self.bindings = DatasetBindings.with_overrides(profile.datasets, "the profile")

    def close(self) -> None:
        self.channel.close()

    def _catalog(self) -> pb.CatalogResponse:
        try:
            response: pb.CatalogResponse = self.stub.Catalog(pb.CatalogRequest(), timeout=30)
            return response
        except grpc.RpcError as exc:
            raise rpc.error_from_rpc(exc) from None

    def submit(self, body: bytes, *, refresh: bool = False, timeout: float = 120) -> tuple[str, pb.SubmitResponse]:
        """Signs any signable query body in a fresh envelope (new id, short expiry) and submits it;
        (the query id, the coordinator's unverified response). Count and linked verify on top."""
        query_id = new_query_id()
        now = int(time.time())
        envelope = pb.QueryEnvelope(body=body, query_id=query_id, issued_at_unix=now,
                                    expires_at_unix=now + min(EXPIRY_SECONDS, MAX_EXPIRY_SECONDS), refresh=refresh)
        signed = self.signer.sign(envelope.SerializeToString())
        try:
            return query_id, self.stub.Submit(pb.SubmitRequest(envelope=signed), timeout=timeout)
        except grpc.RpcError as exc:
            raise rpc.error_from_rpc(exc) from None

    def catalog(self) -> list[NodeInfo]:
        """Every node the coordinator knows, each Describe verified against the CA."""
        response = self._catalog()
        nodes = []
        for entry in response.nodes:
            payload, signer = open_signed(entry.describe, self.trust, ("node",))
            describe = pb.Describe()
            describe.ParseFromString(payload)
            if signer.org != describe.org or signer.org != entry.org:
                raise AuthenticationFailed(f"The catalog entry for {entry.org} is signed by {signer}; the coordinator is misbehaving.")
            left_out = self._left_out(describe, signer, set(entry.unbound_datasets))
            if left_out:
                names = {name for name, _ in left_out}
                kept = [d for d in describe.datasets if d.name not in names]
                del describe.datasets[:]
                describe.datasets.extend(kept)
            nodes.append(NodeInfo(entry.org, signer.kind or "", entry.online, describe, left_out, entry))
        return nodes

    def _left_out(self, describe: pb.Describe, signer: Identity, unbound: set[str]) -> tuple[tuple[str, str], ...]:
        """The datasets of a node's Describe not summed: unbound by the profile (the kind from the
        node's certificate) or by the coordinator's config."""
        out = []
        for dataset in describe.datasets:
            reason = self.bindings.refusal(dataset.name, signer.org, signer.kind or "")
            if reason is None and dataset.name in unbound:
                reason = f"the coordinator's config does not bind dataset {dataset.name} to {signer.org}"
            if reason is not None:
                out.append((dataset.name, reason))
        return tuple(out)

    def counters(self) -> list[str]:
        """The linked-count counters online, each CounterHello verified against the CA (role counter)."""
        response = self._catalog()
        found = []
        for entry in response.counters:
            _, signer = open_signed(entry.describe, self.trust, ("counter",))
            if signer.org != entry.org or pb.CounterHello.FromString(entry.describe.payload).org != entry.org:
                raise AuthenticationFailed(f"The catalog entry for counter {entry.org} is signed by {signer}; the "
                                           "coordinator is misbehaving.")
            found.append(entry.org)
        return found

    def publishers(self, dataset: str, nodes: list[NodeInfo] | None = None) -> list[NodeInfo]:
        nodes = self.catalog() if nodes is None else nodes
        found = [n for n in nodes if n.dataset(dataset) is not None]
        if not found:
            raise BadQuery(f"No node publishes dataset {dataset!r}; `regiozicht catalog` lists the datasets.")
        return found

    def resolve_peildatum(self, dataset: str, at: dt.date | None, nodes: list[NodeInfo] | None = None) -> dt.date:
        """The given date, or the latest 1 October on or before every publisher's data-as-of."""
        if at is not None:
            return at
        return default_peildatum(min(n.data_as_of.date() for n in self.publishers(dataset, nodes)))

    def check(self, query: CountQuery, publishers: list[NodeInfo]) -> None:
        """Refuses, before signing, what every publisher's Describe rules out."""
        for node in publishers:
            dataset = node.dataset(query.dataset)
            assert dataset is not None
            check_against_domains(query.dataset, {d.name: list(d.domain) for d in dataset.dimensions}, query)
            if query.peildatum > node.data_as_of.date():
                raise data_as_of_refusal(query.peildatum, node.org, node.data_as_of.date())

    def count(self, query: CountQuery, *, refresh: bool = False, timeout: float = 120,
              publishers: list[NodeInfo] | None = None) -> CountResult:
        """Signs, submits and verifies one count. `publishers`: the signed catalog's publishers of the
        dataset (read from the catalog when not given); each must have answered or be named missing."""
        expected = publishers if publishers is not None else self.publishers(query.dataset)
        body = query.canonical()
        query_id, response = self.submit(body, refresh=refresh, timeout=timeout)
        return self._verify(query, query_id, body, response, expected)

    def _verify(self, query: CountQuery, query_id: str, body: bytes, response: pb.SubmitResponse,
                publishers: list[NodeInfo]) -> CountResult:
        """Each answer, and the set: every signer once, each answer its signer's, every publisher of
        the signed catalog answered or named as missing (a coordinator may lie, drop or duplicate)."""
        if response.WhichOneof("outcome") != "count":
            raise AuthenticationFailed("The coordinator's response to a count is not a count's outcome; it runs another "
                                       "version or is misbehaving: report this to the region.")
        answers: list[pb.Answer] = []
        outcomes = []
        seen: set[str] = set()
        left_out = 0
        for result in response.count.results:
            if result.HasField("answer"):
                payload, signer = open_signed(result.answer, self.trust, ("node",))
                answer = pb.Answer()
                answer.ParseFromString(payload)
                if answer.query_id != query_id or answer.body_sha256 != body_hash(body) or answer.org != signer.org \
                        or answer.kind != (signer.kind or "") or result.org != signer.org:
                    raise AuthenticationFailed(f"The answer signed by {signer} is not its answer to this query; the "
                                               "coordinator is misbehaving.")
                org = signer.org
            else:
                org = result.org
            if org in seen:
                raise AuthenticationFailed(f"The coordinator returned node {org}'s result twice; report this to the "
                                           "region.")
            seen.add(org)
            if not result.HasField("answer"):
                outcomes.append(NodeOutcome(result.org, result.kind, error_kind=result.error.kind, error=result.error.message))
                continue
            unbound = self.bindings.refusal(query.dataset, signer.org, signer.kind or "")
            if unbound is not None:  # a coordinator may pass on any node's answer: sum only bound publishers
                left_out += 1
                outcomes.append(NodeOutcome(signer.org, signer.kind or "", error_kind="PermissionDenied",
                                            error=f"Not summed: {unbound} in your profile."))
                continue
            node = next((n for n in publishers if n.org == org), None)
            if node is not None and [tuple(c.group) for c in answer.cells] != node.count_cells(query.dataset, query.by):
                raise AuthenticationFailed(f"Node {org} answered other cells than its signed Describe covers; report "
                                           "this to the region.")
            answers.append(answer)
            outcomes.append(NodeOutcome(signer.org, signer.kind or "", epsilon=answer.epsilon, from_store=answer.from_store))
        for node in publishers:
            if node.org not in seen:  # left out without a word: named as missing, never silently summed away
                outcomes.append(NodeOutcome(node.org, node.kind, error_kind="Unavailable",
                                            error=f"The coordinator returned nothing for node {node.org}, which the "
                                                  "catalog lists as publishing this dataset."))
        cells = sum_cells(answers, _order(publishers, query))
        ours = sorted((tuple(c.group), c.value, c.suppressed) for c in cells)
        theirs = sorted((tuple(c.group), c.value, c.suppressed) for c in response.count.combined)
        if answers and not left_out and ours != theirs:
            raise AuthenticationFailed("The coordinator's sum differs from the nodes' signed answers; report this to the region.")
        return CountResult(
            query=query, query_id=query_id, nodes=outcomes, noise_scales=[a.noise_scale for a in answers],
            cells=[CellResult(tuple(c.group), c.value, c.ci_low, c.ci_high, c.suppressed) for c in cells],
        )


def _order(publishers: list[NodeInfo], query: CountQuery) -> list[tuple[str, ...]] | None:
    """Every cell of the dataset in its order, from a publisher's signed Describe."""
    dataset = publishers[0].dataset(query.dataset) if publishers else None
    if dataset is None:
        return None
    return cell_list({d.name: list(d.domain) for d in dataset.dimensions}, query.by)


@dataclass(frozen=True)
class ShareCell:
    group: tuple[str, ...]
    numerator: int
    denominator: int
    share: float | None
    ci_low: float
    ci_high: float


def share_cells(numerator: CountResult, denominator: CountResult, level: float = dp.CI_LEVEL) -> list[ShareCell]:
    """Ratios of two DP counts with an interval from both noises.

    Each count gets a (1 − α/2) interval from its own noise (exact
    convolution over its nodes); the ratio's interval is the ratio of the
    extremes, clipped to [0, 1]. Both intervals hold together with
    probability ≥ 1 − α (Bonferroni), so the share's interval covers at ≥ level.
    """
    alpha = 1 - level
    widths = [dp.sum_half_width(result.noise_scales, 1 - alpha / 2) for result in (numerator, denominator)]
    if numerator.query.by != denominator.query.by:
        raise BadQuery("The numerator and denominator have different cells; group both by the same dimensions.")
    denominators = {cell.group: cell for cell in denominator.cells}
    cells = []
    for num in numerator.cells:
        den = denominators.get(num.group)
        if den is None:  # a cell no publisher of the denominator covers (e.g. `onbekend`) has no share
            continue
        n_low, n_high = max(0, num.value - widths[0]), max(0, num.value + widths[0])
        d_low, d_high = max(0, den.value - widths[1]), max(0, den.value + widths[1])
        share = num.value / den.value if den.value > 0 else None
        low = min(1.0, n_low / d_high) if d_high > 0 else 0.0
        high = min(1.0, n_high / d_low) if d_low > 0 else 1.0
        cells.append(ShareCell(num.group, num.value, den.value, share, low, high))
    return cells


def expected_half_width(epsilon: float, nodes: int) -> int:
    """The 95% half-width a count would get from `nodes` publishers at ε each."""
    return dp.sum_half_width([dp.count_scale(epsilon)] * nodes)
