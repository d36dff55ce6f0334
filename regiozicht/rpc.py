"""gRPC plumbing shared by node, coordinator and CLI: mTLS credentials, peer
identity, and the one mapping between typed errors and gRPC status codes."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import grpc

from regiozicht.errors import (
    AuthenticationFailed,
    Internal,
    RegiozichtError,
    Unavailable,
    error_from_kind,
)

log = logging.getLogger(__name__)

ERROR_KIND_KEY = "regiozicht-error-kind"
# The largest legitimate message: a sealed chunk of a linked run (8,192 points of 32 bytes, 0.3 MB),
# a catalog of every node's Describe, or a count over 100,000 cells from a dozen nodes (a few MB).
# Anything larger from any authenticated party is refused by gRPC before it is read.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
# Long-lived node streams: keep them alive through idle periods and notice
# a dead peer within about half a minute.
CHANNEL_OPTIONS: list[tuple[str, int | str]] = [
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
]
SERVER_OPTIONS = [
    # the coordinator notices a node's dead stream within about half a minute too (a network cut sends no
    # FIN), so the node's reconnect from another address is not refused for long as a second connection
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 5_000),
    ("grpc.http2.max_ping_strikes", 0),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
]


def read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        from regiozicht.errors import ConfigError

        raise ConfigError(f"Cannot read the {what} at {path} ({exc.strerror}); check the path in the config.") from None


def server_credentials(ca: bytes, certificate: bytes, key: bytes) -> grpc.ServerCredentials:
    """Mutual TLS: the server demands a client certificate from the regional CA."""
    return grpc.ssl_server_credentials([(key, certificate)], root_certificates=ca, require_client_auth=True)


def channel_credentials(ca: bytes, certificate: bytes, key: bytes) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=certificate)


def peer_certificate(context: grpc.ServicerContext) -> bytes:
    """The client certificate TLS already checked against the CA, as PEM (`TrustStore.verify` reads it)."""
    pem = context.auth_context().get("x509_pem_cert")
    if not pem:
        raise AuthenticationFailed("No client certificate was presented; connect with a certificate of the regional CA.")
    return bytes(pem[0])


def abort(context: grpc.ServicerContext, error: RegiozichtError) -> None:
    context.set_trailing_metadata(((ERROR_KIND_KEY, error.kind),))
    context.abort(error.status, error.message)


def error_from_rpc(exc: grpc.RpcError) -> RegiozichtError:
    """Turns a failed call back into the typed error the server raised."""
    kind = ""
    # the stub types an RpcError's metadata as objects with .key/.value; at run time they are (key, value) pairs
    trailing = cast("tuple[tuple[str, str | bytes], ...] | None",
                    exc.trailing_metadata() if hasattr(exc, "trailing_metadata") else None)
    for key, value in trailing or ():
        if key == ERROR_KIND_KEY:
            kind = str(value)
    message = exc.details() if hasattr(exc, "details") else str(exc)
    if kind:
        return error_from_kind(kind, message or "")
    code = exc.code() if hasattr(exc, "code") else None
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        # a refused client certificate looks the same as a dead server here:
        # BoringSSL just closes the socket during the handshake
        return Unavailable(
            f"The coordinator cannot be reached or refused the TLS handshake ({message}); check that it runs, "
            "its address, and that your certificate is from the regional CA and not expired."
        )
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return AuthenticationFailed(f"The coordinator refused the connection ({message}); check the certificate in the profile.")
    return Internal(f"The call failed with {code}: {message}")


class ErrorInterceptor(grpc.ServerInterceptor):
    """Maps typed errors to status codes; anything unexpected becomes INTERNAL
    with a correlation id, logged here, with no internals sent to the peer."""

    def intercept_service(self, continuation: Callable[[Any], Any], details: Any) -> Any:
        handler = continuation(details)
        if handler is None:
            return None
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                _wrap_unary(handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_stream:
            return grpc.stream_stream_rpc_method_handler(
                _wrap_stream(handler.stream_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler


def _handle(context: grpc.ServicerContext, exc: Exception) -> None:
    if isinstance(exc, RegiozichtError):
        abort(context, exc)
    correlation = uuid.uuid4().hex[:12]
    log.exception("internal error, correlation id %s", correlation)
    abort(context, Internal(f"Internal error (correlation id {correlation}); report it to the coordinator's operator."))


def _wrap_unary(behaviour: Callable[[Any, grpc.ServicerContext], Any]) -> Callable[[Any, grpc.ServicerContext], Any]:
    def wrapped(request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return behaviour(request, context)
        except Exception as exc:  # the mapping point
            if _is_abort(exc):
                raise
            _handle(context, exc)

    return wrapped


def _wrap_stream(behaviour: Callable[[Any, grpc.ServicerContext], Iterator[Any]]) -> Callable[[Any, grpc.ServicerContext], Iterator[Any]]:
    def wrapped(requests: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        try:
            yield from behaviour(requests, context)
        except Exception as exc:  # the mapping point
            if _is_abort(exc):
                raise
            _handle(context, exc)

    return wrapped


def _is_abort(exc: Exception) -> bool:
    # context.abort() raises a bare Exception subclass internal to grpc
    return type(exc).__module__.startswith("grpc")
