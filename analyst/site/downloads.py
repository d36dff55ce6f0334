"""Each indicator's figures as CSV and XLSX: the current tables and the earlier periods of the trend,
one row per figure, the 95% interval's low and high in their own columns."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font

from analyst.site import dutch
from analyst.site.model import Figure, IndicatorView

FIGURE_COLUMNS = ["waarde", "ondergrens_95", "bovengrens_95", "eenheid", "opmerking"]


def records(view: IndicatorView, labels: dict[str, dict[str, str]]) -> tuple[list[str], list[dict[str, Any]]]:
    """The columns and rows both downloads hold."""
    dimensions: list[str] = []
    for table in view.tables:
        dimensions += [name for name in table.by if name not in dimensions]
    columns = ["peildatum", "indeling"]
    for name in dimensions:
        columns += [name] + ([f"{name}code"] if name in labels else [])
    columns += FIGURE_COLUMNS
    rows = []
    for index, period in enumerate(view.periods):
        if period == view.peildatum:
            continue  # the current period comes from the full tables below
        for line in view.trend:
            figure = line.figures[index]
            if figure is not None:
                rows.append(_record(view, period, "Hele regio" if not line.codes else "Per gemeente", line.codes,
                                    labels, figure))
    for table in view.tables:
        for row in table.rows:
            rows.append(_record(view, view.peildatum, table.caption, row.codes, labels, row.figure))
    return columns, rows


def _record(view: IndicatorView, period: str, grouping: str, codes: dict[str, str],
            labels: dict[str, dict[str, str]], figure: Figure) -> dict[str, Any]:
    out: dict[str, Any] = {"peildatum": period, "indeling": grouping}
    for name, code in codes.items():
        out[name] = dutch.value_label(name, code, labels)
        if name in labels:
            out[f"{name}code"] = code
    remark = "onderdrukt" if figure.suppressed else "geen cijfer" if figure.value is None else ""
    out.update(waarde=_number(view, figure.value), ondergrens_95=_number(view, figure.low),
               bovengrens_95=_number(view, figure.high), eenheid=view.unit.reads, opmerking=remark)
    return out


def _number(view: IndicatorView, value: float | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if view.unit.kind == "count" else round(value, 2)


def write_csv(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
    """Comma-separated, a point as decimal mark, UTF-8 with a byte-order mark (so Excel reads the ë)."""
    with path.open("w", newline="", encoding="utf-8-sig") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})


def write_xlsx(path: Path, view: IndicatorView, columns: list[str], rows: list[dict[str, Any]]) -> None:
    """One sheet of figures (numbers as numbers), one with the indicator's accounting."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Cijfers"
    sheet.append(columns)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    number_format = "0" if view.unit.kind == "count" else "0.0"
    for row in rows:
        sheet.append([row.get(name) for name in columns])
        for cell in sheet[sheet.max_row]:
            if isinstance(cell.value, (int, float)):
                cell.number_format = number_format
    sheet.freeze_panes = "A2"
    for letter, name in zip("ABCDEFGHIJKLMNOPQRSTUVWXYZ", columns):
        sheet.column_dimensions[letter].width = max(12, len(name) + 2)
    about = book.create_sheet("Verantwoording")
    for key, value in (("Indicator", view.title), ("Definitie", view.definition),
                       ("Partners", "; ".join(view.partners)), ("Doel", view.purpose),
                       ("Wettelijke grondslag", view.legal_basis), ("Peildatum", dutch.date(view.peildatum)),
                       ("Interval", "ondergrens_95 en bovengrens_95: het 95%-betrouwbaarheidsinterval")):
        about.append([key, value])
    about.column_dimensions["A"].width = 22
    about.column_dimensions["B"].width = 100
    book.save(path)
