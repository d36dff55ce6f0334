"""The monitor's run history: one JSON document per reference date (peildatum), so a site can show
the trend over the last periods and a re-run in the same period replaces that period's figures."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from regiozicht.errors import ConfigError


def peildatum_of(document: dict[str, Any]) -> str:
    """The document's reference date: its own `peildatum`, else its first release's, else the day it was asked."""
    if document.get("peildatum"):
        return str(document["peildatum"])
    for release in document.get("releases", {}).values():
        if release.get("peildatum"):
            return str(release["peildatum"])
    return str(document["asked_at"])


def path_for(history_dir: Path, peildatum: str) -> Path:
    """Where the run of the period of `peildatum` (ISO date) is kept."""
    return history_dir / f"{peildatum}.json"


def save(document: dict[str, Any], history_dir: Path) -> Path:
    """Stores the document as `history_dir/PEILDATUM.json` (replacing that period's earlier run)."""
    history_dir.mkdir(parents=True, exist_ok=True)
    path = path_for(history_dir, peildatum_of(document))
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    os.replace(partial, path)  # a reader never sees half a document
    return path


def load_all(history_dir: Path) -> list[dict[str, Any]]:
    """Every stored document, oldest reference date first."""
    documents = []
    for path in sorted(history_dir.glob("*.json")):
        try:
            document = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"History file {path} cannot be read ({exc}); restore it from a backup or remove it.") \
                from None
        if not isinstance(document, dict) or "indicators" not in document:
            raise ConfigError(f"History file {path} is no monitor run document; remove it from {history_dir}.")
        documents.append(document)
    return sorted(documents, key=peildatum_of)
