"""One simulated young person: residence and school career over time.

Dates are ordinals (`date.toordinal()`) inside the simulation because
integer arithmetic keeps the per-person loop fast; projection turns them
back into dates. Rates are calibrated against docs/domain.md's magnitudes.
"""
from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass, field
from statistics import NormalDist

from synth.region import Gemeente, shift_years

_NORMAL = NormalDist()
ORD = dt.date.toordinal


@dataclass(slots=True)
class Spell:
    """A dated fact about a person; `end` is the last day (inclusive) or None."""

    kind: str
    start: int
    end: int | None
    info: dict[str, object] = field(default_factory=dict)


@dataclass(slots=True)
class Life:
    index: int
    bsn: str
    birth: dt.date
    sex: str
    risk: float  # latent vulnerability: drives track, dropout, care, benefit
    horizon: int = 0  # last simulated day
    last_day: int = 0  # last day before the extract time
    residences: list[Spell] = field(default_factory=list)
    enrolments: list[Spell] = field(default_factory=list)
    jobs: list[Spell] = field(default_factory=list)
    benefits: list[Spell] = field(default_factory=list)
    care: list[Spell] = field(default_factory=list)
    protection: list[Spell] = field(default_factory=list)
    verzuim: list[Spell] = field(default_factory=list)
    vrijstelling: list[Spell] = field(default_factory=list)
    absence: list[Spell] = field(default_factory=list)
    rmc: list[Spell] = field(default_factory=list)
    trajects: list[Spell] = field(default_factory=list)
    nazorg: list[Spell] = field(default_factory=list)
    dgr: list[Spell] = field(default_factory=list)
    voorziening: list[Spell] = field(default_factory=list)

    def birthday(self, years: int) -> int:
        return ORD(shift_years(self.birth, years))

    def age_at(self, day: int) -> int:
        d = dt.date.fromordinal(day)
        return d.year - self.birth.year - ((d.month, d.day) < (self.birth.month, self.birth.day))

    def gemeente_at(self, day: int) -> str:
        for r in reversed(self.residences):
            if r.start <= day:
                return str(r.info["gemeente"])
        return str(self.residences[0].info["gemeente"])

    def enrolled_at(self, day: int) -> Spell | None:
        for e in self.enrolments:
            if e.start <= day and (e.end is None or e.end >= day):
                return e
        return None

    def has_sk_at(self, day: int) -> bool:
        return any(e.info.get("sk") and e.end is not None and e.end <= day for e in self.enrolments)


def aug1(year: int) -> int:
    return ORD(dt.date(year, 8, 1))


def jul31(year: int) -> int:
    return ORD(dt.date(year, 7, 31))


def pick(rng: random.Random, options: dict[str, float]) -> str:
    return rng.choices(list(options), weights=list(options.values()))[0]


def simulate_residence(life: Life, rng: random.Random, gemeenten: list[Gemeente]) -> None:
    """Born in one municipality; family moves before 18, own moves and leaving the region after."""
    codes = [g.code for g in gemeenten]
    current = rng.choices(codes, weights=[g.weight for g in gemeenten])[0]
    start = ORD(life.birth)
    age = 11
    while True:
        year_start = life.birthday(age)
        if year_start > life.horizon:
            break
        move_p, leave_p = (0.02, 0.0) if age < 18 else (0.07, 0.012)
        day = year_start + rng.randrange(365)
        if rng.random() < leave_p and day <= life.horizon:
            life.horizon = day - 1
            break
        if rng.random() < move_p and day <= life.horizon:
            life.residences.append(Spell("woon", start, day - 1, {"gemeente": current, "wijk": _wijk(rng)}))
            current = rng.choice([c for c in codes if c != current])
            start = day
        age += 1
    life.residences.append(Spell("woon", start, None, {"gemeente": current, "wijk": _wijk(rng)}))


def _wijk(rng: random.Random) -> str:
    return f"wk{rng.randrange(1, 7):02d}"


# Secondary tracks by ability quantile (ability falls with risk).
_TRACKS = ((0.031, "VSO"), (0.063, "PRO"), (0.153, "VMBO_BB"), (0.39, "VMBO_KGT"), (0.67, "HAVO"), (1.0, "VWO"))
_MBO_DROPOUT = {1: 0.40, 2: 0.27, 3: 0.14, 4: 0.105}
_GENERAL_DROPOUT = 0.016  # havo/vwo: yearly drop-out chance from 16 (leaving without a diploma)
_MBO_YEARS = {1: 1, 2: 2, 3: 3, 4: 4}


def simulate_school(life: Life, rng: random.Random) -> None:
    """The dated school career from secondary school until leaving for good."""
    ability = -0.7 * life.risk + 0.714 * rng.gauss(0, 1)
    q = _NORMAL.cdf(ability)
    track = next(name for edge, name in _TRACKS if q <= edge)
    b = life.birth
    year = b.year + 12 if (b.month, b.day) <= (10, 1) else b.year + 13
    step: tuple[str, int] | None = (track, 0)
    while step is not None and aug1(year) <= life.horizon:
        kind, level = step
        start = aug1(year) if not life.enrolments or life.enrolments[-1].end is None \
            else max(aug1(year), life.enrolments[-1].end + 1)
        step, year = _ENROL[kind](life, rng, start, level)


def _add(life: Life, kind: str, start: int, end: int, reason: str, **info: object) -> None:
    life.enrolments.append(Spell(kind, start, end, {"reason": reason, **info}))


def _leave_day(life: Life, rng: random.Random, school_year: int) -> int | None:
    """Drop-outs leave at a random day between September and June; None before 16 (leerplicht:
    a younger pupil who leaves a school is enrolled at another, docs/domain.md)."""
    day = aug1(school_year) + 31 + rng.randrange(300)
    return day if day >= life.birthday(16) else None


def _special(life: Life, rng: random.Random, start: int, kind: str) -> tuple[tuple[str, int] | None, int]:
    lo, hi = (15.0, 17.5) if kind == "PRO" else (15.5, 19.0)
    exit_age = rng.uniform(lo, hi)
    year = dt.date.fromordinal(start).year
    while life.age_at(jul31(year + 1)) < exit_age:
        year += 1
    weights = ({"VERVOLGONDERWIJS": 0.25, "ARBEIDSMARKT": 0.62, "DAGBESTEDING": 0.13} if kind == "PRO"
               else {"VERVOLGONDERWIJS": 0.24, "ARBEIDSMARKT": 0.43, "DAGBESTEDING": 0.33})
    profiel = pick(rng, weights)
    _add(life, kind, start, jul31(year + 1), "UITSTROOM", profiel=profiel, sk=False)
    nxt = ("MBO", 1 if rng.random() < 0.6 else 2) if profiel == "VERVOLGONDERWIJS" else None
    return nxt, year + 1


def _pro(life: Life, rng: random.Random, start: int, level: int) -> tuple[tuple[str, int] | None, int]:
    return _special(life, rng, start, "PRO")


def _vso(life: Life, rng: random.Random, start: int, level: int) -> tuple[tuple[str, int] | None, int]:
    return _special(life, rng, start, "VSO")


def _dropout_p(life: Life, base: float, day: int) -> float:
    """Drop-out chance in a school year; most leave after 18, boys twice as often."""
    sex = 1.45 if life.sex == "M" else 0.65
    adult = 1.9 if life.age_at(day) >= 18 else 0.12
    return min(0.5, base * sex * adult * math.exp(0.6 * life.risk - 0.18))


def _secondary(life: Life, rng: random.Random, start: int, kind: str, years: int,
               dropout: float) -> tuple[int, bool]:
    """Years in a secondary track; returns (school year after leaving, completed)."""
    year = dt.date.fromordinal(start).year
    for k in range(years):
        if rng.random() < _dropout_p(life, dropout / years, aug1(year + k)):
            left = _leave_day(life, rng, year + k)
            if left is not None:
                _add(life, kind, start, left, "VOORTIJDIG", sk=False)
                return year + k + 1, False
    return year + years, True


def _vmbo_bb(life: Life, rng: random.Random, start: int, level: int) -> tuple[tuple[str, int] | None, int]:
    year, done = _secondary(life, rng, start, "VMBO_BB", 4, 0.06)
    if not done:
        return (("MBO", 1) if rng.random() < 0.25 else None), year
    _add(life, "VMBO_BB", start, jul31(year), "DIPLOMA", sk=False)
    u = rng.random()
    return (("MBO", 2) if u < 0.78 else ("MBO", 1) if u < 0.92 else None), year


def _vmbo_kgt(life: Life, rng: random.Random, start: int, level: int) -> tuple[tuple[str, int] | None, int]:
    year, done = _secondary(life, rng, start, "VMBO_KGT", 4, 0.025)
    if not done:
        return (("MBO", 2) if rng.random() < 0.35 else None), year
    _add(life, "VMBO_KGT", start, jul31(year), "DIPLOMA", sk=False)
    u = rng.random()
    return (("MBO", 4) if u < 0.5 else ("MBO", 3) if u < 0.93 else ("MBO", 2) if u < 0.97 else None), year


def _general(life: Life, rng: random.Random, start: int, kind: str, years: int) -> tuple[tuple[str, int] | None, int]:
    year = dt.date.fromordinal(start).year
    if rng.random() < 0.12:  # fails in the upper years and switches to mbo 4 (at 15 or older)
        year += years - 1
        _add(life, kind, start, jul31(year), "OVERSTAP", sk=False)
        return ("MBO", 4), year
    for k in range(years):
        if rng.random() < _GENERAL_DROPOUT * (1.45 if life.sex == "M" else 0.65) * math.exp(0.6 * life.risk):
            left = _leave_day(life, rng, year + k)
            if left is not None:  # a non-partner school's leaver: the RMC knows it through DUO
                _add(life, kind, start, left, "VOORTIJDIG", sk=False)
                return (("MBO", 4) if rng.random() < 0.3 else None), year + k + 1
    year += years
    _add(life, kind, start, jul31(year), "DIPLOMA", sk=True)
    return (("HBO", 0) if rng.random() < 0.85 else ("MBO", 4) if rng.random() < 0.5 else None), year


def _havo(life: Life, rng: random.Random, start: int, level: int) -> tuple[tuple[str, int] | None, int]:
    return _general(life, rng, start, "HAVO", 5)


def _vwo(life: Life, rng: random.Random, start: int, level: int) -> tuple[tuple[str, int] | None, int]:
    return _general(life, rng, start, "VWO", 6)


def _mbo(life: Life, rng: random.Random, start: int, level: int) -> tuple[tuple[str, int] | None, int]:
    year = dt.date.fromordinal(start).year
    years = _MBO_YEARS[level] - (1 if level == 4 and rng.random() < 0.5 else 0)
    for k in range(years):
        if rng.random() < _dropout_p(life, _MBO_DROPOUT[level], aug1(year + k)):
            left = _leave_day(life, rng, year + k)
            if left is not None:
                _add(life, "MBO", start, left, "VOORTIJDIG", level=level, sk=False)
                return _after_dropout(life, rng, level), year + k + 1
    year += years
    _add(life, "MBO", start, jul31(year), "DIPLOMA", level=level, sk=level >= 2)
    u = rng.random()
    if level < 4 and u < 0.3:
        return ("MBO", level + 1), year
    return (("HBO", 0) if level == 4 and u < 0.35 else None), year


def _after_dropout(life: Life, rng: random.Random, level: int) -> tuple[str, int] | None:
    """About a third of the drop-outs are back in mbo by the next school year."""
    if rng.random() < 0.38 * math.exp(-0.2 * life.risk):
        return ("MBO", max(1, level - (rng.random() < 0.4)))
    return None


def _hbo(life: Life, rng: random.Random, start: int, level: int) -> tuple[tuple[str, int] | None, int]:
    year = dt.date.fromordinal(start).year
    years = rng.choice((3, 4, 4, 5))
    _add(life, "HBO", start, jul31(year + years), "DIPLOMA", sk=True)
    return None, year + years


_ENROL = {
    "PRO": _pro, "VSO": _vso, "VMBO_BB": _vmbo_bb, "VMBO_KGT": _vmbo_kgt,
    "HAVO": _havo, "VWO": _vwo, "MBO": _mbo, "HBO": _hbo,
}
