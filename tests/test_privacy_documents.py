"""The privacy documents say nothing the node did not already publish: every number in the DPIA, the
art. 30 entry and both reports for young people is in the covenant or counted from the audit trail;
no BSN and no exact count appears; the HTML pages load offline in Chromium with no console error,
no request leaving the machine and no WCAG 2.1 AA violation that axe finds; and the reports read at
B1 level by a documented Dutch readability score (Flesch-Douma, textstat).

The region is the tiny two-school region of tests/tiny.py, after real queries: answered, answered
again from the store, and refused.
"""

from __future__ import annotations

import collections
import datetime as dt
import html
import json
import os
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from typer.testing import CliRunner

from node.audit_summary import summarise
from node.cli import app
from node.config import load as load_node_config
from node.covenant_view import OPEN, OPEN_PARTNER, view
from node.docrender import LEGAL, markdown
from node.documents import dpia, register
from node.report import report
from regiozicht.errors import ConfigError, PermissionDenied
from tests import tiny
from tests.conftest import node_setup, sign_query

CHROMIUM = Path("/usr/bin/chromium")
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
# Flesch-Douma (Flesch Reading Ease with Douma's Dutch constants: 206.835 − 0.93 × words per sentence
# − 77 × syllables per word), as textstat computes it with set_lang("nl"). On Douma's scale 60–70 is
# "normaal" and 70–80 "vrij makkelijk"; the reports must reach 70. The DPIA's official prose scores about
# 61 and would fail, the reports score about 86.
FLESCH_DOUMA_MIN = 70
PERSONS = 300
MAX_WORDS_PER_SENTENCE = 15  # the usual B1 guideline: short sentences
YEAR = str(dt.datetime.now(dt.UTC).year)  # the audit trail's entries are written now
AUDIENCE_AGES = {"12", "15", "16", "27"}  # the audiences' ages, named in the reports and the DPIA
VERSIONS = {"1", "2"}  # the covenant version the documents name
# a legal reference is not a figure: AVG art. 6 lid 1, art. 6 en 9, art. 33/34
_LEGAL_REF = re.compile(r"\bart\. \d+(?:\(\d\))?(?:/\d+)?(?: lid \d+)?(?: (?:en|of) \d+)?")
_NUMBER = re.compile(r"(?<![\w.\-/])\d+(?:[.,]\d+)?(?![\w])")

pytestmark = pytest.mark.processes  # starts real processes: left out of `make test-fast`


def numbers(text: str) -> set[str]:
    """Every standalone number in a text, normalised (0.50 → 0.5); dates give their year."""
    found = set()
    for token in _NUMBER.findall(_LEGAL_REF.sub(" ", text)):
        value = Decimal(token.replace(",", "."))
        found.add(format(value.normalize(), "f"))
    return found


@dataclass
class Node:
    config: Path
    truth: collections.Counter[tuple[str, str]]


@pytest.fixture(scope="module")
def documents_region(tmp_path_factory: pytest.TempPathFactory) -> Node:
    """The tiny region's first school node after real signed queries: two answered, one answered again
    from the store at no cost, one refused (a purpose the covenant lacks, as `handhaving` is)."""
    root = tmp_path_factory.mktemp("documents")
    setup = node_setup(root, persons=PERSONS)
    node = setup.service()
    for epsilon, by in (("0.5", ("sex",)), ("0.7", ("gemeente",)), ("0.5", ("sex",))):  # the last from the store
        node.answer(sign_query(setup.analyst, epsilon=epsilon, by=by))
    with pytest.raises(PermissionDenied):
        node.answer(sign_query(setup.analyst, purpose="handhaving"))
    truth = tiny.make(tmp_path_factory.mktemp("truth") / "school1.sqlite", PERSONS, seed=1)  # as node_setup made it
    return Node(setup.config, truth)


def node_config(region: Node) -> Path:
    return region.config


def audit_export(region: Node) -> list[dict[str, Any]]:
    result = CliRunner().invoke(app, ["audit", "export", "--config", str(node_config(region)), "--format", "jsonl"])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines() if line]


def allowed_numbers(region: Node, entries: list[dict[str, Any]]) -> set[str]:
    """The covenant's numbers and what a reader of the audit export counts for the year: answers, links,
    refusals and ε charged (recomputed here from the decisions, not by the code under test)."""
    cfg = load_node_config(node_config(region))
    allowed = numbers(cfg.covenant.read_text()) | AUDIENCE_AGES | VERSIONS | {YEAR}
    year = [e for e in entries if e["time"].startswith(YEAR)]
    plain = [e for e in year if "anchor" not in json.loads(e["query"] or "{}")]
    allowed.add(str(sum(e["decision"] in ("granted", "stored") for e in plain)))
    allowed.add(str(sum(e["decision"] == "refused" for e in year)))
    allowed.add(str(sum(e["decision"] == "granted" for e in year) - sum(e["decision"] == "granted" for e in plain)))
    refunded = {e["query_id"] for e in year if e["decision"] == "refunded"}
    charged = sum((Decimal(e["epsilon"]) for e in year if e["decision"] in ("reserved", "linked-run", "abandoned")
                   and not (e["decision"] == "reserved" and e["query_id"] in refunded)), Decimal(0))
    allowed |= numbers(str(charged)) | {"0"}
    return allowed


def shown_text(path: Path) -> str:
    """What a reader sees: Markdown as is; of HTML the text, without the stylesheet and the markup."""
    text = path.read_text()
    if path.suffix == ".html":
        text = html.unescape(re.sub(r"<[^>]+>", " ", re.sub(r"<style>.*?</style>", " ", text, flags=re.DOTALL)))
    return text


@pytest.fixture(scope="module")
def generated(documents_region: Node, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every document in both formats, made by the CLI as a privacy officer would."""
    out = tmp_path_factory.mktemp("documents-out")
    config = str(node_config(documents_region))
    commands = {"dpia": ["covenant", "dpia"], "register": ["covenant", "register"],
                "report-12-15": ["report", "--period", YEAR, "--audience", "12-15"],
                "report-16-27": ["report", "--period", YEAR, "--audience", "16-27"]}
    paths = {}
    for name, command in commands.items():
        for fmt in ("md", "html"):
            path = out / f"{name}.{fmt}"
            result = CliRunner().invoke(app, [*command, "--config", config, "--format", fmt, "--out", str(path)])
            assert result.exit_code == 0, result.output
            paths[f"{name}.{fmt}"] = path
    return paths


def test_every_number_is_in_the_covenant_or_counted_from_the_audit_trail(
        documents_region: Node, generated: dict[str, Path]) -> None:
    entries = audit_export(documents_region)
    assert {"granted", "stored", "refused"} <= {e["decision"] for e in entries}
    allowed = allowed_numbers(documents_region, entries)
    for name, path in generated.items():
        stray = numbers(shown_text(path)) - allowed
        assert not stray, (name, sorted(stray), sorted(allowed))


def test_no_bsn_and_no_exact_count(documents_region: Node, generated: dict[str, Path]) -> None:
    bsns = {f"{100000000 + index}" for index in range(PERSONS)}  # tests/tiny.py's persons at each node
    totals = {str(sum(documents_region.truth.values())), *(str(v) for v in documents_region.truth.values() if v > 9)}
    released = {str(value) for e in audit_export(documents_region) for _, value in e["values"] or [] if value}
    for name, path in generated.items():
        text = path.read_text()
        assert not any(bsn in text for bsn in bsns), name
        assert not re.search(r"(?<!\d)\d{9}(?!\d)", text), name  # nothing shaped like a BSN either
        shown = numbers(shown_text(path))
        allowed = allowed_numbers(documents_region, audit_export(documents_region))
        # an exact or released count could only appear by coinciding with a covenant or audit figure
        assert not (shown & (totals | released)) - allowed, name


def test_the_reports_answer_the_young_persons_questions(documents_region: Node, generated: dict[str, Path]) -> None:
    entries = audit_export(documents_region)
    usage = summarise(entries, YEAR, "school-1")
    assert usage.answered == 3 and usage.refused == 1 and usage.epsilon_text == "1.2"  # the store's answer is free
    for audience in ("12-15", "16-27"):
        text = generated[f"report-{audience}.md"].read_text()
        assert "Wij leren hoeveel, nooit wie." in text
        assert f"Wij gaven {usage.answered} keer een antwoord" in text and "Wij weigerden 1 vraag." in text
        assert "Onze grens is 10000 per jaar. Wij gebruikten er 1.2 van." in text
        assert "registratie: doelgroep, gemeente, sex" in text and "publieke taak" in text
        assert "niet mee te tellen" in text and OPEN_PARTNER in text  # the objection route, contact to fill in
    assert "samen met je vader, moeder of verzorger" in generated["report-12-15.md"].read_text()
    assert "verzorger" not in generated["report-16-27.md"].read_text()


def test_the_dpia_and_register_mark_what_the_fg_must_fill_in(generated: dict[str, Path]) -> None:
    dpia_text = generated["dpia.md"].read_text()
    for question in ("Noodzaak", "Alternatieven", "CBS", "Minderjarigen", "Risico"):
        assert question in dpia_text
    assert dpia_text.count(OPEN) >= 10 and LEGAL in dpia_text
    assert "versie 1" in dpia_text and "Grondslag voor het BSN | " + OPEN in dpia_text  # v1: v2 fields open
    assert "| sex | DAT |" in dpia_text and "| doelgroep | WAT |" in dpia_text  # classes from node.toml
    register_text = generated["register.md"].read_text()
    assert "Register van verwerkingsactiviteiten (AVG art. 30)" in register_text
    assert "| Bewaartermijnen | " + OPEN in register_text and "regio-analist" in register_text


def test_a_v2_covenant_fills_the_fields_v1_leaves_open(documents_region: Node) -> None:
    cfg = load_node_config(node_config(documents_region))
    raw = tomllib.loads(cfg.covenant.read_text())
    purpose = raw["purposes"][0]
    del purpose["legal_basis"], purpose["law"]
    purpose["basis"] = {"ground": "publieke taak", "law": "Wet op het voortgezet onderwijs", "article": "art. 8a",
                        "bsn_basis": "Wet algemene bepalingen burgerservicenummer",
                        "compatibility": "Tellen voor beleid past bij de RMC-taak."}
    raw.update(version=2, public_body=True, board_approved=dt.date(2026, 11, 15), review_by=dt.date(2027, 11, 15),
               controller={"name": "School Een", "contact": "privacy@school.example", "fg": "fg@school.example"},
               prohibited=[{"id": "handhaving", "description": "Leerplichthandhaving"}])
    raw["datasets"] = {"registratie": {"membership": "DAT", "special_category": False,
                                       "columns": {"gemeente": "DAT", "sex": "DAT", "doelgroep": "WAT"}}}
    text = markdown(dpia(view(tomllib.loads(tomli_w.dumps(raw)), cfg), []))
    assert "| Grondslag voor het BSN | Wet algemene bepalingen burgerservicenummer |" in text
    assert "| Artikel | art. 8a |" in text and "| Naam | School Een |" in text and "versie 1" not in text
    assert "handhaving (Leerplichthandhaving)" in text and "2027-11-15" in text
    assert OPEN in text  # necessity, alternatives, minors and risks stay for the FG
    young = markdown(report(view(raw, cfg), [], YEAR, "16-27"))
    assert "Zo bereik je ons: privacy@school.example." in young
    assert "Het covenant verbiedt: handhaving." in young and "geen vragen" in young
    assert "Wet op het voortgezet onderwijs art. 8a" in young
    assert "School Een" in markdown(register(view(raw, cfg)))


def test_bad_input_is_one_sentence(documents_region: Node) -> None:
    config = str(node_config(documents_region))
    for args, words in ((["--period", "twenty"], "2026-Q4"), (["--period", YEAR, "--audience", "8-11"], "12-15")):
        result = CliRunner().invoke(app, ["report", "--config", config, *args])
        assert result.exit_code != 0 and "error:" in result.output and words in result.output, result.output
        assert "Traceback" not in result.output


def test_a_covenant_the_documents_cannot_read_is_one_sentence(documents_region: Node, tmp_path: Path) -> None:
    cfg = load_node_config(node_config(documents_region))
    for broken in ({"purposes": "everything"}, {"version": "two"}, {"budget": ["10"]},
                   {"purposes": [{"id": "x", "datasets": ["registratie"]}]}):
        with pytest.raises(ConfigError, match=r"^\S+ cannot be read for the documents \(.*\); run `regiozicht-node "
                                              r"covenant check` and fix what it names\.$"):
            view(broken, cfg)
    missing = tmp_path / "node.toml"
    missing.write_text(node_config(documents_region).read_text().replace('covenant = "', 'covenant = "gone-'))
    result = CliRunner().invoke(app, ["covenant", "dpia", "--config", str(missing)])
    assert result.exit_code == ConfigError.exit_code and "error: Cannot read the covenant" in result.output
    assert "Traceback" not in result.output


def _plain_sentences(markdown_text: str) -> str:
    """The report's running text as a reader meets it: no markup, no concept note, list items as sentences."""
    lines = [line.lstrip("#- ").strip() for line in markdown_text.splitlines()]
    return "\n".join(line if line.endswith((".", "?", "!", ":")) else line + "." for line in lines
                     if line and LEGAL not in line)


@pytest.mark.parametrize("audience", ["12-15", "16-27"])
def test_the_reports_read_at_b1_level(generated: dict[str, Path], audience: str) -> None:
    import textstat  # type: ignore[import-untyped]

    text = _plain_sentences(generated[f"report-{audience}.md"].read_text())
    textstat.set_lang("nl")
    score = textstat.flesch_reading_ease(text)
    print(f"Flesch-Douma of the {audience} report: {score:.1f}")  # shown with -s; the README quotes it
    assert score >= FLESCH_DOUMA_MIN, (audience, score)
    sentences = [s for s in re.split(r"(?<=[.?!])\s+", text) if s.strip()]
    longest = max(sentences, key=lambda s: len(s.split()))
    assert len(longest.split()) <= MAX_WORDS_PER_SENTENCE, longest


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("Chromium is missing: run scripts/ensure-chromium.sh as root (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # the browser runs on the real clock (`make test-clock` preloads libfaketime; Chromium stalls under it)
        real_clock: dict[str, str | float | bool] = {
            k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "FAKETIME")}
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"], env=real_clock)
        yield launched
        launched.close()


def test_pages_render_offline_with_no_error_and_no_wcag_violation(generated: dict[str, Path], browser: Any) -> None:
    from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]

    context = browser.new_context(viewport={"width": 1200, "height": 900})
    outside: list[str] = []
    errors: list[str] = []

    def route(request_route: Any) -> None:
        if request_route.request.url.startswith("file://"):
            request_route.continue_()
        else:
            outside.append(request_route.request.url)
            request_route.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        for name, path in generated.items():
            if not name.endswith(".html"):
                continue
            page.goto(path.as_uri())
            page.wait_for_load_state("load")
            assert page.evaluate("document.documentElement.lang") == "nl"
            assert page.locator("h1").count() == 1
            results = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG_21_AA}})
            violations = [(v["id"], v["help"]) for v in results.response["violations"]]
            assert violations == [], (name, violations)
        assert errors == [] and outside == []
    finally:
        context.close()


@pytest.mark.region
def test_a_linked_run_is_named_with_its_partner_and_no_figure_of_it(tmp_path: Path) -> None:
    """The synthetic region's RMC after one linked count with W&I: the report says it linked once and
    with whom, and still prints only covenant figures and audit counts, nothing shaped like a BSN."""
    import subprocess
    import sys

    from tests.linked_region import linked_region

    with linked_region(tmp_path / "linked") as region:
        done = subprocess.run(
            [str(Path(sys.executable).parent / "regiozicht"), "query", "linked", "rmc_stock@rmc", "--with",
             "bijstand@sociale-dienst-regio", "--epsilon", "1", "--delta", "1e-6", "--purpose", "rmc-monitor",
             "--profile", str(region.files.profile)], capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stderr
    rmc = Node(region.files.node_configs["rmc"], collections.Counter())
    entries = audit_export(rmc)
    out = tmp_path / "report.md"
    result = CliRunner().invoke(app, ["report", "--config", str(rmc.config), "--period", YEAR, "--format", "md",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "In deze periode koppelden wij 1 keer. Dat was met: sociale-dienst-regio." in text
    assert not numbers(text) - allowed_numbers(rmc, entries)
    assert not re.search(r"(?<!\d)\d{9}(?!\d)", text)
    cfg = load_node_config(rmc.config)
    dpia_text = markdown(dpia(view(tomllib.loads(cfg.covenant.read_text()), cfg), entries))
    assert "koppelpartners: wi" in dpia_text and "| " + YEAR + " | 0 | 1 | 0 |" in dpia_text
