"""One exception hierarchy for the whole system.

Each class names the gRPC status it travels as. Servers map them in one
interceptor; clients turn a ``grpc.RpcError`` back into the same class by
its status code and a machine-readable ``kind`` in the trailing metadata, so
nobody matches on message text. Every message is one sentence that tells the
user what to do next.
"""

from __future__ import annotations

import grpc


class RegiozichtError(Exception):
    """Base class: a refusal or failure the user can act on."""

    status: grpc.StatusCode = grpc.StatusCode.UNKNOWN
    exit_code: int = 1

    MAX_MESSAGE = 600  # a refusal may quote what it was sent, never all of it (a 1 MB value stays home)

    def __init__(self, message: str) -> None:
        if len(message) > self.MAX_MESSAGE:
            message = message[: self.MAX_MESSAGE - 1] + "…"
        super().__init__(message)
        self.message = message

    @property
    def kind(self) -> str:
        return type(self).__name__


class BadQuery(RegiozichtError):
    """The query itself is wrong: unknown dataset, bad filter, ε ≤ 0, …"""

    status = grpc.StatusCode.INVALID_ARGUMENT
    exit_code = 2


class ConfigError(RegiozichtError):
    """A config file, key file, passphrase or database setting is wrong."""

    status = grpc.StatusCode.FAILED_PRECONDITION
    exit_code = 2


class AuthenticationFailed(RegiozichtError):
    """Unknown, expired or revoked certificate, or a signature that fails."""

    status = grpc.StatusCode.UNAUTHENTICATED
    exit_code = 3


class PermissionDenied(RegiozichtError):
    """The identity is known but may not do this (role, covenant)."""

    status = grpc.StatusCode.PERMISSION_DENIED
    exit_code = 4


class Replayed(RegiozichtError):
    """A signed query id was already used, or the query has expired."""

    status = grpc.StatusCode.ALREADY_EXISTS
    exit_code = 4


class AlreadyConnected(RegiozichtError):
    """A second stream for a certificate that already has one open at the coordinator."""

    status = grpc.StatusCode.ALREADY_EXISTS
    exit_code = 4


class BudgetExhausted(RegiozichtError):
    """The node's privacy budget cannot pay for this release."""

    status = grpc.StatusCode.RESOURCE_EXHAUSTED
    exit_code = 5


class Unavailable(RegiozichtError):
    """A node, the coordinator or a partner database cannot be reached."""

    status = grpc.StatusCode.UNAVAILABLE
    exit_code = 6


class AuditFailed(RegiozichtError):
    """An audit trail check found problems, or had nothing to check against."""

    status = grpc.StatusCode.DATA_LOSS
    exit_code = 8


class Internal(RegiozichtError):
    """Something unexpected broke; the message carries a correlation id."""

    status = grpc.StatusCode.INTERNAL
    exit_code = 7


ERROR_CLASSES: dict[str, type[RegiozichtError]] = {
    cls.__name__: cls
    for cls in (
        BadQuery,
        ConfigError,
        AuthenticationFailed,
        PermissionDenied,
        Replayed,
        AlreadyConnected,
        BudgetExhausted,
        Unavailable,
        AuditFailed,
        Internal,
    )
}


def error_from_kind(kind: str, message: str) -> RegiozichtError:
    """Rebuilds a typed error from its wire form (kind name + message)."""
    return ERROR_CLASSES.get(kind, RegiozichtError)(message)
