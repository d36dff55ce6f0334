"""Monitor documents made the real way for the site's tests: a small synthetic region (the RMC and
two W&I nodes, two gemeenten) running a monitor shaped like the shipped one over five quarters."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import tomli_w

from analyst import monitor as m
from analyst.monitor_run import run
from synth.region import make_gemeenten
from tests.linked_region import LinkedRegion, linked_region

# five quarters, oldest first: the quarterly releases ask each quarter's first day
PERIODS = ("2025-10-15", "2026-01-15", "2026-04-15", "2026-07-15", "2026-10-15")
_BASIS = "publieke taak — Wet op het voortgezet onderwijs, art. 8a en 8b (RMC-functie)"

MONITOR: dict[str, Any] = {
    "monitor": {"title": "Regionale monitor jongeren tussen school en werk", "purpose": "rmc-monitor",
                "max_half_width": 60, "max_share_width_pp": 60, "delta": "0.0000005"},
    "releases": [
        {"id": "vsv", "dataset": "vsv", "at": "rmc", "by": ["gemeente", "leeftijd", "geslacht"], "epsilon": "0.5",
         "every": "quarter"},
        {"id": "rmc_stock", "dataset": "rmc_stock", "at": "rmc", "by": ["gemeente", "doelgroep", "traject"],
         "epsilon": "0.5", "every": "quarter"},
        {"id": "bijstand", "dataset": "bijstand", "at": "wi", "by": ["gemeente", "leeftijd"], "epsilon": "0.5",
         "every": "quarter"},
    ],
    "linked": [{"id": "vsv_bijstand", "anchor": "vsv@rmc", "other": "bijstand@wi", "by": ["gemeente"],
                "epsilon": "1"}],
    "indicators": [
        {"id": "1-nieuwe-vsv", "title": "Nieuwe voortijdig schoolverlaters",
         "definition": "Jongeren zonder startkwalificatie die de RMC als nieuwe voortijdig schoolverlater registreerde.",
         "partners": ["rmc"], "legal_basis": _BASIS, "count": {"release": "vsv"},
         "show": [["gemeente"], ["leeftijd"], ["geslacht"], []]},
        {"id": "2-rmc-in-traject", "title": "Aandeel van de RMC-voorraad in een traject",
         "definition": "Van de jongeren die op de peildatum bij de RMC staan ingeschreven: het deel met een traject.",
         "partners": ["rmc"], "legal_basis": _BASIS,
         "numerator": {"release": "rmc_stock", "where": "traject = J"}, "denominator": {"release": "rmc_stock"},
         "show": [["gemeente"], []]},
        {"id": "5-vsv-bijstand", "title": "Voortijdig schoolverlaters in de bijstand",
         "definition": "Van de nieuwe voortijdig schoolverlaters: het deel dat op de peildatum bijstand ontvangt.",
         "partners": ["rmc", "wi"], "legal_basis": _BASIS + "; Participatiewet [jurist]", "linked": "vsv_bijstand",
         "show": [["gemeente"]]},
        {"id": "10-bijstand", "title": "Jongeren in de bijstand",
         "definition": "Jongeren met een bijstandsuitkering (Participatiewet) op de peildatum.",
         "partners": ["wi"], "legal_basis": "publieke taak — Participatiewet [jurist]",
         "count": {"release": "bijstand"}, "show": [["gemeente"], ["leeftijd"], []]},
    ],
}


def write_monitor(path: Path) -> Path:
    path.write_text(tomli_w.dumps(MONITOR))
    return path


def labels() -> dict[str, dict[str, str]]:
    """The gemeenten's names, as run documents carry them."""
    return {"gemeente": {g.code: g.name for g in make_gemeenten(2)}}


def run_periods(region: LinkedRegion, monitor_path: Path, periods: tuple[str, ...]) -> list[dict[str, Any]]:
    """One run document per period, oldest first, each with the gemeenten's names as labels."""
    monitor = m.load(monitor_path)
    client = region.client()
    try:
        nodes = client.catalog()
        return [{**run(client, monitor, nodes, dt.date.fromisoformat(at)), "labels": labels()} for at in periods]
    finally:
        client.close()


def monitor_documents(root: Path) -> list[dict[str, Any]]:
    """The five periods' documents from a region started and stopped here."""
    with linked_region(root / "region") as region:
        return run_periods(region, write_monitor(root / "monitor.toml"), PERIODS)
