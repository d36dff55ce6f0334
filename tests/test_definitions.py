"""Three dashboard indicators mean what docs/domain.md says: the answer the node's own statement
gives for the demo's question equals the truth's value of that indicator (truth.json), and the
old definition demonstrably did not (issue 11 §1).

(a) % of the RMC stock in a trajectory / reached: one population, the stock's own flag.
(b) 16-hour reports per 1,000: residents aged 12–17 above and below the line.
(c) vsv'ers on bijstand: last year's cohort, bijstand any day in the 12 months since.
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine

from analyst.linked import split_target
from demo.linkedtruth import linked_truth
from demo.questions import LINKED, QUESTIONS, LinkedQuestion, Question
from demo.synthregion import dataset_config, linking_rules
from node.compile import cells, compile_count, compile_members
from node.config import Dataset
from regiozicht import linksets
from regiozicht.linkquery import LinkSide, build_linked
from regiozicht.query import CountQuery, build_count, default_peildatum
from synth.bsn import is_valid_bsn
from synth.datasets import for_region
from synth.manifest import Manifest, PartnerInfo
from synth.truth import Truth
from tests.test_synth_helpers import region

pytestmark = pytest.mark.region  # builds whole synthetic regions: left out of `make test-fast`

# large enough that the old definitions' flaws show in the data (seed 7): at scale 0.03 the
# stock holds only 5 persons in a trajectory
SCALE = 0.2


@pytest.fixture(scope="module")
def out() -> Path:
    return region(SCALE)


def _manifest(out: Path) -> Manifest:
    return Manifest.load(out)


def _indicator(out: Path, name: str) -> Any:
    return json.loads((out / "truth.json").read_text())["indicators"][name]["recorded"]


def _peildatum(out: Path) -> dt.date:
    return dt.date.fromisoformat(json.loads((out / "truth.json").read_text())["peildatum"])


def _dataset(out: Path, partner: str, name: str) -> Dataset:
    spec = next(s for s in for_region(_manifest(out))[partner] if s.name == name)
    return Dataset.model_validate(dataset_config(spec))


def _publishers(out: Path, dataset: str) -> list[PartnerInfo]:
    specs = for_region(_manifest(out))
    return [p for p in _manifest(out).partners if any(s.name == dataset for s in specs[p.id])]


def _node_count(out: Path, partner: PartnerInfo, dataset: str, peildatum: dt.date, by: tuple[str, ...] = (),
                where: str | None = None) -> dict[tuple[str, ...], int]:
    """What the node's one statement counts (before noise), per cell of the domain."""
    d = _dataset(out, partner.id, dataset)
    query = build_count(dataset, epsilon="1", purpose="check", peildatum=peildatum, by=by, where=where)
    engine = create_engine(partner.url(out))
    try:
        with engine.connect() as connection:
            rows = connection.execute(compile_count(d, query), {"peildatum": peildatum}).all()
    finally:
        engine.dispose()
    got = {tuple(r[:-1]): int(r[-1]) for r in rows}
    return {c: got.get(c, 0) for c in cells(d, by)}


def _summed(out: Path, dataset: str, peildatum: dt.date, by: tuple[str, ...], where: str | None
            ) -> dict[tuple[str, ...], int]:
    """A count summed over every node publishing `dataset`, as the analyst's client sums them."""
    total: dict[tuple[str, ...], int] = {}
    for partner in _publishers(out, dataset):
        for cell, n in _node_count(out, partner, dataset, peildatum, by, where).items():
            total[cell] = total.get(cell, 0) + n
    return total


def _node_links(out: Path, partner: PartnerInfo, dataset: str, peildatum: dt.date) -> set[str]:
    """The link values a node's linked-run statement puts into its list (before blinding)."""
    d = _dataset(out, partner.id, dataset)
    statement = compile_members({dataset: d}, linksets.parse(dataset), CountQuery(dataset, "1", "check", peildatum),
                                anchor=False)
    engine = create_engine(partner.url(out))
    try:
        with engine.connect() as connection:
            return {row[0] for row in connection.execute(statement, {"peildatum": peildatum})}
    finally:
        engine.dispose()


def _question(indicator_start: str) -> Question:
    return next(q for q in QUESTIONS if q.indicator.startswith(indicator_start))


def _share(question: Question, out: Path, peildatum: dt.date) -> tuple[dict[tuple[str, ...], int],
                                                                       dict[tuple[str, ...], int]]:
    """The demo question's numerator and denominator, each as the nodes' statements count it."""
    assert question.of is not None
    return (_summed(out, question.dataset, peildatum, question.by, question.where),
            _summed(out, question.of, peildatum, question.by, question.of_where))


def _pct(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(100.0 * part / whole, 2)


# --- (a) % of the RMC stock in a trajectory / reached -------------------------------------------

@pytest.mark.parametrize("start,entry", [("% of the RMC stock in a trajectory", "in_traject"),
                                         ("% of the RMC stock reached", "reached_12m")])
def test_rmc_stock_shares_are_the_stocks_own_cell_and_equal_the_truth(out: Path, start: str, entry: str) -> None:
    question, p = _question(start), _peildatum(out)
    (num,), (den,) = (v.values() for v in _share(question, out, p))
    truth = _indicator(out, "2_rmc_stock")[entry]["total"]
    assert _pct(num, den) == truth["pct"]
    assert (num, den) == (truth["yes"], truth["n"])
    assert question.dataset == question.of == "rmc_stock" and question.of_where is None
    assert 0 < num < den
    # per gemeente too: the stock counted once by (flag, gemeente), cell J over the column
    flag = question.where.split(" = ")[0] if question.where else ""
    split = _node_count(out, _manifest(out).partner("rmc"), "rmc_stock", p, (flag, "gemeente"))
    for gemeente, want in _indicator(out, "2_rmc_stock")[entry]["by"]["gemeente"].items():
        column = {v: n for (v, g), n in split.items() if g == gemeente}
        assert {"n": sum(column.values()), "yes": column["J"], "pct": _pct(column["J"], sum(column.values()))} == want


def test_old_stock_shares_counted_persons_outside_the_stock(out: Path) -> None:
    """The old share divided rmc_traject (or rmc_contact) by rmc_stock: two statements, and the
    numerator held persons who are not in the stock at all."""
    rmc, p = _manifest(out).partner("rmc"), _peildatum(out)
    stock = _node_links(out, rmc, "rmc_stock", p)
    traject, contact = _node_links(out, rmc, "rmc_traject", p), _node_links(out, rmc, "rmc_contact", p)
    assert len(traject - stock) >= 1 and len(contact - stock) >= 10
    old = _pct(len(traject), len(stock))
    assert old != _indicator(out, "2_rmc_stock")["in_traject"]["total"]["pct"]


# --- (b) 16-hour reports per 1,000 residents aged 12–17 -----------------------------------------

def _per_1000(num: int, den: int) -> float | None:
    return None if den == 0 else round(1000.0 * num / den, 2)


def test_zestien_uur_rate_is_one_population_and_equals_the_truth(out: Path) -> None:
    question, p = _question("16-hour absence reports"), _peildatum(out)
    num, den = _share(question, out, p)
    truth = _indicator(out, "9_absence")
    rate = truth["zestien_uur_per_1000_residents_12_17"]
    assert {c[0]: _per_1000(num[c], den[c]) for c in num} == rate["by"]["gemeente"]
    assert (question.dataset, question.of, question.by, question.per) == ("zestien_uur", "inwoner", ("gemeente",), 1000)
    assert question.where == question.of_where  # the same ages above and below the line
    assert {c[0]: n for c, n in num.items()} == truth["zestien_uur_12_17"]["by"]["gemeente"]
    assert {c[0]: n for c, n in den.items()} == truth["residents_12_17"]["by"]["gemeente"]
    # the total over every cell (onbekend gemeente included) is the truth's total rate
    assert _per_1000(sum(num.values()), sum(den.values())) == rate["total"]
    assert all(v is not None and 5 < v < 100 for c, v in rate["by"]["gemeente"].items() if c != "onbekend")


def test_old_zestien_uur_rate_mixed_two_populations(out: Path) -> None:
    """The old rate divided all 16-hour reports by the partner schools' pupils: reports of
    pupils of other schools and of adults on top, adults below the line."""
    p = _peildatum(out)
    leerplicht = _manifest(out).partner("leerplicht")
    reported = _node_links(out, leerplicht, "zestien_uur", p)
    pupils = set().union(*(_node_links(out, s, "enrolled", p) for s in _publishers(out, "enrolled")))
    assert len(reported - pupils) > len(reported) / 2  # most reports are of havo/vwo/vmbo-kgt pupils
    ages = _node_count(out, leerplicht, "zestien_uur", p, ("leeftijd",))
    assert ages[("18-22",)] > 0
    enrolled_ages = _summed(out, "enrolled", p, ("leeftijd",), None)
    adults = enrolled_ages[("18-22",)] + enrolled_ages[("23-26",)]
    assert adults > sum(enrolled_ages.values()) / 5


# --- (c) vsv'ers on bijstand within 12 months ---------------------------------------------------

def _vsv_bijstand() -> LinkedQuestion:
    found = [q for q in LINKED if q.anchor == "vsv@rmc" and q.found and "bijstand" in q.other
             and "baan" not in q.other]
    assert len(found) == 1
    return found[0]


def _linked_on_nodes(out: Path, question: LinkedQuestion) -> tuple[int, int]:
    """(anchor members found, anchor members) as the nodes' linked-run statements give them:
    the anchor at the cohort's reference date, the other side at the default one."""
    manifest = _manifest(out)
    p = default_peildatum(manifest.extract_datetime.date())
    anchor_set, anchor_at = split_target(question.anchor)
    other_set, other_at = split_target(question.other)
    anchor = next(x for x in manifest.partners if anchor_at in (x.kind, x.org))
    cohort = p.replace(year=p.year - question.years_back)
    members = _node_links(out, anchor, anchor_set, cohort)
    others = set().union(*(_node_links(out, x, other_set, p) for x in manifest.partners if other_at in (x.kind, x.org)))
    return sum(1 for m in members if is_valid_bsn(m) and m in others), len(members)


def test_vsv_bijstand_question_is_indicator_5_on_the_nodes_and_in_the_demos_truth(out: Path) -> None:
    question = _vsv_bijstand()
    truth = _indicator(out, "5_vsv_bijstand_within_12m")["total"]
    hit, n = _linked_on_nodes(out, question)
    assert (hit, n, _pct(hit, n)) == (truth["linked"], truth["n"], truth["pct"]) and hit > 0
    assert question.years_back == 1 and question.other == "bijstand_12m@wi"
    # the demo shows the truth of its own resolved query: the same numbers
    manifest = _manifest(out)
    p = default_peildatum(manifest.extract_datetime.date())
    wi = [x for x in manifest.partners if x.kind == "wi"]
    query = build_linked(LinkSide.of(manifest.partner("rmc").org, "rmc", "vsv", p.replace(year=p.year - 1)),
                         [LinkSide.of(x.org, "wi", "bijstand_12m", p) for x in wi],
                         epsilon="1", delta="1e-9", purpose="rmc-monitor", counter="teller", cells=1)
    demo = linked_truth(Truth.load(out), {x.org: x.id for x in manifest.partners}, query)
    assert demo == {(): (hit, n - hit)}


def test_old_vsv_bijstand_question_was_another_cohort_on_another_day(out: Path) -> None:
    """The old question linked this year's vsv'ers with bijstand on the reference date."""
    old = LinkedQuestion("old", "vsv@rmc", "bijstand@wi")
    hit, n = _linked_on_nodes(out, old)
    truth = _indicator(out, "5_vsv_bijstand_within_12m")["total"]
    assert (hit, n) != (truth["linked"], truth["n"])
    assert _pct(hit, n) != truth["pct"]


def test_every_linked_question_is_allowed_by_the_demo_covenants(out: Path) -> None:
    """Each linked demo question's datasets are in a linking rule on both sides."""
    manifest = _manifest(out)

    def allowed(me: PartnerInfo, mine: list[str], peer: PartnerInfo, theirs: list[str]) -> bool:
        return any(peer.kind in r["kinds"] and set(mine) <= set(r["datasets"])
                   and set(theirs) <= set(r["partner_datasets"]) for r in linking_rules(me.id, me.kind))

    for question in LINKED:
        (a_set, a_at), (o_set, o_at) = split_target(question.anchor), split_target(question.other)
        a_names, o_names = (linksets.datasets(linksets.parse(s)) for s in (a_set, o_set))
        for anchor in (x for x in manifest.partners if a_at in (x.kind, x.org)):
            for other in (x for x in manifest.partners if o_at in (x.kind, x.org) and x.id != anchor.id):
                assert allowed(anchor, a_names, other, o_names), (question.indicator, anchor.id, other.id)
                assert allowed(other, o_names, anchor, a_names), (question.indicator, other.id, anchor.id)
