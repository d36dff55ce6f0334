"""The questions the demo asks, as a regional analyst would (docs/domain.md's plain indicators)."""

from __future__ import annotations

from dataclasses import dataclass

UNDER_27 = "leeftijd in (12-15, 16-17, 18-22, 23-26)"
AGED_12_17 = "leeftijd in (12-15, 16-17)"


@dataclass(frozen=True)
class Question:
    indicator: str
    dataset: str
    by: tuple[str, ...] = ()
    where: str | None = None
    epsilon: str = "1"
    purpose: str = "rmc-monitor"
    of: str | None = None  # denominator dataset: the answer is a share
    of_where: str | None = None
    per: int = 1  # shares are shown per `per` (100 for %, 1000 for per-mille)


QUESTIONS: tuple[Question, ...] = (
    Question("new vsv'ers by gemeente", "vsv", ("gemeente",)),
    Question("RMC stock by target group", "rmc_stock", ("doelgroep",)),
    # shares of the stock are its own flag dimensions: the numerator is part of the denominator
    Question("% of the RMC stock in a trajectory", "rmc_stock", where="traject = J", of="rmc_stock", per=100),
    Question("% of the RMC stock reached in the last 12 months", "rmc_stock", where="bereikt = J", of="rmc_stock",
             per=100),
    Question("bijstand under 27 by gemeente (all W&I nodes)", "bijstand", ("gemeente",), where=UNDER_27),
    Question("pro/vso leavers by uitstroomprofiel", "school_leaver", ("profiel",),
             where="schoolsoort in (PRO, VSO)"),
    Question("youth care by age band", "jeugdhulp", ("leeftijd",)),
    # one population: residents aged 12–17 (brp) and the 16-hour reports of that age (persons reported)
    Question("16-hour absence reports per 1,000 residents aged 12–17, by gemeente", "zestien_uur", ("gemeente",),
             where=AGED_12_17, of="inwoner", of_where=AGED_12_17, per=1000),
    Question("young people by gemeente and age band (population registers)", "inwoner", ("gemeente", "leeftijd"),
             epsilon="0.5"),
)


@dataclass(frozen=True)
class LinkedQuestion:
    """A share of the anchor set found (or not found) in another partner's set, by linking on BSN.

    `anchor` and `other` are written as on the command line, SET@KIND or SET@ORG. With
    `each_anchor` the question is asked once per node of the anchor's kind (each a row group).
    `years_back` moves the anchor's reference date back from the default 1 October (cohorts).
    """

    indicator: str
    anchor: str
    other: str
    by: tuple[str, ...] = ()
    where: str | None = None
    years_back: int = 0
    found: bool = True  # the share found in the other set; False: the share found in none of it
    complement: str | None = None  # also show the share NOT found, from the same runs, under this name
    each_anchor: bool = False
    epsilon: str = "1"
    delta: str = "1e-9"
    purpose: str = "rmc-monitor"
    note: str | None = None


NONE_OF_THESE = ("vsv'ers in none of work, bijstand and youth care: W&I and youth care would have to be one linked "
                 "set, a question of more than two parties, which waits for a written proof (docs/linked-counts.md); the "
                 "two-party parts above are shown and not combined.")

LINKED: tuple[LinkedQuestion, ...] = (
    LinkedQuestion("% new vsv'ers in paid work, by gemeente (RMC × W&I)", "vsv@rmc", "baan@wi", ("gemeente",)),
    # DOMAIN's "bijstand within 12 months of leaving": last year's cohort, bijstand any day since
    LinkedQuestion("% of last year's new vsv'ers on bijstand within 12 months (RMC × W&I)", "vsv@rmc",
                   "bijstand_12m@wi", years_back=1),
    LinkedQuestion("% new vsv'ers with youth care in the prior 24 months (RMC × youth care)", "vsv@rmc",
                   "jeugdhulp_24m@jeugdhulp",
                   complement="% new vsv'ers without youth care in the prior 24 months (RMC × youth care)"),
    LinkedQuestion("% new vsv'ers in neither work nor bijstand (RMC × W&I)", "vsv@rmc", "baan or bijstand@wi",
                   found=False, note=NONE_OF_THESE),
    LinkedQuestion("% pro/vso leavers of last year in work or on a benefit now (school × W&I)",
                   "school_leaver@school-provso", "baan or uitkering@wi", where="schoolsoort in (PRO, VSO)",
                   years_back=1),
    LinkedQuestion("% bijstand under 27 without a startkwalificatie from a partner school (pro/vso, vmbo-bb, mbo; "
                   "havo/vwo/hbo diplomas are not seen), per W&I node (W&I × schools)", "bijstand@wi",
                   "startkwalificatie@school", where=UNDER_27, found=False, each_anchor=True),
)
