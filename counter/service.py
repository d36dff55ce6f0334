"""The counter's connection: dial the coordinator, take runs, count them.

Like a node, the counter opens no inbound port: it keeps one mutual-TLS
stream to the coordinator, whose first message is its signed CounterHello.
Each LinkRequest is checked before anything runs: the analyst's signed
query must name this counter, and the run must be one of the query's.
"""

from __future__ import annotations

import logging
import queue
import threading
import time

import grpc
from cryptography import x509

from counter.config import CounterConfig
from counter.run import CounterRun, CounterSpec
from regiozicht import dialout, rpc, signing, tlsprobe
from regiozicht.errors import BadQuery, PermissionDenied, RegiozichtError, Unavailable
from regiozicht.group import GroupOps, LocalOps
from regiozicht.identity import QUERY_ROLES
from regiozicht.linknoise import shift_for
from regiozicht.linkquery import parse_linked_body
from regiozicht.pemfiles import load_certificate, load_private_key
from regiozicht.query import CLOCK_SKEW_SECONDS, body_hash, check_expiry
from regiozicht.signed import Signer
from regiozicht.truststore import TrustStore
from regiozicht.v1 import regiozicht_pb2 as pb
from regiozicht.v1 import regiozicht_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)
CAPABILITIES = ["linked-counter-v2"]


def check_request(request: pb.LinkRequest, trust: TrustStore, org: str, now: float) -> CounterSpec:
    """The signed query behind a run: from an analyst or service, unexpired, naming this counter."""
    requester = trust.verify(x509.load_der_x509_certificate(request.envelope.certificate), roles=QUERY_ROLES)
    signing.verify(x509.load_der_x509_certificate(request.envelope.certificate), request.envelope.payload,
                   request.envelope.signature)
    envelope = pb.QueryEnvelope.FromString(request.envelope.payload)
    check_expiry(envelope.issued_at_unix, envelope.expires_at_unix, now)
    query = parse_linked_body(envelope.body)
    if query.counter != org:
        raise PermissionDenied(f"The query of {requester} names counter {query.counter}, not {org}; the coordinator "
                               "misrouted it.")
    other = next((s for s in query.others if query.run_id(envelope.query_id, s.org) == request.run_id), None)
    if other is None or request.role != "counter":
        raise BadQuery(f"Run {request.run_id} is not a run of the signed query; the coordinator misrouted it.")
    return CounterSpec(envelope.query_id, request.run_id, org, query.anchor, other,
                       shift_for(query.epsilon_value, query.delta_value), query.cells, body_hash(envelope.body),
                       envelope.expires_at_unix + CLOCK_SKEW_SECONDS)


class CounterService:
    def __init__(self, config: CounterConfig, pool: GroupOps | None = None) -> None:
        self.config = config
        self.trust = TrustStore.from_files(config.tls.ca)
        self.signer = Signer(load_private_key(config.tls.key), load_certificate(config.tls.certificate.read_bytes()))
        identity = self.trust.verify(self.signer.certificate, roles=("counter",))
        if identity.org != config.counter.org:
            raise PermissionDenied(f"The certificate is for {identity}, not counter {config.counter.org}; fix "
                                   "[counter] org or the certificate.")
        self.pool: GroupOps = pool or LocalOps()
        self.runs: dict[str, CounterRun] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.connected = threading.Event()  # the current stream has had the coordinator's first message
        self.credentials = rpc.channel_credentials(rpc.read(config.tls.ca, "CA certificate"),
                                                   rpc.read(config.tls.certificate, "counter certificate"),
                                                   rpc.read(config.tls.key, "counter key"))
        self.options = list(rpc.CHANNEL_OPTIONS)
        if config.coordinator.server_name:
            self.options.append(("grpc.ssl_target_name_override", config.coordinator.server_name))

    def hello(self) -> pb.Signed:
        return self.signer.sign(pb.CounterHello(org=self.config.counter.org, protocol_version=2,
                                                capabilities=CAPABILITIES,
                                                issued_at_unix=int(time.time())).SerializeToString())

    def run(self) -> None:
        coordinator, ca = self.config.coordinator, self.config.tls.ca
        dialout.reconnect(self._serve_once, self.stopping, coordinator.address, on_disconnect=self.connected.clear,
                          connected=self.connected,
                          diagnose=lambda: tlsprobe.not_the_coordinator(coordinator.address, rpc.read(ca, "CA certificate"),
                                                                        coordinator.server_name))

    def stop(self) -> None:
        self.stopping.set()

    def _serve_once(self) -> None:
        outbox: queue.Queue[object] = queue.Queue()
        outbox.put(pb.NodeMessage(hello=self.hello()))
        with grpc.secure_channel(self.config.coordinator.address, self.credentials, options=self.options) as channel:
            responses = pb_grpc.CoordinatorStub(channel).CounterConnect(dialout.drain(outbox, self.stopping))
            try:
                for message in responses:
                    if not self.connected.is_set():
                        log.info("connected to the coordinator at %s", self.config.coordinator.address)
                        self.connected.set()
                    which = message.WhichOneof("message")
                    if which == "revocation_list":
                        try:
                            self.trust.update_crl(message.revocation_list.crl_der)
                        except RegiozichtError as exc:
                            log.error("revocation list refused: %s", exc.message)
                    elif which == "link_request":
                        self._open(message.link_request, outbox)
                    elif which == "link":
                        with self.lock:
                            run = self.runs.get(message.link.run_id)
                        if run is not None:
                            run.deliver(message.link)
            finally:
                outbox.put(dialout.STOP)

    def _open(self, request: pb.LinkRequest, outbox: queue.Queue[object]) -> None:
        def send(link: pb.LinkMessage) -> None:
            outbox.put(pb.NodeMessage(link=link))

        try:
            with self.lock:
                if len(self.runs) >= self.config.counter.max_runs:
                    raise Unavailable(f"Counter {self.config.counter.org} is counting {len(self.runs)} runs; try "
                                      "again in a minute.")
                if request.run_id in self.runs:
                    raise BadQuery(f"Run {request.run_id} is already being counted; sign a fresh query.")
            spec = check_request(request, self.trust, self.config.counter.org, time.time())
        except RegiozichtError as exc:
            log.info("run %s refused: %s", request.run_id, exc.message)
            send(pb.LinkMessage(run_id=request.run_id, sender=self.config.counter.org,
                                error=pb.Error(kind=exc.kind, message=exc.message)))
            return
        # registered before the thread starts: the nodes' first messages may arrive at once
        run = CounterRun(spec, signer=self.signer, trust=self.trust, ops=self.pool, send=send)
        with self.lock:
            self.runs[request.run_id] = run
        threading.Thread(target=self._count, args=(run,), daemon=True, name=f"count-{spec.run_id}").start()

    def _count(self, run: CounterRun) -> None:
        spec = run.spec
        try:
            release = run.run()
            log.info("run %s counted: %s", spec.run_id, "released" if release.ok else f"aborted ({release.reason})")
        except Exception:
            log.exception("run %s failed", spec.run_id)
        finally:
            with self.lock:
                self.runs.pop(spec.run_id, None)
