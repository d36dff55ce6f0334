"""The node's one admission gate: every signed request — a count or a linked
run — passes the same steps in the same order, with the same wording:

identify the signer (a certificate of the regional CA) → open the envelope
(query role, signature, expiry) → dataset and domains → data-as-of →
authorise (the covenant). What the audit trail records about a request
travels in one small `AuditContext`; a refusal is audited once, by whoever
catches it, and `context.audited` says whether that has happened.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from node import audit
from node.config import Dataset, NodeConfig
from node.envelope import open_envelope
from node.state import StateDB
from regiozicht.errors import AuthenticationFailed, BadQuery, RegiozichtError, Unavailable
from regiozicht.identity import Identity
from regiozicht.query import data_as_of_refusal, data_from_refusal
from regiozicht.truststore import TrustStore
from regiozicht.v1 import regiozicht_pb2 as pb

log = logging.getLogger(__name__)


@dataclass
class AuditContext:
    """What the audit trail records about one request, filled in as the gate learns it."""

    role: str | None = None
    org: str | None = None
    requester: str | None = None
    query_id: str | None = None
    query: str | None = None
    purpose: str | None = None
    dataset: str | None = None
    epsilon: str | None = None
    delta: str | None = None
    legal_basis: str | None = None
    law: str | None = None
    audited: bool = False  # an entry for this request's outcome is written

    @classmethod
    def of(cls, requester: Identity) -> AuditContext:
        return cls(role=requester.role, org=requester.org, requester=requester.uri)

    def note(self, **fields: Any) -> None:
        for name, value in fields.items():
            setattr(self, name, value)

    def fields(self) -> dict[str, Any]:
        """The audit fields known so far (unset ones stay empty in the entry)."""
        return {k: v for k, v in asdict(self).items() if k != "audited" and v is not None}


class Gate:
    """The steps shared by counts and linked runs; knows nothing about either's arithmetic."""

    def __init__(self, config: NodeConfig, trust: TrustStore, state: StateDB) -> None:
        self.config, self.trust, self.state = config, trust, state

    def identify(self, signed: pb.Signed) -> Identity:
        """Who signed: from a certificate of the regional CA (unaudited if there is none)."""
        if not signed.certificate or not signed.signature:
            raise AuthenticationFailed("The message is not signed; sign it with a certificate of the regional CA.")
        return self.trust.verify(signed.certificate)  # read and checked against the CA once per certificate

    def open(self, signed: pb.Signed, requester: Identity, now: float, context: AuditContext) -> pb.QueryEnvelope:
        """Role, signature and expiry of the envelope."""
        known: dict[str, Any] = {}
        envelope = open_envelope(signed, requester, now, known)
        context.note(**known)
        return envelope

    def dataset(self, name: str) -> Dataset:
        dataset = self.config.dataset(name)
        if dataset is None:
            raise BadQuery(f"Node {self.config.node.org} publishes no dataset {name!r}; `regiozicht catalog` lists "
                           "what each node publishes.")
        return dataset

    def check_data_as_of(self, peildatum: dt.date) -> None:
        """The reference date lies within what the extract covers: from `data_from` (if set) to data-as-of."""
        node = self.config.node
        if peildatum > node.data_as_of.date():
            raise data_as_of_refusal(peildatum, node.org, node.data_as_of.date())
        if node.data_from is not None and peildatum < node.data_from:
            # an empty count would be released and charged in full, and look like a real zero
            raise data_from_refusal(peildatum, node.org, node.data_from)

    def refuse(self, context: AuditContext, exc: RegiozichtError, now: int) -> None:
        """Audits a refusal once (nothing is charged for it)."""
        if context.audited:
            return
        try:
            with self.state.transaction() as tx:
                audit.append(tx, now=now, decision="refused", reason=f"{exc.kind}: {exc.message}", **context.fields())
            context.audited = True
        except (SQLAlchemyError, Unavailable):
            log.error("could not audit a refusal: the state database cannot be written")  # the refusal still stands
