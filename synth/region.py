"""The synthetic region: municipalities, partners and calendar helpers."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

_NAMES = (
    "Noorderveen", "Oosterbroek", "Westerhaven", "Zuiderwold", "Middelrijk",
    "Hoogeland", "Laagveld", "Bergdijk", "Kromstad", "Dalwijk",
)
AGE_BANDS = ("12-15", "16-17", "18-22", "23-26")
SEXES = ("M", "V")


@dataclass(frozen=True)
class Gemeente:
    code: str
    name: str
    weight: float  # share of the region's young people
    own_wi: bool = False  # runs its own Work & Income department (a W&I node of its own)

    @property
    def slug(self) -> str:
        return self.code.lower()


@dataclass(frozen=True)
class Partner:
    id: str
    org: str
    kind: str


def make_gemeenten(n: int, *, own_wi: bool = True) -> list[Gemeente]:
    """`n` fictional municipalities; the first is the largest (a small city) and, with `own_wi`,
    runs its own Work & Income department, the rest sharing the regional one."""
    if not 2 <= n <= len(_NAMES):
        raise ValueError(f"--gemeenten must be between 2 and {len(_NAMES)}")
    raw = [1.0 / (k + 1) ** 0.8 for k in range(n)]
    total = sum(raw)
    return [Gemeente(f"GM{9001 + k}", _NAMES[k], w / total, own_wi=own_wi and k == 0) for k, w in enumerate(raw)]


def own_wi_gemeente(gemeenten: list[Gemeente]) -> Gemeente | None:
    """The municipality running its own Work & Income department, if one does."""
    return next((g for g in gemeenten if g.own_wi), None)


def make_partners(gemeenten: list[Gemeente]) -> list[Partner]:
    own = own_wi_gemeente(gemeenten)
    partners = [
        Partner("rmc", "rmc-regio", "rmc"),
        Partner("wi-regio", "sociale-dienst-regio", "wi"),
        *([Partner(f"wi-{own.slug}", f"werk-inkomen-{own.slug}", "wi")] if own is not None else []),
        Partner("jeugdhulp", "jeugdhulp-regio", "jeugdhulp"),
        Partner("leerplicht", "leerplicht-regio", "leerplicht"),
        Partner("school-provso", "school-provso", "school"),
        Partner("school-mbo", "school-mbo", "school"),
    ]
    partners += [Partner(f"brp-{g.slug}", f"gemeente-{g.slug}", "brp") for g in gemeenten]
    return partners


def wi_partner_for(gemeente_code: str, gemeenten: list[Gemeente]) -> str:
    own = own_wi_gemeente(gemeenten)
    return f"wi-{own.slug}" if own is not None and gemeente_code == own.code else "wi-regio"


def shift_years(d: dt.date, years: int) -> dt.date:
    """`d` moved by whole years; 29 February becomes 28 February."""
    try:
        return d.replace(year=d.year + years)
    except ValueError:
        return d.replace(year=d.year + years, day=28)
