"""A synthetic region whose RMC and W&I nodes may link (shared by the linked-count tests)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coordinator.client import AnalystClient, Profile
from demo import synthregion
from demo.region import PartnerSetup, RegionFiles, RunningRegion, build, demo_covenant
from synth.generate import generate
from synth.manifest import Manifest
from synth.truth import Truth

PURPOSE = "rmc-monitor"


def linking_covenant(partner: PartnerSetup, *, kinds: tuple[str, ...], partner_datasets: tuple[str, ...],
                     datasets: tuple[str, ...], max_delta: str = "0.000001") -> dict[str, Any]:
    """The demo covenant with a linking rule, a budget for hundreds of runs and room for δ."""
    covenant = demo_covenant(partner.org, partner.datasets, epsilon="5000")
    covenant["budget"]["delta"] = "1"
    covenant["limits"]["max_delta"] = max_delta
    covenant["purposes"][0]["linking"] = {"kinds": list(kinds), "datasets": list(datasets),
                                          "partner_datasets": list(partner_datasets)}
    return covenant


@dataclass
class LinkedRegion:
    data: Path
    manifest: Manifest
    truth: Truth
    files: RegionFiles
    running: RunningRegion
    partners: list[PartnerSetup]

    def client(self) -> AnalystClient:
        return AnalystClient(Profile.load(self.files.profile))

    def state_db(self, node_id: str) -> Path:
        return self.files.node_configs[node_id].parent / "state.sqlite"


def synth_partners(data: Path, scale: float = 0.02) -> tuple[Manifest, list[PartnerSetup]]:
    manifest = generate(data, scale=scale, seed=11, gemeenten=2)
    partners = synthregion.partners(data, manifest, only={"rmc", "wi-regio", "wi-gm9001"})
    out = []
    for p in partners:
        if p.kind == "rmc":
            cov = linking_covenant(p, kinds=("wi",), datasets=("vsv", "rmc_stock"), partner_datasets=("bijstand",))
        else:
            cov = linking_covenant(p, kinds=("rmc",), datasets=("bijstand",), partner_datasets=("vsv", "rmc_stock"))
        out.append(dataclasses.replace(p, covenant=cov))
    return manifest, out


@contextmanager
def linked_region(root: Path, scale: float = 0.02,
                  change: Any = None) -> Iterator[LinkedRegion]:
    data = root / "data"
    manifest, partners = synth_partners(data, scale)
    if change is not None:
        partners = change(partners)
    files = build(root / "region", partners)
    running = RunningRegion(files)
    running.start()
    try:
        running.wait_until_online({p.org for p in partners})
        yield LinkedRegion(data, manifest, Truth.load(data), files, running, partners)
    finally:
        running.stop()
