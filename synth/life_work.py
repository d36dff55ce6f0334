"""Jobs, benefits and the disability register after (and beside) school."""
from __future__ import annotations

import math
import random

from synth.life import Life, Spell, pick

_JOB_AT_LEAVING = {"VOORTIJDIG": 1.0, "ARBEIDSMARKT_PRO": 0.9, "ARBEIDSMARKT_VSO": 0.5,
                   "DAGBESTEDING": 0.03, "SK": 0.85, "NO_SK": 0.55}
# WW after a job of more than half a year that ends in unemployment (a job straight after: none)
_WW_AFTER_LONG_JOB = 0.6
_CONTRACTS = {"TIJDELIJK": 0.55, "VAST": 0.15, "OPROEP": 0.2, "UITZEND": 0.1}


def out_of_school_periods(life: Life) -> list[tuple[int, int, Spell]]:
    """(first day, last day, enrolment left) of each period without education."""
    periods = []
    ens = life.enrolments
    for i, e in enumerate(ens):
        assert e.end is not None
        last = ens[i + 1].start - 1 if i + 1 < len(ens) else life.horizon
        if last > e.end:
            periods.append((e.end + 1, last, e))
    return periods


def _leaver_kind(e: Spell) -> str:
    reason, profiel = e.info["reason"], e.info.get("profiel")
    if reason == "VOORTIJDIG":
        return "VOORTIJDIG"
    if profiel == "DAGBESTEDING":
        return "DAGBESTEDING"
    if profiel in ("ARBEIDSMARKT", "VERVOLGONDERWIJS"):
        return f"ARBEIDSMARKT_{e.kind}"
    return "SK" if e.info.get("sk") else "NO_SK"


def simulate_work(life: Life, rng: random.Random) -> None:
    """Alternating jobs and jobless spells; bijstand, WW in the jobless ones."""
    for first_day, last_day, left in out_of_school_periods(life):
        first_day = max(first_day, life.birthday(16))
        kind = _leaver_kind(left)
        p_job = _JOB_AT_LEAVING[kind] * math.exp(-0.05 * life.risk)
        t, first, ww_until = first_day, True, None
        while t <= last_day:
            if rng.random() < (p_job if first else 0.8 * math.exp(-0.2 * life.risk)):
                t, ww_until = _job(life, rng, t + rng.randrange(45 if first else 30), last_day)
            else:
                t = _jobless(life, rng, t, last_day, kind, ww_until)
                ww_until = None
            first = False
        _register(life, rng, left, first_day, kind)
    _side_jobs(life, rng)


def _job(life: Life, rng: random.Random, start: int, last_day: int) -> tuple[int, int | None]:
    """A job from `start`; returns the day after it and, for a long job that really ended, how long
    WW would last if no new job follows at once (WW is drawn in the jobless spell, never beside work)."""
    length = max(30, int(rng.expovariate(1 / (800 * math.exp(-0.3 * life.risk)))))
    end = min(start + length, last_day)
    ww_days = None
    if start <= end:
        life.jobs.append(Spell("baan", start, end, {
            "contract": pick(rng, _CONTRACTS), "uren": rng.choice((12, 16, 20, 24, 32, 36, 38, 40))}))
        # a job cut at the period's end (back to school, the horizon) did not end: no WW
        if length > 180 and end == start + length and rng.random() < _WW_AFTER_LONG_JOB:
            ww_days = 30 + rng.randrange(150)
    return start + length + 1, ww_days


def _jobless(life: Life, rng: random.Random, start: int, last_day: int, kind: str,
             ww_days: int | None = None) -> int:
    """A jobless spell: WW first if the job before it earned it, bijstand after four weeks' search (from 18)."""
    length = max(20, int(rng.expovariate(1 / (170 * math.exp(0.45 * life.risk)))))
    end = min(start + length, last_day)
    searching_from = start
    if ww_days is not None:
        ww_end = min(start + ww_days - 1, end)
        life.benefits.append(Spell("WW", start, ww_end))
        searching_from = ww_end + 1
    p_bijstand = 0.17 * math.exp(0.55 * life.risk) * (0.4 if kind == "DAGBESTEDING" else 1.0)
    begin = max(searching_from + 28, life.birthday(18))  # under 27: four weeks of searching first
    if begin < end and rng.random() < p_bijstand:
        regeling = "PW_ALGEMEEN" if rng.random() < 0.97 else "IOAW"
        life.benefits.append(Spell(regeling, begin, end))
    return start + length + 1


def _register(life: Life, rng: random.Random, left: Spell, first_day: int, kind: str) -> None:
    """Pro/vso leavers: Wajong, the doelgroepregister and support at work."""
    if left.kind not in ("PRO", "VSO") or kind not in ("DAGBESTEDING", "ARBEIDSMARKT_PRO", "ARBEIDSMARKT_VSO"):
        return
    working = any(first_day <= j.start <= first_day + 60 for j in life.jobs)
    if not working and rng.random() < (0.45 if kind == "DAGBESTEDING" else 0.4):
        life.benefits.append(Spell("WAJONG", first_day + 30, None))
    if rng.random() < (0.55 if left.kind == "PRO" else 0.6):
        grondslag = "PRO_VSO" if rng.random() < 0.8 else "INDICATIE_BANENAFSPRAAK"
        life.dgr.append(Spell("dgr", first_day + rng.randrange(180), None, {"grondslag": grondslag}))
        for job in life.jobs:
            if job.start >= first_day and rng.random() < 0.45:
                vorm = pick(rng, {"LKS": 0.6, "JOBCOACH": 0.4})
                life.voorziening.append(Spell(vorm, job.start, job.end))
        if kind == "DAGBESTEDING" and rng.random() < 0.25:
            life.voorziening.append(Spell("BESCHUT_WERK", first_day + 60, None))


def _side_jobs(life: Life, rng: random.Random) -> None:
    """Pupils and students from 15 often have a small job next to school."""
    for e in life.enrolments:
        assert e.end is not None
        day = max(e.start, life.birthday(15))
        while day < e.end:
            if rng.random() < 0.3:
                start = day + rng.randrange(200)
                end = min(start + 60 + rng.randrange(300), e.end)
                if start <= end:
                    life.jobs.append(Spell("baan", start, end, {"contract": "OPROEP", "uren": 8}))
            day += 365
    life.jobs.sort(key=lambda s: s.start)
