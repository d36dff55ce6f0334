"""`regiozicht coordinator init`: the coordinator's files, key and request.

Keys are made where they are used: init writes the key (0600) and a request for
the CA operator, and never sees the CA.
"""

from __future__ import annotations

from pathlib import Path

from regiozicht import authority
from regiozicht.errors import ConfigError
from regiozicht.partyfiles import PartyFiles, identity_for, refuse_existing


def init_coordinator(directory: Path, *, org: str, dns: list[str], ips: list[str], listen: str,
                     state_dir: Path | None) -> PartyFiles:
    """coordinator.toml, the state folder, tls/coordinator.key (0600) and tls/coordinator.csr with the names nodes dial."""
    identity = identity_for("coordinator", org)
    if not dns and not ips:
        raise ConfigError("Give the DNS name (--dns) or IP address (--ip) nodes dial; the certificate must carry it.")
    directory = directory.resolve()
    config, key, request = directory / "coordinator.toml", directory / "tls" / "coordinator.key", \
        directory / "tls" / "coordinator.csr"
    refuse_existing(config, key)
    state = (state_dir or directory / "state").resolve()
    authority.make_request(key, request, identity, dns_names=dns, ip_addresses=ips)
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    config.write_text(f'''# coordinator.toml for {org}, written by `regiozicht coordinator init`.
# Validate with: regiozicht coordinator check --config coordinator.toml
[server]
listen = "{listen}"                   # nodes and analysts connect here (mutual TLS only)
query_timeout_seconds = 60
workers = 128                             # server threads; each connected node holds one

[tls]
ca = "tls/ca.crt"                         # the regional CA certificate, from the CA operator
certificate = "tls/coordinator.crt"       # signed by the CA operator from tls/coordinator.csr
key = "tls/coordinator.key"               # made here, mode 0600
revocation_list = "tls/crl.pem"           # the CA's latest `regiozicht pki crl`; reloaded when it changes

[store]
url = "sqlite:///{_relative(state / "coordinator.sqlite", directory)}"  # results history and the nodes' signed audit heads
''', encoding="utf-8")
    tls = directory / "tls"
    return PartyFiles(config, key, request, (tls / "ca.crt", tls / "coordinator.crt", tls / "crl.pem"))


def _relative(path: Path, base: Path) -> str:
    """Inside the config folder a path stays relative (the folder can move); elsewhere it is absolute."""
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)
