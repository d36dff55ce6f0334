"""The DPIA and the art. 30 register entry, pre-filled for the privacy officer (FG).

Everything the node knows goes in: the covenant (purposes, bases, parties,
linking, budget, counters), node.toml (datasets, dimensions, DAT/WAT
classes: what the node's Describe publishes) and the audit trail (how the
node was used, per year). What only people can judge — necessity,
alternatives such as CBS, minors, risks and measures — stays an open field
marked `OPEN — in te vullen door de FG`. Sentences that state law name only
the articles the privacy officer gave and carry `[juridische toets nodig]`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from node.audit_summary import Usage, summarise, years
from node.covenant_view import OPEN, CovenantView, PurposeView
from node.docrender import LEGAL, Block, Bullets, Heading, Para, Table

_PERIODS = {"calendar-year": "per kalenderjaar", "calendar-quarter": "per kwartaal", "calendar-month": "per maand"}


def _or_open(value: str | None) -> str:
    return value if value else OPEN


def _v2(view: CovenantView, value: str | None) -> str:
    """A v2-only field: its value, or open (for a v1 covenant always open)."""
    return _or_open(value if view.is_v2 else None)


def _date(view: CovenantView, which: str) -> str:
    value = view.board_approved if which == "board" else view.review_by
    return value.isoformat() if value else OPEN


def dpia(view: CovenantView, entries: Sequence[dict[str, Any]]) -> list[Block]:
    """The DPIA (gegevensbeschermingseffectbeoordeling) for this node's part of the regional monitor: what
    the node knows, filled in; then what only the FG can judge, left open."""
    blocks: list[Block] = [
        Heading(1, f"DPIA — Regiozicht-node van {view.organisation} (Data protection impact assessment)"),
        Para(f"Concept, vooraf ingevuld uit covenant.toml (versie {view.version}), node.toml en het auditspoor van "
             f"deze node. Velden met «{OPEN}» vult de functionaris gegevensbescherming (FG) in. Zinnen over de wet zijn "
             f"gemarkeerd met {LEGAL}."),
        *_version_notice(view),
        Heading(2, "Waarom een DPIA (Why a DPIA)"),
        Para("De betrokkenen zijn kwetsbaar en er zijn minderjarigen bij; gegevens worden gekoppeld; de techniek "
             "(differential privacy, gefedereerd tellen) is nieuw. Daarom is een DPIA nodig (AVG art. 35). " + LEGAL),
        Heading(2, "Verwerkingsverantwoordelijke en rollen (Controller and roles)"),
        _controller_table(view),
        Para("Rolverdeling (zie deploy/ROLES.md): elke partner is verwerkingsverantwoordelijke voor de eigen "
             "gegevens en antwoorden; de partners en de organisatie van de analist zijn gezamenlijk "
             "verwerkingsverantwoordelijk voor de monitor (AVG art. 26); de beheerders van coördinator, teller, CA "
             "en hosting zijn verwerkers (AVG art. 28). " + LEGAL),
        Heading(2, "Doeleinden en grondslagen (Purposes and legal bases)"),
    ]
    for purpose in view.purposes:
        blocks += _purpose_section(view, purpose)
    blocks += [Heading(2, "Gegevens en klassen (Data and classes)"), *_data_tables(view)]
    blocks += [Heading(2, "Ontvangers en koppelingen (Recipients and linking)"), _recipients(view)]
    blocks += [Heading(2, "Techniek en privacybudget (Technique and privacy budget)"), *_technique(view)]
    blocks += [Heading(2, "Gebruik volgens het auditspoor (Use according to the audit trail)"),
               _usage_table(view, entries)]
    return blocks + _for_the_fg(view)


def _for_the_fg(view: CovenantView) -> list[Block]:
    """The judgement only the FG can make: necessity, alternatives, minors, rights, risks, the decision."""
    return [
        Heading(2, "Noodzaak en evenredigheid (Necessity and proportionality)"),
        Table("Door de FG te beoordelen", ("Vraag", "Antwoord"), (
            ("Noodzaak: waarom zijn deze cijfers nodig voor het doel?", OPEN),
            ("Evenredigheid: staat de inbreuk in verhouding tot het doel?", OPEN),
            ("Alternatieven: kan het met minder gegevens, of met bestaande cijfers (bijvoorbeeld CBS)?", OPEN),
            ("Minderjarigen: wat betekent dit voor kinderen en hun ouders; hoe worden zij geïnformeerd?", OPEN),
            ("Bewaartermijnen van auditspoor, opgeslagen antwoorden en logboeken", OPEN),
        )),
        Heading(2, "Rechten van betrokkenen (Rights of data subjects)"),
        Bullets((
            ("Informatie: `regiozicht-node report` maakt een uitleg in eenvoudige taal voor jongeren (16–27) en "
            "voor kinderen (12–15) met hun ouders."),
            ("Bezwaar: een uitsluitingslijst op de node (`regiozicht-node exclusions`); wie erop staat, telt in geen "
            "enkel antwoord en geen koppeling meer mee."),
            f"Hoe betrokkenen bezwaar maken en wie het afhandelt: {OPEN}",
        )),
        Heading(2, "Risico's en maatregelen (Risks and measures)"),
        Table("Risico's: door de FG aan te vullen en te wegen", ("Risico", "Kans en ernst", "Maatregel"), (
            ("Heridentificatie uit gepubliceerde cijfers", OPEN,
             "Differential privacy met een budget per periode; kleine waarden onderdrukt waar het covenant dat zegt"),
            ("Oneigenlijk gebruik (bijvoorbeeld handhaving)", OPEN, _prohibited_text(view)),
            ("Uitlekken van een sleutel van node of CA", OPEN,
             "Intrekken en noodlijst (CRL); zie deploy/INCIDENTS.md"),
            ("Koppeling onthult meer dan nodig", OPEN,
             "Alleen tellingen verlaten de node; BSN's worden nooit gedeeld (PSI met een teller die geen partij is)"),
            (OPEN, OPEN, OPEN),
        )),
        Heading(2, "Besluit (Decision)"),
        Table("Ondertekening", ("Onderdeel", "Waarde"), (
            ("Advies FG", OPEN), ("Besluit verwerkingsverantwoordelijke", OPEN),
            ("Bestuurlijke goedkeuring covenant", _date(view, "board")), ("Herbeoordeling uiterlijk", _date(view, "review")),
        )),
    ]


def register(view: CovenantView) -> list[Block]:
    """The entry in the register of processing activities (AVG art. 30(1))."""
    controller = view.controller
    datasets = "; ".join(f"{d.name}: {', '.join(c.name for c in d.columns) or 'alleen totalen'}"
                         for d in view.datasets())
    parties = sorted({party for p in view.purposes for party in p.parties})
    rows: list[tuple[str, str]] = [
        ("Naam van de verwerking", f"Regiozicht: regionale tellingen met differential privacy ({view.organisation})"),
        ("Verwerkingsverantwoordelijke", _v2(view, controller.get("name"))),
        ("Contactgegevens", _v2(view, controller.get("contact"))),
        ("Functionaris gegevensbescherming", _v2(view, controller.get("fg"))),
        ("Gezamenlijk verwerkingsverantwoordelijken (art. 26)", ("de partners van de regio en de organisatie van de "
         f"analist; zie de regeling in deploy/ROLES.md {LEGAL}")),
        ("Doeleinden", "; ".join(f"{p.id}: {p.description}" for p in view.purposes)),
        ("Grondslagen (art. 6 en 9)", "; ".join(f"{p.id}: {_basis_line(view, p)}" for p in view.purposes) + f" {LEGAL}"),
        ("Categorieën betrokkenen", OPEN),
        ("Categorieën persoonsgegevens", datasets),
        ("Bijzondere persoonsgegevens (art. 9)", _special(view)),
        ("Ontvangers", (f"alleen ruisige tellingen, aan: {', '.join(parties) or 'niemand'}; via de coördinator "
         "(verwerker)")),
        ("Koppelingen", ", ".join(view.linking_partners()) or "geen"),
        ("Doorgifte buiten de EER", OPEN),
        ("Bewaartermijnen", OPEN),
        ("Beveiligingsmaatregelen", ("mTLS met certificaten van de regionale CA; elk antwoord ondertekend; privacybudget "
         "per periode; auditspoor met hashketen; BSN's verlaten de node nooit")),
        ("DPIA", "zie `regiozicht-node covenant dpia`"),
    ]
    return [
        Heading(1, f"Register van verwerkingsactiviteiten (AVG art. 30) — {view.organisation}"),
        Para(f"Concept, vooraf ingevuld uit covenant.toml (versie {view.version}) en node.toml. Velden met «{OPEN}» "
             f"vult de FG in. {LEGAL}"),
        *_version_notice(view),
        Table("Registerregel (Register entry)", ("Veld", "Inhoud"), tuple(rows)),
    ]


def _version_notice(view: CovenantView) -> list[Block]:
    if view.is_v2:
        return []
    return [Para("Dit covenant is versie 1: het mist de velden van versie 2 (publieke taak met wet en artikel, grond "
                 "voor bijzondere gegevens, grondslag voor het BSN, verenigbaarheid, verboden doelen, "
                 f"verantwoordelijke, goedkeuring en herziening). Die staan hieronder als {OPEN}.")]


def _controller_table(view: CovenantView) -> Table:
    c = view.controller
    public = OPEN if view.public_body is None else ("ja" if view.public_body else "nee")
    return Table("Verwerkingsverantwoordelijke", ("Veld", "Waarde"), (
        ("Organisatie (node)", f"{view.organisation} ({view.kind})"),
        ("Naam", _v2(view, c.get("name"))), ("Contact", _v2(view, c.get("contact"))),
        ("FG", _v2(view, c.get("fg"))), ("Overheidsorgaan", public),
    ))


def _basis_line(view: CovenantView, purpose: PurposeView) -> str:
    basis = purpose.basis
    law = " ".join(x for x in (basis.law, basis.article) if x) or OPEN
    special = f"; art. 9: {basis.special_ground}" if basis.special_ground else ""
    return f"{basis.ground or OPEN} — {law}{special}"


def _purpose_section(view: CovenantView, purpose: PurposeView) -> list[Block]:
    basis = purpose.basis
    rows = (
        ("Omschrijving", purpose.description),
        ("Grondslag (art. 6 lid 1)", f"{basis.ground or OPEN} {LEGAL}"),
        ("Wet", basis.law or OPEN), ("Artikel", _v2(view, basis.article)),
        ("Grond voor bijzondere gegevens (art. 9)", _v2(view, basis.special_ground) if _has_special(purpose)
         else _v2(view, basis.special_ground or ("niet van toepassing" if view.is_v2 else None))),
        ("Grondslag voor het BSN", _v2(view, basis.bsn_basis)),
        ("Verenigbaarheid (art. 6 lid 4)", _v2(view, basis.compatibility)),
        ("Alleen DAT (wat_allowed = false)", "nee, WAT toegestaan" if purpose.wat_allowed else "ja"),
        ("Populatiegrens", purpose.population or ("geen" if view.is_v2 else OPEN)),
        ("Dient ook", ", ".join(purpose.serves) or ("—" if view.is_v2 else OPEN)),
        ("Mag vragen", ", ".join(purpose.parties) or "niemand"),
        ("Eigen deel van het ε-budget", purpose.epsilon_cap or "geen eigen deel"),
    )
    return [Heading(3, f"Doel {purpose.id}"), Table(f"Doel {purpose.id}", ("Veld", "Waarde"), rows)]


def _has_special(purpose: PurposeView) -> bool:
    return any(d.special_category for d in purpose.datasets)


def _special(view: CovenantView) -> str:
    if not view.is_v2:
        return OPEN
    special = [d.name for d in view.datasets() if d.special_category]
    unknown = [d.name for d in view.datasets() if d.special_category is None]
    text = f"ja: {', '.join(special)}" if special else "nee"
    return text + (f"; niet geclassificeerd: {', '.join(unknown)} ({OPEN})" if unknown else "")


def _data_tables(view: CovenantView) -> list[Block]:
    blocks: list[Block] = []
    for use in view.datasets():
        membership = use.membership or (OPEN if not view.is_v2 else "niet opgegeven")
        special = OPEN if use.special_category is None else ("ja" if use.special_category else "nee")
        blocks.append(Para(f"Gegevensset {use.name}: {use.description or 'geen omschrijving'}. In deze set staan "
                           f"betekent (lidmaatschap): {membership}. Bijzonder persoonsgegeven (art. 9): {special}."))
        blocks.append(Table(f"Kenmerken van {use.name}", ("Kenmerk", "Klasse", "Omschrijving"),
                            tuple((c.name, c.info_class, c.description or "—") for c in use.columns)
                            or (("(alleen totalen)", "—", "—"),)))
    return blocks


def _recipients(view: CovenantView) -> Table:
    rows: list[tuple[str, str, str]] = []
    for purpose in view.purposes:
        for party in purpose.parties:
            rows.append((purpose.id, party, "stelt vragen; krijgt alleen ruisige tellingen"))
        for rule in purpose.linking:
            partners = ", ".join((*rule.kinds, *rule.orgs)) or "—"
            rows.append((purpose.id, f"koppelpartners: {partners}",
                         f"eigen sets {', '.join(rule.datasets)}; hun sets {', '.join(rule.partner_datasets) or '—'}"))
    if view.counters:
        rows.append(("alle", f"tellers: {', '.join(view.counters)}", "telt gekoppelde sets; ziet geen BSN (verwerker)"))
    return Table("Wie krijgt wat", ("Doel", "Ontvanger", "Wat"), tuple(rows) or (("—", "niemand", "—"),))


def _technique(view: CovenantView) -> list[Block]:
    period = _PERIODS.get(view.budget_period, view.budget_period)
    bullets = [
        "De node beantwoordt alleen tellingen; elk antwoord krijgt ruis (differential privacy) en wordt ondertekend.",
        (f"Privacybudget van deze node: ε {view.budget_epsilon} en δ {view.budget_delta} {period}; "
        f"per antwoord hoogstens ε {view.max_epsilon}."),
        "Gekoppelde tellingen: BSN's blijven op de node; een teller die geen partij is telt versleutelde sets.",
        "Elk verzoek, toegestaan of geweigerd, staat in een auditspoor met hashketen.",
    ]
    if view.suppression:
        bullets.append(f"Kleine waarden worden onderdrukt (onder {max(view.suppression)}).")
    if view.prohibited:
        bullets.append(_prohibited_text(view))
    return [Bullets(tuple(bullets))]


def _prohibited_text(view: CovenantView) -> str:
    if not view.prohibited:
        return f"Verboden doelen vastleggen in het covenant (versie 2): {OPEN}"
    return "Verboden doelen in het covenant: " + "; ".join(f"{i} ({d})" for i, d in view.prohibited)


def _usage_table(view: CovenantView, entries: Sequence[dict[str, Any]]) -> Table:
    rows = []
    for year in years(entries):
        usage: Usage = summarise(entries, year, view.organisation)
        rows.append((year, str(usage.answered), str(usage.linked_runs), str(usage.refused),
                     usage.epsilon_text, usage.delta_text))
    return Table("Per jaar, uit het auditspoor", ("Jaar", "Vragen beantwoord", "Koppelingen", "Geweigerd", "ε gebruikt",
                                                  "δ gebruikt"), tuple(rows) or (("—", "0", "0", "0", "0", "0"),))
