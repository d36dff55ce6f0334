"""The node's connection to the coordinator: dial out, keep one mutual-TLS
stream open, answer queries concurrently, reconnect with backoff.

Partners open no inbound port. The first message on every stream is the
node's signed Describe.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc

from node.service import NodeService
from regiozicht import dialout, lifetimes, rpc, tlsprobe
from regiozicht.errors import AlreadyConnected, Internal, RegiozichtError
from regiozicht.v1 import regiozicht_pb2 as pb
from regiozicht.v1 import regiozicht_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)

_DESCRIBE = object()  # placeholder: build a fresh Describe when it is sent
# a busy node re-sends its Describe (the catalog's budget) at most this often: building and signing
# one after every spend cost a tenth of the node's time under load
DESCRIBE_AT_MOST_EVERY = 0.2  # seconds


class NodeAgent:
    def __init__(self, service: NodeService) -> None:
        self.service = service
        config = service.config
        self.credentials = self._credentials()
        self.options = list(rpc.CHANNEL_OPTIONS)
        if config.coordinator.server_name:
            self.options.append(("grpc.ssl_target_name_override", config.coordinator.server_name))
        self.pool = ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="query")
        self.stopping = threading.Event()
        self.connected = threading.Event()
        self._channel: grpc.Channel | None = None
        self._outbox: queue.Queue[object] | None = None  # the current connection's
        self._describe_queued = threading.Event()
        self._last_describe = 0.0  # time.monotonic() of the last Describe sent
        # this process's id at the coordinator: its own reconnects replace its stream, another process is refused
        self.instance = uuid.uuid4().hex
        service.links.on_spent = self._spent_in_run  # once: a charged run refreshes the catalog's budget

    def _credentials(self) -> grpc.ChannelCredentials:
        tls = self.service.config.tls
        return rpc.channel_credentials(rpc.read(tls.ca, "CA certificate"), rpc.read(tls.certificate, "node certificate"),
                                       rpc.read(tls.key, "node key"))

    def use_new_certificate(self) -> None:
        """After a renewal (SIGHUP): TLS with the new certificate, by reconnecting; the coordinator takes
        the new stream once the old one has closed."""
        self.credentials = self._credentials()
        channel = self._channel
        if channel is not None:
            channel.close()

    def run(self) -> None:
        """Serves until `stop()`; reconnects with jittered exponential backoff."""
        coordinator = self.service.config.coordinator
        ca = self.service.config.tls.ca
        dialout.reconnect(self._serve_once, self.stopping, coordinator.address, on_disconnect=self.connected.clear,
                          connected=self.connected,
                          diagnose=lambda: tlsprobe.not_the_coordinator(coordinator.address, rpc.read(ca, "CA certificate"),
                                                                        coordinator.server_name))

    def stop(self) -> None:
        self.stopping.set()
        if self._channel is not None:
            self._channel.close()
        self.pool.shutdown(wait=False, cancel_futures=True)

    def _serve_once(self) -> None:
        address = self.service.config.coordinator.address
        outbox: queue.Queue[object] = queue.Queue()
        # a refresh queued for the previous connection died with it; this one starts with a fresh Describe
        self._describe_queued.clear()
        outbox.put(pb.NodeMessage(describe=self.service.describe(), instance=self.instance))
        self._outbox = outbox
        with grpc.secure_channel(address, self.credentials, options=self.options) as channel:
            self._channel = channel
            stub = pb_grpc.CoordinatorStub(channel)
            responses = stub.Connect(self._drain(outbox))
            try:
                for message in responses:
                    if not self.connected.is_set():
                        log.info("connected to the coordinator at %s", address)
                        self.connected.set()
                    self._handle(message, outbox)
            except grpc.RpcError as exc:
                error = rpc.error_from_rpc(exc)
                if isinstance(error, AlreadyConnected):
                    raise error from None  # logged as one sentence; retried with backoff, never knocks the other off
                raise
            finally:
                outbox.put(dialout.STOP)
                self._channel = None
                self.service.links.abort_all("the connection to the coordinator ended mid-run")

    def _handle(self, message: pb.CoordinatorMessage, outbox: queue.Queue[object]) -> None:
        which = message.WhichOneof("message")
        if which == "revocation_list":
            try:
                self.service.revocation.accept(message.revocation_list.crl_der)
                log.info("revocation list updated")
                warning = lifetimes.crl_warning(self.service.trust.crl)
                if warning:
                    log.warning("%s", warning)
            except RegiozichtError as exc:
                log.error("revocation list refused: %s", exc.message)
        elif which == "query":
            self.pool.submit(self._answer, message.query, outbox)
        elif which == "link_request":
            self.service.links.open(message.link_request, lambda link: outbox.put(pb.NodeMessage(link=link)))
        elif which == "link":
            self.service.links.deliver(message.link)

    def _answer(self, request: pb.QueryRequest, outbox: queue.Queue[object]) -> None:
        reply = pb.QueryReply(request_id=request.request_id)
        spent = False
        try:
            reply.answer.CopyFrom(self.service.answer(request.envelope))
            spent = not pb.Answer.FromString(reply.answer.payload).from_store
        except RegiozichtError as exc:
            log.info("query %s refused: %s", request.request_id, exc.message)
            reply.error.CopyFrom(pb.Error(kind=exc.kind, message=exc.message))
        except Exception:  # never let one query take the node down
            log.exception("query %s failed", request.request_id)
            error = Internal(f"Node {self.service.config.node.org} hit an internal error; its IT staff can see it in the log.")
            reply.error.CopyFrom(pb.Error(kind=error.kind, message=error.message))
        outbox.put(pb.NodeMessage(reply=reply))
        if spent:
            self._refresh_describe(outbox)

    def _spent_in_run(self) -> None:
        outbox = self._outbox
        if outbox is not None:
            self._refresh_describe(outbox)

    def _refresh_describe(self, outbox: queue.Queue[object]) -> None:
        # the catalog shows remaining budget: after a spend a fresh Describe
        # follows; spends while one is queued are covered by it, since it is
        # built when sent
        if self._describe_queued.is_set():
            return
        self._describe_queued.set()
        wait = self._last_describe + DESCRIBE_AT_MOST_EVERY - time.monotonic()
        if wait <= 0:
            outbox.put(_DESCRIBE)
            return
        later = threading.Timer(wait, outbox.put, (_DESCRIBE,))
        later.daemon = True
        later.start()

    def _drain(self, outbox: queue.Queue[object]) -> Iterator[pb.NodeMessage]:
        return dialout.drain(outbox, self.stopping, self._fresh_describe)

    def _fresh_describe(self, item: object) -> pb.NodeMessage | None:
        """The Describe placeholder, built when sent (so it shows every spend before it)."""
        assert item is _DESCRIBE
        self._describe_queued.clear()
        self._last_describe = time.monotonic()
        try:
            return pb.NodeMessage(describe=self.service.describe())
        except Exception:  # a stale catalog must not take the node down
            log.exception("could not refresh the Describe")
            return None
