"""How the site says things in Dutch: numbers, dates, units and the names of codes."""

from __future__ import annotations

import datetime as dt

MONTHS = ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september", "oktober",
          "november", "december")

DIMENSIONS = {"gemeente": "Gemeente", "leeftijd": "Leeftijd", "geslacht": "Geslacht", "doelgroep": "Doelgroep",
              "traject": "Traject"}

# names of codes no run document labels; a document's own `labels` win
VALUES = {
    "geslacht": {"M": "Man", "V": "Vrouw"},
    "traject": {"J": "In een traject", "N": "Geen traject"},
}

PARTNERS = {
    "rmc": "RMC (Regionaal Meld- en Coördinatiepunt voortijdig schoolverlaten)",
    "wi": "Werk & Inkomen van de gemeenten",
    "jeugdhulp": "Jeugdhulp",
    "leerplicht": "Leerplicht",
    "brp": "Basisregistratie Personen (BRP) van de gemeenten",
}

PURPOSES = {"rmc-monitor": "Regionale monitor van de RMC-functie: jongeren tussen school en werk in beeld"}


def date(iso: str) -> str:
    """'2026-10-01' → '1 oktober 2026'."""
    day = dt.date.fromisoformat(iso[:10])
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def short_date(iso: str) -> str:
    """'2026-10-01' → 'okt 2026' (for chart axes)."""
    day = dt.date.fromisoformat(iso[:10])
    return f"{day.day} {MONTHS[day.month - 1][:3]} {day.year}"


def number(value: float, decimals: int = 0) -> str:
    """Dutch notation: thousands with a dot, decimals with a comma ('1.234', '19,1')."""
    text = f"{value:,.{decimals}f}"
    return text.replace(",", "_").replace(".", ",").replace("_", ".")


def value_label(dimension: str, code: str, labels: dict[str, dict[str, str]]) -> str:
    """A cell value as readers know it: the document's label, a known name, or the code itself."""
    if code == "onbekend":
        return f"{DIMENSIONS.get(dimension, dimension.capitalize())} onbekend"
    named = labels.get(dimension, {}).get(code) or VALUES.get(dimension, {}).get(code)
    if named:
        return named
    if dimension == "leeftijd" and "-" in code:
        low, high = code.split("-", 1)
        return f"{low} tot en met {high} jaar"
    return code


def dimension_label(dimension: str) -> str:
    return DIMENSIONS.get(dimension, dimension.capitalize())


def grouping_label(by: list[str]) -> str:
    """Caption of a table grouped by `by`: 'Per gemeente', 'Per leeftijd en geslacht', 'Hele regio'."""
    if not by:
        return "Hele regio"
    return "Per " + " en ".join(dimension_label(name).lower() for name in by)


def grouping_header(by: list[str]) -> str:
    """Header of a table's row labels: 'Gemeente', 'Leeftijd en geslacht', 'Gebied'."""
    return " en ".join(dimension_label(name).lower() for name in by).capitalize() if by else "Gebied"
