"""The yearly report for young people and their parents, in plain Dutch (B1).

Made from the covenant and the audit trail alone: which data take part, for
which purposes and on which grounds, who they were linked with and what that
means, how many questions were answered and refused, and how much of the
privacy budget was used. It prints no number that is not in the covenant or
counted from the audit trail: no released value, no person, no BSN. Two
versions: 12–15 (read with a parent) and 16–27.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from node.audit_summary import Usage, summarise
from node.covenant_view import OPEN_PARTNER, CovenantView, PurposeView
from node.docrender import LEGAL, Block, Bullets, Heading, Para

Audience = Literal["12-15", "16-27"]
AUDIENCES: tuple[str, ...] = ("12-15", "16-27")
_PER = {"calendar-year": "per jaar", "calendar-quarter": "per kwartaal", "calendar-month": "per maand"}


def report(view: CovenantView, entries: Sequence[dict[str, Any]], period: str, audience: Audience) -> list[Block]:
    """The report's blocks for one period and audience."""
    usage = summarise(entries, period, view.organisation)
    young = audience == "12-15"
    name = view.controller.get("name") or view.organisation
    when = f"het jaar {period}" if period.isdigit() else f"de periode {period}"
    you = "jij en je ouders" if young else "jij"
    blocks: list[Block] = [
        Heading(1, f"Wat doen wij met je gegevens? ({name}, {period})"),
        Para(f"Concept. Vul de open velden in. Laat de zinnen over de wet nakijken. {LEGAL}"),
        Para(f"Deze uitleg is van {name}. Het gaat over {when}. Wij vertellen hier wat {you} moeten weten."),
    ]
    if young:
        blocks.append(Para("Ben je tussen 12 en 15 jaar? Lees dit dan samen met je vader, moeder of verzorger."))
    blocks += [
        Heading(2, "In het kort"),
        Bullets((
            "Wij tellen groepen jongeren. Bijvoorbeeld: hoeveel jongeren in een gemeente hebben geen diploma?",
            "Wij leren hoeveel, nooit wie.",
            "Je naam en je BSN gaan nooit naar buiten.",
            "Elk getal krijgt een beetje ruis. Zo kan niemand terugrekenen wie er in een groep zit.",
        )),
        Heading(2, "Welke gegevens doen mee?"),
        Bullets(tuple(_dataset_line(d.name, [c.name for c in d.columns]) for d in view.datasets())
                or ("Geen gegevens.",)),
        Heading(2, "Waarvoor gebruiken wij ze?"),
        *[block for purpose in view.purposes for block in _purpose(purpose)],
        *_never(view),
        Heading(2, "Met wie kijken wij samen?"),
        *_linking(view, usage),
        Heading(2, "Hoeveel vragen kregen wij?"),
        *_questions(usage),
        Heading(2, "Hoeveel privacy gebruikten wij?"),
        *_budget(view, usage),
        Heading(2, "Wil je niet meetellen?"),
        *_objection(view, young),
    ]
    return blocks


def _dataset_line(name: str, columns: list[str]) -> str:
    if not columns:
        return f"Uit {name}: alleen het totaal."
    return f"Uit {name}: {', '.join(columns)}."


def _purpose(purpose: PurposeView) -> list[Block]:
    basis = purpose.basis
    law = " ".join(x for x in (basis.law, basis.article) if x)
    why = f"Dat mag voor onze taak: {basis.ground or 'nog niet ingevuld'}."
    lines = [purpose.description, why]
    if law:
        lines.append(f"Die taak staat in de wet: {law}.")
    if basis.special_ground:
        lines.append(f"Sommige gegevens gaan over je gezondheid of zorg. Daarvoor geldt een extra regel: "
                     f"{basis.special_ground}.")
    if purpose.population:
        lines.append(f"Alleen deze groep telt mee: {purpose.population}.")
    return [Heading(3, f"Doel: {purpose.id}"), Para(" ".join(lines))]


def _never(view: CovenantView) -> list[Block]:
    if not view.prohibited:
        return []
    return [Para("Wij gebruiken deze cijfers nooit om iemand te controleren of te straffen. Het covenant verbiedt: "
                 + ", ".join(pid for pid, _ in view.prohibited) + ".")]


def _linking(view: CovenantView, usage: Usage) -> list[Block]:
    explain = ("Soms tellen wij samen met een andere organisatie. Bijvoorbeeld: hoeveel jongeren staan bij ons en ook "
               "bij hen? Dat heet koppelen. Een aparte teller telt dan. Die ziet geen namen en geen BSN. Wij krijgen "
               "alleen een getal met ruis terug. Wij leren hoeveel, nooit wie.")
    if not usage.linked_runs:
        allowed = ", ".join(view.linking_partners())
        done = "Wij hebben in deze periode niet gekoppeld."
        return [Para(explain), Para(done + (f" Het mag wel met: {allowed}." if allowed else ""))]
    partners = ", ".join(sorted(usage.partners)) or "onbekend"
    return [Para(explain), Para(f"In deze periode koppelden wij {usage.linked_runs} keer. Dat was met: {partners}.")]


def _questions(usage: Usage) -> list[Block]:
    if not usage.answered and not usage.refused:
        return [Para("Wij kregen in deze periode geen vragen.")]
    asked = ", ".join(sorted({r.split(" ", 1)[-1] for r in usage.requesters})) or "niemand"
    return [Para(f"Wij gaven {usage.answered} keer een antwoord op een vraag. Wij weigerden {_vragen(usage.refused)}. "
                 f"Dan paste de vraag niet bij de afspraken. De antwoorden gingen naar: {asked}.")]


def _vragen(number: int) -> str:
    return f"{number} vraag" if number == 1 else f"{number} vragen"


def _budget(view: CovenantView, usage: Usage) -> list[Block]:
    per = _PER.get(view.budget_period, "per periode")
    return [Para("Elk antwoord kost een stukje privacy. Wij noemen dat budget. Het heet ook epsilon (ε). Hoe meer "
                 "budget op is, hoe meer je over een groep kunt leren. Daarom is er een grens."),
            Para(f"Onze grens is {view.budget_epsilon} {per}. Wij gebruikten er {usage.epsilon_text} van.")]


def _objection(view: CovenantView, young: bool) -> list[Block]:
    who = "Jij of je ouders kunnen" if young else "Je kunt"
    contact = view.controller.get("contact")
    reach = f"Zo bereik je ons: {contact}. {OPEN_PARTNER}" if contact else f"Zo bereik je ons: {OPEN_PARTNER}"
    return [Para(f"{who} vragen om niet mee te tellen. Dan zetten wij je op een lijst. Die lijst staat op onze eigen "
                 "computer. Wie op de lijst staat, telt in geen enkel getal meer mee. Ook niet bij het koppelen. Voor "
                 "ons eigen werk verandert er niets."), Para(reach)]
