"""What a node does with one signed query: verify the envelope, check the
covenant, look up a stored release or reserve budget, run one pushed-down
statement, add noise, commit release + ledger + audit entry, sign.

Authorisation runs before the stored-release lookup, so a stored release is
never a way around the covenant. Every request whose requester is known is
audited, granted or refused. Knows nothing about gRPC.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from node import audit, store
from node import covenant as covenant_file
from node import describe as describe_builder
from node.admission import AuditContext, Gate
from node.compile import check_query, compile_count, count_cells
from node.config import Dataset, NodeConfig
from node.covenant import Purpose
from node.ledger import Ledger
from node.linkruns import LinkRuns, NodeParts
from node.policy import authorise
from node.revocation import Revocation
from node.state import StateDB
from node.stats import Stats
from node.store import ReleaseStore, make_partner_engine
from node.watermark import Watermark
from regiozicht import dp
from regiozicht.errors import RegiozichtError, Unavailable
from regiozicht.group import GroupOps
from regiozicht.identity import Identity
from regiozicht.pemfiles import load_certificate, load_private_key
from regiozicht.query import CountQuery, body_hash, parse_body
from regiozicht.signed import Signer
from regiozicht.truststore import TrustStore
from regiozicht.v1 import regiozicht_pb2 as pb

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Request:
    """A verified, authorised query and what the audit trail records about it."""

    envelope: pb.QueryEnvelope
    query: CountQuery
    dataset: Dataset
    purpose: Purpose
    requester: Identity
    release_key: str
    context: AuditContext

    def audit_fields(self) -> dict[str, Any]:
        return dict(query_id=self.envelope.query_id, role=self.requester.role, org=self.requester.org,
                    requester=self.requester.uri, purpose=self.purpose.id, legal_basis=self.purpose.legal_basis,
                    law=self.purpose.law, dataset=self.query.dataset, query=self.envelope.body.decode(),
                    epsilon=self.query.epsilon, delta="0")


class NodeService:
    def __init__(self, config: NodeConfig, *, trust: TrustStore | None = None,
                 group_pool: GroupOps | None = None) -> None:
        self.config = config
        self.covenant = covenant_file.load(config.covenant, config)  # fails closed: no covenant, no node
        self.trust = trust or TrustStore.from_files(config.tls.ca, require_crl=True)
        self.signer = Signer(load_private_key(config.tls.key), load_certificate(config.tls.certificate.read_bytes()))
        self.partner: Engine = make_partner_engine(config.database)
        self.state = StateDB(config.state.url)
        self.store = ReleaseStore(self.state)
        self.ledger = Ledger(self.state, self.covenant, Watermark(config.state.watermark_path()), config.node.org)
        self.stats = Stats()
        self._key_locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self.revocation = Revocation(self.trust, self.state, self.covenant.limits.crl_max_age_hours)
        self.revocation.restore(config.tls.revocation_list)
        self.gate = Gate(config, self.trust, self.state)
        self._sweep_abandoned()
        # counts and linked runs are siblings built on the same parts; neither reaches into the other
        self.links = LinkRuns(NodeParts(config, self.covenant, self.trust, self.signer, self.partner, self.state,
                                        self.ledger, self.gate), group_pool)

    def describe(self, now: float | None = None) -> pb.Signed:
        """The signed self-description, with purposes, remaining budget and audit head."""
        moment = int(time.time() if now is None else now)
        message = describe_builder.build(self.config, self.covenant, self.ledger, self.state, moment)
        return self.signer.sign(message.SerializeToString())

    # -- answering --------------------------------------------------------

    def answer(self, envelope: pb.Signed, *, now: float | None = None) -> pb.Signed:
        """Answers one signed query or raises a typed error (a refusal costs nothing)."""
        moment = time.time() if now is None else now
        started = time.perf_counter()
        requester = self.gate.identify(envelope)
        context = AuditContext.of(requester)
        try:
            request = self._verify(envelope, requester, moment, context)
            with self._lock_for(request.release_key):
                signed = self._release(request, int(moment))
        except RegiozichtError as exc:
            self.gate.refuse(context, exc, int(moment))
            raise
        self.stats.add_answer(time.perf_counter() - started)
        return signed

    def _verify(self, signed: pb.Signed, requester: Identity, now: float, context: AuditContext) -> Request:
        """The admission gate's steps for a count: envelope → dataset and domains → data-as-of → covenant."""
        envelope = self.gate.open(signed, requester, now, context)
        query = parse_body(envelope.body)
        context.note(purpose=query.purpose, dataset=query.dataset, epsilon=query.epsilon)
        dataset = self.gate.dataset(query.dataset)
        check_query(dataset, query)
        self.gate.check_data_as_of(query.peildatum)
        purpose = authorise(self.covenant, requester, query, hashlib.sha256(envelope.body).hexdigest(), dataset)
        context.note(legal_basis=purpose.legal_basis, law=purpose.law)
        release_key = hashlib.sha256(envelope.body + b"\0" + dataset.definition_hash.encode()).hexdigest()
        return Request(envelope, query, dataset, purpose, requester, release_key, context)

    def _release(self, request: Request, now: int) -> pb.Signed:
        release_id, stored = self._reserve(request, now)
        if stored is not None:
            return self.signer.sign(stored.SerializeToString())
        try:
            exact = self._exact_counts(request.query)
        except RegiozichtError as exc:
            self._refund(request, release_id, exc, now)  # no noise was drawn: nothing to charge
            raise
        try:
            answer = self._noisy_answer(request, exact, now)
        except BaseException as exc:
            self._fail(request, release_id, exc, now)  # noise may have been drawn: the charge stands
            raise
        self._commit(request, release_id, answer, now)
        return self.signer.sign(answer.SerializeToString())

    def _reserve(self, request: Request, now: int) -> tuple[int, pb.Answer | None]:
        """One transaction: mark the id used; return the stored release, or charge and reserve."""
        started = time.perf_counter()
        envelope, query = request.envelope, request.query

        def work(tx: Connection) -> tuple[int, pb.Answer | None]:
            store.mark_used(tx, envelope.query_id, envelope.expires_at_unix, now)
            stored = None if envelope.refresh else store.stored_answer(tx, request.release_key)
            if stored is not None:
                answer = pb.Answer.FromString(stored)
                answer.query_id, answer.body_sha256 = envelope.query_id, body_hash(envelope.body)
                answer.from_store, answer.answered_at_unix = True, now
                fields = {**request.audit_fields(), "epsilon": "0", "values": _values(answer)}
                answer.audit_seq, head = audit.append(tx, now=now, decision="stored",
                                                      reason="stored release returned at no cost", **fields)
                answer.audit_head = bytes.fromhex(head)
                return 0, answer
            self.ledger.charge(tx, charge_id=envelope.query_id, kind="query", purpose=request.purpose,
                               epsilon=Decimal(query.epsilon), delta=Decimal(0), now=now)
            release_id = store.reserve(
                tx, release_key=request.release_key, query_id=envelope.query_id, dataset=query.dataset,
                definition_hash=request.dataset.definition_hash, peildatum=query.peildatum, epsilon=query.epsilon,
                purpose=query.purpose, requester=request.requester.uri, now=now)
            # audited with the charge, in its transaction: a crash from here on leaves both or neither
            audit.append(tx, now=now, decision="reserved", reason="charged and reserved; the outcome follows in "
                         "its own entry", **request.audit_fields())
            return release_id, None

        try:
            return self.state.grouped(work)
        finally:
            self.stats.add_ledger(time.perf_counter() - started)

    def _commit(self, request: Request, release_id: int, answer: pb.Answer, now: int) -> None:
        started = time.perf_counter()

        def work(tx: Connection) -> None:
            answer.audit_seq, head = audit.append(tx, now=now, decision="granted",
                                                  reason="released (charged at its reservation)",
                                                  values=_values(answer), **_outcome_fields(request))
            answer.audit_head = bytes.fromhex(head)
            store.commit(tx, release_id, answer.SerializeToString(), now)

        try:
            self.state.grouped(work)
        finally:
            self.stats.add_ledger(time.perf_counter() - started)

    def _refund(self, request: Request, release_id: int, exc: RegiozichtError, now: int) -> None:
        with self.state.transaction() as tx:
            self.ledger.refund(tx, request.envelope.query_id, now)
            store.cancel(tx, release_id)
            audit.append(tx, now=now, decision="refunded", reason=f"{exc.kind}: {exc.message}; the reservation's "
                         f"charge of ε {request.query.epsilon} is given back", **_outcome_fields(request))
        request.context.audited = True

    def _fail(self, request: Request, release_id: int, exc: BaseException, now: int) -> None:
        with self.state.transaction() as tx:
            store.set_status(tx, release_id, "failed")
            audit.append(tx, now=now, decision="failed", reason=f"failed after the reservation ({type(exc).__name__}); "
                         "charged at its reservation, nothing released", **_outcome_fields(request))
        request.context.audited = True

    def _sweep_abandoned(self) -> None:
        """Reservations left by a crash stay charged (noise may have been drawn) and are audited once."""
        now = int(time.time())
        with self.state.transaction() as tx:
            for release_id, query_id, purpose, epsilon in store.open_reservations(tx):
                store.set_status(tx, release_id, "abandoned")
                # the reservation's own entry carries the charge; one written before reservations were
                # audited has none, and this entry carries it instead
                charged = "0" if audit.has_entry(tx, query_id, "reserved") else epsilon
                audit.append(tx, now=now, decision="abandoned", query_id=query_id, purpose=purpose, epsilon=charged,
                             reason="reserved before a crash or stop; charged at its reservation, nothing released")
                log.warning("reservation for query %s was abandoned; its charge stands", query_id)

    # -- computing --------------------------------------------------------

    def _exact_counts(self, query: CountQuery) -> list[int]:
        dataset = self.config.dataset(query.dataset)
        assert dataset is not None
        statement = compile_count(dataset, query)
        try:
            with self.partner.connect() as connection:
                rows = connection.execute(statement, {"peildatum": query.peildatum}).all()
        except DBAPIError as exc:
            log.error("partner database failed: %s", exc)
            self.partner.dispose()  # it may come back as a new file or server: the next query connects afresh
            raise Unavailable(f"Node {self.config.node.org} cannot read its partner database; its IT staff should "
                              "run `regiozicht-node check`.") from None
        except SQLAlchemyError as exc:
            log.error("partner database failed: %s", exc)
            raise Unavailable(f"Node {self.config.node.org} cannot run the dataset {query.dataset!r}; its IT staff "
                              "should run `regiozicht-node check`.") from None
        by_cell = {tuple(row[:-1]): int(row[-1]) for row in rows}
        return [by_cell.get(cell, 0) for cell in count_cells(dataset, query.by)]

    def _noisy_answer(self, request: Request, exact: list[int], now: int) -> pb.Answer:
        query, envelope = request.query, request.envelope
        scale = dp.count_scale(query.epsilon_value)
        width = dp.half_width(scale)
        noisy = dp.noisy_counts(exact, query.epsilon_value)
        threshold = self.covenant.suppression_for(query.purpose, query.dataset)
        answer = pb.Answer(
            query_id=envelope.query_id, body_sha256=body_hash(envelope.body), org=self.config.node.org,
            kind=self.config.node.kind, dataset=query.dataset, by=list(query.by), epsilon=query.epsilon,
            noise_scale=scale, ci_level=dp.CI_LEVEL, peildatum=query.peildatum.isoformat(),
            data_as_of=self.config.node.data_as_of.isoformat(), answered_at_unix=now,
        )
        for cell, value in zip(count_cells(request.dataset, query.by), noisy):
            if threshold is not None and value < threshold:  # acts on the noisy value only
                answer.cells.append(pb.Cell(group=list(cell), suppressed=True))
            else:
                answer.cells.append(pb.Cell(group=list(cell), value=value, ci_low=value - width,
                                            ci_high=value + width))
        return answer

    def _lock_for(self, key: str) -> threading.Lock:
        # identical queries arriving together are computed once, then served from the store
        with self._locks_guard:
            return self._key_locks.setdefault(key, threading.Lock())


def _outcome_fields(request: Request) -> dict[str, Any]:
    """An outcome's entry: the charge is in the reservation's entry, so the outcome carries none."""
    return {**request.audit_fields(), "epsilon": "0"}


def _values(answer: pb.Answer) -> list[list[Any]]:
    """The released values for the audit trail: [cell, value] (None when suppressed)."""
    return [[list(c.group), None if c.suppressed else c.value] for c in answer.cells]
