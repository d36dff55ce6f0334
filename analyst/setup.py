"""`regiozicht profile init`: an analyst's (or a service identity's) profile, key and request.

Keys are made where they are used: init writes the key (0600) and a request for the CA operator,
and never sees the CA.
"""

from __future__ import annotations

from pathlib import Path

from regiozicht import authority
from regiozicht.errors import ConfigError
from regiozicht.partyfiles import PartyFiles, identity_for, refuse_existing


def init_profile(directory: Path, *, org: str, coordinator: str, role: str = "analyst") -> PartyFiles:
    """profile.toml, the key (0600) and the request of an analyst (or a service identity)."""
    identity = identity_for(role, org)
    if role not in ("analyst", "service"):
        raise ConfigError(f"A profile is for an analyst or a service identity, not a {role}; use --role analyst.")
    directory = directory.expanduser().resolve()
    config, key, request = directory / "profile.toml", directory / f"{role}.key", directory / f"{role}.csr"
    refuse_existing(config, key)
    authority.make_request(key, request, identity)
    config.write_text(f'''# Profile of {identity}, written by `regiozicht profile init`.
coordinator = "{coordinator}"
ca = "ca.crt"                             # the regional CA certificate, from the CA operator
certificate = "{role}.crt"               # signed by the CA operator from {role}.csr
key = "{role}.key"                       # made here, mode 0600
''', encoding="utf-8")
    return PartyFiles(config, key, request, (directory / "ca.crt", directory / f"{role}.crt"))
