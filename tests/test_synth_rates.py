"""The simulated region lands near docs/domain.md's magnitudes (reality layer).

One region at scale 0.2 (~16k young people) is generated per module; the
tolerances are several standard errors wide at that size, and the seed is
fixed, so these tests are deterministic.
"""
from __future__ import annotations

import pytest

from synth.manifest import Manifest
from synth.region import shift_years
from synth.truth import Truth
from tests.test_synth_helpers import P_2025, P_2026, region

SCALE = 0.2


@pytest.fixture(scope="module")
def truth() -> Truth:
    return Truth.load(region(SCALE))


def _brp(t: Truth) -> list[str]:
    return [p.id for p in t.manifest.partners if p.kind == "brp"]


def _wi(t: Truth) -> list[str]:
    return [p.id for p in t.manifest.partners if p.kind == "wi"]


def _residents(t: Truth, bands: tuple[str, ...]) -> set[str]:
    return {b for p in _brp(t) for b, v in t.members(p, "inwoner", P_2026, "reality").items() if v["leeftijd"] in bands}


def test_population_size(truth: Truth) -> None:
    n = len(_residents(truth, ("12-15", "16-17", "18-22", "23-26"))) / SCALE
    assert 70_000 <= n <= 90_000, f"{n:.0f} young people per unit scale, want ~80k (±12%)"


def test_new_vsv_count_sex_and_age(truth: Truth) -> None:
    vsv = truth.members("rmc", "vsv", P_2026, "reality")
    per_year = len(vsv) / SCALE
    male = sum(v["geslacht"] == "M" for v in vsv.values()) / len(vsv)
    adult = sum(v["leeftijd"] in ("18-22", "23-26") for v in vsv.values()) / len(vsv)
    assert 550 <= per_year <= 950, f"{per_year:.0f} new vsv'ers a year, want ~750 (550-950)"
    assert 0.60 <= male <= 0.78, f"{male:.2f} male, want 0.69 (±0.09)"
    assert 0.80 <= adult <= 0.97, f"{adult:.2f} aged 18+, want 0.90 (0.80-0.97)"


def test_pro_vso_pupils_and_leavers(truth: Truth) -> None:
    enrolled = truth.count("school-provso", "enrolled", P_2026, by=("schoolsoort",), layer="reality")
    pro, vso = enrolled[("PRO",)] / SCALE, enrolled[("VSO",)] / SCALE
    assert 550 <= pro <= 1000, f"{pro:.0f} pro pupils, want ~750 (550-1000)"
    assert 750 <= vso <= 1300, f"{vso:.0f} vso pupils, want ~1000 (750-1300)"
    leavers = truth.members("school-provso", "school_leaver", P_2026, "reality")
    pro_out = sum(v["schoolsoort"] == "PRO" for v in leavers.values()) / SCALE
    vso_am = sum(v["schoolsoort"] == "VSO" and v["profiel"] == "ARBEIDSMARKT" for v in leavers.values()) / SCALE
    assert 110 <= pro_out <= 240, f"{pro_out:.0f} pro leavers a year, want ~170 (110-240)"
    assert 40 <= vso_am <= 110, f"{vso_am:.0f} vso arbeidsmarkt leavers, want ~70 (40-110)"


def _share(t: Truth, anchor: tuple[str, str, object], others: list[tuple[str, str, object]]) -> float:
    hit, miss = t.linked(anchor, others, P_2026, layer="reality")[()]  # type: ignore[arg-type]
    return hit / (hit + miss)


def test_vsv_one_year_later(truth: Truth) -> None:
    cohort = ("rmc", "vsv", P_2025)
    job = _share(truth, ("rmc", "vsv", P_2026), [(w, "baan", P_2026) for w in _wi(truth)])
    bijstand = _share(truth, cohort, [(w, "bijstand_12m", P_2026) for w in _wi(truth)])
    back = _share(truth, cohort, [(s, "enrolled_12m", P_2026) for s in ("school-provso", "school-mbo")])
    assert 0.50 <= job <= 0.75, f"{job:.2f} of vsv'ers in paid work, want ~0.64 (0.50-0.75)"
    assert 0.03 <= bijstand <= 0.13, f"{bijstand:.2f} on bijstand within 12 months, want 0.05-0.10 (±0.03)"
    assert 0.20 <= back <= 0.40, f"{back:.2f} back in education within 12 months, want 0.25-0.35 (±0.05)"


def test_jeugdhulp_prevalence_and_vsv_overlap(truth: Truth) -> None:
    care = truth.members("jeugdhulp", "jeugdhulp", P_2026, "reality")
    under18 = _residents(truth, ("12-15", "16-17"))
    young_adults = _residents(truth, ("18-22",))
    u18 = len(under18 & set(care)) / len(under18)
    a1822 = len(young_adults & set(care)) / len(young_adults)
    assert 0.08 <= u18 <= 0.13, f"{u18:.3f} of 12-17 in jeugdhulp, want ~0.10 (0.08-0.13)"
    assert 0.035 <= a1822 <= 0.07, f"{a1822:.3f} of 18-22 in jeugdhulp, want 0.04-0.06 (±0.01)"
    vsv = _share(truth, ("rmc", "vsv", P_2026), [("jeugdhulp", "jeugdhulp_24m", P_2026)])
    assert 0.22 <= vsv <= 0.40, f"{vsv:.2f} of vsv'ers had jeugdhulp in the prior 24 months, want 0.25-0.35 (±0.05)"


def test_jeugdhulp_24_months_of_all_young_people(truth: Truth) -> None:
    """docs/domain.md: 25–35% of vsv'ers had youth care recently, against 10–13% of all young people."""
    care = set(truth.members("jeugdhulp", "jeugdhulp_24m", P_2026, "reality"))
    young = _residents(truth, ("12-15", "16-17", "18-22", "23-26"))
    share = len(young & care) / len(young)
    assert 0.09 <= share <= 0.14, f"{share:.3f} of 12-26 had jeugdhulp in the prior 24 months, want 0.10-0.13 (±0.01)"
    vsv = _share(truth, ("rmc", "vsv", P_2026), [("jeugdhulp", "jeugdhulp_24m", P_2026)])
    assert vsv >= 2 * share, f"vsv'ers {vsv:.2f} against all young people {share:.2f}: want about 2.5 times"


def test_bijstand_under_27(truth: Truth) -> None:
    stock = sum(truth.count(w, "bijstand", P_2026, layer="reality")[()] for w in _wi(truth))
    adults = len(_residents(truth, ("18-22", "23-26")))
    assert 700 <= stock / SCALE <= 1400, f"{stock / SCALE:.0f} bijstand <27, want ~1000 (700-1400)"
    assert 0.014 <= stock / adults <= 0.03, f"{stock / adults:.3f} of 18-26 on bijstand, want ~0.02 (0.014-0.03)"


def test_pro_leavers_out_of_education_work_and_benefit(truth: Truth) -> None:
    # three leaver cohorts pooled: one cohort is only ~35 people at this scale
    out_total, work, ben = 0, 0, 0
    for years_back in (1, 2, 3):
        cohort, later = shift_years(P_2026, -years_back), shift_years(P_2026, 1 - years_back)
        leavers = truth.members("school-provso", "school_leaver", cohort, "reality")
        pro = {b for b, v in leavers.items() if v["schoolsoort"] == "PRO"}
        in_school = {b for s in ("school-provso", "school-mbo") for b in truth.members(s, "enrolled", later, "reality")}
        out = pro - in_school
        jobs = {b for w in _wi(truth) for b in truth.members(w, "baan", later, "reality")}
        benefit = {b for w in _wi(truth) for b in truth.members(w, "uitkering", later, "reality")}
        out_total, work, ben = out_total + len(out), work + len(out & jobs), ben + len(out & benefit)
    assert 0.5 <= work / out_total <= 0.82, f"{work / out_total:.2f} of pro leavers out of education work, want 0.66 (±0.16)"
    assert 0.04 <= ben / out_total <= 0.2, f"{ben / out_total:.2f} of them on a benefit, want 0.11 (0.04-0.20)"


def test_manifest_describes_region() -> None:
    m = Manifest.load(region(SCALE))
    ids = {p.id for p in m.partners}
    assert {"rmc", "wi-regio", "wi-gm9001", "jeugdhulp", "leerplicht", "school-provso", "school-mbo"} <= ids
    assert {f"brp-{g.code.lower()}" for g in m.gemeenten} <= ids
    assert m.seed == 7 and m.scale == SCALE and m.n_gemeenten == 5 == len(m.gemeenten)
