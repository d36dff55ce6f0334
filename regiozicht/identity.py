"""Who a certificate speaks for: role, organisation, node kind and legal entity.

The identity lives in exactly one SAN URI of the form
``urn:regiozicht:v1:<role>:<org>[:<kind>]``; the optional legal entity (OIN or
KvK number) in the subject's ``organizationIdentifier`` (see docs/pki.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from cryptography import x509
from cryptography.x509.oid import NameOID

from regiozicht.errors import AuthenticationFailed

URI_PREFIX = "urn:regiozicht:v1:"
ROLES: tuple[str, ...] = ("node", "coordinator", "analyst", "service", "counter")
QUERY_ROLES: tuple[str, ...] = ("analyst", "service")  # who may sign queries
KINDS: tuple[str, ...] = ("rmc", "wi", "school", "jeugdhulp", "leerplicht", "brp")
ORG_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
# An OIN (Organisatie-identificatienummer, 20 digits) or a KvK number (8 digits).
ENTITY_PATTERN = re.compile(r"OIN:[0-9]{20}|KVK:[0-9]{8}")


@dataclass(frozen=True)
class Identity:
    """The role, organisation, (for nodes) kind and legal entity a certificate is issued to.

    Equality and hashing use (role, org, kind) only, the identity in the SAN
    URI; ``entity`` rides along. Compare ``legal_entity`` to ask whether two
    identities belong to the same legal entity.

    Attributes:
        role: One of ``ROLES``.
        org: Lower-case slug of the organisation, e.g. ``rmc-hollands-midden``.
        kind: One of ``KINDS``; required for nodes, absent for other roles.
        entity: The legal entity, ``OIN:<20 digits>`` or ``KVK:<8 digits>``, if known.
    """

    role: str
    org: str
    kind: str | None = None
    entity: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(
                f"Unknown role {self.role!r}; use one of {', '.join(ROLES)}."
            )
        if not isinstance(self.org, str) or not ORG_PATTERN.fullmatch(self.org):
            raise ValueError(
                f"Organisation {self.org!r} is not a valid slug; use 1-63 lower-case "
                "letters, digits and hyphens, starting with a letter or digit."
            )
        if self.role == "node":
            if self.kind not in KINDS:
                raise ValueError(
                    f"A node needs a kind, got {self.kind!r}; "
                    f"use one of {', '.join(KINDS)}."
                )
        elif self.kind is not None:
            raise ValueError(
                f"Only nodes have a kind, but role {self.role!r} was given kind "
                f"{self.kind!r}; leave the kind out."
            )
        if self.entity is not None:
            check_entity(self.entity)

    @property
    def legal_entity(self) -> str:
        """The legal entity: ``entity``, or ``org:<org>`` when the certificate names none."""
        return self.entity if self.entity is not None else f"org:{self.org}"

    @property
    def uri(self) -> str:
        """The SAN URI that carries this identity in a certificate."""
        suffix = f":{self.kind}" if self.kind is not None else ""
        return f"{URI_PREFIX}{self.role}:{self.org}{suffix}"

    @property
    def common_name(self) -> str:
        """A readable subject CN, e.g. ``node rmc-hollands-midden``."""
        return f"{self.role} {self.org}"[:64]  # X.520 upper bound for CN

    @classmethod
    def parse(cls, uri: str) -> Identity:
        """Parse a ``urn:regiozicht:v1:...`` URI.

        Raises:
            ValueError: The URI is not a valid Regiozicht identity.
        """
        if not uri.startswith(URI_PREFIX):
            raise ValueError(
                f"{uri!r} is not a Regiozicht identity; it must start with {URI_PREFIX!r}."
            )
        parts = uri[len(URI_PREFIX):].split(":")
        if len(parts) not in (2, 3):
            raise ValueError(
                f"{uri!r} is not a Regiozicht identity; expected "
                f"{URI_PREFIX}<role>:<org>[:<kind>]."
            )
        kind = parts[2] if len(parts) == 3 else None
        return cls(role=parts[0], org=parts[1], kind=kind)

    def __str__(self) -> str:
        if self.kind is not None:
            return f"{self.role} {self.org} ({self.kind})"
        return f"{self.role} {self.org}"


def check_entity(entity: str) -> str:
    """Return ``entity`` if it is ``OIN:<20 digits>`` or ``KVK:<8 digits>``.

    Raises:
        ValueError: Any other form.
    """
    if not isinstance(entity, str) or not ENTITY_PATTERN.fullmatch(entity):
        raise ValueError(
            f"Legal entity {entity!r} is neither an OIN nor a KvK number; write it as "
            "OIN:<20 digits> or KVK:<8 digits>."
        )
    return entity


def entity_of(name: x509.Name) -> str | None:
    """The legal entity in a subject's ``organizationIdentifier``, or None.

    Raises:
        ValueError: More than one such attribute, or one not in either form.
    """
    values = [attr.value for attr in name.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)]
    if not values:
        return None
    if len(values) > 1:
        raise ValueError(
            f"The subject names {len(values)} legal entities instead of one; "
            "keep a single organizationIdentifier."
        )
    return check_entity(str(values[0]))


def identity_uris(names: x509.SubjectAlternativeName) -> list[str]:
    """All SAN URIs that claim to be Regiozicht identities."""
    return [
        uri
        for uri in names.get_values_for_type(x509.UniformResourceIdentifier)
        if uri.startswith(URI_PREFIX)
    ]


def identity_of(cert: x509.Certificate) -> Identity:
    """The identity a certificate is issued to, with its legal entity if it names one.

    This only reads the certificate; checking that the regional CA issued it
    is ``TrustStore.verify``'s job.

    Raises:
        AuthenticationFailed: The certificate does not carry exactly one valid
            Regiozicht SAN URI.
    """
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        names = x509.SubjectAlternativeName([])
    uris = identity_uris(names)
    if len(uris) != 1:
        raise AuthenticationFailed(
            f"The certificate for {cert.subject.rfc4514_string()!r} carries "
            f"{len(uris)} Regiozicht identities instead of one; use a certificate "
            "signed by the regional CA with `regiozicht pki sign`."
        )
    try:
        identity = Identity.parse(uris[0])
    except ValueError as exc:
        raise AuthenticationFailed(
            f"The certificate's identity {uris[0]!r} is invalid ({exc}); "
            "use a certificate signed by the regional CA with `regiozicht pki sign`."
        ) from None
    try:
        entity = entity_of(cert.subject)
    except ValueError as exc:
        raise AuthenticationFailed(
            f"The certificate of {identity} names an invalid legal entity ({exc}); "
            "use a certificate signed by the regional CA with `regiozicht pki sign`."
        ) from None
    return replace(identity, entity=entity)
