"""The region's population: who is simulated, in which order, in batches."""
from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator

from synth.bsn import valid_bsns
from synth.life import ORD, Life, Spell, simulate_residence, simulate_school
from synth.life_care import simulate_care, simulate_nazorg, simulate_rmc, simulate_school_records
from synth.life_work import simulate_work
from synth.region import Gemeente, shift_years

PER_BIRTH_YEAR = 80_000 / 15  # ~80k aged 12 up to 27 at scale 1
SIMULATION_START = dt.date(2019, 10, 1)
_LISTS = ("residences", "enrolments", "jobs", "benefits", "care", "protection", "verzuim",
          "vrijstelling", "absence", "rmc", "trajects", "nazorg", "dgr", "voorziening")


def birth_range(last_day: dt.date) -> tuple[dt.date, dt.date]:
    """Everyone aged 12..26 at some day between the simulation start and the extract."""
    return shift_years(SIMULATION_START, -27) + dt.timedelta(days=1), shift_years(last_day, -12)


def population_size(scale: float, last_day: dt.date) -> int:
    first, last = birth_range(last_day)
    return max(1, round(scale * PER_BIRTH_YEAR * (last - first).days / 365.25))


def lives(seed: int, scale: float, gemeenten: list[Gemeente], last_day: dt.date,
          batch_size: int = 2000) -> Iterator[list[Life]]:
    """All simulated people in a fixed order, a batch at a time (bounded memory)."""
    first, last = birth_range(last_day)
    n = population_size(scale, last_day)
    span = (last - first).days + 1
    bsns = valid_bsns(seed)
    batch: list[Life] = []
    for i in range(n):
        # one generator per person: a person's life does not depend on the batch size
        rng = random.Random(seed * 1_000_003 + i)
        birth = dt.date.fromordinal(ORD(first) + (i * span) // n)
        batch.append(simulate_life(i, next(bsns), birth, rng, gemeenten, last_day))
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def simulate_life(index: int, bsn: str, birth: dt.date, rng: random.Random,
                  gemeenten: list[Gemeente], last_day: dt.date) -> Life:
    life = Life(index, bsn, birth, "M" if rng.random() < 0.51 else "V", rng.gauss(0, 1))
    life.last_day = ORD(last_day)
    life.horizon = min(life.last_day, life.birthday(27) - 1)
    simulate_residence(life, rng, gemeenten)
    simulate_school(life, rng)
    _clip_enrolments(life)
    simulate_work(life, rng)
    simulate_care(life, rng)
    simulate_school_records(life, rng)
    simulate_rmc(life, rng)
    simulate_nazorg(life, rng)
    for name in _LISTS:
        setattr(life, name, _clip(getattr(life, name), life))
    return life


def _clip_enrolments(life: Life) -> None:
    """Enrolments never run past the simulated horizon (end kept for the gap logic)."""
    kept = [e for e in life.enrolments if e.start <= life.horizon]
    for e in kept:
        if e.end is None or e.end > life.horizon:
            e.end = life.horizon
            e.info["open"] = True
    life.enrolments = kept


def _clip(spells: list[Spell], life: Life) -> list[Spell]:
    """Facts after the horizon are unknown; ongoing ones end there or stay open at the extract."""
    out = []
    for s in spells:
        if s.start > life.horizon:
            continue
        if s.end is None or s.end >= life.horizon or s.info.get("open"):
            s.end = None if life.horizon == life.last_day else min(s.end or life.horizon, life.horizon)
        out.append(s)
    return out
