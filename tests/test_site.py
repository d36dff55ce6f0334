"""The monitor's site as a reader's browser shows it: every page offline with no console error and
no request leaving the site, the figures those of the run documents after post-processing, clean
A4 print, downloads holding the page's values, and no WCAG 2.1 AA violation that axe-core finds.

The documents are real: a monitor shaped like the shipped one runs over a small synthetic region
for four quarters, and `regiozicht monitor build` runs the fifth and builds the site from all five.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlparse
from urllib.request import url2pathname

import pytest
from typer.testing import CliRunner

from analyst import monitor_history
from analyst.site import build_site, dutch
from coordinator.cli.main import app
from tests.linked_region import LinkedRegion, linked_region
from tests.site_region import PERIODS, labels, run_periods, write_monitor

pytestmark = pytest.mark.processes  # starts real processes: left out of `make test-fast`

CHROMIUM = Path("/usr/bin/chromium")
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
A4_PRINT_WIDTH_PX = 688  # 210 mm less the print stylesheet's 2 × 14 mm margins, at 96 px per inch


@dataclass
class Built:
    index: Path
    documents: list[dict[str, Any]]
    history: Path

    @property
    def pages(self) -> list[Path]:
        return sorted(self.index.parent.glob("**/*.html"))

    def indicator(self, indicator_id: str) -> dict[str, Any]:
        return next(i for i in self.documents[-1]["indicators"] if i["id"] == indicator_id)


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LinkedRegion]:
    with linked_region(tmp_path_factory.mktemp("site-region")) as running:
        yield running


@pytest.fixture(scope="module")
def built(region: LinkedRegion, tmp_path_factory: pytest.TempPathFactory) -> Built:
    root = tmp_path_factory.mktemp("site")
    monitor_path = write_monitor(root / "monitor.toml")
    history = root / "history"
    for document in run_periods(region, monitor_path, PERIODS[:-1]):
        monitor_history.save(document, history)
    result = CliRunner().invoke(app, ["monitor", "build", str(monitor_path), "--out", str(root / "site"),
                                      "--at", PERIODS[-1], "--history", str(history),
                                      "--profile", str(region.files.profile)])
    assert result.exit_code == 0, result.output
    index = Path(result.stdout.strip().splitlines()[-1])
    assert index == root / "site" / "index.html" and index.exists()
    return Built(index, monitor_history.load_all(history), history)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("Chromium is missing: run scripts/ensure-chromium.sh as root (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # the browser runs on the real clock: `make test-clock` preloads libfaketime into every process, and
        # Chromium stalls under it; the site it reads was built on the moved clock all the same
        real_clock: dict[str, str | float | bool] = {
            k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "FAKETIME")}
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"], env=real_clock)
        yield launched
        launched.close()


class Visit:
    """A page opened with every request outside the site refused and recorded, and its console watched."""

    def __init__(self, browser: Any, viewport_width: int = 1200) -> None:
        self.context = browser.new_context(viewport={"width": viewport_width, "height": 900})
        self.outside: list[str] = []
        self.errors: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("console", lambda message: self.errors.append(message.text) if message.type == "error" else None)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _route(self, route: Any) -> None:
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            self.outside.append(route.request.url)
            route.abort()

    def open(self, path: Path) -> Any:
        self.page.goto(path.as_uri())
        self.page.wait_for_load_state("load")
        return self.page

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def visit(browser: Any) -> Iterator[Visit]:
    opened = Visit(browser)
    yield opened
    opened.close()


def shown_number(text: str) -> float:
    """A figure as the page writes it ('1.234', '19,1%', '12,3 per 1.000') read back as a number."""
    head = text.split(" per ")[0].strip().rstrip("%")
    return float(head.replace(".", "").replace(",", "."))


def expected(indicator: dict[str, Any], value: float) -> float:
    """A document's value as the site must show it: counts whole and never negative, the rest to one decimal."""
    return float(max(0, value)) if indicator["kind"] == "count" else round(value, 1)


def page_tables(page: Any) -> dict[str, list[list[str]]]:
    tables: dict[str, list[list[str]]] = page.evaluate("""() => Object.fromEntries(Array.from(document.querySelectorAll('table.figures')).map(t =>
        [t.dataset.by, Array.from(t.tBodies[0].rows).map(r => Array.from(r.cells).map(c => c.innerText.trim()))]))""")
    return tables


def _plain(value: Any) -> Any:
    """A spreadsheet's number or a CSV field, comparable: numbers as floats, empty as None."""
    if value is None or value == "":
        return None
    try:
        return float(value)
    except ValueError:
        return str(value)


def indicator_page(built: Built, indicator_id: str) -> Path:
    return built.index.parent / "indicatoren" / f"{indicator_id}.html"


def test_monitor_build_stores_each_period_and_builds_from_all(built: Built) -> None:
    assert sorted(p.name for p in built.history.glob("*.json")) == [
        f"{dt.date.fromisoformat(at).replace(day=1).isoformat()}.json" for at in PERIODS]
    names = {p.relative_to(built.index.parent).as_posix() for p in built.pages}
    assert {"index.html", "uitleg.html"} | {f"indicatoren/{i['id']}.html" for i in built.documents[-1]["indicators"]} \
        == names


def test_every_page_loads_offline_with_no_console_error_and_no_request_outside(built: Built, visit: Visit) -> None:
    for path in built.pages:
        page = visit.open(path)
        assert page.evaluate("document.documentElement.lang") == "nl"
        for link in page.eval_on_selector_all("a[href]:not([href^='#']), link[href]", "els => els.map(e => e.href)"):
            assert urlparse(link).scheme == "file", (path, link)
            assert Path(url2pathname(urlparse(link).path)).exists(), (path, link)  # no broken link, no missing asset
    assert visit.errors == []
    assert visit.outside == []


def test_shown_figures_equal_the_documents_after_post_processing(built: Built, visit: Visit) -> None:
    names = labels()["gemeente"]
    for indicator in built.documents[-1]["indicators"]:
        tables = page_tables(visit.open(indicator_page(built, indicator["id"])))
        for table in indicator["tables"]:
            rows = tables[",".join(table["by"])]
            assert len(rows) == len(table["rows"])
            for shown, row in zip(rows, table["rows"]):
                if table["by"] == ["gemeente"]:  # by name, never by code
                    code = row["cell"]["gemeente"]
                    assert shown[0] == names.get(code, "Gemeente onbekend")
                if row["suppressed"]:
                    assert shown[1].startswith("onderdrukt")
                elif row["value"] is None:
                    assert shown[1] == "geen cijfer"
                else:
                    assert [shown_number(text) for text in shown[1:4]] == \
                        [expected(indicator, row[k]) for k in ("value", "ci_low", "ci_high")], (indicator["id"], row)
                    assert all(text.endswith("%") for text in shown[1:4]) == (indicator["unit"] == "%")
    # the front page shows each indicator's region figure
    front = visit.open(built.index)
    for indicator in built.documents[-1]["indicators"]:
        total = next((t["rows"][0] for t in indicator["tables"] if t["by"] == []), None)
        if total is not None and total.get("value") is not None:
            cell = front.locator(f"tr[data-indicator='{indicator['id']}'] td").first.inner_text()
            assert shown_number(cell) == expected(indicator, total["value"])


def test_no_code_where_a_name_exists_and_no_negative_figure(built: Built, visit: Visit) -> None:
    for path in built.pages:
        page = visit.open(path)
        text = page.inner_text("body")
        assert not re.search(r"GM\d{4}", text), path
        cells = page.eval_on_selector_all("td.num", "els => els.map(e => e.innerText)")
        assert not any(re.search(r"[-−]\s*\d", cell) for cell in cells), path


def test_a_screenshot_of_the_front_page(built: Built, visit: Visit, tmp_path: Path) -> None:
    visit.open(built.index).screenshot(path=str(tmp_path / "voorpagina.png"), full_page=True)
    assert (tmp_path / "voorpagina.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_print_gives_an_a4_report_with_no_table_clipped(built: Built, browser: Any, tmp_path: Path) -> None:
    visit = Visit(browser, viewport_width=A4_PRINT_WIDTH_PX)
    try:
        for path in built.pages:
            page = visit.open(path)
            page.emulate_media(media="print")
            clipped = page.evaluate("""() => Array.from(document.querySelectorAll('table'))
                .filter(t => t.scrollWidth > t.parentElement.clientWidth + 1 || t.scrollWidth > document.body.clientWidth + 1)
                .map(t => t.caption ? t.caption.innerText : t.outerHTML.slice(0, 80))""")
            assert clipped == [], path
            assert page.evaluate("getComputedStyle(document.querySelector('header nav')).display") == "none"
            pdf = tmp_path / f"{path.stem}.pdf"
            page.pdf(path=str(pdf), format="A4", print_background=True)
            assert pdf.read_bytes()[:5] == b"%PDF-"
    finally:
        visit.close()
    assert visit.errors == [] and visit.outside == []


def test_downloads_hold_the_values_and_intervals_of_the_page(built: Built, visit: Visit) -> None:
    from openpyxl import load_workbook

    for indicator in built.documents[-1]["indicators"]:
        page = visit.open(indicator_page(built, indicator["id"]))
        links = page.eval_on_selector_all(".downloads a[href]", "els => els.map(e => e.getAttribute('href'))")
        csv_path, xlsx_path = (Path(url2pathname(urlparse(urljoin(page.url, link)).path)) for link in links)
        with csv_path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
        sheet = load_workbook(xlsx_path, read_only=True)["Cijfers"]
        header, *cells = [list(r) for r in sheet.iter_rows(values_only=True)]
        assert header == list(rows[0].keys())
        assert [[_plain(v) for v in r] for r in cells] == [[_plain(v) for v in r.values()] for r in rows]
        latest = max(r["peildatum"] for r in rows)
        for by, shown_rows in page_tables(page).items():
            caption = dutch.grouping_label(by.split(",") if by else [])
            mine = [r for r in rows if r["indeling"] == caption and r["peildatum"] == latest]
            assert len(mine) == len(shown_rows), (indicator["id"], by)
            for shown, row in zip(shown_rows, mine):
                if row["opmerking"]:
                    assert shown[1].startswith(row["opmerking"])
                    continue
                assert [round(float(row[k]), 1) for k in ("waarde", "ondergrens_95", "bovengrens_95")] == \
                    [shown_number(text) for text in shown[1:4]], (indicator["id"], row)


def test_no_wcag_21_aa_violation_that_axe_finds(built: Built, visit: Visit) -> None:
    from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]

    axe = Axe()
    for path in built.pages:
        results = axe.run(visit.open(path), options={"runOnly": {"type": "tag", "values": WCAG_21_AA}})
        violations = [(v["id"], v["help"], [n["target"] for n in v["nodes"]][:3]) for v in results.response["violations"]]
        assert violations == [], (path.name, violations)


def test_a_failed_run_puts_a_dated_notice_on_every_page(built: Built, tmp_path: Path) -> None:
    notice = "De meting is mislukt: node werk-inkomen-gm9001 gaf geen antwoord."
    index = build_site(built.documents, tmp_path / "site", notice=notice)
    for path in index.parent.glob("**/*.html"):
        text = path.read_text()
        assert notice in text and f"Let op, {dutch.date(dt.date.today().isoformat())}" in text, path


def test_a_suppressed_cell_is_marked_and_withholds_its_total(built: Built, visit: Visit, tmp_path: Path) -> None:
    # a node's covenant suppressing one gemeente's cells (the run then withholds every figure summing
    # them): the newest document with that outcome, rendered
    documents = copy.deepcopy(built.documents)
    indicator = next(i for i in documents[-1]["indicators"] if i["id"] == "10-bijstand")
    for table in indicator["tables"]:
        for row in table["rows"]:
            if table["by"] == [] or row["cell"].get("gemeente") == "GM9001":
                for key in ("value", "ci_low", "ci_high"):
                    row.pop(key, None)
                row["suppressed"] = True
    index = build_site(documents, tmp_path / "site")
    tables = page_tables(visit.open(index.parent / "indicatoren" / "10-bijstand.html"))
    by_name = {row[0]: row for row in tables["gemeente"]}
    assert by_name["Noorderveen"][1].startswith("onderdrukt") and by_name["Noorderveen"][2:] == ["—", "—"]
    assert tables[""][0][1].startswith("onderdrukt")
    assert by_name["Oosterbroek"][1][0].isdigit()
    assert "Onderdrukt" in visit.page.inner_text("#onderdrukt")
    shutil.rmtree(tmp_path / "site")


def test_history_keeps_one_document_per_period_oldest_first(built: Built, tmp_path: Path) -> None:
    for document in reversed(built.documents):
        monitor_history.save(document, tmp_path)
    monitor_history.save(built.documents[0], tmp_path)  # a re-run in the same period replaces it
    assert [monitor_history.peildatum_of(d) for d in monitor_history.load_all(tmp_path)] == \
        sorted(monitor_history.peildatum_of(d) for d in built.documents)
    assert len(list(tmp_path.glob("*.json"))) == len(built.documents)


def test_the_checks_catch_what_they_look_for(browser: Any, tmp_path: Path) -> None:
    # a page that reaches outside and has grey-on-grey text: the guard records and refuses the
    # request (nothing leaves the machine), the console reports it, and axe names the contrast
    page_file = tmp_path / "slecht.html"
    page_file.write_text('<!doctype html><html lang="nl"><head><title>slecht</title></head><body><main>'
                         '<img src="https://example.invalid/teller.png" alt="teller">'
                         '<p style="color:#999;background:#aaa">onleesbaar</p></main></body></html>')
    visit = Visit(browser)
    try:
        from axe_playwright_python.sync_playwright import Axe

        page = visit.open(page_file)
        results = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG_21_AA}})
    finally:
        visit.close()
    assert visit.outside == ["https://example.invalid/teller.png"]
    assert visit.errors
    assert "color-contrast" in {v["id"] for v in results.response["violations"]}


def test_a_broken_history_file_is_one_error_line(built: Built, region: LinkedRegion, tmp_path: Path) -> None:
    history = tmp_path / "history"
    history.mkdir()
    (history / "2026-07-01.json").write_text("{ half a document")
    monitor_path = write_monitor(tmp_path / "monitor.toml")
    result = CliRunner().invoke(app, ["monitor", "build", str(monitor_path), "--out", str(tmp_path / "site"),
                                      "--at", PERIODS[-1], "--history", str(history),
                                      "--profile", str(region.files.profile)])
    assert result.exit_code == 2, result.output
    assert "2026-07-01.json cannot be read" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "site" / "index.html").exists()
