"""`regiozicht-node`: what a partner's IT staff run beside their database."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import signal
import sys
import threading
import time
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError

from node import config as node_config
from regiozicht.authority import request_node_certificate
from regiozicht.cli_support import EXIT_CODES, OutputFormat, emit, err_console, exit_on_error
from regiozicht.errors import ConfigError, RegiozichtError, Unavailable
from regiozicht.pemfiles import load_certificate
from regiozicht.tomlconfig import load_toml
from regiozicht.truststore import TrustStore
from regiozicht.version import version_callback

app = typer.Typer(help=f"Run a Regiozicht node beside a partner database.\n\n{EXIT_CODES}", no_args_is_help=True,
                  add_completion=False)
console = Console()

from node.cli_documents import report_command  # adds `covenant dpia|register` to covenant_app
from node.cli_governance import audit_app, budget_app, covenant_app  # after `app` on purpose
from node.cli_state import state_app

app.add_typer(covenant_app, name="covenant")
app.add_typer(budget_app, name="budget")
app.add_typer(audit_app, name="audit")
app.add_typer(state_app, name="state")
app.command("report")(report_command)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", is_eager=True, callback=version_callback("regiozicht-node"),
                                          help="Print the software version and exit.")] = False,
) -> None:
    """Run a Regiozicht node beside a partner database."""

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="The node's node.toml.")]


@app.command("init")
def init(
    kind: Annotated[str, typer.Option(help="Partner kind: rmc, wi, school, jeugdhulp, leerplicht or brp.")],
    org: Annotated[str, typer.Option(help="Organisation slug, as the CA will write it in the certificate.")],
    coordinator: Annotated[str, typer.Option(help="host:port of the region's coordinator.")],
    database: Annotated[str | None, typer.Option(
        help="SQLAlchemy URL of the partner database (a read-only account); or give --files.")] = None,
    files_dir: Annotated[Path | None, typer.Option(
        "--files", help="A folder of CSV, XLSX and Parquet extracts instead of a database: datasets are proposed "
                        "from their columns, each choice marked # CONFIRM in node.toml.")] = None,
    directory: Annotated[Path, typer.Option("--dir", help="Folder for node.toml, covenant.toml and tls/.")] = Path("."),
    state_dir: Annotated[Path | None, typer.Option(
        "--state-dir", help="Folder of the node's state (ledger, audit trail); default DIR/state.")] = None,
    entity: Annotated[
        str | None, typer.Option(help="Legal entity: OIN:<20 digits> or KVK:<8 digits> (optional).")] = None,
    data_as_of: Annotated[dt.datetime | None, typer.Option(
        "--data-as-of", help="Extract time of the partner data (default: today 00:00).")] = None,
    gemeente: Annotated[list[str] | None, typer.Option(
        "--gemeente", help="A gemeente code of the region (repeatable); default the synthetic region's.")] = None,
) -> None:
    """Write a new node's node.toml (the kind's standard datasets), a covenant template, the state
    folder, the key (0600) and a certificate request; print the next steps."""
    from node import setup

    with exit_on_error():
        files = setup.init_node(directory, kind=kind, org=org, coordinator=coordinator, database=database,
                                state_dir=state_dir, entity=entity, data_as_of=data_as_of,
                                gemeenten=tuple(gemeente) if gemeente else setup.DEFAULT_GEMEENTEN, files=files_dir)
        for proposal in files.proposals:
            console.print(f"proposed dataset [bold]{proposal.name}[/] — confirm in {files.config}:")
            for line in proposal.confirm():
                console.print(f"  CONFIRM {escape(line)}", highlight=False)
        if files_dir is not None and not files.proposals:
            console.print(f"no dataset proposed: no extract in {files_dir} has a BSN column and a start date; "
                          f"write the datasets in {files.config} by hand (docs/extracts.md).", highlight=False)
        console.print(f"wrote {files.config}, {files.covenant} (a template), the state folder {files.state}, the key "
                      f"{files.key} (mode 0600) and the request {files.request}.", highlight=False)
        console.print("next steps:")
        for number, step in enumerate(setup.next_steps(files, kind=kind, org=org, entity=entity), 1):
            console.print(f"  {number}. {escape(step)}", highlight=False)


@app.command("request-cert")
def request_cert(
    org: Annotated[str | None, typer.Option(help="Organisation slug (or taken from --config).")] = None,
    kind: Annotated[str | None, typer.Option(help="Partner kind (or taken from --config).")] = None,
    entity: Annotated[
        str | None, typer.Option(help="Legal entity: OIN:<20 digits> or KVK:<8 digits> (optional).")
    ] = None,
    key: Annotated[Path | None, typer.Option(help="Where to write the new private key (0600).")] = None,
    out: Annotated[Path, typer.Option(help="Where to write the certificate request.")] = Path("node.csr"),
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Take org, kind and key path from node.toml.")] = None,
) -> None:
    """Make this node's key (here, mode 0600) and a certificate request for the CA operator."""
    with exit_on_error():
        if config is not None:
            raw = load_toml(config, "node config")
            section = raw.get("node", {})
            tls = raw.get("tls", {})
            assert isinstance(section, dict) and isinstance(tls, dict)
            org = org or section.get("org")
            kind = kind or section.get("kind")
            if key is None and isinstance(tls.get("key"), str):
                key = config.parent / tls["key"]
        if not org or not kind or key is None:
            raise ConfigError("Give --org, --kind and --key, or --config pointing at node.toml.")
        request_node_certificate(key, out, org, kind, entity)
        console.print(f"key written to {key} (mode 0600); send {out} to the CA operator for `regiozicht pki sign`.")


@app.command()
def renew(
    config: ConfigOption,
    install: Annotated[Path | None, typer.Option(
        "--install", help="The signed certificate: check it and put it and the new key in place.")] = None,
) -> None:
    """Renew this node's certificate: a new key and request beside the current ones (which stay in
    use); with --install CERT, the signed certificate and the new key take their place. Then
    `systemctl reload regiozicht-node` (SIGHUP) or a restart makes the running node use them."""
    from node import renewal

    with exit_on_error():
        cfg = node_config.load(config)
        if install is None:
            files = renewal.request_renewal(cfg)
            console.print(f"new key {files.key} (mode 0600) and request {files.request} written; the current key "
                          "stays in use.", highlight=False)
            console.print(f"next: send {files.request} to the CA operator (`regiozicht pki sign … --days 30`), then "
                          f"`regiozicht-node renew -c {config} --install node.crt` and `systemctl reload "
                          "regiozicht-node` (or restart the node).", highlight=False)
            return
        certificate = renewal.install_renewal(cfg, install, TrustStore.from_files(cfg.tls.ca))
        console.print(f"installed: {cfg.tls.certificate} (valid until {certificate.not_valid_after_utc:%Y-%m-%d}) "
                      f"and its key {cfg.tls.key}; now `systemctl reload regiozicht-node` (SIGHUP) or restart the "
                      "node.", highlight=False)


@app.command()
def check(
    config: ConfigOption,
    offline: Annotated[bool, typer.Option("--offline", help="Skip contacting the coordinator.")] = False,
) -> None:
    """Check config, files, certificate, the coordinator, the partner database and every dataset: one
    sentence with the fix for each problem (exit 2)."""
    from node import checks

    def say(line: str) -> None:  # problems go to stderr, like every other command's errors
        (err_console if line.startswith("problem:") else console).print(escape(line), highlight=False, soft_wrap=True)

    report = checks.Report(say)
    with exit_on_error():
        cfg = node_config.load(config)
    report.ok(f"config {config} is valid ({len(cfg.datasets)} datasets)")
    files_ok = report.step(lambda: checks.check_files(cfg, report))
    trust = TrustStore.from_files(cfg.tls.ca) if files_ok else None
    if trust is not None:
        report.step(lambda: checks.check_certificate(cfg, trust, report))
    covenant = _check_covenant(cfg, report)
    engine = None
    if report.step(lambda: _open_state(cfg)):
        try:
            from node.store import make_partner_engine

            engine = make_partner_engine(cfg.database)
        except RegiozichtError as exc:
            report.step(partial(_reraise, exc))
    if trust is not None and covenant is not None and not offline and not report.problems:
        report.step(lambda: checks.check_coordinator(cfg, _describe(cfg, covenant), trust, report))
    if engine is not None:
        report.step(lambda: _check_partner(cfg, engine, report))
    if report.problems:
        console.print(f"[red]{len(report.problems)} problem(s)[/]: fix them and run `regiozicht-node check` again",
                      highlight=False)
        raise typer.Exit(ConfigError.exit_code)
    console.print(f"[green]ok[/]: this node can serve ({report.warnings} warning(s))")


def _reraise(exc: RegiozichtError) -> None:
    raise exc


def _check_covenant(cfg: node_config.NodeConfig, report: Any) -> Any:
    from node import covenant as covenant_file

    loaded: list[Any] = []
    if report.step(lambda: loaded.append(covenant_file.load(cfg.covenant, cfg))):
        report.ok(f"covenant {cfg.covenant} is valid ({len(loaded[0].purposes)} purposes); "
                  "`regiozicht-node covenant check` shows what it allows")
        return loaded[0]
    return None


def _open_state(cfg: node_config.NodeConfig) -> None:
    from node.state import StateDB
    from node.watermark import Watermark

    StateDB(cfg.state.url)
    Watermark(cfg.state.watermark_path())


def _describe(cfg: node_config.NodeConfig, covenant: Any) -> Any:
    """The node's signed Describe, as `serve` sends it first."""
    from node import describe
    from node.ledger import Ledger
    from node.state import StateDB
    from node.watermark import Watermark
    from regiozicht.pemfiles import load_private_key
    from regiozicht.signed import Signer

    state = StateDB(cfg.state.url)
    ledger = Ledger(state, covenant, Watermark(cfg.state.watermark_path()), cfg.node.org)
    message = describe.build(cfg, covenant, ledger, state, int(time.time()))
    signer = Signer(load_private_key(cfg.tls.key), load_certificate(_read(cfg.tls.certificate)))
    return signer.sign(message.SerializeToString())


def _check_partner(cfg: node_config.NodeConfig, engine: Any, report: Any) -> None:
    from node import checks

    try:
        checks.check_read_only(engine, report)
        checks.check_extracts(cfg, report)
        with engine.connect() as connection:
            connection.execute(select(text("1")))
            checks.check_datasets(cfg, connection, report)
    except SQLAlchemyError as exc:
        raise Unavailable(
            f"The partner database fails: {str(exc.orig if hasattr(exc, 'orig') else exc).splitlines()[0]}; "
            "fix [database] url in node.toml."
        ) from None


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"Cannot read {path} ({exc.strerror}); check [tls] in node.toml.") from None


@app.command()
def quality(
    config: ConfigOption,
    at: Annotated[dt.datetime | None, typer.Option("--at", formats=["%Y-%m-%d"],
                                                       help="Reference date; default the data-as-of date.")] = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="table, json or csv.")] = OutputFormat.table,
) -> None:
    """Data quality per dataset for this node's staff: invalid BSNs, duplicates, missing and
    out-of-domain values, persons outside [coverage]. Exact counts: printed here, never sent."""
    from node.quality import scan
    from node.store import make_partner_engine

    with exit_on_error():
        cfg = node_config.load(config)
        peildatum = at.date() if at else cfg.node.data_as_of.date()
        engine = make_partner_engine(cfg.database)
        rows: list[dict[str, Any]] = []
        try:
            with engine.connect() as connection:
                for dataset in cfg.datasets:
                    report = scan(connection, dataset, peildatum)
                    if report.missing_columns:
                        raise ConfigError(f"Dataset {dataset.name}'s sql returns no column "
                                          f"{', '.join(report.missing_columns)}; run `regiozicht-node check`.")
                    rows.append({
                        "dataset": dataset.name, "rows": report.rows, "persons": report.persons,
                        "invalid_bsn": report.invalid_bsn, "duplicates": report.duplicates,
                        "missing": ", ".join(f"{k} {v}" for k, v in sorted(report.missing.items())) or "0",
                        "outside_domain": "; ".join(report.domain_summary(d) for d in report.outside_domain) or "0",
                        "outside_coverage": report.outside_coverage if dataset.coverage else "",
                    })
        except SQLAlchemyError as exc:
            raise Unavailable(f"The partner database fails: {str(getattr(exc, 'orig', None) or exc).splitlines()[0]};"
                              " run `regiozicht-node check`.") from None
        emit(rows, ["dataset", "rows", "persons", "invalid_bsn", "duplicates", "missing", "outside_domain",
                    "outside_coverage"], fmt, title=f"Data quality of {cfg.node.org} on {peildatum} (local only)",
             extra={"org": cfg.node.org, "peildatum": peildatum.isoformat(), "local_only": True})
        if fmt is OutputFormat.table:
            console.print("These are exact counts for this node's own staff; they are never sent to the "
                          "coordinator. Rows with a value outside a domain count as `onbekend`.", highlight=False)


@app.command()
def serve(
    config: ConfigOption,
    log_level: Annotated[str, typer.Option(help="Logging level.")] = "INFO",
) -> None:
    """Connect out to the coordinator and answer queries until stopped."""
    from node import renewal
    from node.agent import NodeAgent
    from node.service import NodeService
    from regiozicht.group import GroupPool
    from regiozicht.heap import settle_after_startup
    from regiozicht.lifetimes import ExpiryWatch, certificate_warning, crl_warning

    logging.basicConfig(level=log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s node %(name)s: %(message)s")
    from node.backup import serving

    with exit_on_error(), contextlib.ExitStack() as held:
        cfg = node_config.load(config)
        held.enter_context(serving(cfg.state))  # `state restore` refuses while this is held
        # worker processes for linked counts start (forkserver) before gRPC makes any thread
        pool = GroupPool().start()
        service = NodeService(cfg, group_pool=pool)
        agent = NodeAgent(service)
        done = threading.Event()

        def _stop(_signum: int, _frame: object) -> None:
            agent.stop()
            done.set()

        reload = threading.Event()
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGHUP, lambda _signum, _frame: reload.set())  # `systemctl reload`: a renewed certificate
        logging.getLogger("node").info("node %s (%s) dialling %s", cfg.node.org, cfg.node.kind, cfg.coordinator.address)
        watch = ExpiryWatch(lambda: [certificate_warning(service.signer.certificate, f"this node's ({cfg.node.org})"),
                                     crl_warning(service.trust.crl)], logging.getLogger("node")).start()
        runner = threading.Thread(target=agent.run, name="agent", daemon=True)
        runner.start()
        settle_after_startup()
        while not done.wait(0.5):
            if reload.is_set():
                reload.clear()
                if renewal.reload_identity(cfg, service.signer, service.trust) is not None:
                    agent.use_new_certificate()
                watch.warn_now()
        watch.stopping.set()
        logging.getLogger("node").info("%s", service.stats.summary())
        pool.close()


def main() -> None:
    app()
