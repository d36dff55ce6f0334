"""Who answers at the coordinator's address: when a dial fails, tells "not the region's coordinator"
(a server whose certificate the regional CA did not issue, or not for this address) apart from
"nobody there".

gRPC reports both as UNAVAILABLE with transport text nobody should match on; a plain TLS handshake
with the same trust (the regional CA, the name the node checks) tells them apart. It presents no
client certificate: an unverified server learns nothing of who is dialling.
"""

from __future__ import annotations

import socket
import ssl

from regiozicht.errors import AuthenticationFailed

PROBE_TIMEOUT_SECONDS = 3.0
_HOSTNAME_MISMATCH = 62  # X509_V_ERR_HOSTNAME_MISMATCH (also IP address mismatch)


def split_address(address: str) -> tuple[str, int]:
    """host:port, [v6]:port → (host, port)."""
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def not_the_coordinator(address: str, ca_pem: bytes, server_name: str | None = None,
                        timeout: float = PROBE_TIMEOUT_SECONDS) -> AuthenticationFailed | None:
    """The refusal when the server at `address` presents a certificate the node must not accept; None
    when nobody answers there, or the certificate is the coordinator's (the failure lies elsewhere)."""
    try:
        host, port = split_address(address)
    except ValueError:
        return None
    name = server_name or host
    context = ssl.create_default_context(cadata=ca_pem.decode("ascii", errors="replace"))
    context.set_alpn_protocols(["h2"])  # as gRPC does: a gRPC server refuses a handshake without it
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw, \
                context.wrap_socket(raw, server_hostname=name):
            return None
    except ssl.SSLCertVerificationError as exc:
        if exc.verify_code == _HOSTNAME_MISMATCH:
            why = f"its certificate is not valid for {name}"
        else:
            why = f"its certificate is not from the regional CA ({exc.verify_message})"
        return AuthenticationFailed(
            f"The server at {address} is not the region's coordinator: {why}; check [coordinator] address in "
            "the config, and ask the coordinator's operator for a certificate from the regional CA for that "
            "address (regiozicht pki sign --dns/--ip).")
    except (OSError, ValueError, UnicodeError):
        return None
