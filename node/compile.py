"""Compiles a count query into ONE parameterised aggregate statement.

The dataset's SQL template (binding :peildatum) is wrapped so that the
partner's engine does all the work: keep one row per person (latest first,
deterministic tie-break), map each dimension to its public domain or
`onbekend`, filter, group and count. Only per-cell counts come back; no
record ever enters Python. Cells come from the config's domains, never from
the GROUP BY output.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from sqlalchemy import Date, and_, bindparam, case, column, func, literal, not_, or_, select, text
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Select

from node.config import ONBEKEND, Dataset
from regiozicht import filters
from regiozicht.query import CountQuery, check_against_domains


def check_query(dataset: Dataset, query: CountQuery) -> None:
    """Refuses dimensions and filter values the dataset does not declare."""
    check_against_domains(dataset.name, {name: dim.domain for name, dim in dataset.dimensions.items()}, query)


def cells(dataset: Dataset, by: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Every cell of the public domain (with `onbekend`), in a fixed order."""
    domains = [(*dataset.dimensions[name].domain, ONBEKEND) for name in by]
    return list(itertools.product(*domains))


def _cell_expression(dataset: Dataset, name: str) -> ColumnElement[Any]:
    domain = dataset.dimensions[name].domain
    raw = column(name)
    return case((raw.in_(domain), raw), else_=literal(ONBEKEND)).label(name)


def _filter_expression(tree: filters.Tree, cols: Any) -> ColumnElement[bool]:
    (key, arg), = tree.items()
    if key == "and":
        return and_(*(_filter_expression(p, cols) for p in arg))
    if key == "or":
        return or_(*(_filter_expression(p, cols) for p in arg))
    if key == "not":
        return not_(_filter_expression(arg, cols))
    if key == "in":
        return cols[arg[0]].in_(arg[1])  # type: ignore[no-any-return]
    name, op, value = arg
    left = cols[name]
    return {  # type: ignore[no-any-return]
        "=": left == value, "!=": left != value, "<": left < value,
        "<=": left <= value, ">": left > value, ">=": left >= value,
    }[op]


def _per_person(dataset: Dataset, needed: list[str], extra: tuple[str, ...] = ()) -> Any:
    """The kept row per person (latest first, deterministic tie-break), dimensions mapped to cells."""
    # all dimensions take part in the tie-break, so the kept row never depends
    # on which dimensions a query happens to ask for
    source_columns = {dataset.person_column, *dataset.order_by, *dataset.dimensions, *extra}
    source = (
        text(dataset.sql)
        .bindparams(bindparam("peildatum", type_=Date))
        .columns(*(column(name) for name in sorted(source_columns)))
        .subquery("source")
    )
    person = source.c[dataset.person_column]
    ordering = [source.c[name].desc().nulls_last() for name in dataset.order_by]
    ordering += [source.c[name].asc().nulls_last() for name in sorted(dataset.dimensions)]
    return (
        select(
            *(_cell_expression(dataset, name) for name in needed),
            *(source.c[name] for name in extra),
            func.row_number().over(partition_by=person, order_by=ordering).label("row_rank"),
        )
        .select_from(source)
        .where(person.is_not(None))
        .subquery("per_person")
    )


def compile_count(dataset: Dataset, query: CountQuery) -> Select[Any]:
    """The one statement that answers `query`; binds only :peildatum and literals."""
    check_query(dataset, query)
    needed = sorted(set(query.by) | (filters.columns(query.where) if query.where else set()))
    ranked = _per_person(dataset, needed)
    group = [ranked.c[name] for name in query.by]
    statement = select(*group, func.count().label("n")).where(ranked.c.row_rank == 1)
    if query.where is not None:
        statement = statement.where(_filter_expression(query.where, ranked.c))
    return statement.group_by(*group) if group else statement


def compile_members(dataset: Dataset, query: CountQuery) -> Select[Any]:
    """The one statement of a linked run: per kept row, the link value and its cell.

    The same one-row-per-person and cell mapping as `compile_count`, so a
    linked count's cells mean what a plain count's cells mean. These rows are
    the only ones a node ever reads into Python; they leave it only blinded.
    """
    check_query(dataset, query)
    needed = sorted(set(query.by) | (filters.columns(query.where) if query.where else set()))
    link = dataset.link_column
    ranked = _per_person(dataset, needed, (link,) if link not in needed else ())
    statement = select(ranked.c[link], *(ranked.c[name] for name in query.by)).where(ranked.c.row_rank == 1)
    if query.where is not None:
        statement = statement.where(_filter_expression(query.where, ranked.c))
    return statement


def peildatum_param(peildatum: dt.date) -> dict[str, dt.date]:
    return {"peildatum": peildatum}
