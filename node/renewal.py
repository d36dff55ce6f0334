"""Renewing a node's certificate without downtime: a new key and request beside the current ones
(`regiozicht-node renew`), the signed certificate installed with that key (`renew --install`), and
the running node picking both up on SIGHUP (`systemctl reload regiozicht-node`) or a restart.

The current key stays in use until the new certificate is installed, so the node serves throughout.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from node.config import NodeConfig
from regiozicht import authority, pemfiles, truststore
from regiozicht.errors import ConfigError, RegiozichtError
from regiozicht.identity import Identity, identity_of
from regiozicht.signed import Signer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RenewalFiles:
    key: Path       # the new key, beside the current one
    request: Path   # the request for the CA operator


def renewal_files(cfg: NodeConfig) -> RenewalFiles:
    key = cfg.tls.key
    return RenewalFiles(key.with_name(f"{key.stem}.next{key.suffix}"), key.with_name(f"{key.stem}.next.csr"))


def request_renewal(cfg: NodeConfig) -> RenewalFiles:
    """A new key (0600) and a request for the same identity (org, kind, legal entity) as the current
    certificate, beside the current key, which stays in use."""
    files = renewal_files(cfg)
    current = identity_of(pemfiles.load_certificate(pemfiles.read_file(cfg.tls.certificate, "node certificate")))
    if files.key.exists():
        raise ConfigError(f"A renewal is already under way ({files.key} exists); send {files.request} to the CA "
                          f"operator and install the certificate with `regiozicht-node renew --install CERT`, or "
                          f"delete {files.key} to start again.")
    files.request.unlink(missing_ok=True)
    authority.make_request(files.key, files.request, Identity("node", cfg.node.org, cfg.node.kind, current.entity))
    return files


def install_renewal(cfg: NodeConfig, certificate_path: Path, trust: truststore.TrustStore) -> x509.Certificate:
    """Checks the signed certificate (CA, node role, this org and kind, the new key) and puts it and the
    new key in place of the current ones, each by an atomic rename."""
    files = renewal_files(cfg)
    data = pemfiles.read_file(certificate_path, "signed certificate")
    certificate = pemfiles.load_certificate(data)
    if not files.key.exists():
        raise ConfigError(f"There is no new key {files.key}; run `regiozicht-node renew -c node.toml` first.")
    _check_pair(cfg, certificate, pemfiles.load_private_key(files.key), trust, certificate_path)
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    staged = cfg.tls.certificate.with_name(cfg.tls.certificate.name + ".new")
    staged.write_bytes(pem)
    os.replace(files.key, cfg.tls.key)  # from here the current key is the new one: the certificate follows at once
    os.replace(staged, cfg.tls.certificate)
    files.request.unlink(missing_ok=True)
    return certificate


def _check_pair(cfg: NodeConfig, certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey,
                trust: truststore.TrustStore, where: Path) -> None:
    identity = trust.verify(certificate, roles=("node",))
    if (identity.org, identity.kind) != (cfg.node.org, cfg.node.kind):
        raise ConfigError(f"The certificate {where} is for {identity}, but node.toml says {cfg.node.org} "
                          f"({cfg.node.kind}); have the CA operator sign the renewal request for this node.")
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if certificate.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo) != public:
        raise ConfigError(f"The certificate {where} is not for the key {cfg.tls.key}; have the CA operator sign the "
                          "request that key was made with.")


def reload_identity(cfg: NodeConfig, signer: Signer, trust: truststore.TrustStore) -> x509.Certificate | None:
    """SIGHUP: loads [tls] certificate and key again and, when they are a valid pair for this node, signs
    with them from now on. A bad pair is logged in one sentence and the node keeps the old one."""
    try:
        certificate = pemfiles.load_certificate(pemfiles.read_file(cfg.tls.certificate, "node certificate"))
        key = pemfiles.load_private_key(cfg.tls.key)
        _check_pair(cfg, certificate, key, trust, cfg.tls.certificate)
    except RegiozichtError as exc:
        log.error("certificate not reloaded, the node keeps the one it has: %s", exc.message)
        return None
    if certificate == signer.certificate:
        log.info("certificate unchanged (valid until %s)", certificate.not_valid_after_utc.strftime("%Y-%m-%d %H:%M"))
        return None
    signer.replace(key, certificate)
    log.info("certificate reloaded: serial %x, valid until %s UTC", certificate.serial_number,
             certificate.not_valid_after_utc.strftime("%Y-%m-%d %H:%M"))
    return certificate
