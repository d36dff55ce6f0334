"""What the site shows, read from the monitor's run documents: per indicator its current tables, its
trend over the last five periods and its accounting (definition, partners, purpose, legal basis).

Figures are cleaned once here, so every page, chart and download shows the same number: counts are
never negative, shares stay between 0 and 100%.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from analyst.monitor_history import peildatum_of
from analyst.site import dutch

TREND_PERIODS = 5


@dataclass(frozen=True)
class Unit:
    """How an indicator's values read: a count of persons, a percentage, or a rate per N."""

    kind: str  # count | share | linked_share
    unit: str  # persons | % | per 1000

    @property
    def decimals(self) -> int:
        return 0 if self.kind == "count" else 1

    @property
    def suffix(self) -> str:
        if self.unit == "%":
            return "%"
        if self.unit.startswith("per "):
            return " per " + dutch.number(int(self.unit[4:]))
        return ""

    @property
    def reads(self) -> str:
        """The unit in words, for column headers and downloads."""
        if self.kind == "count":
            return "aantal jongeren"
        return "procent" if self.unit == "%" else self.suffix.strip()

    def clean(self, value: float) -> float:
        if self.kind == "count":
            return float(max(0, round(value)))
        return min(100.0, max(0.0, value)) if self.unit == "%" else max(0.0, value)

    @property
    def column(self) -> str:
        """Header of a table's value column (a rate's 'per 1.000' is said there, not in every cell)."""
        if self.kind == "count":
            return "Aantal"
        return "Percentage" if self.unit == "%" else self.suffix.strip().capitalize()

    def text(self, value: float) -> str:
        return dutch.number(value, self.decimals) + self.suffix

    def short(self, value: float) -> str:
        """The value in a table cell or on a chart: a percentage keeps its %, a rate drops its 'per N'."""
        return dutch.number(value, self.decimals) + ("%" if self.unit == "%" else "")


@dataclass(frozen=True)
class Figure:
    """One shown cell: its value and 95% interval, or why it has none."""

    value: float | None
    low: float | None
    high: float | None
    suppressed: bool

    @property
    def shown(self) -> bool:
        return self.value is not None


@dataclass(frozen=True)
class Row:
    label: str
    codes: dict[str, str]
    figure: Figure


@dataclass(frozen=True)
class Table:
    by: list[str]
    caption: str  # 'Per gemeente'
    header: str  # 'Gemeente': what the row headers name
    rows: list[Row]


@dataclass(frozen=True)
class Series:
    """One line of the trend: the region or a gemeente, a figure (or None) per period."""

    label: str
    codes: dict[str, str]
    figures: list[Figure | None]


@dataclass(frozen=True)
class IndicatorView:
    id: str
    title: str
    definition: str
    partners: list[str]
    legal_basis: str
    purpose: str
    unit: Unit
    peildatum: str
    tables: list[Table]
    periods: list[str]
    trend: list[Series]

    @property
    def headline(self) -> Figure | None:
        """The region's figure, where the indicator shows one."""
        total = self.table(())
        return total.rows[0].figure if total is not None and total.rows else None

    @property
    def main(self) -> Table:
        """The table the chart shows: gemeenten side by side where there are, else the first grouping."""
        return self.table(("gemeente",)) or self.tables[0]

    def table(self, by: tuple[str, ...]) -> Table | None:
        return next((t for t in self.tables if tuple(t.by) == by), None)

    def text(self, figure: Figure | None) -> str:
        if figure is None or figure.suppressed:
            return "onderdrukt"
        return "geen cijfer" if figure.value is None else self.unit.text(figure.value)

    def interval(self, figure: Figure | None, short: bool = False) -> str:
        if figure is None or figure.low is None or figure.high is None:
            return ""
        said = self.unit.short if short else self.unit.text
        return f"{said(figure.low)} tot {said(figure.high)}"

    def short(self, figure: Figure | None) -> str:
        """`text` for a table cell."""
        if figure is not None and figure.value is not None:
            return self.unit.short(figure.value)
        return self.text(figure)


def labels_of(documents: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Every document's labels, the newest winning (an older run may lack them)."""
    out: dict[str, dict[str, str]] = {}
    for document in documents:
        for dimension, names in (document.get("labels") or {}).items():
            out.setdefault(dimension, {}).update(names)
    return out


def indicator_views(documents: list[dict[str, Any]]) -> list[IndicatorView]:
    """One view per indicator of the newest document, its trend from the last five documents."""
    labels = labels_of(documents)
    current = documents[-1]
    return [_view(indicator, current, documents[-TREND_PERIODS:], labels) for indicator in current["indicators"]]


def _view(indicator: dict[str, Any], current: dict[str, Any], recent: list[dict[str, Any]],
          labels: dict[str, dict[str, str]]) -> IndicatorView:
    unit = Unit(indicator["kind"], indicator["unit"])
    tables = [Table(list(t["by"]), dutch.grouping_label(list(t["by"])), dutch.grouping_header(list(t["by"])),
                    [_row(r, list(t["by"]), unit, labels) for r in t["rows"]]) for t in indicator["tables"]]
    periods, trend = _trend(indicator["id"], recent, unit, labels)
    return IndicatorView(
        id=indicator["id"], title=indicator["title"], definition=indicator["definition"],
        partners=[dutch.PARTNERS.get(p, p) for p in indicator["partners"]], legal_basis=indicator["legal_basis"],
        purpose=dutch.PURPOSES.get(current["purpose"], current["purpose"]), unit=unit,
        peildatum=_peildatum(indicator, current), tables=tables, periods=periods, trend=trend)


def _peildatum(indicator: dict[str, Any], document: dict[str, Any]) -> str:
    """A linked share carries its own (yearly) reference date; the releases the document's."""
    own = [t["peildatum"] for t in indicator["tables"] if t.get("peildatum")]
    return str(own[0]) if own else peildatum_of(document)


def _figure(row: dict[str, Any], unit: Unit) -> Figure:
    if row.get("suppressed"):
        return Figure(None, None, None, True)
    value = row.get("value")
    low, high = row.get("ci_low"), row.get("ci_high")
    return Figure(None if value is None else unit.clean(value), None if low is None else unit.clean(low),
                  None if high is None else unit.clean(high), False)


def _row(row: dict[str, Any], by: list[str], unit: Unit, labels: dict[str, dict[str, str]]) -> Row:
    cell = {name: str(row["cell"].get(name, "")) for name in by}
    label = ", ".join(dutch.value_label(name, code, labels) for name, code in cell.items()) or "Hele regio"
    return Row(label, cell, _figure(row, unit))


def _trend(indicator_id: str, recent: list[dict[str, Any]], unit: Unit,
           labels: dict[str, dict[str, str]]) -> tuple[list[str], list[Series]]:
    """The region's total and each gemeente over the distinct periods of the recent documents (a
    yearly figure asked again in a later quarter counts once)."""
    by_period: dict[str, dict[str, Any]] = {}
    for document in recent:
        for indicator in document["indicators"]:
            if indicator["id"] == indicator_id:
                by_period[_peildatum(indicator, document)] = indicator
    periods = sorted(by_period)[-TREND_PERIODS:]
    series: dict[tuple[str, str], list[Figure | None]] = {}
    for index, period in enumerate(periods):
        for table in by_period[period]["tables"]:
            if table["by"] not in ([], ["gemeente"]):
                continue
            for raw in table["rows"]:
                key = ("", "") if not table["by"] else ("gemeente", str(raw["cell"]["gemeente"]))
                series.setdefault(key, [None] * len(periods))[index] = _figure(raw, unit)
    ordered = sorted(series, key=lambda k: (k != ("", ""), k[1] == "onbekend"))
    return periods, [Series("Hele regio" if not key[0] else dutch.value_label(key[0], key[1], labels),
                            dict([key]) if key[0] else {}, series[key]) for key in ordered]
