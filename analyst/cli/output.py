"""Rows of the `regiozicht query` answers, as each output format shows them.

Every format says the same thing in its own way: a suppressed number reads
`suppressed` in a table and CSV, and is null with `suppressed: true` in JSON;
an interval is one `low – high` column in a table and two columns
(`ci_low`, `ci_high`) in CSV and JSON (JSON keeps `ci95` as a pair too);
a share is a percentage with its interval in percentage points (JSON keeps
the fraction as `share` and `ci95` beside `percent`).
"""

from __future__ import annotations

from typing import Any

from analyst.client import CountResult, ShareCell
from analyst.suppression import ShownCell
from regiozicht.cli_support import OutputFormat

SUPPRESSED = "suppressed"

OUTPUT_HELP = ("Suppressed cells (a noisy value below a covenant's threshold) read `suppressed` (JSON: null "
               "with suppressed: true); intervals are 95%, in CSV and JSON as ci_low and ci_high.")


def interval_columns(fmt: OutputFormat, prefix: str = "") -> list[str]:
    """The interval as one column in a table, two in CSV."""
    return [f"{prefix}ci95"] if fmt is OutputFormat.table else [f"{prefix}ci_low", f"{prefix}ci_high"]


def _number(value: Any, suppressed: bool, fmt: OutputFormat) -> Any:
    if suppressed:
        return None if fmt is OutputFormat.json else SUPPRESSED
    return value


def _interval(low: Any, high: Any, suppressed: bool, fmt: OutputFormat, prefix: str = "",
              unit: str = "") -> dict[str, Any]:
    if suppressed:
        blank = None if fmt is OutputFormat.json else ""
        fields = {f"{prefix}ci_low": blank, f"{prefix}ci_high": blank, f"{prefix}ci95": blank}
        return fields
    shown = f"{low} – {high}{unit}" if fmt is OutputFormat.table else [low, high]
    return {f"{prefix}ci_low": low, f"{prefix}ci_high": high, f"{prefix}ci95": shown}


def count_rows(result: CountResult, fmt: OutputFormat) -> list[dict[str, Any]]:
    rows = []
    for cell in result.cells:
        row: dict[str, Any] = dict(zip(result.query.by, cell.group))
        row["value"] = _number(cell.value, cell.suppressed, fmt)
        row.update(_interval(cell.ci_low, cell.ci_high, cell.suppressed, fmt))
        if fmt is OutputFormat.json:
            row["suppressed"] = cell.suppressed
        rows.append(row)
    return rows


def count_columns(by: list[str] | tuple[str, ...], fmt: OutputFormat) -> list[str]:
    return [*by, "value", *interval_columns(fmt)]


def percent(fraction: float | None) -> float | None:
    return None if fraction is None else round(100 * fraction, 1)


def _percent_fields(share: float | None, low: float, high: float, suppressed: bool,
                    fmt: OutputFormat) -> dict[str, Any]:
    if suppressed:
        fields = {"percent": _number(None, True, fmt), **_interval(0, 0, True, fmt)}
    else:
        value = percent(share)
        shown = value if fmt is not OutputFormat.table or value is None else f"{value} %"
        fields = {"percent": shown, **_interval(percent(low), percent(high), False, fmt, unit=" %")}
    if fmt is OutputFormat.json:
        fields.update(share=None if suppressed or share is None else round(share, 4),
                      ci95=None if suppressed else [round(low, 4), round(high, 4)], suppressed=suppressed)
    return fields


def share_rows(cells: list[ShareCell], numerator: CountResult, denominator: CountResult, by: tuple[str, ...],
               fmt: OutputFormat) -> list[dict[str, Any]]:
    """A share is withheld where either count is: a node's covenant suppressed part of it."""
    rows = []
    for cell, num, den in zip(cells, numerator.cells, denominator.cells):
        row: dict[str, Any] = dict(zip(by, cell.group))
        row.update(numerator=_number(cell.numerator, num.suppressed, fmt),
                   denominator=_number(cell.denominator, den.suppressed, fmt))
        row.update(_percent_fields(cell.share, cell.ci_low, cell.ci_high, num.suppressed or den.suppressed, fmt))
        rows.append(row)
    return rows


def share_columns(by: tuple[str, ...], fmt: OutputFormat) -> list[str]:
    return [*by, "numerator", "denominator", "percent", *interval_columns(fmt)]


def linked_rows(cells: list[ShownCell], by: tuple[str, ...], fmt: OutputFormat) -> list[dict[str, Any]]:
    rows = []
    for shown in cells:
        cell = shown.cell
        row: dict[str, Any] = dict(zip(by, cell.group))
        row["in_other"] = _number(cell.inter, shown.inter, fmt)
        row.update(_interval(*cell.inter_ci, shown.inter, fmt, prefix="in_other_"))
        row["not_in_other"] = _number(cell.only, shown.only, fmt)
        row.update(_interval(*cell.only_ci, shown.only, fmt, prefix="not_in_other_"))
        if fmt is OutputFormat.json:
            row.update(in_other_suppressed=shown.inter, not_in_other_suppressed=shown.only)
        rows.append(row)
    return rows


def linked_columns(by: tuple[str, ...], fmt: OutputFormat) -> list[str]:
    return [*by, "in_other", *interval_columns(fmt, "in_other_"), "not_in_other",
            *interval_columns(fmt, "not_in_other_")]


def linked_share_rows(cells: list[ShownCell], by: tuple[str, ...], fmt: OutputFormat) -> list[dict[str, Any]]:
    """A share of the anchor is withheld, with its base, where the anchor cell is below the threshold
    (as a percentage of a small base is withheld in published tables)."""
    rows = []
    for shown in cells:
        cell = shown.cell
        row: dict[str, Any] = dict(zip(by, cell.group))
        row.update(in_other=_number(cell.inter, shown.anchor, fmt), anchor=_number(cell.anchor, shown.anchor, fmt))
        row.update(_percent_fields(cell.share, *cell.share_ci, shown.anchor, fmt))
        rows.append(row)
    return rows


def linked_share_columns(by: tuple[str, ...], fmt: OutputFormat) -> list[str]:
    return [*by, "in_other", "anchor", "percent", *interval_columns(fmt)]
