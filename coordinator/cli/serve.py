"""`regiozicht coordinator`: run the region's hub."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from coordinator import config as coordinator_config
from regiozicht.cli_support import exit_on_error, wait_for_signal

if TYPE_CHECKING:
    from cryptography import x509

    from regiozicht.truststore import TrustStore

app = typer.Typer(help="Run the region's coordinator (hub).", no_args_is_help=True)
ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="coordinator.toml")]


@app.command("init")
def init(
    dns: Annotated[list[str] | None, typer.Option("--dns", help="DNS name nodes dial (repeatable).")] = None,
    ip: Annotated[list[str] | None, typer.Option("--ip", help="IP address nodes dial (repeatable).")] = None,
    org: Annotated[str, typer.Option(help="The hub's organisation slug.")] = "regio-hub",
    listen: Annotated[str, typer.Option(help="host:port to listen on.")] = "0.0.0.0:7443",
    directory: Annotated[Path, typer.Option("--dir", help="Folder for coordinator.toml and tls/.")] = Path("."),
    state_dir: Annotated[Path | None, typer.Option(
        "--state-dir", help="Folder of the results history and audit heads; default DIR/state.")] = None,
) -> None:
    """Write coordinator.toml, the state folder, the key (0600) and a request carrying the names nodes dial."""
    from coordinator.setup import init_coordinator

    with exit_on_error():
        files = init_coordinator(directory, org=org, dns=dns or [], ips=ip or [], listen=listen, state_dir=state_dir)
        console = Console(soft_wrap=True, highlight=False)
        names = " ".join([*(f"--dns {d}" for d in dns or []), *(f"--ip {i}" for i in ip or [])])
        console.print(f"wrote {files.config}, the key {files.key} (mode 0600) and the request {files.request}.")
        console.print(f"next: send {files.request.name} to the CA operator (`regiozicht pki sign coordinator.csr "
                      f"--role coordinator --org {org} {names} --ca-dir ca/ --out coordinator.crt`); put the "
                      f"certificate, ca.crt and the latest revocation list at "
                      f"{', '.join(str(p) for p in files.expected)}; then `regiozicht coordinator check -c "
                      f"{files.config}`.")


@app.command()
def check(config: ConfigOption) -> None:
    """Validate the config, certificate, key and revocation list."""
    from regiozicht.pemfiles import load_certificate, load_private_key, read_file
    from regiozicht.truststore import TrustStore

    with exit_on_error():
        cfg = coordinator_config.load(config)
        trust = TrustStore.from_files(cfg.tls.ca, cfg.tls.revocation_list, require_crl=True)
        certificate = load_certificate(read_file(cfg.tls.certificate, "coordinator certificate"))
        identity = trust.verify(certificate, roles=("coordinator",))
        load_private_key(cfg.tls.key)
        _check_store(cfg.store.url)
        for warning in _expiry_warnings(certificate, trust):
            Console().print(f"warning: {warning}", highlight=False)
        if cfg.monitor is not None:
            from analyst import monitor as monitor_file
            from analyst.client import Profile
            from regiozicht.errors import ConfigError

            spec = monitor_file.load(cfg.monitor.spec)
            profile = Profile.load(cfg.monitor.profile)
            service = trust.verify(load_certificate(read_file(profile.certificate, "service certificate")))
            if service.role != "service":
                raise ConfigError(f"[monitor] profile {cfg.monitor.profile} holds a {service.role} certificate; the "
                                  "scheduled monitor signs as a service identity (`regiozicht pki request --role "
                                  "service`).")
            Console().print(f"monitor: {spec.monitor.title!r} every period as {service}, published in "
                            f"{cfg.monitor.output}")
        Console().print(f"[green]ok[/]: {identity}, listening on {cfg.server.listen}")


def _check_store(url: str) -> None:
    """The store's folder exists (made when its parent does) and the store opens."""
    from coordinator.history import History
    from regiozicht.errors import ConfigError

    if url.startswith("sqlite:///"):
        folder = Path(url[len("sqlite:///"):]).parent
        if not folder.is_dir():
            if not folder.parent.is_dir():
                raise ConfigError(f"The store's folder {folder} and its parent do not exist; create it or fix [store] "
                                  "url in coordinator.toml.")
            folder.mkdir(mode=0o700)
    History(url)


def _expiry_warnings(certificate: x509.Certificate, trust: TrustStore) -> list[str]:
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    warnings = []
    left = certificate.not_valid_after_utc - now
    if left < dt.timedelta(days=14):
        warnings.append(f"the coordinator's certificate expires in {left.days} day(s); make a new request and have "
                        "the CA operator sign it.")
    crl = trust.crl
    if crl is not None and crl.next_update_utc is not None and crl.next_update_utc - now < dt.timedelta(days=2):
        warnings.append(f"the revocation list expires at {crl.next_update_utc:%Y-%m-%d %H:%M} UTC; place a fresh "
                        "`regiozicht pki crl` at [tls] revocation_list.")
    return warnings


@app.command()
def serve(config: ConfigOption, log_level: Annotated[str, typer.Option(help="Logging level.")] = "INFO") -> None:
    """Accept node connections and analyst queries until stopped."""
    from coordinator.server import CoordinatorServer
    from regiozicht.heap import settle_after_startup

    logging.basicConfig(level=log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s coordinator %(name)s: %(message)s")
    with exit_on_error():
        cfg = coordinator_config.load(config)
        server = CoordinatorServer(cfg)
        server.start()
        stop = None
        if cfg.monitor is not None:  # the scheduled monitor: a client of this coordinator like any analyst
            from coordinator import schedule

            _, stop = schedule.start(cfg.monitor)
        settle_after_startup()
        wait_for_signal()
        if stop is not None:
            stop.set()
        server.stop()
