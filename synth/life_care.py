"""Youth care, school absence and leerplicht, RMC registration and nazorg."""
from __future__ import annotations

import math
import random

from synth.life import Life, Spell, aug1, jul31, pick

_HULPVORM = {"AMBULANT": 0.7, "DAGBEHANDELING": 0.08, "PLEEGZORG": 0.07,
             "RESIDENTIEEL": 0.07, "VERBLIJF_OVERIG": 0.08}
_VERWIJZER = {"HUISARTS": 0.35, "GEMEENTE": 0.3, "JEUGDARTS": 0.1,
              "GECERTIFICEERDE_INSTELLING": 0.1, "RECHTER": 0.03, "OVERIG": 0.12}
_EINDE = {"VOLGENS_PLAN": 0.7, "VOORTIJDIG_CLIENT": 0.15, "VOORTIJDIG_AANBIEDER": 0.05, "OVERIG": 0.1}
_AFDOENING = {"GESPREK": 0.5, "WAARSCHUWING": 0.2, "HALT": 0.1, "PROCES_VERBAAL": 0.05, "ZORG": 0.15}
PARTNER_SCHOOLS = ("PRO", "VSO", "VMBO_BB", "MBO")


# Calibrated together (docs/synthetic-region.md): ~10% of 12–17 and ~5% of 18–22 in care on a day,
# 10–13% of all 12–26 in care some day in 24 months (docs/domain.md) — so spells are long (mean
# about two years) and concentrated on the vulnerable, rather than many short spells.
_CARE_START = 0.1  # yearly chance of a first or new spell before 18, times the person's lift
_CARE_DAYS = 700  # mean length of a spell
_EXTENDED = 0.6  # share of the spells running at 18 that are extended (verlengde jeugdhulp)
_EXTENDED_DAYS = 1100  # mean time an extended spell runs past the 18th birthday
_RESTART = 0.25  # after 18: chance of a new spell within half a year of the last one ending


def simulate_care(life: Life, rng: random.Random) -> None:
    """Jeugdhulp spells up to 18 (extendable to 23, docs/domain.md), more often with risk.

    After 18 a spell only starts again within half a year of the previous one ending (the
    Jeugdwet's verlengde jeugdhulp), and nothing runs past the 23rd birthday.
    """
    propensity = 0.95 * life.risk + 0.31 * rng.gauss(0, 1)
    lift = math.exp(1.6 * propensity - 1.28)
    adult = life.birthday(18)
    for age in range(11, 23):
        year_start = life.birthday(age)
        start = year_start + rng.randrange(365)
        last_end = life.care[-1].end if life.care else None
        if last_end is not None and last_end >= start:
            continue
        if age < 18:
            if rng.random() < _CARE_START * (0.7 if age < 14 else 1.3) * lift:  # more in adolescence
                _care_spell(life, rng, start)
        elif last_end is not None and last_end >= adult - 183 and start - last_end <= 183 \
                and rng.random() < _RESTART:
            _care_spell(life, rng, start)
        if age < 18 and rng.random() < 0.003 * math.exp(1.2 * propensity - 0.72):
            begin = year_start + rng.randrange(365)
            life.protection.append(Spell(pick(rng, {"OTS": 0.8, "VOOGDIJ": 0.1, "JR": 0.1}),
                                         begin, begin + 180 + rng.randrange(500)))


def _care_spell(life: Life, rng: random.Random, start: int) -> None:
    end = start + max(30, int(rng.expovariate(1 / _CARE_DAYS)))
    adult = life.birthday(18)
    if start < adult <= end and rng.random() >= _EXTENDED:
        end = adult - 1  # care ends at 18 unless extended
    elif start < adult <= end:
        end = max(end, adult + int(rng.expovariate(1 / _EXTENDED_DAYS)))  # extended: often to 21–23
    end = min(end, life.birthday(23) - 1)
    life.care.append(Spell(pick(rng, _HULPVORM), start, end, {
        "verwijzer": pick(rng, _VERWIJZER), "crisis": rng.random() < 0.05,
        "reden_einde": pick(rng, _EINDE)}))


def simulate_school_records(life: Life, rng: random.Random) -> None:
    """Absence per school year, leerplicht reports, vrijstellingen."""
    for e in life.enrolments:
        assert e.end is not None
        year = _school_year_of(e.start)
        while aug1(year) <= e.end:
            _year_records(life, rng, e, year)
            year += 1
        if e.info.get("profiel") == "DAGBESTEDING" and e.kind == "VSO" and rng.random() < 0.3:
            adult = life.birthday(18)
            if e.end - 400 < adult:
                life.vrijstelling.append(Spell("5a", e.end - 400, adult - 1))


def _school_year_of(day: int) -> int:
    import datetime as dt
    d = dt.date.fromordinal(day)
    return d.year if d.month >= 8 else d.year - 1


def _year_records(life: Life, rng: random.Random, e: Spell, year: int) -> None:
    lift = math.exp(0.8 * life.risk - 0.32)
    if e.kind in PARTNER_SCHOOLS:
        life.absence.append(Spell(e.kind, aug1(year), jul31(year + 1), {
            "authorised": int(rng.expovariate(1 / 18)),
            "unauthorised": min(400, int(rng.expovariate(1 / (5 * lift))))}))
    if life.age_at(aug1(year)) >= 18 or life.has_sk_at(aug1(year)):
        return
    assert e.end is not None  # simulate_school_records passes only enrolments that ended
    for kind, p in (("ZESTIEN_UUR", 0.028), ("LANGDURIG_RELATIEF", 0.006), ("LUXE", 0.003)):
        if rng.random() < p * (lift if kind != "LUXE" else 1.0):
            begin = aug1(year) + 20 + rng.randrange(300)
            if begin <= e.end:
                life.verzuim.append(Spell(kind, begin, begin + 20 + rng.randrange(120),
                                          {"afdoening": pick(rng, _AFDOENING)}))


def simulate_rmc(life: Life, rng: random.Random) -> None:
    """RMC registers drop-outs and the JIKP group when they leave school."""
    ens = life.enrolments
    for i, e in enumerate(ens):
        assert e.end is not None
        nxt = ens[i + 1].start if i + 1 < len(ens) else None
        if nxt is not None and nxt - e.end <= 31:
            continue
        doelgroep = _doelgroep(life, e)
        age = life.age_at(e.end + 1)
        if doelgroep is None or age >= 23 or (doelgroep.startswith("JIKP") and age < 16):
            continue
        datum = e.end + 1 + rng.randrange(30)
        stop = min(x for x in (nxt, life.birthday(23)) if x is not None)
        level = e.info.get("level")
        registration = Spell(doelgroep, datum, max(stop - 1, datum), {
            # only a partner school reports its own leavers; DUO reports every school's
            "bron": "DUO" if rng.random() < 0.8 or e.kind not in PARTNER_SCHOOLS else "SCHOOL",
            "laatste_opleiding": f"MBO{level}" if level else e.kind})
        life.rmc.append(registration)
        # kwalificatieplicht ends at 18: the leerplicht closes the report then, or on return to school
        report_end = min(stop, life.birthday(18)) - 1
        if doelgroep == "KWALIFICATIEPLICHTIG" and e.end + 14 <= report_end:
            life.verzuim.append(Spell("ABSOLUUT", e.end + 14, report_end, {"afdoening": pick(rng, _AFDOENING)}))
        _traject(life, rng, registration, nxt)


def _doelgroep(life: Life, e: Spell) -> str | None:
    if e.info["reason"] == "VOORTIJDIG" and not life.has_sk_at(e.end or 0):
        return "KWALIFICATIEPLICHTIG" if life.age_at(e.end or 0) < 18 else "VSV_18_22"
    if e.kind in ("PRO", "VSO"):
        return f"JIKP_{e.kind}"
    if e.kind == "VMBO_BB" and e.info["reason"] == "DIPLOMA":
        return "JIKP_VMBO_BB"
    if e.kind == "MBO" and e.info.get("level") == 1 and e.info["reason"] == "DIPLOMA":
        return "JIKP_ENTREE"
    return None


def _traject(life: Life, rng: random.Random, reg: Spell, back_to_school: int | None) -> None:
    u = rng.random()
    if u > 0.6:
        return
    start = reg.start + 14 + rng.randrange(90)
    if u > 0.5:
        life.trajects.append(Spell("NIET_BEREIKBAAR", start, start))
        return
    end = start + 30 + int(rng.expovariate(1 / 150))
    status = pick(rng, {"WERK_LEREN": 0.2, "DAGBESTEDING": 0.1, "GEEN_HULPVRAAG": 0.4, "VERHUISD": 0.05, "ZORG": 0.25})
    if back_to_school is not None and back_to_school <= end:
        end, status = back_to_school, "HERPLAATST_ONDERWIJS"
    elif any(j.start >= start and j.start <= end for j in life.jobs):
        status = "WERK"
    if start <= (reg.end or start):
        life.trajects.append(Spell(status, start, end))


def simulate_nazorg(life: Life, rng: random.Random) -> None:
    """Pro/vso schools record where their leavers are one year on."""
    for e in life.enrolments:
        if e.kind not in ("PRO", "VSO") or e.end is None:
            continue
        day = e.end + 365
        status = "NIETS"
        if life.enrolled_at(day):
            status = "ONDERWIJS"
        elif any(j.start <= day <= (j.end or day) for j in life.jobs):
            status = "WERK"
        elif e.info.get("profiel") == "DAGBESTEDING":
            status = "DAGBESTEDING"
        elif any(b.start <= day <= (b.end or day) for b in life.benefits):
            status = "UITKERING"
        life.nazorg.append(Spell(status, day, day))
