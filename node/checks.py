"""`regiozicht-node check`: everything that can keep a node from serving, each with its fix.

Each step reports what it found; a problem is one sentence ending in what to
do, a warning does not fail the check. Steps after a failed one still run
where they do not depend on it, so one run names every problem.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import grpc
from cryptography import x509
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from node.config import NodeConfig
from node.quality import scan
from regiozicht import pemfiles, rpc, tlsprobe, truststore
from regiozicht.errors import AlreadyConnected, AuthenticationFailed, ConfigError, RegiozichtError, Unavailable
from regiozicht.v1 import regiozicht_pb2 as pb
from regiozicht.v1 import regiozicht_pb2_grpc as pb_grpc

EXPIRY_WARNING = dt.timedelta(days=14)
COORDINATOR_TIMEOUT_SECONDS = 5.0


@dataclass
class Report:
    """What a check found: lines to show, and the problems that fail it."""

    say: Callable[[str], None]
    problems: list[RegiozichtError] = field(default_factory=list)
    warnings: int = 0

    def ok(self, message: str) -> None:
        self.say(f"ok: {message}")

    def warn(self, message: str) -> None:
        self.warnings += 1
        self.say(f"warning: {message}")

    def step(self, work: Callable[[], object]) -> bool:
        """Runs one step; a typed refusal becomes a problem instead of ending the check."""
        try:
            work()
            return True
        except RegiozichtError as exc:
            self.problems.append(exc)
            self.say(f"problem: {exc.message}")
            return False


def check_files(cfg: NodeConfig, report: Report) -> None:
    """The TLS files readable, the key private, the state folder there (made when its parent exists)."""
    for what, path in (("CA certificate", cfg.tls.ca), ("certificate", cfg.tls.certificate), ("key", cfg.tls.key)):
        if not path.is_file():
            raise ConfigError(f"The {what} {path} does not exist; put it there or fix [tls] in node.toml.")
    if os.stat(cfg.tls.key).st_mode & 0o077:
        report.warn(f"the key {cfg.tls.key} is readable by others; run `chmod 600 {cfg.tls.key}`.")
    if cfg.state.url.startswith("sqlite:///"):
        folder = Path(cfg.state.url[len("sqlite:///"):]).parent
        if not folder.is_dir():
            if not folder.parent.is_dir():
                raise ConfigError(f"The state folder {folder} and its parent do not exist; create it or fix [state] "
                                  "url in node.toml.")
            folder.mkdir(mode=0o700)
            report.ok(f"created the state folder {folder}")
        if not os.access(folder, os.W_OK):
            raise ConfigError(f"The state folder {folder} is not writable by this user; make the node's service "
                              "user its owner.")
    report.ok("files and folders are in place")


def check_certificate(cfg: NodeConfig, trust: truststore.TrustStore, report: Report,
                      now: dt.datetime | None = None) -> x509.Certificate:
    """Chain, role, org and kind, and how long the certificate has left."""
    certificate = pemfiles.load_certificate(pemfiles.read_file(cfg.tls.certificate, "certificate"))
    identity = trust.verify(certificate, roles=("node",), now=now)
    if (identity.org, identity.kind) != (cfg.node.org, cfg.node.kind):
        raise ConfigError(f"The certificate is for {identity}, but node.toml says {cfg.node.org} ({cfg.node.kind}); "
                          "request a certificate for this node.")
    pemfiles.load_private_key(cfg.tls.key)
    moment = now or dt.datetime.now(dt.UTC)
    left = certificate.not_valid_after_utc - moment
    report.ok(f"certificate {identity}, valid until {certificate.not_valid_after_utc:%Y-%m-%d}")
    if left < EXPIRY_WARNING:
        report.warn(f"the certificate expires in {left.days} day(s); make a new key and request "
                    "(`regiozicht-node renew -c node.toml`) and have the CA operator sign it.")
    return certificate


def check_coordinator(cfg: NodeConfig, describe: pb.Signed, trust: truststore.TrustStore, report: Report,
                      timeout: float = COORDINATOR_TIMEOUT_SECONDS) -> None:
    """A TLS handshake with the node's certificate and a Describe the coordinator acknowledges.

    The coordinator answers a Describe with the current revocation list, whose
    freshness is checked too. The check holds the connection for a moment only.
    """
    credentials = rpc.channel_credentials(rpc.read(cfg.tls.ca, "CA certificate"),
                                          rpc.read(cfg.tls.certificate, "node certificate"),
                                          rpc.read(cfg.tls.key, "node key"))
    options = list(rpc.CHANNEL_OPTIONS)
    if cfg.coordinator.server_name:
        options.append(("grpc.ssl_target_name_override", cfg.coordinator.server_name))
    address = cfg.coordinator.address
    done = threading.Event()

    def requests() -> Iterator[pb.NodeMessage]:
        yield pb.NodeMessage(describe=describe, probe=True)  # acknowledged without replacing a running serve
        done.wait(timeout)

    try:
        with grpc.secure_channel(address, credentials, options=options) as channel:
            call = pb_grpc.CoordinatorStub(channel).Connect(requests(), timeout=timeout)
            try:
                first = next(call)
            finally:
                done.set()
                call.cancel()
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.CANCELLED:
            raise Unavailable(f"The coordinator at {address} closed the connection; check its log.") from None
        error = rpc.error_from_rpc(exc)
        if isinstance(error, AlreadyConnected):
            # a coordinator without probes verified this certificate and Describe, then refused a second stream
            report.ok(f"coordinator {address} reached; this node is already connected there (its `serve` runs), "
                      "so the check did not take over the connection")
            return
        if isinstance(error, Unavailable):
            impostor = tlsprobe.not_the_coordinator(address, rpc.read(cfg.tls.ca, "CA certificate"),
                                                    cfg.coordinator.server_name)
            if impostor is not None:
                raise impostor from None
            raise Unavailable(f"Cannot reach the coordinator at {address} within {timeout:.0f} s with this node's "
                              "certificate; check [coordinator] address (host and port), the firewall (outbound), "
                              "and that the coordinator runs.") from None
        raise error from None
    if first.WhichOneof("message") != "revocation_list":
        raise Unavailable(f"The coordinator at {address} did not acknowledge the Describe; check its version.")
    trust.update_crl(first.revocation_list.crl_der)
    crl = trust.crl
    assert crl is not None
    report.ok(f"coordinator {address} reached; it acknowledged this node's Describe")
    next_update = crl.next_update_utc
    if next_update is None or next_update < dt.datetime.now(dt.UTC):
        raise AuthenticationFailed(f"The coordinator's revocation list expired at {next_update}; the node refuses "
                                   "every query until the CA operator runs `regiozicht pki crl` and the "
                                   "coordinator loads it.")
    if next_update - dt.datetime.now(dt.UTC) < dt.timedelta(days=2):
        report.warn(f"the revocation list expires at {next_update:%Y-%m-%d %H:%M} UTC; ask the CA operator for a "
                    "fresh `regiozicht pki crl`.")


def check_read_only(engine: Engine, report: Report) -> None:
    """Warns when the partner database account could write (the node only ever reads)."""
    url = engine.url
    backend = url.get_backend_name()
    if backend == "sqlite":
        path = str(url.database or "").removeprefix("file:")
        writable = bool(path) and os.access(path, os.W_OK)
        where = f"the file {path} is writable by this user; make it read-only for the node's service user (e.g. " \
                f"`chmod 440` and group-owned), the node opens it with mode=ro anyway."
    elif backend == "postgresql":
        with engine.connect() as connection:
            writable = bool(connection.execute(text(
                "SELECT rolsuper OR EXISTS (SELECT 1 FROM information_schema.table_privileges "
                "WHERE grantee = current_user AND privilege_type IN ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE')) "
                "FROM pg_roles WHERE rolname = current_user")).scalar())
        where = f"the account {url.username} may write; give the node a role with SELECT only (deploy/RUNBOOK.md)."
    elif backend == "duckdb":
        report.ok("the extract folder is read through an in-memory DuckDB that may only read it")
        return
    else:
        report.warn(f"cannot tell whether the {backend} account is read-only; give the node a SELECT-only account.")
        return
    if writable:
        report.warn(f"the partner database can be written: {where}")
    else:
        report.ok("the partner database account is read-only")


def check_extracts(cfg: NodeConfig, report: Report) -> None:
    """Per extract file of a [database] folder: rows and column types, or why it cannot be read, and per
    dated column the values that are no date."""
    from node.extracts import inspect_folder

    if cfg.database.folder is None:
        return
    for finding in inspect_folder(cfg.database):
        if finding.problem:
            report.step(partial(_raise, ConfigError(finding.message)))
        else:
            report.ok(f"extract {finding.file}: {finding.message}")


def check_datasets(cfg: NodeConfig, connection: Connection, report: Report) -> None:
    """Each dataset's SQL runs and returns its declared columns; values outside a domain are counted (here only)."""
    peildatum = cfg.node.data_as_of.date()
    for dataset in cfg.datasets:
        started = time.perf_counter()
        try:
            quality = scan(connection, dataset, peildatum)
        except SQLAlchemyError as exc:
            connection.rollback()
            first = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            report.step(partial(_raise, ConfigError(
                f"Dataset {dataset.name}'s sql fails on the partner database ({first}); fix that dataset's sql in "
                "node.toml (or [database] url).")))
            continue
        if quality.missing_columns:
            report.step(partial(_raise, ConfigError(
                f"Dataset {dataset.name}'s sql returns no column {', '.join(quality.missing_columns)}; name them "
                "with AS in that dataset's sql.")))
            continue
        report.ok(f"dataset {dataset.name}: template runs and returns its columns ({time.perf_counter() - started:.2f} s)")
        for dimension in quality.outside_domain:
            # counted and shown here only; such rows count as `onbekend` and the figures are never sent
            report.warn(f"dataset {dataset.name}: {quality.domain_summary(dimension)} on {peildatum} (counted as "
                        f"onbekend); add missing codes to [datasets.dimensions.{dimension}] domain or correct the "
                        "data (`regiozicht-node quality` shows more).")
        if quality.outside_coverage:
            covered = "; ".join(f"{k} in {', '.join(v)}" for k, v in dataset.coverage.items())
            report.ok(f"dataset {dataset.name}: coverage {covered}: {quality.outside_coverage} person(s) on {peildatum} "
                      "lie outside it and are left out of every answer (another node's records, or a value to correct)")


def _raise(error: RegiozichtError) -> None:
    raise error
