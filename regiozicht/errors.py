"""One exception hierarchy for the whole system.

Each class names the gRPC status it travels as. Servers map them in one
interceptor; clients turn a ``grpc.RpcError`` back into the same class by
its status code and a machine-readable ``kind`` in the trailing metadata, so
nobody matches on message text. Every message is one sentence that tells the
user what to do next.
"""

from __future__ import annotations

from enum import IntEnum

import grpc


class ExitCode(IntEnum):
    """What every CLI exits with; the help text of both CLIs is made from this table."""

    OK = 0
    UNEXPECTED = 1
    BAD_INPUT = 2
    AUTHENTICATION = 3
    NOT_PERMITTED = 4
    BUDGET_EXHAUSTED = 5
    UNREACHABLE = 6
    INTERNAL = 7
    AUDIT_PROBLEM = 8


EXIT_MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "success",
    ExitCode.UNEXPECTED: "unexpected failure",
    ExitCode.BAD_INPUT: "bad input or config",
    ExitCode.AUTHENTICATION: "authentication failed (certificate, signature)",
    ExitCode.NOT_PERMITTED: "not permitted (role, covenant, replayed or expired query, a running service)",
    ExitCode.BUDGET_EXHAUSTED: "privacy budget exhausted",
    ExitCode.UNREACHABLE: "a node, the coordinator or a database is unreachable (a partial result included)",
    ExitCode.INTERNAL: "internal error",
    ExitCode.AUDIT_PROBLEM: "an audit trail check found problems",
}


def exit_codes_help() -> str:
    """One paragraph for `--help`: every exit code and its meaning."""
    return "Exit codes: " + "; ".join(f"{int(code)} {EXIT_MEANINGS[code]}" for code in ExitCode) + "."


class RegiozichtError(Exception):
    """Base class: a refusal or failure the user can act on."""

    status: grpc.StatusCode = grpc.StatusCode.UNKNOWN
    exit_code: ExitCode = ExitCode.UNEXPECTED

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
    exit_code = ExitCode.BAD_INPUT


class ConfigError(RegiozichtError):
    """A config file, key file, passphrase or database setting is wrong."""

    status = grpc.StatusCode.FAILED_PRECONDITION
    exit_code = ExitCode.BAD_INPUT


class AuthenticationFailed(RegiozichtError):
    """Unknown, expired or revoked certificate, or a signature that fails."""

    status = grpc.StatusCode.UNAUTHENTICATED
    exit_code = ExitCode.AUTHENTICATION


class PermissionDenied(RegiozichtError):
    """The identity is known but may not do this (role, covenant)."""

    status = grpc.StatusCode.PERMISSION_DENIED
    exit_code = ExitCode.NOT_PERMITTED


class Replayed(RegiozichtError):
    """A signed query id was already used, or the query has expired."""

    status = grpc.StatusCode.ALREADY_EXISTS
    exit_code = ExitCode.NOT_PERMITTED


class AlreadyConnected(RegiozichtError):
    """A second stream for a certificate that already has one open at the coordinator."""

    status = grpc.StatusCode.ALREADY_EXISTS
    exit_code = ExitCode.NOT_PERMITTED


class BudgetExhausted(RegiozichtError):
    """The node's privacy budget cannot pay for this release."""

    status = grpc.StatusCode.RESOURCE_EXHAUSTED
    exit_code = ExitCode.BUDGET_EXHAUSTED


class Unavailable(RegiozichtError):
    """A node, the coordinator or a partner database cannot be reached."""

    status = grpc.StatusCode.UNAVAILABLE
    exit_code = ExitCode.UNREACHABLE


class AuditFailed(RegiozichtError):
    """An audit trail check found problems, or had nothing to check against."""

    status = grpc.StatusCode.DATA_LOSS
    exit_code = ExitCode.AUDIT_PROBLEM


class PartialResult(Unavailable):
    """Some nodes did not answer: what the others answered was shown, and the command exits 6."""


class Internal(RegiozichtError):
    """Something unexpected broke; the message carries a correlation id."""

    status = grpc.StatusCode.INTERNAL
    exit_code = ExitCode.INTERNAL


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
        PartialResult,
        AuditFailed,
        Internal,
    )
}


def error_from_kind(kind: str, message: str) -> RegiozichtError:
    """Rebuilds a typed error from its wire form (kind name + message)."""
    return ERROR_CLASSES.get(kind, RegiozichtError)(message)
