"""The node's linked runs: admit, read, charge, then drive each run.

Order per run, so that a refusal costs nothing and nothing leaves early:
the admission gate (signer, envelope, this node's role, datasets and
domains, data-as-of, covenant incl. linking rules and the counter) → run id
unused → the budget could pay → ONE statement reads the members of this
node's set → the driver sends its run key (which tells the peer this node is
ready) → once the peer's signed key is in, charge and audit (never refunded)
→ only then does anything data-dependent leave. This module writes every
audit entry of a run: refused, charged, completed or failed.
Each run has its own thread; at most `MAX_RUNS` at once keeps memory bounded.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.engine import Engine

from node import audit
from node.admission import AuditContext, Gate
from node.config import NodeConfig
from node.covenant import Covenant
from node.ledger import Ledger, text
from node.linkauth import LinkPlan, plan_run
from node.linked import LinkDriver, RunSpec
from node.linkmembers import read_members
from node.state import StateDB, ledger_charges
from regiozicht.errors import Internal, RegiozichtError, Replayed, Unavailable
from regiozicht.group import GroupOps
from regiozicht.linkwire import Send
from regiozicht.query import CLOCK_SKEW_SECONDS, body_hash
from regiozicht.signed import Signer
from regiozicht.truststore import TrustStore
from regiozicht.v1 import regiozicht_pb2 as pb

log = logging.getLogger(__name__)

MAX_RUNS = 8


@dataclass(frozen=True)
class NodeParts:
    """The parts of a node that counts and linked runs share, built once."""

    config: NodeConfig
    covenant: Covenant
    trust: TrustStore
    signer: Signer
    partner: Engine
    state: StateDB
    ledger: Ledger
    gate: Gate

    def charged_before(self, charge_id: str) -> bool:
        """Whether a query id or run id was ever charged (used run ids are refused)."""
        with self.state.reading() as conn:
            return conn.execute(select(ledger_charges.c.charge_id)
                                .where(ledger_charges.c.charge_id == charge_id)).first() is not None


class LinkRuns:
    def __init__(self, parts: NodeParts, pool: GroupOps | None = None) -> None:
        self.parts = parts
        self.pool = pool
        self._active: dict[str, LinkDriver | None] = {}
        self._early: dict[str, list[pb.LinkMessage]] = {}
        self._aborted: dict[str, str] = {}  # run id → why it was aborted (one still authorising learns it later)
        self._lock = threading.Lock()
        self.on_spent: Callable[[], None] = lambda: None

    def open(self, request: pb.LinkRequest, send: Send) -> None:
        """Takes a run on (in its own thread); refusals are sent back as an Error."""
        with self._lock:
            busy = len(self._active) >= MAX_RUNS
            known = request.run_id in self._active
            if not busy and not known:
                self._active[request.run_id] = None
        if busy or known:
            error = (Unavailable(f"Node {self.parts.config.node.org} is running {MAX_RUNS} linked runs; "
                                 "try again in a minute.") if busy else
                     Replayed(f"Run id {request.run_id} is already running; sign a fresh query."))
            send(pb.LinkMessage(run_id=request.run_id, sender=self.parts.config.node.org,
                                error=pb.Error(kind=error.kind, message=error.message)))
            return
        threading.Thread(target=self._run, args=(request, send), daemon=True, name=f"link-{request.run_id}").start()

    def deliver(self, message: pb.LinkMessage) -> None:
        with self._lock:
            if message.run_id not in self._active:
                log.info("message for unknown linked run %s dropped", message.run_id)
                return
            driver = self._active[message.run_id]
            if driver is None:  # still authorising: keep it until the driver exists
                self._early.setdefault(message.run_id, []).append(message)
                return
        driver.deliver(message)

    def abort_all(self, reason: str) -> None:
        """Aborts every run: each one's relay went with the connection to the coordinator, so no
        message of theirs can arrive again (a run would otherwise wait until its query expires)."""
        with self._lock:
            runs = [(run_id, driver) for run_id, driver in self._active.items() if run_id not in self._aborted]
            self._aborted.update((run_id, reason) for run_id, _ in runs)
        for run_id, driver in runs:
            if driver is not None:
                driver.abort(reason)
        if runs:
            log.warning("%d linked run(s) aborted: %s", len(runs), reason)

    def _run(self, request: pb.LinkRequest, send: Send) -> None:
        org = self.parts.config.node.org
        try:
            driver, plan = self._prepare(request, send)
            with self._lock:
                self._active[request.run_id] = driver
                if request.run_id in self._aborted:
                    driver.abort(self._aborted[request.run_id])
                for early in self._early.pop(request.run_id, []):
                    driver.deliver(early)
            try:
                verdict = driver.run()
            finally:
                self._release(request.run_id)  # the run's slot is free once its part is done, before the audit
            log.info("linked run %s timing (s since start): %s", request.run_id,
                     " ".join(f"{step}={seconds:.2f}" for step, seconds in driver.timings))
            self._audit_outcome(plan, verdict, driver.charged is not None)
        except RegiozichtError as exc:
            log.info("linked run %s refused: %s", request.run_id, exc.message)
            send(pb.LinkMessage(run_id=request.run_id, sender=org, error=pb.Error(kind=exc.kind, message=exc.message)))
        except Exception:
            log.exception("linked run %s failed", request.run_id)
            error = Internal(f"Node {org} hit an internal error in a linked run; its IT staff can see it in the log.")
            send(pb.LinkMessage(run_id=request.run_id, sender=org, error=pb.Error(kind=error.kind,
                                                                                   message=error.message)))
        finally:
            self._release(request.run_id)

    def _release(self, run_id: str) -> None:
        with self._lock:
            self._active.pop(run_id, None)  # the driver and its secrets go with it
            self._early.pop(run_id, None)
            self._aborted.pop(run_id, None)

    def _prepare(self, request: pb.LinkRequest, send: Send) -> tuple[LinkDriver, LinkPlan]:
        parts, now = self.parts, time.time()
        requester = parts.gate.identify(request.envelope)
        context = AuditContext.of(requester)
        try:
            envelope = parts.gate.open(request.envelope, requester, now, context)
            plan = plan_run(parts.config, parts.covenant, parts.gate, envelope, requester, request.run_id,
                            request.role, context)
            if parts.charged_before(request.run_id):
                raise Replayed(f"Run id {request.run_id} was used before; sign a fresh query.")
            parts.ledger.check_affordable(plan.purpose, Decimal(plan.query.epsilon), Decimal(plan.query.delta),
                                          plan.peer.org, int(now))
            members = read_members(parts.partner, plan.datasets, plan.me.set, plan.own_query,
                                   plan.cells if plan.role == "anchor" else None, parts.config.node.org)
        except RegiozichtError as exc:
            parts.gate.refuse(context, exc, int(now))
            raise
        spec = RunSpec(
            query_id=envelope.query_id, run_id=request.run_id, role=plan.role, me=plan.me, peer=plan.peer,
            counter=plan.query.counter, accepted_counters=parts.covenant.linked.counters,
            epsilon=plan.query.epsilon, delta=plan.query.delta, shift=plan.shift, cells=plan.query.cells,
            body_sha256=body_hash(envelope.body), deadline=envelope.expires_at_unix + CLOCK_SKEW_SECONDS)
        # the worker pool is chosen inside the run, on the list length the others see
        driver = LinkDriver(spec, members.by_cell, signer=parts.signer, trust=parts.trust, pool=self.pool,
                            send=send, charge=lambda: self._charge(plan, context))
        return driver, plan

    def _charge(self, plan: LinkPlan, context: AuditContext) -> tuple[int, bytes]:
        """Charges and audits the run in one transaction, once; a refusal (budget) is audited and costs nothing."""
        now = int(time.time())
        try:
            charged = charge_run(self.parts, plan, now)
            if charged is None:
                raise Replayed(f"Run id {plan.run_id} was used before; sign a fresh query.")
        except RegiozichtError as exc:
            self.parts.gate.refuse(context, exc, now)
            raise
        self.on_spent()
        return charged[0], bytes.fromhex(charged[1])

    def _audit_outcome(self, plan: LinkPlan, verdict: pb.LinkVerdict, charged: bool) -> None:
        """A completed run is audited as granted, an aborted one as failed (both stay charged);
        one aborted before its charge as refused (it cost nothing)."""
        fields = {**plan.audit_fields(), "epsilon": "0", "delta": "0"}
        with self.parts.state.transaction() as tx:
            if not charged:
                audit.append(tx, now=int(time.time()), decision="refused",
                             reason=f"linked run {plan.run_id} aborted before anything was charged or sent: "
                             f"{verdict.reason}", **fields)
            elif verdict.ok:
                audit.append(tx, now=int(time.time()), decision="granted",
                             reason=f"linked run {plan.run_id}: this node's part completed (charged at its start)", **fields)
            else:
                audit.append(tx, now=int(time.time()), decision="failed",
                             reason=f"linked run {plan.run_id} aborted: {verdict.reason}; charged, nothing released",
                             **fields)
        if not verdict.ok:
            log.warning("linked run %s aborted: %s", plan.run_id, verdict.reason)
            if charged:
                failed = self.parts.ledger.record_failed_run(plan.peer.org, int(time.time()))
                if failed >= self.parts.covenant.linked.failed_runs_alert:
                    log.warning("ALERT: %d linked runs with %s failed or were aborted this period (each stays "
                                "charged); the privacy officer should look into it (`regiozicht-node budget show`)",
                                failed, plan.peer.org)


def charge_run(parts: NodeParts, plan: LinkPlan, now: int) -> tuple[int, str] | None:
    """Charges one linked run (pool, pot and the partner's pair budget) and writes its audit entry,
    in one transaction, before anything data-dependent leaves; never refunded. Returns the entry's
    (seq, head), or None if the run id was charged before. Raises BudgetExhausted (nothing charged)."""
    fields = plan.audit_fields()
    epsilon, delta = Decimal(plan.query.epsilon), Decimal(plan.query.delta)
    split = plan.role == "anchor" and plan.query.split is not None
    with parts.state.transaction() as tx:
        if split:
            # every anchor person is in one run of a split query: its pool pays once for all runs (parallel
            # composition), under the query's charge id; each run still fills its partner's pair budget
            parts.ledger.charge(tx, charge_id=f"{plan.envelope.query_id}:anchor", kind="linked-query",
                                purpose=plan.purpose, epsilon=epsilon, delta=delta, now=now)
        if not parts.ledger.charge(tx, charge_id=plan.run_id, kind="linked-run", purpose=plan.purpose,
                                   epsilon=epsilon, delta=delta, now=now, partner=plan.peer.org, pool=not split):
            return None
        return audit.append(tx, now=now, decision="linked-run", **{
            **fields, "epsilon": text(Decimal(plan.query.epsilon)), "delta": text(Decimal(plan.query.delta)),
            "reason": f"linked run {plan.run_id} with {plan.peer.org} charged before anything data-dependent "
                      "leaves; never refunded"})
