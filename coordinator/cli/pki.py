"""`regiozicht pki`: the regional CA and certificate requests.

Exit codes (docs/pki.md, regiozicht.cli_support): 0 done, 2 config or usage
error, 3 authentication failed, 4 permission denied.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from cryptography.hazmat.primitives import hashes

from regiozicht import authority, pemfiles
from regiozicht.cli_support import OutputFormat, emit, exit_on_error
from regiozicht.errors import ConfigError
from regiozicht.identity import KINDS, ROLES, Identity

app = typer.Typer(
    help="Regional CA: create it, request and sign certificates, revoke them, publish revocation lists.",
    no_args_is_help=True,
)

CaDir = Annotated[Path, typer.Option("--ca-dir", help="Directory of the regional CA (ca.crt, ca.key, state.json).")]
PassphraseFile = Annotated[
    Path | None,
    typer.Option(
        "--passphrase-file",
        help=f"File holding the CA passphrase; else ${authority.PASSPHRASE_ENV}, else a prompt.",
    ),
]
Role = Annotated[str, typer.Option("--role", help=f"One of: {', '.join(ROLES)}.")]
Org = Annotated[str, typer.Option("--org", help="Organisation slug, e.g. rmc-hollands-midden.")]
Kind = Annotated[str | None, typer.Option("--kind", help=f"Node kind (nodes only): {', '.join(KINDS)}.")]
Dns = Annotated[list[str] | None, typer.Option("--dns", help="DNS name nodes dial (coordinator only; repeatable).")]
Ip = Annotated[list[str] | None, typer.Option("--ip", help="IP address nodes dial (coordinator only; repeatable).")]
Entity = Annotated[
    str | None,
    typer.Option("--entity", help="Legal entity: OIN:<20 digits> or KVK:<8 digits> (optional)."),
]


def _identity(role: str, org: str, kind: str | None, entity: str | None = None) -> Identity:
    try:
        return Identity(role, org, kind, entity)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _described(identity: Identity) -> str:
    """The identity for messages, with its legal entity when it names one."""
    return f"{identity} [{identity.entity}]" if identity.entity is not None else str(identity)


@app.command("init-ca")
def init_ca(
    ca_dir: CaDir,
    passphrase_file: PassphraseFile = None,
    name: Annotated[str, typer.Option(help="Common name of the CA certificate.")] = "Regiozicht regional CA",
    days: Annotated[int, typer.Option(help="Lifetime of the CA certificate in days.")] = 3650,
) -> None:
    """Create the regional CA on this (offline) machine."""
    with exit_on_error():
        passphrase = authority.load_passphrase(passphrase_file, confirm=True)
        cert = authority.init_ca(ca_dir, passphrase, name=name, days=days)
        fingerprint = cert.fingerprint(hashes.SHA256()).hex(":")
        print(f"Created CA {name!r} in {ca_dir}; give {ca_dir / authority.CA_CERT_FILE} to every participant.")
        print(f"SHA-256 fingerprint (compare it out of band): {fingerprint}")


@app.command("request")
def request(
    role: Role,
    org: Org,
    key: Annotated[Path | None, typer.Option(
        "--key", help="Where to write the new private key (0600); default ROLE.key here.")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Where to write the certificate request; default the key's name with .csr.")] = None,
    kind: Kind = None,
    entity: Entity = None,
    dns: Dns = None,
    ip: Ip = None,
) -> None:
    """Make a private key here, where it is used, and a request for the CA to sign."""
    with exit_on_error():
        identity = _identity(role, org, kind, entity)
        key = key or Path(f"{role}.key")
        out = out or key.with_suffix(".csr")
        authority.make_request(key, out, identity, dns_names=dns or (), ip_addresses=ip or ())
        print(f"Wrote key {key} and request {out} for {_described(identity)}; "
              "send only the request to the CA operator.")


@app.command("sign")
def sign(
    request_file: Annotated[Path, typer.Argument(metavar="REQUEST", help="The certificate request (.csr).")],
    role: Role,
    org: Org,
    ca_dir: CaDir,
    out: Annotated[Path, typer.Option("--out", help="Where to write the certificate.")],
    kind: Kind = None,
    entity: Entity = None,
    dns: Dns = None,
    ip: Ip = None,
    passphrase_file: PassphraseFile = None,
    days: Annotated[int, typer.Option(help="Lifetime in days.")] = 30,
) -> None:
    """Sign a request for the role, organisation and legal entity you have checked."""
    with exit_on_error():
        csr = pemfiles.read_file(request_file, "certificate request")
        passphrase = authority.load_passphrase(passphrase_file)
        cert_pem = authority.sign_request(
            ca_dir, passphrase, csr, role=role, org=org, kind=kind, entity=entity,
            dns_names=dns or (), ip_addresses=ip or (), days=days,
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(cert_pem)
        cert = pemfiles.load_certificate(cert_pem)
        print(
            f"Signed {_described(_identity(role, org, kind, entity))}: serial {cert.serial_number}, "
            f"valid until {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC; wrote {out}."
        )


@app.command("revoke")
def revoke(
    ca_dir: CaDir,
    cert_file: Annotated[Path | None, typer.Argument(metavar="[CERTFILE]", help="The certificate to revoke.")] = None,
    serial: Annotated[str | None, typer.Option(help="Serial number to revoke (decimal or 0x hex).")] = None,
    reason: Annotated[str, typer.Option(help="Reason, e.g. key_compromise, superseded, cessation_of_operation.")] = "unspecified",
    passphrase_file: PassphraseFile = None,
) -> None:
    """Revoke a certificate; publish it with `regiozicht pki crl`."""
    with exit_on_error():
        number: int | None = None
        if serial is not None:
            try:
                number = int(serial, 0)
            except ValueError:
                raise ConfigError(f"--serial {serial!r} is not a number; copy it from `regiozicht pki list`.") from None
        cert_pem = pemfiles.read_file(cert_file, "certificate") if cert_file is not None else None
        passphrase = authority.load_passphrase(passphrase_file)
        authority.revoke(ca_dir, passphrase, cert_pem=cert_pem, serial=number, reason=reason)
        print("Revoked; run `regiozicht pki crl` and hand the new list to the coordinator.")


@app.command("crl")
def crl(
    ca_dir: CaDir,
    out: Annotated[Path, typer.Option("--out", help="Where to write the revocation list.")],
    passphrase_file: PassphraseFile = None,
    days: Annotated[int, typer.Option(help="Days until the list expires.")] = 7,
) -> None:
    """Sign a fresh revocation list; the coordinator forwards it to the nodes."""
    with exit_on_error():
        passphrase = authority.load_passphrase(passphrase_file)
        crl_pem = authority.make_crl(ca_dir, passphrase, days=days)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(crl_pem)
        loaded = pemfiles.load_crl(crl_pem)
        print(
            f"Wrote revocation list {out} with {len(loaded)} revoked certificate(s); "
            f"it expires {loaded.next_update_utc:%Y-%m-%d %H:%M} UTC."
        )


@app.command("list")
def list_(
    ca_dir: CaDir,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="Output format.")] = OutputFormat.table,
) -> None:
    """List the certificates this CA issued (no passphrase needed)."""
    with exit_on_error():
        rows = authority.issued_certificates(ca_dir)
        emit(rows, ["serial", "identity", "entity", "not_before", "not_after", "revoked"], fmt,
             title="Issued certificates")
