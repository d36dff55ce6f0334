"""`regiozicht coordinator init` and `regiozicht profile init`: a party's files, key and request.

Keys are made where they are used: init writes the key (0600) and a request for
the CA operator, and never sees the CA.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from regiozicht import authority
from regiozicht.errors import ConfigError
from regiozicht.identity import Identity


@dataclass(frozen=True)
class PartyFiles:
    config: Path
    key: Path
    request: Path
    expected: tuple[Path, ...]  # what the CA operator's answer fills in


def _identity(role: str, org: str) -> Identity:
    try:
        return Identity(role, org)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _refuse_existing(*paths: Path) -> None:
    for path in paths:
        if path.exists():
            raise ConfigError(f"{path} already exists; init never overwrites a file — remove it or choose another "
                              "--dir.")


def init_coordinator(directory: Path, *, org: str, dns: list[str], ips: list[str], listen: str,
                     state_dir: Path | None) -> PartyFiles:
    """coordinator.toml, the state folder, tls/coordinator.key (0600) and tls/coordinator.csr with the names nodes dial."""
    identity = _identity("coordinator", org)
    if not dns and not ips:
        raise ConfigError("Give the DNS name (--dns) or IP address (--ip) nodes dial; the certificate must carry it.")
    directory = directory.resolve()
    config, key, request = directory / "coordinator.toml", directory / "tls" / "coordinator.key", \
        directory / "tls" / "coordinator.csr"
    _refuse_existing(config, key)
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


def init_profile(directory: Path, *, org: str, coordinator: str, role: str = "analyst") -> PartyFiles:
    """profile.toml, the key (0600) and the request of an analyst (or a service identity)."""
    identity = _identity(role, org)
    if role not in ("analyst", "service"):
        raise ConfigError(f"A profile is for an analyst or a service identity, not a {role}; use --role analyst.")
    directory = directory.expanduser().resolve()
    config, key, request = directory / "profile.toml", directory / f"{role}.key", directory / f"{role}.csr"
    _refuse_existing(config, key)
    authority.make_request(key, request, identity)
    config.write_text(f'''# Profile of {identity}, written by `regiozicht profile init`.
coordinator = "{coordinator}"
ca = "ca.crt"                             # the regional CA certificate, from the CA operator
certificate = "{role}.crt"               # signed by the CA operator from {role}.csr
key = "{role}.key"                       # made here, mode 0600
''', encoding="utf-8")
    return PartyFiles(config, key, request, (directory / "ca.crt", directory / f"{role}.crt"))
