"""Which partners may publish a dataset name: the binding both the coordinator and the analyst
check, so that a node with a valid certificate cannot add its figures to another partner's
dataset by publishing the same name.

Each dataset name is bound to partner kinds and/or orgs. The standard table follows the standard
datasets of each partner kind (`docs/synthetic-region.md`); coordinator.toml and the analyst's
profile may add names or replace a name's entry under `[datasets]`. A name in neither is open to
every node (list it to bind it). The kind checked is the one in the node's certificate, which the
CA signed: a coordinator cannot change it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from regiozicht.errors import ConfigError

# dataset name → the partner kinds that publish it as standard (keep in step with synth/datasets.py;
# tests/test_bindings.py checks they agree)
STANDARD_PUBLISHERS: dict[str, tuple[str, ...]] = {
    **{name: ("school",) for name in ("enrolled", "enrolled_12m", "school_leaver", "startkwalificatie", "verzuim",
                                      "nazorg")},
    **{name: ("leerplicht",) for name in ("verzuim_melding", "zestien_uur", "langdurig_verzuim", "absoluut_verzuim",
                                          "vrijstelling")},
    **{name: ("rmc",) for name in ("vsv", "rmc_stock", "jikp_leaver", "rmc_traject", "rmc_contact")},
    **{name: ("wi",) for name in ("bijstand", "bijstand_12m", "uitkering", "baan", "baan_12m", "doelgroepregister",
                                  "voorziening")},
    **{name: ("jeugdhulp",) for name in ("jeugdhulp", "jeugdhulp_24m", "jeugdbescherming")},
    "inwoner": ("brp",),
}


@dataclass(frozen=True)
class DatasetBindings:
    """dataset name → the kinds and orgs allowed to publish it (names not listed: any node)."""

    table: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: dict(STANDARD_PUBLISHERS))

    @classmethod
    def with_overrides(cls, overrides: Mapping[str, Sequence[str]], where: str) -> DatasetBindings:
        """The standard table with `[datasets]` entries of a config added or replacing a name's entry."""
        table = dict(STANDARD_PUBLISHERS)
        for name, publishers in overrides.items():
            if not publishers:
                raise ConfigError(f"{where} [datasets] {name} lists no kind or org; name who may publish it.")
            table[name] = tuple(publishers)
        return cls(table)

    def allows(self, dataset: str, org: str, kind: str) -> bool:
        allowed = self.table.get(dataset)
        return allowed is None or kind in allowed or org in allowed

    def refusal(self, dataset: str, org: str, kind: str) -> str | None:
        """Why node `org` (`kind`) may not publish `dataset`, or None when it may."""
        if self.allows(dataset, org, kind):
            return None
        return (f"dataset {dataset} is bound to {', '.join(self.table[dataset])}, not to {org} ({kind}); "
                f"add {org} to [datasets] {dataset} if it really publishes it")

    def publishers_of(self, dataset: str) -> str:
        """The binding as shown in the catalog."""
        allowed = self.table.get(dataset)
        return ", ".join(allowed) if allowed else "any node"

