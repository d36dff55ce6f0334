"""The questions the demo asks, as an analyst would."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Question:
    indicator: str
    dataset: str
    by: tuple[str, ...]
    epsilon: str
    purpose: str


QUESTIONS: tuple[Question, ...] = (
    Question("new vsv'ers by gemeente", "vsv", ("gemeente",), "1", "rmc-monitor"),
    Question("RMC stock by target group", "rmc_stock", ("doelgroep",), "1", "rmc-monitor"),
    Question("bijstand on the peildatum by gemeente (all W&I nodes)", "bijstand", ("gemeente",), "1",
             "rmc-monitor"),
    Question("youth care by age band", "jeugdhulp", ("leeftijd",), "1", "rmc-monitor"),
    Question("school leavers by school type (all schools)", "school_leaver", ("schoolsoort",), "1",
             "rmc-monitor"),
    Question("16-hour absence reports by gemeente", "zestien_uur", ("gemeente",), "1", "rmc-monitor"),
    Question("young people by gemeente (population registers)", "inwoner", ("gemeente",), "0.5", "rmc-monitor"),
)
