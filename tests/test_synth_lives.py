"""Every simulated life is one a real region could hold (issue 16's defects 1–6).

Two views, both deterministic (fixed seeds, no statistical tolerance to fail by chance):
the simulated lives themselves (seed 11, scale 0.2: the check that found the defects),
and the partner rows of both truth layers of the shared scale-0.2 region (seed 7).
"""
from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterator
from typing import Any, cast

import pytest

from synth.life import Life
from synth.life_care import PARTNER_SCHOOLS
from synth.population import lives
from synth.region import make_gemeenten, shift_years
from synth.truth import Truth
from tests.test_synth_helpers import P_2026, region

pytestmark = pytest.mark.region  # simulates a whole region's lives: left out of `make test-fast`

LAST_DAY = dt.date(2026, 10, 31)
LAYERS = ("reality", "recorded")
P = P_2026.toordinal()


@functools.cache
def _lives() -> tuple[Life, ...]:
    return tuple(life for batch in lives(11, 0.2, make_gemeenten(5), LAST_DAY) for life in batch)


@pytest.fixture(scope="module")
def truth() -> Truth:
    return Truth.load(region(0.2))


def _rows(t: Truth, kind: str, table: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for layer in LAYERS:
        for p in t.manifest.partners:
            if p.kind == kind:
                for row in t.rows(layer, p.id, table):
                    yield layer, row


def _day(value: Any) -> dt.date | None:
    return None if value is None else dt.date.fromisoformat(str(value))


def _overlaps(a_start: int, a_end: int | None, b_start: int, b_end: int | None) -> bool:
    return a_start <= (b_end if b_end is not None else P * 2) and b_start <= (a_end if a_end is not None else P * 2)


def test_no_spell_ends_before_it_starts(truth: Truth) -> None:
    """Defect 1: a job cut at the period's end gave WW from `end + 1` to an earlier day."""
    bad = [(life.index, name, s) for life in _lives() for name in ("benefits", "jobs", "care", "verzuim", "rmc")
           for s in getattr(life, name) if s.end is not None and s.end < s.start]
    assert not bad, f"{len(bad)} spells end before they start, e.g. {bad[:3]}"
    rows = [(layer, r) for layer, r in _rows(truth, "wi", "uitkering")
            if r["eind"] is not None and _day(r["eind"]) < _day(r["start"])]  # type: ignore[operator]
    assert not rows, f"{len(rows)} uitkering rows end before they start, e.g. {rows[:3]}"


def test_ww_follows_a_job_and_excludes_work_bijstand_and_school() -> None:
    """Defect 2: WW starts the day after a job of more than half a year and runs while jobless."""
    ww = job = bijstand = school = after = 0
    for life in _lives():
        for b in life.benefits:
            if b.kind != "WW":
                continue
            ww += 1
            job += any(cast(float, j.info["uren"]) > 8 and _overlaps(j.start, j.end, b.start, b.end) for j in life.jobs)
            bijstand += any(x.kind in ("PW_ALGEMEEN", "IOAW") and _overlaps(x.start, x.end, b.start, b.end)
                            for x in life.benefits)
            school += any(_overlaps(e.start, e.end, b.start, b.end) for e in life.enrolments)
            after += any(j.end == b.start - 1 and j.end - j.start > 180 for j in life.jobs)
    assert ww > 500, ww
    assert (job, bijstand, school) == (0, 0, 0), \
        f"of {ww} WW spells {job} overlap a job > 8 h/week, {bijstand} bijstand, {school} school"
    assert after == ww, f"{ww - after} of {ww} WW spells do not start the day after a long job"


def test_youth_care_ends_before_23_and_few_start_after_18(truth: Truth) -> None:
    """Defect 3: jeugdhulp is up to 18, extendable to 23 (docs/domain.md)."""
    spells = late_start = past_23 = 0
    for life in _lives():
        for s in life.care:
            spells += 1
            late_start += life.age_at(s.start) >= 18
            past_23 += (s.end if s.end is not None else life.horizon) >= life.birthday(23)
    assert past_23 == 0, f"{past_23} jeugdhulp spells run past the 23rd birthday"
    assert late_start <= 0.06 * spells, f"{late_start / spells:.1%} of spells start at 18 or later, want ≤ 6%"
    for layer, r in _rows(truth, "jeugdhulp", "jeugdhulp"):
        birth = _day(r["birth_date"])
        if birth is None:
            continue
        end = _day(r["eind"]) or LAST_DAY
        assert end < shift_years(birth, 23), (layer, r)


def test_kwalificatieplicht_and_mbo_ages(truth: Truth) -> None:
    """Defect 4: KWALIFICATIEPLICHTIG is 16–17 (leerplicht runs to 16); mbo starts at 15 or later."""
    for layer, r in _rows(truth, "rmc", "rmc_registratie"):
        birth = _day(r["birth_date"])
        if birth is not None and r["doelgroep"] == "KWALIFICATIEPLICHTIG":
            datum = _day(r["datum"])
            assert datum is not None, (layer, r)
            assert shift_years(birth, 16) <= datum < shift_years(birth, 18) + dt.timedelta(days=31), (layer, r)
    for layer, r in _rows(truth, "school", "enrolment"):
        birth = _day(r["birth_date"])
        if birth is not None and r["school_type"] == "MBO":
            start = _day(r["start_date"])
            assert start is not None, (layer, r)
            assert start >= shift_years(birth, 15), (layer, r)
    young = sum(e.kind == "MBO" and life.age_at(e.start) < 15 for life in _lives() for e in life.enrolments)
    assert young == 0, f"{young} mbo enrolments start before age 15"


def test_absolute_absence_ends_with_kwalificatieplicht(truth: Truth) -> None:
    """Defect 5: an absolute-absence report closes by the 18th birthday (or on return to school)."""
    n = 0
    for layer, r in _rows(truth, "leerplicht", "verzuim_melding"):
        birth = _day(r["birth_date"])
        if birth is None or r["type"] != "ABSOLUUT":
            continue
        n += 1
        end = _day(r["eind"]) or LAST_DAY
        assert end < shift_years(birth, 18), (layer, r)
    assert n > 20, n


def test_non_partner_schools_have_leavers_the_rmc_sees() -> None:
    """Defect 6: havo/vwo pupils drop out too; the RMC (through DUO) registers them, no partner school does."""
    vsv = from_other = 0
    for life in _lives():
        for r in life.rmc:
            if r.kind in ("VSV_18_22", "KWALIFICATIEPLICHTIG"):
                vsv += 1
                if r.info["laatste_opleiding"] in ("HAVO", "VWO", "VMBO_KGT"):
                    from_other += 1
                    assert r.info["bron"] == "DUO", r
    assert from_other >= 0.08 * vsv, f"{from_other} of {vsv} vsv registrations come from non-partner schools"
    assert any(e.kind in ("HAVO", "VWO") and e.info["reason"] == "VOORTIJDIG"
               for life in _lives() for e in life.enrolments)
    assert set(PARTNER_SCHOOLS).isdisjoint({"HAVO", "VWO", "VMBO_KGT"})
