"""The coordinator's gRPC service: thin servicers over the hub.

Every call is mutually authenticated; the peer's certificate is checked
against the CA and the current revocation list, and its role against the
method. The coordinator verifies signatures early to refuse junk, but nodes
and the analyst's CLI verify again themselves.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from coordinator.config import CoordinatorConfig
from coordinator.history import History
from coordinator.hub import CLOSED, Hub, NodeSession
from coordinator.linked import LinkRelays
from coordinator.planning import linked_refusal, predicted_refusal
from regiozicht import lifetimes, pemfiles, rpc
from regiozicht.combine import answers_of, sum_or_nothing
from regiozicht.errors import AuthenticationFailed, BadQuery, RegiozichtError, error_from_kind
from regiozicht.identity import QUERY_ROLES, Identity
from regiozicht.linkquery import aggregate_of, parse_linked_body
from regiozicht.query import check_expiry, parse_body
from regiozicht.signed import decode_envelope, open_signed
from regiozicht.truststore import TrustStore
from regiozicht.v1 import regiozicht_pb2 as pb
from regiozicht.v1 import regiozicht_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)



class RevocationWatcher:
    """Reloads the CA's revocation list when its file changes and pushes it to nodes."""

    def __init__(self, path: Path, trust: TrustStore, hub: Hub) -> None:
        self.path, self.trust, self.hub = path, trust, hub
        self.mtime = 0.0
        self.der = b""
        self.stopping = threading.Event()

    def load(self) -> bool:
        try:
            mtime = self.path.stat().st_mtime
            if mtime == self.mtime:
                return False
            data = self.path.read_bytes()
        except OSError as exc:
            log.error("cannot read the revocation list %s: %s", self.path, exc.strerror)
            return False
        self.mtime = mtime  # a refused file is refused (and logged) once, until it changes again
        self.trust.update_crl(data)
        crl = self.trust.crl
        assert crl is not None
        from cryptography.hazmat.primitives import serialization

        self.der = crl.public_bytes(serialization.Encoding.DER)
        return True

    def message(self) -> pb.CoordinatorMessage:
        return pb.CoordinatorMessage(revocation_list=pb.RevocationList(crl_der=self.der))

    def run(self) -> None:
        while not self.stopping.wait(1.0):
            try:
                if self.load():
                    log.info("revocation list reloaded; forwarding to %d nodes", len(self.hub.sessions()))
                    warning = lifetimes.crl_warning(self.trust.crl)
                    if warning:
                        log.warning("%s", warning)
                    for session in [*self.hub.sessions(), *self.hub.counters().values()]:
                        session.outbox.put(self.message())
            except RegiozichtError as exc:
                log.error("revocation list %s refused: %s (the loaded list stays; replace the file to try again)",
                          self.path, exc.message)


class CoordinatorServicer(pb_grpc.CoordinatorServicer):
    def __init__(self, hub: Hub, trust: TrustStore, revocations: RevocationWatcher, history: History,
                 links: LinkRelays | None = None) -> None:
        self.hub, self.trust, self.revocations, self.history = hub, trust, revocations, history
        self.links = links or LinkRelays(600.0)

    def _peer(self, context: grpc.ServicerContext, roles: tuple[str, ...]) -> Identity:
        return self.trust.verify(rpc.peer_certificate(context), roles=roles)

    def Connect(self, requests: Iterator[pb.NodeMessage], context: grpc.ServicerContext) -> Iterator[pb.CoordinatorMessage]:
        peer = self._peer(context, ("node",))
        first = next(requests, None)
        if first is None or first.WhichOneof("message") != "describe":
            raise BadQuery("A node's first message must be its signed Describe; upgrade regiozicht-node.")
        session = NodeSession(peer, *self._open_describe(first.describe, peer), peer_address=context.peer(),
                              instance=first.instance)
        if first.probe:  # `regiozicht-node check`: acknowledged, never attached (a running serve stays connected)
            yield self.revocations.message()
            return
        self.hub.attach(session, context.peer())  # refuses a second connection of the same node
        warning = lifetimes.certificate_warning(pemfiles.load_certificate(session.describe_signed.certificate),
                                                f"node {peer.org}'s")
        if warning:
            log.warning("%s", warning)
        self.history.record_head(peer.org, session.describe.audit_seq, session.describe.audit_head, "describe")
        context.add_callback(lambda: self.hub.detach(session))
        reader = threading.Thread(target=self._read_replies, args=(requests, session), daemon=True,
                                  name=f"replies-{peer.org}")
        reader.start()
        yield from self._outgoing(session)

    def CounterConnect(self, requests: Iterator[pb.NodeMessage],
                       context: grpc.ServicerContext) -> Iterator[pb.CoordinatorMessage]:
        peer = self._peer(context, ("counter",))
        first = next(requests, None)
        if first is None or first.WhichOneof("message") != "hello":
            raise BadQuery("A counter's first message must be its signed CounterHello; upgrade the counter.")
        _, signer = open_signed(first.hello, self.trust, ("counter",))
        hello = pb.CounterHello.FromString(first.hello.payload)
        if signer != peer or hello.org != peer.org:
            raise AuthenticationFailed(f"The CounterHello is signed by {signer} for {hello.org}, not by the connected "
                                       f"{peer}; use one counter key.")
        session = NodeSession(peer, first.hello, pb.Describe(org=peer.org, kind="counter",
                                                             capabilities=list(hello.capabilities)),
                              peer_address=context.peer())
        self.hub.attach_counter(session)
        context.add_callback(lambda: self.hub.detach_counter(session))
        threading.Thread(target=self._read_counter, args=(requests, session), daemon=True,
                         name=f"counter-{peer.org}").start()
        yield from self._outgoing(session)

    def _read_counter(self, requests: Iterator[pb.NodeMessage], session: NodeSession) -> None:
        try:
            for message in requests:
                if message.WhichOneof("message") == "link":
                    self.links.route(session, message.link)
        except (grpc.RpcError, RegiozichtError) as exc:
            log.info("stream from %s ended: %s", session.identity, exc)
        finally:
            self.hub.detach_counter(session)

    def _outgoing(self, session: NodeSession) -> Iterator[pb.CoordinatorMessage]:
        """What a node's or counter's stream carries: the revocation list first, then its outbox."""
        yield self.revocations.message()
        while True:
            item = session.outbox.get()
            if item is CLOSED:
                return
            assert isinstance(item, pb.CoordinatorMessage)
            yield item

    def _open_describe(self, signed: pb.Signed, peer: Identity) -> tuple[pb.Signed, pb.Describe]:
        _, signer = open_signed(signed, self.trust, ("node",))
        if signer != peer:
            raise AuthenticationFailed(f"The Describe is signed by {signer}, not by the connected {peer}; use one node key.")
        describe = pb.Describe()
        describe.ParseFromString(signed.payload)
        if (describe.org, describe.kind) != (peer.org, peer.kind):
            raise AuthenticationFailed(f"The Describe claims {describe.org} ({describe.kind}) but the certificate is {peer}.")
        return signed, describe

    def _read_replies(self, requests: Iterator[pb.NodeMessage], session: NodeSession) -> None:
        try:
            for message in requests:
                which = message.WhichOneof("message")
                if which == "reply":
                    session.resolve(message.reply)
                elif which == "link":
                    self.links.route(session, message.link)
                elif which == "describe":
                    signed, describe = self._open_describe(message.describe, session.identity)
                    self.hub.update_describe(session, signed, describe)
                    self.history.record_head(describe.org, describe.audit_seq, describe.audit_head, "describe")
        except (grpc.RpcError, RegiozichtError) as exc:
            log.info("stream from %s ended: %s", session.identity, exc)
            reason = exc.message if isinstance(exc, RegiozichtError) else "the stream broke"
            self.hub.detach(session, reason)
        finally:
            self.hub.detach(session)

    def Submit(self, request: pb.SubmitRequest, context: grpc.ServicerContext) -> pb.SubmitResponse:
        peer = self._peer(context, QUERY_ROLES)
        payload, signer = open_signed(request.envelope, self.trust, QUERY_ROLES)
        if signer != peer:
            raise AuthenticationFailed(f"The query is signed by {signer}, not by the connected {peer}; sign with your own key.")
        envelope = decode_envelope(payload)
        check_expiry(envelope.issued_at_unix, envelope.expires_at_unix, time.time())
        if aggregate_of(envelope.body) == "linked_count":
            return self._submit_linked(request.envelope, envelope, signer)
        query = parse_body(envelope.body)
        free = set() if envelope.refresh else self.history.answered_before(envelope.body)
        results = self.hub.dispatch(
            request.envelope, query.dataset,
            refusal=lambda describe: predicted_refusal(describe, query, describe.org in free),
        )
        if not results:
            raise BadQuery(f"No node publishes dataset {query.dataset!r}; `regiozicht catalog` lists the datasets.")
        _raise_if_all_refused(results, ("BadQuery", "PermissionDenied", "BudgetExhausted"))
        answers = answers_of(results, self.trust)
        response = pb.SubmitResponse(count=pb.CountOutcome(results=results, by=list(query.by),
                                                            combined=sum_or_nothing(answers)))
        self.history.record(envelope.query_id, signer.uri, query.dataset, envelope.body, response, answers)
        log.info("query %s on %s by %s: %d nodes", envelope.query_id, query.dataset, signer, len(results))
        return response

    def _submit_linked(self, signed: pb.Signed, envelope: pb.QueryEnvelope, signer: Identity) -> pb.SubmitResponse:
        query = parse_linked_body(envelope.body)
        refusal = linked_refusal(self.hub.catalog_describes(), query)
        if refusal is not None:
            raise refusal
        runs = self.links.run_all(signed, query, envelope.query_id, envelope.expires_at_unix,
                                  {s.identity.org: s for s in self.hub.sessions()}, self.hub.counters())
        _raise_if_all_refused(runs, ("BadQuery", "PermissionDenied", "BudgetExhausted", "Replayed"))
        response = pb.SubmitResponse(linked=pb.LinkedOutcome(runs=runs, by=list(query.by)))
        self.history.record(envelope.query_id, signer.uri, query.anchor.dataset, envelope.body, response, [])
        for run in runs:
            for verdict in (run.anchor_verdict, run.other_verdict):
                if verdict.payload:
                    parsed = pb.LinkVerdict.FromString(verdict.payload)
                    self.history.record_head(parsed.org, parsed.audit_seq, parsed.audit_head, envelope.query_id)
        log.info("linked query %s by %s: %d run(s), %d failed", envelope.query_id, signer, len(runs),
                 sum(r.HasField("error") for r in runs))
        return response

    def Catalog(self, request: pb.CatalogRequest, context: grpc.ServicerContext) -> pb.CatalogResponse:
        self._peer(context, QUERY_ROLES)
        return pb.CatalogResponse(nodes=self.hub.catalog(), counters=self.hub.counter_catalog())


def _raise_if_all_refused(outcomes: Sequence[pb.NodeResult] | Sequence[pb.RunResult],
                          kinds: tuple[str, ...]) -> None:
    """Every node (or run) refused with the same kind, one of `kinds`: that refusal is the answer."""
    found = {o.error.kind for o in outcomes if o.HasField("error")}
    if outcomes and len(found) == 1 and all(o.HasField("error") for o in outcomes) and found <= set(kinds):
        raise error_from_kind(outcomes[0].error.kind, outcomes[0].error.message)


def _restore_known_nodes(hub: Hub, history: History, trust: TrustStore) -> None:
    """Every node seen before this start, listed offline until it reconnects: a count asked before
    then names its part missing rather than passing the others off as the whole region."""
    for org, signed, last_seen in history.remembered_nodes():
        try:
            _, signer = open_signed(signed, trust, ("node",))
        except RegiozichtError as exc:  # revoked or expired since: no longer expected
            log.info("node %s is no longer listed: %s", org, exc.message)
            continue
        describe = pb.Describe.FromString(signed.payload)
        if signer.org == org == describe.org:
            hub.restore(signer, signed, describe, last_seen)


class CoordinatorServer:
    """The running hub: gRPC server, revocation watcher, hub state."""

    def __init__(self, config: CoordinatorConfig) -> None:
        self.config = config
        self.trust = TrustStore.from_files(config.tls.ca, require_crl=True)
        history = History(config.store.url)
        self.hub = Hub(config.server.query_timeout_seconds, config.bindings(),
                       remember=lambda known: history.remember_node(known.identity.org, known.describe_signed,
                                                                    known.last_seen))
        self.revocations = RevocationWatcher(config.tls.revocation_list, self.trust, self.hub)
        self.revocations.load()
        _restore_known_nodes(self.hub, history, self.trust)
        self.server = grpc.server(
            ThreadPoolExecutor(max_workers=config.server.workers, thread_name_prefix="rpc"),
            interceptors=[rpc.ErrorInterceptor()],
            options=rpc.SERVER_OPTIONS,
        )
        self.links = LinkRelays(config.server.link_timeout_seconds)
        pb_grpc.add_CoordinatorServicer_to_server(
            CoordinatorServicer(self.hub, self.trust, self.revocations, history, self.links),
            self.server,
        )
        # the standard gRPC health service (grpc.health.v1), for load balancers and `grpc_health_probe`
        self.health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        credentials = rpc.server_credentials(
            rpc.read(config.tls.ca, "CA certificate"),
            rpc.read(config.tls.certificate, "coordinator certificate"),
            rpc.read(config.tls.key, "coordinator key"),
        )
        self.port = self.server.add_secure_port(config.server.listen, credentials)
        if self.port == 0:
            from regiozicht.errors import ConfigError

            raise ConfigError(f"Cannot listen on {config.server.listen}; choose a free address in [server] listen.")

    def start(self) -> None:
        self.server.start()
        for service in ("", "regiozicht.v1.Coordinator"):
            self.health.set(service, health_pb2.HealthCheckResponse.SERVING)
        threading.Thread(target=self.revocations.run, daemon=True, name="crl-watch").start()
        self.expiry = lifetimes.ExpiryWatch(self._lifetime_warnings, log).start()
        log.info("coordinator listening on port %d", self.port)

    def _lifetime_warnings(self) -> list[str | None]:
        """The coordinator's own certificate, the revocation list, and every connected node's certificate."""
        own = pemfiles.load_certificate(pemfiles.read_file(self.config.tls.certificate, "coordinator certificate"))
        warnings = [lifetimes.certificate_warning(own, "the coordinator's"), lifetimes.crl_warning(self.trust.crl)]
        for session in self.hub.sessions():
            certificate = pemfiles.load_certificate(session.describe_signed.certificate)
            warnings.append(lifetimes.certificate_warning(certificate, f"node {session.identity.org}'s"))
        return warnings

    def stop(self, grace: float = 1.0) -> None:
        self.revocations.stopping.set()
        if hasattr(self, "expiry"):
            self.expiry.stopping.set()
        self.health.enter_graceful_shutdown()
        for session in self.hub.sessions():
            session.close()
        self.server.stop(grace).wait()
