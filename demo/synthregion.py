"""Node set-ups for a generated synthetic region (used by the demo and the tests)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

from demo.region import PartnerSetup, demo_covenant


def dataset_config(spec: Any) -> dict[str, Any]:
    """A synth DatasetSpec as a `[[datasets]]` table of node.toml."""
    return {
        "name": spec.name, "description": spec.description, "sql": spec.sql, "order_by": list(spec.order_by),
        "dimensions": {name: {"domain": list(d.domain), "info_class": d.info_class, "description": d.description}
                       for name, d in spec.dimensions.items()},
        "measures": {name: list(bounds) for name, bounds in spec.measures.items()},
    }


def _rule(kind: str, datasets: list[str], partner_datasets: list[str]) -> dict[str, Any]:
    return {"kinds": [kind], "orgs": [], "datasets": datasets, "partner_datasets": partner_datasets}


def linking_rules(partner_id: str, kind: str) -> list[dict[str, Any]]:
    """Exactly the links the demo asks for (demo/questions.py LINKED), seen from this partner.

    vsv'ers against work, bijstand and youth care (RMC × W&I, RMC × youth care); pro/vso leavers
    against work or a benefit (pro/vso school × W&I); bijstand under 27 against the schools'
    startkwalificaties (W&I × both schools).
    """
    if kind == "rmc":
        return [_rule("wi", ["vsv"], ["baan", "bijstand", "bijstand_12m"]),
                _rule("jeugdhulp", ["vsv"], ["jeugdhulp_24m"])]
    if kind == "wi":
        return [_rule("rmc", ["baan", "bijstand", "bijstand_12m"], ["vsv"]),
                _rule("school", ["baan", "uitkering"], ["school_leaver"]),
                _rule("school", ["bijstand"], ["startkwalificatie"])]
    if kind == "jeugdhulp":
        return [_rule("rmc", ["jeugdhulp_24m"], ["vsv"])]
    if kind == "school":
        rules = [_rule("wi", ["startkwalificatie"], ["bijstand"])]
        if partner_id == "school-provso":
            rules.append(_rule("wi", ["school_leaver"], ["baan", "uitkering"]))
        return rules
    return []


def coverage_of(manifest: Any, partner: Any) -> dict[str, list[str]]:
    """The gemeenten a partner's records cover: a population register its own, a municipal W&I node its
    gemeente, the regional W&I node the others (synth/region.py `wi_partner_for`); other partners all."""
    codes = [g.code for g in manifest.gemeenten]
    if partner.kind == "brp":
        return {"gemeente": [g.code for g in manifest.gemeenten if f"brp-{g.code.lower()}" == partner.id]}
    if partner.kind == "wi":
        from synth.region import Gemeente, wi_partner_for

        gemeenten = [Gemeente(g.code, g.name, 0.0, own_wi=g.own_wi) for g in manifest.gemeenten]
        return {"gemeente": [c for c in codes if wi_partner_for(c, gemeenten) == partner.id]}
    return {}


def within(manifest: Any, partner: Any, where: Callable[[dict[str, str]], bool] | None = None
           ) -> Callable[[dict[str, str]], bool] | None:
    """`where` for the truth, keeping only the rows inside the partner's coverage (what its node counts)."""
    coverage = coverage_of(manifest, partner)
    if not coverage:
        return where
    return lambda row: all(row[d] in v for d, v in coverage.items() if d in row) and (where is None or where(row))


def partners(data: Path, manifest: Any, only: set[str] | None = None,
             files: dict[str, str] | None = None) -> list[PartnerSetup]:
    """One node per partner database of the region (or of the named partner ids), each with the
    demo covenant and its linking rules. `files` maps a partner id to the format (csv, parquet, xlsx)
    of its extracts written by `python -m synth --format`: that node reads the folder instead."""
    from synth.datasets import for_region
    from synth.extracts import extracts_folder
    from synth.population import SIMULATION_START

    specs = for_region(manifest)
    as_of = dt.datetime.fromisoformat(manifest.extract_time)
    out = []
    for p in manifest.partners:
        if only is not None and p.id not in only:
            continue
        datasets = [dataset_config(spec) for spec in specs[p.id]]
        covenant = demo_covenant(p.org, datasets, linking=linking_rules(p.id, p.kind))
        # nobody is in view before the simulation starts: an earlier reference date would count nobody
        out.append(PartnerSetup(p.id, p.org, p.kind, p.url(data), as_of, datasets, covenant,
                                coverage=coverage_of(manifest, p), data_from=SIMULATION_START,
                                extracts=extracts_folder(data, files[p.id], p.id) if files and p.id in files else None))
    return out
