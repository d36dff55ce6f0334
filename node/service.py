"""What a node does with one signed query: verify, check, look up or reserve,
run one pushed-down statement, add noise, commit, sign the answer.

Knows nothing about gRPC: the agent hands in `Signed` envelopes and sends
back what this returns.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from node.compile import cells, check_query, compile_count
from node.config import NodeConfig
from node.store import ReleaseStore, make_partner_engine
from regiozicht import dp
from regiozicht.errors import BadQuery, Unavailable
from regiozicht.identity import Identity
from regiozicht.pki import TrustStore, load_certificate, load_private_key
from regiozicht.query import CountQuery, body_hash, check_expiry, parse_body
from regiozicht.signed import Signer, open_signed
from regiozicht.v1 import regiozicht_pb2 as pb

log = logging.getLogger(__name__)

PROTOCOL_VERSION = 1
CAPABILITIES = ("count",)
QUERY_ROLES = ("analyst", "service")


class NodeService:
    def __init__(self, config: NodeConfig, *, trust: TrustStore | None = None) -> None:
        self.config = config
        self.trust = trust or TrustStore.from_files(config.tls.ca, require_crl=True)
        self.signer = Signer(load_private_key(config.tls.key), load_certificate(config.tls.certificate.read_bytes()))
        self.partner: Engine = make_partner_engine(config.database.url)
        self.store = ReleaseStore(config.state.url)
        self._key_locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    # -- describe ---------------------------------------------------------

    def describe(self) -> pb.Signed:
        """The signed self-description; nothing in it is computed from partner data."""
        message = pb.Describe(
            protocol_version=PROTOCOL_VERSION,
            capabilities=list(CAPABILITIES),
            org=self.config.node.org,
            kind=self.config.node.kind,
            data_as_of=self.config.node.data_as_of.isoformat(),
            issued_at_unix=int(time.time()),
            software_version=_version(),
        )
        for dataset in self.config.datasets:
            message.datasets.append(
                pb.Dataset(
                    name=dataset.name,
                    description=dataset.description,
                    definition_hash=dataset.definition_hash,
                    measures=sorted(dataset.measures),
                    dimensions=[
                        pb.Dimension(name=name, domain=list(dim.domain), info_class=dim.info_class,
                                     description=dim.description)
                        for name, dim in dataset.dimensions.items()
                    ],
                )
            )
        return self.signer.sign(message.SerializeToString())

    # -- answering --------------------------------------------------------

    def answer(self, envelope: pb.Signed, *, now: float | None = None) -> pb.Signed:
        """Answers one signed query or raises a typed error (nothing charged)."""
        now = time.time() if now is None else now
        payload, requester = open_signed(envelope, self.trust, QUERY_ROLES)
        parsed = pb.QueryEnvelope()
        try:
            parsed.ParseFromString(payload)
        except Exception:  # noqa: BLE001 - protobuf raises DecodeError subclasses
            raise BadQuery("The signed envelope cannot be decoded; rebuild the query with the CLI.") from None
        check_expiry(parsed.issued_at_unix, parsed.expires_at_unix, now)
        query = parse_body(parsed.body)
        dataset = self.config.dataset(query.dataset)
        if dataset is None:
            raise BadQuery(
                f"Node {self.config.node.org} publishes no dataset {query.dataset!r}; "
                "`regiozicht catalog` lists what each node publishes."
            )
        check_query(dataset, query)
        data_as_of = self.config.node.data_as_of.date()
        if query.peildatum > data_as_of:
            raise BadQuery(
                f"Reference date {query.peildatum} is after this node's data-as-of date {data_as_of}; "
                "choose an earlier --at."
            )
        release_key = hashlib.sha256(parsed.body + b"\0" + dataset.definition_hash.encode()).hexdigest()
        with self._lock_for(release_key):
            return self._release(parsed, query, release_key, requester, dataset.definition_hash)

    def _release(
        self, envelope: pb.QueryEnvelope, query: CountQuery, release_key: str, requester: Identity, definition_hash: str
    ) -> pb.Signed:
        reservation = self.store.reserve(
            release_key=release_key, query_id=envelope.query_id, expires_at=envelope.expires_at_unix,
            dataset=query.dataset, definition_hash=definition_hash, peildatum=query.peildatum,
            epsilon=query.epsilon, purpose=query.purpose, requester=requester.uri, refresh=envelope.refresh,
        )
        if reservation.stored_answer is not None:
            stored = pb.Answer()
            stored.ParseFromString(reservation.stored_answer)
            stored.query_id = envelope.query_id
            stored.body_sha256 = body_hash(envelope.body)
            stored.from_store = True
            stored.answered_at_unix = int(time.time())
            return self.signer.sign(stored.SerializeToString())
        try:
            exact = self._exact_counts(query)
        except BaseException:
            self.store.cancel(reservation.release_id)  # no noise was drawn: nothing to charge
            raise
        answer = self._noisy_answer(envelope, query, exact)
        self.store.commit(reservation.release_id, answer.SerializeToString())
        return self.signer.sign(answer.SerializeToString())

    def _exact_counts(self, query: CountQuery) -> list[int]:
        dataset = self.config.dataset(query.dataset)
        assert dataset is not None
        statement = compile_count(dataset, query)
        try:
            with self.partner.connect() as connection:
                rows = connection.execute(statement, {"peildatum": query.peildatum}).all()
        except DBAPIError as exc:
            log.error("partner database failed: %s", exc)
            raise Unavailable(
                f"Node {self.config.node.org} cannot read its partner database; its IT staff should run "
                "`regiozicht-node check`."
            ) from None
        except SQLAlchemyError as exc:
            log.error("partner database failed: %s", exc)
            raise Unavailable(
                f"Node {self.config.node.org} cannot run the dataset {query.dataset!r}; its IT staff should run "
                "`regiozicht-node check`."
            ) from None
        by_cell = {tuple(row[:-1]): int(row[-1]) for row in rows}
        return [by_cell.get(cell, 0) for cell in cells(dataset, query.by)]

    def _noisy_answer(self, envelope: pb.QueryEnvelope, query: CountQuery, exact: list[int]) -> pb.Answer:
        dataset = self.config.dataset(query.dataset)
        assert dataset is not None
        scale = dp.count_scale(query.epsilon_value)
        width = dp.half_width(scale)
        noisy = dp.noisy_counts(exact, query.epsilon_value)
        answer = pb.Answer(
            query_id=envelope.query_id,
            body_sha256=body_hash(envelope.body),
            org=self.config.node.org,
            kind=self.config.node.kind,
            dataset=query.dataset,
            by=list(query.by),
            epsilon=query.epsilon,
            noise_scale=scale,
            ci_level=dp.CI_LEVEL,
            peildatum=query.peildatum.isoformat(),
            data_as_of=self.config.node.data_as_of.isoformat(),
            answered_at_unix=int(time.time()),
        )
        for cell, value in zip(cells(dataset, query.by), noisy):
            answer.cells.append(pb.Cell(group=list(cell), value=value, ci_low=value - width, ci_high=value + width))
        return answer

    def _lock_for(self, key: str) -> threading.Lock:
        # identical queries arriving together are computed once, then served from the store
        with self._locks_guard:
            return self._key_locks.setdefault(key, threading.Lock())


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("regiozicht")
    except PackageNotFoundError:
        return "dev"


