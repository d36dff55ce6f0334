"""The covenant as the privacy documents read it: version 1 or 2, from the raw TOML.

The DPIA, the art. 30 entry and the report for young people need what the
covenant *says*, not what the node enforces; they read `covenant.toml` as
tomllib gives it plus `node.toml`, so they work on a v1 file (every v2-only
field then shows as open) and on a v2 file alike. Validation stays with
`covenant.load` and `regiozicht-node covenant check`: this reader only
refuses a file whose shape it cannot read, in one sentence.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node.config import NodeConfig
from regiozicht.errors import ConfigError
from regiozicht.tomlconfig import load_toml

OPEN = "OPEN — in te vullen door de FG"
OPEN_PARTNER = "OPEN — in te vullen door de partner"


@dataclass(frozen=True)
class Column:
    name: str
    info_class: str  # DAT or WAT, as node.toml (and a v2 covenant, which must agree) says
    description: str


@dataclass(frozen=True)
class DatasetUse:
    name: str
    description: str
    columns: tuple[Column, ...]
    membership: str | None  # v2: what being in the set reveals (DAT or WAT)
    special_category: bool | None  # v2: art. 9 data


@dataclass(frozen=True)
class Basis:
    ground: str
    law: str | None
    article: str | None
    special_ground: str | None
    bsn_basis: str | None
    compatibility: str | None


@dataclass(frozen=True)
class LinkRule:
    kinds: tuple[str, ...]
    orgs: tuple[str, ...]
    datasets: tuple[str, ...]
    partner_datasets: tuple[str, ...]  # as "name (DAT)" where a v2 covenant gives the class


@dataclass(frozen=True)
class PurposeView:
    id: str
    description: str
    basis: Basis
    datasets: tuple[DatasetUse, ...]
    wat_allowed: bool
    population: str | None
    serves: tuple[str, ...]
    linking: tuple[LinkRule, ...]
    epsilon_cap: str | None
    delta_cap: str | None
    parties: tuple[str, ...]  # "analyst regio-analist", …


@dataclass(frozen=True)
class CovenantView:
    version: int
    organisation: str
    kind: str
    public_body: bool | None
    board_approved: dt.date | None
    review_by: dt.date | None
    controller: dict[str, str]  # name, contact, fg: empty for v1
    prohibited: tuple[tuple[str, str], ...]  # (id, description)
    purposes: tuple[PurposeView, ...]
    budget_period: str
    budget_epsilon: str
    budget_delta: str
    max_epsilon: str
    counters: tuple[str, ...]
    suppression: tuple[int, ...]

    @property
    def is_v2(self) -> bool:
        return self.version >= 2

    def datasets(self) -> tuple[DatasetUse, ...]:
        """Every dataset some purpose covers, once, in the order purposes name them."""
        seen: dict[str, DatasetUse] = {}
        for purpose in self.purposes:
            for use in purpose.datasets:
                seen.setdefault(use.name, use)
        return tuple(seen.values())

    def linking_partners(self) -> tuple[str, ...]:
        """Who this node's data may be linked with, as the covenant names them (kinds and organisations)."""
        named = {f"{kind}" for p in self.purposes for rule in p.linking for kind in rule.kinds}
        named |= {org for p in self.purposes for rule in p.linking for org in rule.orgs}
        return tuple(sorted(named))


def read(config: NodeConfig) -> CovenantView:
    """The covenant node.toml points at, read for the documents."""
    return view(load_toml(config.covenant, "covenant"), config, config.covenant)


def view(raw: dict[str, Any], config: NodeConfig, path: Path | None = None) -> CovenantView:
    """The documents' reading of a raw covenant dict (tomllib) with the node's config."""
    where = str(path or "covenant.toml")
    try:
        version = int(raw.get("version", 1))
        budget, limits, linked = (_table(raw, name, where) for name in ("budget", "limits", "linked"))
        parties = [_table_item(item, "parties", where) for item in _list(raw, "parties", where)]
        classes = _table(raw, "datasets", where) if version >= 2 else {}
        purposes = tuple(_purpose(_table_item(item, "purposes", where), parties, classes, config, version, where)
                         for item in _list(raw, "purposes", where))
        controller = {k: str(v) for k, v in _table(raw, "controller", where).items()}
        prohibited = tuple((str(item.get("id", "")), str(item.get("description", "")))
                           for item in (_table_item(i, "prohibited", where) for i in _list(raw, "prohibited", where)))
        return CovenantView(
            version=version, organisation=str(raw.get("organisation", config.node.org)), kind=config.node.kind,
            public_body=raw.get("public_body") if isinstance(raw.get("public_body"), bool) else None,
            board_approved=_date(raw.get("board_approved")), review_by=_date(raw.get("review_by")),
            controller=controller, prohibited=prohibited, purposes=purposes,
            budget_period=str(budget.get("period", "calendar-year")), budget_epsilon=str(budget.get("epsilon", "")),
            budget_delta=str(budget.get("delta", "0")), max_epsilon=str(limits.get("max_epsilon", "")),
            counters=tuple(str(c) for c in linked.get("counters", ())),
            suppression=tuple(int(_table_item(s, "suppression", where).get("below", 0))
                              for s in _list(raw, "suppression", where)),
        )
    except (TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"{where} cannot be read for the documents ({exc}); run `regiozicht-node covenant check` "
                          "and fix what it names.") from None


def _purpose(raw: dict[str, Any], parties: list[dict[str, Any]], classes: dict[str, Any], config: NodeConfig,
             version: int, where: str) -> PurposeView:
    purpose_id = str(raw.get("id", ""))
    basis_raw = raw.get("basis")
    if isinstance(basis_raw, dict):
        basis = Basis(str(basis_raw.get("ground", "")), _text(basis_raw.get("law")), _text(basis_raw.get("article")),
                      _text(basis_raw.get("special_ground")), _text(basis_raw.get("bsn_basis")),
                      _text(basis_raw.get("compatibility")))
    else:  # v1: the basis and its law as free text; article, art. 9 ground, BSN basis and art. 6(4) note are open
        basis = Basis(str(raw.get("legal_basis", "")), _text(raw.get("law")), None, None, None, None)
    uses = []
    datasets = raw.get("datasets", {})
    if not isinstance(datasets, dict):
        raise TypeError(f"purpose {purpose_id!r}: `datasets` must be a table of dataset = [columns]")
    for name, columns in datasets.items():
        uses.append(_use(str(name), [str(c) for c in columns], classes.get(name), config))
    rules_raw = raw.get("linking") or []
    rules = [rules_raw] if isinstance(rules_raw, dict) else list(rules_raw)
    return PurposeView(
        id=purpose_id, description=str(raw.get("description", "")), basis=basis, datasets=tuple(uses),
        wat_allowed=bool(raw.get("wat_allowed", False)), population=_text(raw.get("population")),
        serves=tuple(str(s) for s in raw.get("serves", ())), linking=tuple(_rule(r) for r in rules),
        epsilon_cap=_text(raw.get("epsilon_cap")), delta_cap=_text(raw.get("delta_cap")),
        parties=tuple(f"{p.get('role')} {p.get('org')}" for p in parties if purpose_id in p.get("purposes", ())),
    )


def _use(name: str, columns: list[str], signed_off: Any, config: NodeConfig) -> DatasetUse:
    dataset = config.dataset(name)
    dims = dataset.dimensions if dataset is not None else {}
    signed = signed_off if isinstance(signed_off, dict) else {}
    signed_columns = signed.get("columns", {}) if isinstance(signed.get("columns"), dict) else {}
    return DatasetUse(
        name=name, description=dataset.description if dataset is not None else "",
        columns=tuple(Column(c, str(signed_columns.get(c) or (dims[c].info_class if c in dims else "?")),
                             dims[c].description if c in dims else "") for c in columns),
        membership=_text(signed.get("membership")),
        special_category=signed.get("special_category") if isinstance(signed.get("special_category"), bool) else None,
    )


def _rule(raw: Any) -> LinkRule:
    if not isinstance(raw, dict):
        raise TypeError("`linking` must be a table or a list of tables")
    partner_sets = []
    for item in raw.get("partner_datasets", ()):
        partner_sets.append(f"{item.get('name')} ({item.get('membership')})" if isinstance(item, dict) else str(item))
    return LinkRule(tuple(str(k) for k in raw.get("kinds", ())), tuple(str(o) for o in raw.get("orgs", ())),
                    tuple(str(d) for d in raw.get("datasets", ())), tuple(partner_sets))


def _table(raw: dict[str, Any], name: str, where: str) -> dict[str, Any]:
    value = raw.get(name, {})
    if not isinstance(value, dict):
        raise TypeError(f"`{name}` in {where} must be a table")
    return value


def _list(raw: dict[str, Any], name: str, where: str) -> list[Any]:
    value = raw.get(name, [])
    if not isinstance(value, list):
        raise TypeError(f"`{name}` in {where} must be a list of tables ([[{name}]])")
    return value


def _table_item(item: Any, name: str, where: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise TypeError(f"each [[{name}]] in {where} must be a table")
    return item


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        return dt.date.fromisoformat(value)
    return None
