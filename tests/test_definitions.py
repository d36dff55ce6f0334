"""Three dashboard indicators mean what DOMAIN.md says: the answer the node's own statement
gives for the demo's question equals the truth's value of that indicator (truth.json), and the
old definition demonstrably did not (issue 11 §1).

(a) % of the RMC stock in a trajectory / reached: one population, the stock's own flag.
(b) 16-hour reports per 1,000: residents aged 12–17 above and below the line.
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine

from demo.questions import QUESTIONS, Question
from demo.synthregion import dataset_config
from node.compile import cells, compile_count, compile_members
from node.config import Dataset
from regiozicht import linksets
from regiozicht.query import CountQuery, build_count
from synth.datasets import for_region
from synth.manifest import Manifest, PartnerInfo
from tests.test_synth_helpers import region

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
