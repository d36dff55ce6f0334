"""The regional covenant as the node enforces it: `covenant.toml`.

The privacy officer owns this file; `node.toml` only points at it. It says
who may ask (parties), for which purpose (doelbinding, with its legal
basis), over which datasets and columns, within which per-query bounds and
budget, and which suppression applies. Anything it does not cover is
refused: the node fails closed.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from node.config import NodeConfig
from regiozicht.errors import ConfigError
from regiozicht.identity import KINDS
from regiozicht.tomlconfig import Frozen as _Frozen
from regiozicht.tomlconfig import load_toml

_SLUG = r"^[a-z0-9][a-z0-9-]{0,62}$"
_HASH = re.compile(r"[0-9a-f]{64}\Z")


def _amount(value: str, *, positive: bool = True) -> str:
    """Budget amounts are decimal strings so they add up exactly."""
    try:
        number = Decimal(value)
    except Exception:  # noqa: BLE001 - decimal raises InvalidOperation and friends
        raise ValueError(f"{value!r} is not a decimal number; write it as a string such as \"0.5\"") from None
    if not number.is_finite() or number < 0 or (positive and number == 0):
        raise ValueError(f"{value!r} must be a {'positive' if positive else 'non-negative'} decimal number")
    return value


class Party(_Frozen):
    role: Literal["analyst", "service"] = Field(description="Certificate role that may ask: analyst or service.")
    org: str = Field(pattern=_SLUG, description="Organisation slug in the certificate.")
    purposes: tuple[str, ...] = Field(description="Purpose ids this party may ask for.")
    queries: tuple[str, ...] = Field((), description="Service only: sha256 hex of each canonical query body it may run.")

    @model_validator(mode="after")
    def _queries_only_for_services(self) -> Party:
        if self.role == "service" and not self.queries:
            raise ValueError("a service identity needs the list of query hashes it may run (`queries`)")
        if self.role == "analyst" and self.queries:
            raise ValueError("`queries` is for service identities only; analysts are bound by purpose")
        for digest in self.queries:
            if not _HASH.match(digest):
                raise ValueError(f"query hash {digest!r} must be 64 lower-case hex digits (sha256 of the body)")
            if len(set(digest)) == 1:
                raise ValueError(f"query hash {digest[:8]}… is a placeholder, not a query; list the hash of each "
                                 "query the service runs (`regiozicht monitor hashes` or `regiozicht query count … "
                                 "--hash`)")
        return self


class Linking(_Frozen):
    kinds: tuple[str, ...] = Field((), description="Partner kinds this node's data may be linked with.")
    orgs: tuple[str, ...] = Field((), description="Partner organisations it may be linked with (empty: any of kinds).")
    datasets: tuple[str, ...] = Field(description="This node's datasets that may take part in a linked count.")
    partner_datasets: tuple[str, ...] = Field((), description="The partners' datasets they may be linked with.")

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, kinds: tuple[str, ...]) -> tuple[str, ...]:
        for kind in kinds:
            if kind not in KINDS:
                raise ValueError(f"partner kind {kind!r} must be one of {', '.join(KINDS)}")
        return kinds


class Purpose(_Frozen):
    id: str = Field(pattern=_SLUG, description="Purpose id analysts give with --purpose.")
    description: str = Field(min_length=1, description="Plain-language description of the purpose.")
    legal_basis: Literal["toestemming", "wettelijke plicht", "publieke taak", "gerechtvaardigd belang"] = Field(
        description="AVG article 6 basis for processing.")
    law: str = Field(min_length=1, description="The law or article the basis rests on.")
    datasets: dict[str, tuple[str, ...]] = Field(description="Dataset → dimensions this purpose may group or filter on.")
    wat_allowed: bool = Field(False, description="Whether WAT columns (what the issue is) may be used; DAT only by default.")
    epsilon_cap: str | None = Field(None, description="This purpose's own part of each period's ε: kept for it, and its ceiling.")
    delta_cap: str | None = Field(None, description="This purpose's own part of each period's δ.")
    linking: tuple[Linking, ...] | None = Field(
        None, description="Which partners and datasets this node's data may be linked with: one rule "
                          "([purposes.linking]) or several ([[purposes.linking]]); a run needs one rule covering it.")

    @field_validator("linking", mode="before")
    @classmethod
    def _one_rule_or_several(cls, value: object) -> object:
        return [value] if isinstance(value, dict) else value

    @field_validator("epsilon_cap", "delta_cap")
    @classmethod
    def _cap(cls, value: str | None) -> str | None:
        return None if value is None else _amount(value, positive=False)


class BudgetRules(_Frozen):
    period: Literal["calendar-year", "calendar-quarter", "calendar-month"] = Field(
        "calendar-year", description="How the budget renews (UTC calendar).")
    epsilon: str = Field(description="ε this node may spend per period, over all purposes.")
    delta: str = Field("0", description="δ this node may spend per period (linked counts).")

    @field_validator("epsilon")
    @classmethod
    def _positive(cls, value: str) -> str:
        return _amount(value)

    @field_validator("delta")
    @classmethod
    def _non_negative(cls, value: str) -> str:
        return _amount(value, positive=False)


class Limits(_Frozen):
    max_epsilon: str = Field(description="Largest ε one release may spend.")
    min_epsilon: str = Field("0.01", description="Smallest ε one release may ask: below it the figure is noise.")
    crl_max_age_hours: float | None = Field(
        None, gt=0, description="Refuse queries once the newest revocation list is this old, even before its "
                                "nextUpdate: the longest a certificate revoked meanwhile can still be used here.")
    max_delta: str = Field("0", description="Largest δ one release may spend.")
    typical_epsilon: str | None = Field(None, description="ε `covenant check` uses to show what accuracy the budget buys.")

    @field_validator("max_epsilon", "min_epsilon", "typical_epsilon")
    @classmethod
    def _positive(cls, value: str | None) -> str | None:
        return None if value is None else _amount(value)

    @field_validator("max_delta")
    @classmethod
    def _non_negative(cls, value: str) -> str:
        return _amount(value, positive=False)


class LinkedRules(_Frozen):
    counters: tuple[str, ...] = Field(
        (), description="Counter organisations this node accepts for linked counts (none: no linked counts); a "
                        "counter whose organisation or legal entity is a party of the run is refused anyway.")
    pair_epsilon: str | None = Field(
        None, description="ε any one partner may spend per period linking against this node (default: the budget's).")
    pair_delta: str | None = Field(None, description="δ any one partner may spend per period linking against this node.")
    failed_runs_alert: int = Field(
        3, ge=1, description="Failed or aborted runs with one partner per period from which the node alerts.")

    @field_validator("counters")
    @classmethod
    def _slugs(cls, counters: tuple[str, ...]) -> tuple[str, ...]:
        for org in counters:
            if not re.fullmatch(_SLUG.strip("^$"), org):
                raise ValueError(f"counter {org!r} is not an organisation slug")
        return counters

    @field_validator("pair_epsilon", "pair_delta")
    @classmethod
    def _pair(cls, value: str | None) -> str | None:
        return None if value is None else _amount(value, positive=False)


class Suppression(_Frozen):
    below: int = Field(ge=1, description="Noisy values below this are shown as suppressed.")
    purposes: tuple[str, ...] = Field((), description="Purposes it applies to (empty: all).")
    datasets: tuple[str, ...] = Field((), description="Datasets it applies to (empty: all).")


class Covenant(_Frozen):
    organisation: str = Field(pattern=_SLUG, description="The node's organisation; must match node.toml.")
    budget: BudgetRules
    limits: Limits
    parties: tuple[Party, ...] = Field(description="Who may ask.")
    purposes: tuple[Purpose, ...] = Field(description="What they may ask for.")
    suppression: tuple[Suppression, ...] = Field((), description="Suppression of small noisy values.")
    linked: LinkedRules = Field(LinkedRules(), description="Linked counts: accepted counters, per-partner budget.")

    @model_validator(mode="after")
    def _consistent(self) -> Covenant:
        _check_consistency(self)
        return self

    def purpose(self, purpose_id: str) -> Purpose | None:
        return next((p for p in self.purposes if p.id == purpose_id), None)

    def party(self, role: str, org: str) -> Party | None:
        return next((p for p in self.parties if (p.role, p.org) == (role, org)), None)

    def suppression_for(self, purpose: str, dataset: str) -> int | None:
        """The strictest threshold that applies, if any."""
        thresholds = [s.below for s in self.suppression
                      if (not s.purposes or purpose in s.purposes) and (not s.datasets or dataset in s.datasets)]
        return max(thresholds) if thresholds else None


def _check_consistency(covenant: Covenant) -> None:
    ids = [p.id for p in covenant.purposes]
    if len(set(ids)) != len(ids):
        raise ValueError("two purposes have the same id")
    keys = [(p.role, p.org) for p in covenant.parties]
    if len(set(keys)) != len(keys):
        raise ValueError("a party (role + org) is listed twice")
    for party in covenant.parties:
        for purpose in party.purposes:
            if purpose not in ids:
                raise ValueError(f"party {party.role} {party.org} names unknown purpose {purpose!r}")
    for name, total, caps in (
        ("epsilon", covenant.budget.epsilon, [p.epsilon_cap for p in covenant.purposes]),
        ("delta", covenant.budget.delta, [p.delta_cap for p in covenant.purposes]),
    ):
        summed = sum((Decimal(c) for c in caps if c is not None), Decimal(0))
        if summed > Decimal(total):
            raise ValueError(f"the purposes' {name}_cap values add up to {summed}, above the budget's {name} {total}")
    if Decimal(covenant.limits.max_epsilon) > Decimal(covenant.budget.epsilon):
        raise ValueError("limits.max_epsilon is above the whole period's budget.epsilon")
    if Decimal(covenant.limits.min_epsilon) > Decimal(covenant.limits.max_epsilon):
        raise ValueError("limits.min_epsilon is above limits.max_epsilon")
    if covenant.limits.typical_epsilon and Decimal(covenant.limits.typical_epsilon) > Decimal(covenant.limits.max_epsilon):
        raise ValueError("limits.typical_epsilon is above limits.max_epsilon")
    for rule in covenant.suppression:
        for purpose in rule.purposes:
            if purpose not in ids:
                raise ValueError(f"a suppression rule names unknown purpose {purpose!r}")


def check_against_datasets(covenant: Covenant, config: NodeConfig) -> list[tuple[tuple[str | int, ...], str]]:
    """Problems where the covenant names datasets or columns node.toml lacks, as (field path, message)."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    if covenant.organisation != config.node.org:
        problems.append((("organisation",), f"is {covenant.organisation!r} but node.toml says {config.node.org!r}"))
    for index, purpose in enumerate(covenant.purposes):
        where: tuple[str | int, ...] = ("purposes", index)
        for name, columns in purpose.datasets.items():
            dataset = config.dataset(name)
            if dataset is None:
                problems.append(((*where, "datasets", name), f"purpose {purpose.id!r} names unknown dataset {name!r}"))
                continue
            for column in columns:
                dimension = dataset.dimensions.get(column)
                if dimension is None:
                    problems.append(((*where, "datasets", name),
                                     f"purpose {purpose.id!r} names unknown dimension {column!r} of dataset {name!r}"))
                elif dimension.info_class == "WAT" and not purpose.wat_allowed:
                    problems.append(((*where, "datasets", name),
                                     f"purpose {purpose.id!r} is DAT-only but lists WAT column {column!r}"))
        for linking in purpose.linking or ():
            for name in linking.datasets:
                if name not in purpose.datasets:
                    problems.append(((*where, "linking", "datasets"),
                                     f"purpose {purpose.id!r} may link dataset {name!r}, which it does not cover"))
    for index, rule in enumerate(covenant.suppression):
        for name in rule.datasets:
            if config.dataset(name) is None:
                problems.append((("suppression", index, "datasets"), f"a suppression rule names unknown dataset {name!r}"))
    return problems


def locate(text: str, loc: tuple[str | int, ...]) -> int | None:
    """Best-effort line number of a field path in the TOML text (tomllib keeps none)."""
    lines = text.splitlines()
    start = 0
    if len(loc) >= 2 and isinstance(loc[0], str) and isinstance(loc[1], int):
        headers = [i for i, line in enumerate(lines) if line.strip() == f"[[{loc[0]}]]"]
        if loc[1] < len(headers):
            start = headers[loc[1]]
    names = [str(part) for part in loc if isinstance(part, str)]
    for needle in reversed(names[1:] or names):
        pattern = re.compile(rf'(^\s*"?{re.escape(needle)}"?\s*=)|("{re.escape(needle)}")|(\[.*\b{re.escape(needle)}\]\s*$)')
        for number in range(start, len(lines)):
            if pattern.search(lines[number]):
                return number + 1
    return start + 1 if start else None


def _where(path: Path, text: str, loc: tuple[str | int, ...]) -> str:
    line = locate(text, loc)
    field = ".".join(str(p) for p in loc) or "(top level)"
    return f"{path}{f' line {line}' if line else ''}: `{field}`"


PLACEHOLDER = "FILL IN"  # what `regiozicht-node init` leaves for the privacy officer


def _placeholder(value: object, loc: tuple[str | int, ...] = ()) -> tuple[str | int, ...] | None:
    """The field path of the first value still holding the template's placeholder."""
    if isinstance(value, str):
        return loc if PLACEHOLDER in value else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = _placeholder(item, (*loc, key))
        if found is not None:
            return found
    return None


def load(path: Path, config: NodeConfig) -> Covenant:
    """Reads, validates and cross-checks `covenant.toml`; raises ConfigError naming the line and field."""
    raw = load_toml(path, "covenant")
    text = path.read_text(encoding="utf-8")
    left = _placeholder(raw)
    if left is not None:
        raise ConfigError(f"{_where(path, text, left)} still holds the template's \"{PLACEHOLDER}\" placeholder; the "
                          "privacy officer fills in every such value and runs `regiozicht-node covenant check`.")
    try:
        covenant = Covenant.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{_where(path, text, tuple(first['loc']))}: {message}{more}; the privacy officer "
                          "should fix the covenant and run `regiozicht-node covenant check`.") from None
    problems = check_against_datasets(covenant, config)
    if problems:
        loc, message = problems[0]
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise ConfigError(f"{_where(path, text, loc)}: {message}{more}; the privacy officer should fix the covenant "
                          "and run `regiozicht-node covenant check`.")
    return covenant
