"""Node set-ups for a generated synthetic region (used by the demo and the tests)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from demo.region import PartnerSetup


def dataset_config(spec: Any) -> dict[str, Any]:
    """A synth DatasetSpec as a `[[datasets]]` table of node.toml."""
    return {
        "name": spec.name, "description": spec.description, "sql": spec.sql, "order_by": list(spec.order_by),
        "dimensions": {name: {"domain": list(d.domain), "info_class": d.info_class, "description": d.description}
                       for name, d in spec.dimensions.items()},
        "measures": {name: list(bounds) for name, bounds in spec.measures.items()},
    }


def partners(data: Path, manifest: Any, only: set[str] | None = None) -> list[PartnerSetup]:
    """One node per partner database of the region (or of the named partner ids)."""
    from synth.datasets import for_region

    specs = for_region(manifest)
    as_of = dt.datetime.fromisoformat(manifest.extract_time)
    return [
        PartnerSetup(p.id, p.org, p.kind, p.url(data),
                     as_of, [dataset_config(spec) for spec in specs[p.id]])
        for p in manifest.partners
        if only is None or p.id in only
    ]
