"""The questions the demo asks, as a regional analyst would (DOMAIN.md's plain indicators)."""

from __future__ import annotations

from dataclasses import dataclass

UNDER_27 = "leeftijd in (12-15, 16-17, 18-22, 23-26)"


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
    Question("% of the RMC stock in a trajectory", "rmc_traject", of="rmc_stock", per=100),
    Question("bijstand under 27 by gemeente (all W&I nodes)", "bijstand", ("gemeente",), where=UNDER_27),
    Question("pro/vso leavers by uitstroomprofiel", "school_leaver", ("profiel",),
             where="schoolsoort in (PRO, VSO)"),
    Question("youth care by age band", "jeugdhulp", ("leeftijd",)),
    Question("16-hour absence reports per 1,000 pupils, by gemeente", "zestien_uur", ("gemeente",),
             of="enrolled", per=1000),
    Question("young people by gemeente and age band (population registers)", "inwoner", ("gemeente", "leeftijd"),
             epsilon="0.5"),
)
