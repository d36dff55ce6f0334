"""Data quality of the partner data as the node reads it: for the node's own staff only.

Every figure here is computed on the node and printed there; none is ever sent
to the coordinator or released (they are exact counts, not DP answers).
"""

from __future__ import annotations

import collections
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from node.config import Dataset
from node.linkmembers import is_valid_bsn

SHOWN_VALUES = 5  # out-of-domain values listed per dimension; the rest are counted


@dataclass
class DatasetQuality:
    """What one dataset's rows on one reference date look like."""

    name: str
    rows: int = 0
    persons: int = 0
    invalid_bsn: int = 0
    duplicates: int = 0  # rows repeating another row in every column but the tie-break id
    missing: collections.Counter[str] = field(default_factory=collections.Counter)  # dimension → NULL rows
    outside_domain: dict[str, collections.Counter[str]] = field(default_factory=dict)  # dimension → value → rows
    outside_coverage: int = 0  # persons whose kept row lies outside the node's [coverage]
    missing_columns: tuple[str, ...] = ()

    def domain_summary(self, dimension: str) -> str:
        values = self.outside_domain.get(dimension, collections.Counter())
        shown = ", ".join(f"{v!r} ({n})" for v, n in values.most_common(SHOWN_VALUES))
        more = f" and {len(values) - SHOWN_VALUES} more" if len(values) > SHOWN_VALUES else ""
        return f"{sum(values.values())} row(s) with a {dimension} outside its domain: {shown}{more}"


def required_columns(dataset: Dataset) -> tuple[str, ...]:
    return tuple(dict.fromkeys((dataset.person_column, dataset.link_column, *dataset.dimensions,
                                *dataset.order_by, *dataset.measures)))


def scan(connection: Connection, dataset: Dataset, peildatum: dt.date) -> DatasetQuality:
    """Runs the dataset's own SQL once and counts its rows' problems (never leaves the node)."""
    report = DatasetQuality(dataset.name)
    result = connection.execute(text(dataset.sql), {"peildatum": peildatum})
    columns = list(result.keys())
    report.missing_columns = tuple(c for c in required_columns(dataset) if c not in columns)
    if report.missing_columns:
        result.close()
        return report
    seen: set[tuple[object, ...]] = set()
    tie_break = dataset.order_by[-1] if dataset.order_by else None
    content = [i for i, c in enumerate(columns) if c != tie_break]
    kept: dict[object, tuple[tuple[Any, ...], dict[str, object]]] = {}
    order = [columns.index(c) for c in dataset.order_by]
    for row in result:
        report.rows += 1
        values = dict(zip(columns, row))
        link = values[dataset.link_column]
        if link is not None and not is_valid_bsn(str(link)):
            report.invalid_bsn += 1
        key = tuple(row[i] for i in content)
        if key in seen:
            report.duplicates += 1
        seen.add(key)
        for name, dimension in dataset.dimensions.items():
            value = values[name]
            if value is None:
                report.missing[name] += 1
            elif str(value) not in dimension.domain:
                report.outside_domain.setdefault(name, collections.Counter())[str(value)] += 1
        person = values[dataset.person_column]
        rank = tuple(row[i] for i in order)
        if person not in kept or rank > kept[person][0]:
            kept[person] = (rank, values)  # the row the node keeps per person: latest by order_by
    report.persons = len(kept)
    report.outside_coverage = sum(
        1 for _, values in kept.values()
        if any(str(values[name]) not in allowed for name, allowed in dataset.coverage.items()))
    return report
