"""One pushed-down statement per query, one row per person, cells from the config."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, event

from node.compile import cells, compile_count
from node.config import Dataset
from regiozicht.errors import BadQuery
from regiozicht.query import build_count
from regiozicht.v1 import regiozicht_pb2 as pb
from tests import tiny


@pytest.fixture()
def database(tmp_path: Path) -> tuple[str, dict[tuple[str, str], int]]:
    path = tmp_path / "partner.sqlite"
    truth = tiny.make(path, 400, seed=3)
    return f"sqlite:///{path}", dict(truth)


def _run(url: str, by: list[str], where: str | None = None) -> tuple[dict[tuple[str, ...], int], list[str], int]:
    dataset = Dataset.model_validate(tiny.DATASET)
    query = build_count("registratie", epsilon="1", purpose="test", peildatum=tiny.PEILDATUM, by=by, where=where)
    engine = create_engine(url)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    with engine.connect() as connection:
        rows = connection.execute(compile_count(dataset, query), {"peildatum": tiny.PEILDATUM}).all()
    return {tuple(r[:-1]): r[-1] for r in rows}, statements, len(rows)


def test_counts_equal_the_known_truth_with_one_row_per_person(database: tuple[str, dict[tuple[str, str], int]]) -> None:
    url, truth = database
    counts, statements, fetched = _run(url, ["gemeente", "sex"])
    assert counts == {cell: n for cell, n in truth.items() if n}
    assert len(statements) == 1, "one aggregate statement per query"
    dataset = Dataset.model_validate(tiny.DATASET)
    assert fetched <= len(cells(dataset, ("gemeente", "sex"))), "only per-cell counts come back, never rows"


def test_zero_cells_come_from_the_domain_not_from_group_by(database: tuple[str, dict[tuple[str, str], int]]) -> None:
    url, _truth = database
    counts, _, _ = _run(url, ["gemeente", "sex"])
    dataset = Dataset.model_validate(tiny.DATASET)
    all_cells = cells(dataset, ("gemeente", "sex"))
    assert ("GM0003", "V") in all_cells and ("GM0003", "V") not in counts
    assert len(all_cells) == 4 * 3


def test_filters_compile_to_bound_parameters(database: tuple[str, dict[tuple[str, str], int]]) -> None:
    url, truth = database
    counts, statements, _ = _run(url, ["gemeente"], where="sex = M or sex = onbekend")
    expected: dict[tuple[str, ...], int] = {}
    for (gemeente, sex), n in truth.items():
        if sex in ("M", "onbekend"):
            expected[(gemeente,)] = expected.get((gemeente,), 0) + n
    assert counts == expected
    assert "'M'" not in statements[0], "values travel as bound parameters"


@pytest.mark.parametrize("by,where,message", [
    (["age"], None, "no dimension 'age'"),
    ([], "age = 12", "cannot be filtered on 'age'"),
    ([], "gemeente = GM0546", "not in the domain"),
])
def test_undeclared_dimensions_and_values_are_refused(database: tuple[str, dict[tuple[str, str], int]],
                                                       by: list[str], where: str | None, message: str) -> None:
    with pytest.raises(BadQuery, match=message):
        _run(database[0], by, where)


def test_the_node_and_the_analysts_cli_order_cells_alike() -> None:
    """Linked cells come back as a bare list: if the node (`node.compile.cells`) and the CLI
    (`analyst.linked.anchor_cells`, from the signed Describe) ordered them differently,
    every cell would be mislabelled without an error."""
    from analyst.client import NodeInfo
    from analyst.linked import anchor_cells
    from node import describe as describe_builder
    from node.compile import cells
    from node.config import Dataset
    from regiozicht.linkquery import LinkSide, build_linked

    dataset = Dataset.model_validate({**tiny.DATASET, "dimensions": {
        "gemeente": {"domain": ["GM2", "GM1", "GM3"]}, "sex": {"domain": ["v", "m"]}}})
    described = describe_builder.dataset_message(dataset)
    node = NodeInfo("rmc-1", "rmc", True, pb.Describe(org="rmc-1", kind="rmc", datasets=[described],
                                                      data_as_of="2026-11-01T00:00:00"))
    for by in [("gemeente",), ("sex", "gemeente"), ("gemeente", "sex"), ()]:
        query = build_linked(LinkSide.of("rmc-1", "rmc", dataset.name, tiny.PEILDATUM),
                             [LinkSide.of("wi-1", "wi", "bijstand", tiny.PEILDATUM)], epsilon="1", delta="1e-9",
                             purpose="test", counter="regio-teller", cells=len(cells(dataset, by)), by=by)
        assert anchor_cells([node], query) == cells(dataset, by)
