"""Compiles a count query into ONE parameterised aggregate statement.

The dataset's SQL template (binding :peildatum) is wrapped so that the
partner's engine does all the work: keep one row per person (latest first,
deterministic tie-break), map each dimension to its public domain or
`onbekend`, filter, group and count. Only per-cell counts come back; no
record ever enters Python. Cells come from the config's domains, never from
the GROUP BY output.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Date, String, and_, bindparam, case, cast, column, func, literal, not_, or_, select, text, union
from sqlalchemy.sql.elements import ColumnClause, ColumnElement
from sqlalchemy.sql.selectable import CTE, Select

from node.config import Dataset
from regiozicht import filters, linksets
from regiozicht.cells import ONBEKEND, cell_list, covered_cell_list
from regiozicht.query import CountQuery, check_against_domains


def check_query(dataset: Dataset, query: CountQuery) -> None:
    """Refuses dimensions and filter values the dataset does not declare."""
    check_against_domains(dataset.name, {name: dim.domain for name, dim in dataset.dimensions.items()}, query)


def cells(dataset: Dataset, by: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Every cell of the public domain (with `onbekend`), in the order the analyst's CLI uses too."""
    return cell_list({name: dataset.dimensions[name].domain for name in by}, by)


def count_cells(dataset: Dataset, by: tuple[str, ...]) -> list[tuple[str, ...]]:
    """The cells a count answers: those of `cells` inside the dataset's coverage."""
    return covered_cell_list({name: dataset.dimensions[name].domain for name in by}, by, dataset.coverage)


def _cell_expression(dataset: Dataset, name: str) -> ColumnElement[Any]:
    domain = dataset.dimensions[name].domain
    raw: ColumnClause[Any] = column(name)
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
        # columns of a derived table are untyped: their operators return Any
        return cols[arg[0]].in_(arg[1])  # type: ignore[no-any-return]
    name, op, value = arg
    left = cols[name]
    return {  # type: ignore[no-any-return]  # columns of a derived table are untyped: their operators return Any
        "=": left == value, "!=": left != value, "<": left < value,
        "<=": left <= value, ">": left > value, ">=": left >= value,
    }[op]


def _per_person(dataset: Dataset, needed: list[str], extra: tuple[str, ...] = (),
                link_key: str | None = None) -> Any:
    """The kept row per person (latest first, deterministic tie-break), dimensions mapped to cells.

    With `link_key` (a combined linked set, named by its dataset), the kept row is one per link
    value instead, selected as `link_key`: the link value is what combines datasets, so records
    sharing it are one person there.
    """
    # all dimensions take part in the tie-break, so the kept row never depends
    # on which dimensions a query happens to ask for
    wanted = (dataset.link_column,) if link_key is not None else ()
    source_columns = {dataset.person_column, *dataset.order_by, *dataset.dimensions, *extra, *wanted}
    source = (
        text(dataset.sql)
        .bindparams(bindparam("peildatum", type_=Date))
        .columns(*(column(name) for name in sorted(source_columns)))
        .subquery("source")
    )
    person = source.c[dataset.person_column]
    partition: Any = person
    keys: list[Any] = []
    if link_key is not None:
        partition = _link_key(source.c[dataset.link_column], person, link_key)
        keys = [partition.label("link_key")]
    ordering = [source.c[name].desc().nulls_last() for name in dataset.order_by]
    ordering += [source.c[name].asc().nulls_last() for name in sorted(dataset.dimensions)]
    return (
        select(
            *keys,
            *(_cell_expression(dataset, name) for name in needed),
            *(source.c[name] for name in extra),
            func.row_number().over(partition_by=partition, order_by=ordering).label("row_rank"),
        )
        .select_from(source)
        .where(person.is_not(None))
        .subquery("per_person")
    )


def _link_key(link: Any, person: Any, dataset_name: str) -> Any:
    """The link value as text; a missing one replaced by a value of this dataset and person
    alone, which links with nothing."""
    return func.coalesce(func.trim(cast(link, String)),
                         literal(f"nolink:{dataset_name}:", String) + cast(person, String))


def compile_count(dataset: Dataset, query: CountQuery) -> Select[Any]:
    """The one statement that answers `query`; binds only :peildatum and literals."""
    check_query(dataset, query)
    needed = sorted(set(query.by) | set(dataset.coverage) | (filters.columns(query.where) if query.where else set()))
    ranked = _per_person(dataset, needed)
    group = [ranked.c[name] for name in query.by]
    statement = select(*group, func.count().label("n")).where(ranked.c.row_rank == 1)
    for name, values in sorted(dataset.coverage.items()):
        # a person whose kept row lies outside the node's coverage is another node's to count
        statement = statement.where(ranked.c[name].in_(values))
    if query.where is not None:
        statement = statement.where(_filter_expression(query.where, ranked.c))
    return statement.group_by(*group) if group else statement


def compile_outside_coverage(dataset: Dataset) -> Select[Any]:
    """Persons whose kept row lies outside the dataset's coverage: a local data-quality figure, never released."""
    ranked = _per_person(dataset, sorted(dataset.coverage))
    outside = or_(*(ranked.c[name].not_in(values) for name, values in sorted(dataset.coverage.items())))
    return select(func.count().label("n")).where(ranked.c.row_rank == 1).where(outside)


def compile_members(datasets: Mapping[str, Dataset], expression: linksets.Tree, query: CountQuery,
                    anchor: bool) -> Select[Any]:
    """The one statement of a linked run: the link value of every person in this side's set.

    At the anchor (`anchor`), also each person's cell, and only persons whose
    kept row passes the filter. A set of one dataset is its kept rows (the
    same one-row-per-person and cell mapping as `compile_count`, so a linked
    count's cells mean what a plain count's cells mean). A combination is
    evaluated on the link value: each dataset's kept rows — one per link
    value, since that is what combines them — form a CTE; the candidates are
    every link value of any of them (an accepted set holds only for persons
    in at least one); `and`/`or`/`not` become membership tests, and each
    link value is one element. Cells and the filter come from the first non-negated dataset (the
    query's `dataset`); a person without a kept row there is in the
    `onbekend` cell of each dimension. These rows are the only ones a node
    ever reads into Python; they leave it only blinded.
    """
    primary = datasets[query.dataset]
    check_query(primary, query)
    needed = sorted(set(query.by) | (filters.columns(query.where) if query.where else set())) if anchor else []
    if linksets.single(expression) is not None:
        kept = _kept_links(primary, needed, query.dataset).subquery("kept")
        statement = select(kept.c.link_key, *(kept.c[name] for name in query.by))
        if query.where is not None:
            statement = statement.where(_filter_expression(query.where, kept.c))
        return statement
    names = linksets.datasets(expression)
    sets = {name: _kept_links(datasets[name], needed if name == query.dataset else [], name, per_link=True)
            .cte(f"set_{i}") for i, name in enumerate(names)}
    every = [select(sets[name].c.link_key) for name in names]
    candidates = (union(*every) if len(every) > 1 else every[0].distinct()).cte("candidates")
    key = candidates.c.link_key
    condition = _set_expression(expression, key, sets)
    if not anchor:
        return select(key).where(condition)
    cells = sets[query.dataset]
    cols = {name: func.coalesce(cells.c[name], literal(ONBEKEND)) for name in needed}
    statement = (select(key, *(cols[name].label(name) for name in query.by))
                 .select_from(candidates.outerjoin(cells, cells.c.link_key == key)).where(condition))
    if query.where is not None:
        statement = statement.where(_filter_expression(query.where, cols))
    return statement


def _kept_links(dataset: Dataset, needed: list[str], name: str, *, per_link: bool = False) -> Select[Any]:
    """The kept rows — per person, or per link value (`per_link`) — as `link_key` (the link value
    as text, see `_link_key`) and the mapped dimensions."""
    if per_link:
        ranked = _per_person(dataset, needed, link_key=name)
        key = ranked.c.link_key
    else:
        link, person = dataset.link_column, dataset.person_column
        ranked = _per_person(dataset, needed, tuple(dict.fromkeys(c for c in (link, person) if c not in needed)))
        key = _link_key(ranked.c[link], ranked.c[person], name).label("link_key")
    return select(key, *(ranked.c[n] for n in needed)).where(ranked.c.row_rank == 1)


def _set_expression(tree: linksets.Tree, key: Any, sets: Mapping[str, CTE]) -> ColumnElement[bool]:
    (op, arg), = tree.items()
    if op == "dataset":
        return key.in_(select(sets[arg].c.link_key))  # type: ignore[no-any-return]  # `key` is an untyped column
    if op == "not":
        return not_(_set_expression(arg, key, sets))
    parts = [_set_expression(part, key, sets) for part in arg]
    return and_(*parts) if op == "and" else or_(*parts)
