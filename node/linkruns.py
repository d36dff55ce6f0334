"""The node's linked runs: authorise, read, charge, then drive each run.

Order per run, so that a refusal costs nothing and nothing leaves early:
verify the signed query and this node's role → covenant incl. linking rules
(for every dataset of both sets) → run id unused → ONE statement reads the
members of this node's set → the driver sends its run key (which tells the
peer this node is ready) → once the peer's signed key is in, charge and
audit (never refunded) → only then the lists leave.
Each run has its own thread; at most `MAX_RUNS` at once keeps memory bounded.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from node import audit
from node.envelope import open_envelope
from node.linkauth import LinkPlan, plan_run
from node.linked import LinkDriver, RunSpec
from regiozicht.linkwire import Send
from node.linkmembers import read_members
from regiozicht.group import GroupOps
from regiozicht.errors import Internal, RegiozichtError, Replayed, Unavailable
from regiozicht.query import CLOCK_SKEW_SECONDS, body_hash
from regiozicht.v1 import regiozicht_pb2 as pb

if TYPE_CHECKING:
    from node.service import NodeService

log = logging.getLogger(__name__)

MAX_RUNS = 8


class LinkRuns:
    def __init__(self, service: NodeService, pool: GroupOps | None = None) -> None:
        self.service = service
        self.pool = pool
        self._active: dict[str, LinkDriver | None] = {}
        self._early: dict[str, list[pb.LinkMessage]] = {}
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
            error = (Unavailable(f"Node {self.service.config.node.org} is running {MAX_RUNS} linked runs; "
                                 "try again in a minute.") if busy else
                     Replayed(f"Run id {request.run_id} is already running; sign a fresh query."))
            send(pb.LinkMessage(run_id=request.run_id, sender=self.service.config.node.org,
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

    def _run(self, request: pb.LinkRequest, send: Send) -> None:
        org = self.service.config.node.org
        try:
            driver, plan = self._prepare(request, send)
            with self._lock:
                self._active[request.run_id] = driver
                for early in self._early.pop(request.run_id, []):
                    driver.deliver(early)
            verdict = driver.run()
            self._audit_outcome(plan, verdict, driver.charged is not None)
        except RegiozichtError as exc:
            log.info("linked run %s refused: %s", request.run_id, exc.message)
            send(pb.LinkMessage(run_id=request.run_id, sender=org, error=pb.Error(kind=exc.kind, message=exc.message)))
        except Exception:  # noqa: BLE001 - one run must never take the node down
            log.exception("linked run %s failed", request.run_id)
            error = Internal(f"Node {org} hit an internal error in a linked run; its IT staff can see it in the log.")
            send(pb.LinkMessage(run_id=request.run_id, sender=org, error=pb.Error(kind=error.kind,
                                                                                   message=error.message)))
        finally:
            with self._lock:
                self._active.pop(request.run_id, None)  # the driver and its secrets go with it
                self._early.pop(request.run_id, None)

    def _prepare(self, request: pb.LinkRequest, send: Send) -> tuple[LinkDriver, LinkPlan]:
        service, now = self.service, time.time()
        requester = service._identify(request.envelope)
        known: dict[str, Any] = dict(role=requester.role, org=requester.org, requester=requester.uri)
        try:
            envelope = open_envelope(request.envelope, requester, now, known)
            plan = plan_run(service.config, service.covenant, envelope, requester, request.run_id, request.role, known)
            if service.ledger_has(request.run_id):
                raise Replayed(f"Run id {request.run_id} was used before; sign a fresh query.")
            members = read_members(service.partner, plan.datasets, plan.me.set, plan.own_query,
                                   plan.cells if plan.role == "anchor" else None, service.config.node.org)
        except RegiozichtError as exc:
            service._audit_refusal(known, exc, int(now))
            raise
        spec = RunSpec(
            query_id=envelope.query_id, run_id=request.run_id, role=plan.role, me=plan.me, peer=plan.peer,
            counter=plan.query.counter, accepted_counters=service.covenant.linked.counters,
            epsilon=plan.query.epsilon, delta=plan.query.delta, shift=plan.shift, cells=plan.query.cells,
            body_sha256=body_hash(envelope.body), deadline=envelope.expires_at_unix + CLOCK_SKEW_SECONDS)
        # the worker pool is chosen inside the run, on the list length the others see
        driver = LinkDriver(spec, members.by_cell, signer=service.signer, trust=service.trust, pool=self.pool,
                            send=send, charge=lambda: self._charge(plan, known))
        return driver, plan

    def _charge(self, plan: LinkPlan, known: dict[str, Any]) -> tuple[int, bytes]:
        """Charges and audits the run, once; a refusal (budget) is audited and costs nothing."""
        now = int(time.time())
        fields = plan.audit_fields()
        try:
            charged = self.service.ledger.charge_linked_run_audited(
                plan.run_id, plan.purpose.id, plan.query.epsilon, plan.query.delta, query_id=fields["query_id"],
                role=fields["role"], org=fields["org"], requester=fields["requester"], now=now,
                partner=plan.peer.org, dataset=fields["dataset"], query=fields["query"])
            if charged is None:
                raise Replayed(f"Run id {plan.run_id} was used before; sign a fresh query.")
        except RegiozichtError as exc:
            self.service._audit_refusal(known, exc, now)
            raise
        self.on_spent()
        return charged[0], bytes.fromhex(charged[1])

    def _audit_outcome(self, plan: LinkPlan, verdict: pb.LinkVerdict, charged: bool) -> None:
        """A completed run is audited as granted, an aborted one as failed (both stay charged);
        one aborted before its charge as refused (it cost nothing)."""
        fields = {**plan.audit_fields(), "epsilon": "0", "delta": "0"}
        with self.service.state.transaction() as tx:
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
                failed = self.service.ledger.record_failed_run(plan.peer.org, int(time.time()))
                if failed >= self.service.covenant.linked.failed_runs_alert:
                    log.warning("ALERT: %d linked runs with %s failed or were aborted this period (each stays "
                                "charged); the privacy officer should look into it (`regiozicht-node budget show`)",
                                failed, plan.peer.org)
