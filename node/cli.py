"""`regiozicht-node`: what a partner's IT staff run beside their database."""

from __future__ import annotations

import datetime as dt
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError

from node import config as node_config
from regiozicht.cli_support import EXIT_CODES, exit_on_error
from regiozicht.errors import ConfigError, Unavailable
from regiozicht.pki import TrustStore, load_certificate, request_node_certificate
from regiozicht.query import CountQuery

app = typer.Typer(help=f"Run a Regiozicht node beside a partner database.\n\n{EXIT_CODES}", no_args_is_help=True,
                  add_completion=False)
console = Console()

from node.cli_governance import audit_app, budget_app, covenant_app  # noqa: E402 - after `app` on purpose

app.add_typer(covenant_app, name="covenant")
app.add_typer(budget_app, name="budget")
app.add_typer(audit_app, name="audit")

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="The node's node.toml.")]


@app.command("init")
def init(
    kind: Annotated[str, typer.Option(help="Partner kind: rmc, wi, school, jeugdhulp, leerplicht or brp.")],
    org: Annotated[str, typer.Option(help="Organisation slug, as the CA will write it in the certificate.")],
    coordinator: Annotated[str, typer.Option(help="host:port of the region's coordinator.")],
    database: Annotated[str, typer.Option(help="SQLAlchemy URL of the partner database (a read-only account).")],
    directory: Annotated[Path, typer.Option("--dir", help="Folder for node.toml, covenant.toml and tls/.")] = Path("."),
    state_dir: Annotated[Optional[Path], typer.Option(
        "--state-dir", help="Folder of the node's state (ledger, audit trail); default DIR/state.")] = None,
    entity: Annotated[
        Optional[str], typer.Option(help="Legal entity: OIN:<20 digits> or KVK:<8 digits> (optional).")] = None,
    data_as_of: Annotated[Optional[dt.datetime], typer.Option(
        "--data-as-of", help="Extract time of the partner data (default: today 00:00).")] = None,
    gemeente: Annotated[Optional[list[str]], typer.Option(
        "--gemeente", help="A gemeente code of the region (repeatable); default the synthetic region's.")] = None,
) -> None:
    """Write a new node's node.toml (the kind's standard datasets), a covenant template, the state
    folder, the key (0600) and a certificate request; print the next steps."""
    from node import setup

    with exit_on_error():
        files = setup.init_node(directory, kind=kind, org=org, coordinator=coordinator, database=database,
                                state_dir=state_dir, entity=entity, data_as_of=data_as_of,
                                gemeenten=tuple(gemeente) if gemeente else setup.DEFAULT_GEMEENTEN)
        console.print(f"wrote {files.config}, {files.covenant} (a template), the state folder {files.state}, the key "
                      f"{files.key} (mode 0600) and the request {files.request}.", highlight=False)
        console.print("next steps:")
        for number, step in enumerate(setup.next_steps(files, kind=kind, org=org, entity=entity), 1):
            console.print(f"  {number}. {escape(step)}", highlight=False)


@app.command("request-cert")
def request_cert(
    org: Annotated[Optional[str], typer.Option(help="Organisation slug (or taken from --config).")] = None,
    kind: Annotated[Optional[str], typer.Option(help="Partner kind (or taken from --config).")] = None,
    entity: Annotated[
        Optional[str], typer.Option(help="Legal entity: OIN:<20 digits> or KVK:<8 digits> (optional).")
    ] = None,
    key: Annotated[Optional[Path], typer.Option(help="Where to write the new private key (0600).")] = None,
    out: Annotated[Path, typer.Option(help="Where to write the certificate request.")] = Path("node.csr"),
    config: Annotated[Optional[Path], typer.Option("--config", "-c", help="Take org, kind and key path from node.toml.")] = None,
) -> None:
    """Make this node's key (here, mode 0600) and a certificate request for the CA operator."""
    with exit_on_error():
        if config is not None:
            raw = node_config.load_toml(config, "node config")
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
def check(config: ConfigOption) -> None:
    """Validate config, certificates, partner database and every dataset template."""
    with exit_on_error():
        cfg = node_config.load(config)
        console.print(f"config: {config} is valid ({len(cfg.datasets)} datasets)")
        trust = TrustStore.from_files(cfg.tls.ca)
        certificate = load_certificate(_read(cfg.tls.certificate))
        identity = trust.verify(certificate, roles=("node",))
        if (identity.org, identity.kind) != (cfg.node.org, cfg.node.kind):
            raise ConfigError(
                f"The certificate is for {identity}, but node.toml says {cfg.node.org} ({cfg.node.kind}); "
                "request a certificate for this node."
            )
        console.print(f"certificate: {identity}, valid until {certificate.not_valid_after_utc:%Y-%m-%d}")
        from node import covenant as covenant_file

        covenant = covenant_file.load(cfg.covenant, cfg)
        console.print(f"covenant: {cfg.covenant} is valid ({len(covenant.purposes)} purposes); "
                      "`regiozicht-node covenant check` shows what it allows")
        _check_databases(cfg)
        console.print("[green]ok[/]: this node can serve")


def _check_databases(cfg: node_config.NodeConfig) -> None:
    from node.compile import compile_count, compile_outside_coverage
    from node.state import StateDB
    from node.store import make_partner_engine
    from node.watermark import Watermark

    StateDB(cfg.state.url)
    Watermark(cfg.state.watermark_path())
    engine = make_partner_engine(cfg.database.url)
    peildatum = cfg.node.data_as_of.date()
    try:
        with engine.connect() as connection:
            connection.execute(select(text("1")))
            for dataset in cfg.datasets:
                query = CountQuery(dataset.name, "1", "check", peildatum, tuple(sorted(dataset.dimensions)))
                started = time.perf_counter()
                connection.execute(compile_count(dataset, query), {"peildatum": peildatum}).all()
                # the counts themselves are never shown: only that the template runs
                console.print(f"dataset {dataset.name}: template runs ({time.perf_counter() - started:.2f} s)")
                if dataset.coverage:
                    # a data-quality figure for this node's staff only: it is never released
                    outside = connection.execute(compile_outside_coverage(dataset), {"peildatum": peildatum}).scalar()
                    covered = "; ".join(f"{k} in {', '.join(v)}" for k, v in dataset.coverage.items())
                    console.print(f"  coverage {covered}: {outside} person(s) on {peildatum} lie outside it and "
                                  "are left out of every answer (another node's records, or a value to correct)")
    except SQLAlchemyError as exc:
        raise Unavailable(
            f"The partner database fails: {str(exc.orig if hasattr(exc, 'orig') else exc).splitlines()[0]}; "
            "fix [database] url or the dataset's sql in node.toml."
        ) from None


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"Cannot read {path} ({exc.strerror}); check [tls] in node.toml.") from None


@app.command()
def serve(
    config: ConfigOption,
    log_level: Annotated[str, typer.Option(help="Logging level.")] = "INFO",
) -> None:
    """Connect out to the coordinator and answer queries until stopped."""
    from node.agent import NodeAgent
    from node.service import NodeService
    from regiozicht.group import GroupPool

    logging.basicConfig(level=log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s node %(name)s: %(message)s")
    with exit_on_error():
        cfg = node_config.load(config)
        # worker processes for linked counts start (forkserver) before gRPC makes any thread
        pool = GroupPool().start()
        service = NodeService(cfg, group_pool=pool)
        agent = NodeAgent(service)
        done = threading.Event()

        def _stop(_signum: int, _frame: object) -> None:
            agent.stop()
            done.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        logging.getLogger("node").info("node %s (%s) dialling %s", cfg.node.org, cfg.node.kind, cfg.coordinator.address)
        runner = threading.Thread(target=agent.run, name="agent", daemon=True)
        runner.start()
        while not done.wait(0.5):
            pass
        logging.getLogger("node").info("%s", service.stats.summary())
        pool.close()


def main() -> None:
    app()
