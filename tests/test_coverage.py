"""Coverage: a node declares the values of a dimension its records cover (a population register:
its gemeente). Its counts keep only rows inside, it answers only those cells, and a cell is summed
over exactly the nodes covering it — over real processes and sockets."""

from __future__ import annotations

import collections
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine
from typer.testing import CliRunner

from analyst.client import AnalystClient, Profile
from demo.region import PartnerSetup, RunningRegion, build, demo_covenant
from node import config as node_config
from node.cli import app as node_app
from node.compile import compile_outside_coverage
from regiozicht import dp
from regiozicht.combine import sum_cells
from regiozicht.errors import ConfigError, RegiozichtError
from regiozicht.query import build_count
from regiozicht.v1 import regiozicht_pb2 as pb
from tests import tiny

pytestmark = pytest.mark.processes  # starts real processes: left out of `make test-fast`

COVERS = {"school1": ["GM0001"], "school2": ["GM0002", "GM0003"]}
EPSILON = "10"  # noise of scale 0.1: the released value equals the exact count with probability > 0.9999


def _cells(truth: collections.Counter[tuple[str, str]]) -> dict[str, int]:
    per_gemeente: dict[str, int] = collections.Counter()
    for (gemeente, _sex), n in truth.items():
        per_gemeente[gemeente] += n
    return dict(per_gemeente)


@pytest.fixture(scope="module")
def covered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AnalystClient, dict[str, dict[str, int]],
                                                                         Any]]:
    root = tmp_path_factory.mktemp("coverage")
    partners, truths = [], {}
    for index in (1, 2):
        node_id, org = f"school{index}", f"school-{index}"
        database = root / f"{node_id}.sqlite"
        truths[node_id] = _cells(tiny.make(database, 300, seed=index))
        covenant = demo_covenant(org, [tiny.DATASET], purpose="test", epsilon="10000")
        partners.append(PartnerSetup(node_id, org, "school", f"sqlite:///{database}", tiny.DATA_AS_OF,
                                     [tiny.DATASET], covenant, coverage={"gemeente": COVERS[node_id]}))
    files = build(root / "region", partners)
    running = RunningRegion(files)
    running.start()
    try:
        running.wait_until_online({"school-1", "school-2"})
        client = AnalystClient(Profile.load(files.profile))
        yield client, truths, files
        client.close()
    finally:
        running.stop()


def test_a_cell_is_summed_over_the_nodes_covering_it(covered: Any) -> None:
    client, truths, _ = covered
    query = build_count("registratie", epsilon=EPSILON, purpose="test", peildatum=tiny.PEILDATUM, by=["gemeente"])
    result = client.count(query)
    assert not result.failures
    # no node covers `onbekend`: the cell is absent, never a sum of nothing
    assert [c.group for c in result.cells] == [("GM0001",), ("GM0002",), ("GM0003",)]
    one_node = dp.half_width(dp.count_scale(10.0))
    for cell in result.cells:
        (gemeente,) = cell.group
        owner = next(node for node, values in COVERS.items() if gemeente in values)
        assert cell.value == truths[owner].get(gemeente, 0)  # only the covering node's records
        assert cell.ci_high - cell.value == one_node  # the interval of exactly one node's noise


def test_rows_outside_a_nodes_coverage_are_never_released(covered: Any) -> None:
    client, truths, _ = covered
    query = build_count("registratie", epsilon=EPSILON, purpose="test", peildatum=tiny.PEILDATUM)
    (cell,) = client.count(query).cells
    inside = sum(truths[node].get(g, 0) for node, values in COVERS.items() for g in values)
    everything = sum(sum(t.values()) for t in truths.values())
    assert everything - inside > 30  # each node holds persons of other gemeenten and `onbekend`
    assert cell.value == inside


def test_describe_states_the_coverage(covered: Any) -> None:
    client, _, _ = covered
    nodes = {n.org: n for n in client.catalog()}
    assert nodes["school-1"].coverage("registratie") == {"gemeente": ["GM0001"]}
    assert nodes["school-2"].count_cells("registratie", ("sex",)) == [("M",), ("V",), ("onbekend",)]
    assert nodes["school-2"].count_cells("registratie", ("gemeente",)) == [("GM0002",), ("GM0003",)]


def test_the_node_check_reports_persons_outside_coverage(covered: Any) -> None:
    _, truths, files = covered
    config = node_config.load(files.node_configs["school1"])
    (dataset,) = config.datasets
    assert config.database.url is not None
    engine = create_engine(config.database.url)
    with engine.connect() as connection:
        outside = connection.execute(compile_outside_coverage(dataset), {"peildatum": tiny.PEILDATUM}).scalar()
    engine.dispose()
    assert outside == sum(n for g, n in truths["school1"].items() if g != "GM0001")
    result = CliRunner().invoke(node_app, ["check", "--config", str(files.node_configs["school1"])])
    assert result.exit_code == 0, result.output
    assert "lie outside it" in result.output


def test_coverage_outside_the_domain_is_refused(tmp_path: Path) -> None:
    partners = [PartnerSetup("school1", "school-1", "school", "sqlite:///x.sqlite", tiny.DATA_AS_OF, [tiny.DATASET],
                             coverage={"gemeente": ["GM0009"]})]
    files = build(tmp_path / "region", partners)
    with pytest.raises(ConfigError, match="coverage"):
        node_config.load(files.node_configs["school1"])


def test_coverage_is_part_of_what_a_release_means() -> None:
    plain = node_config.Dataset.model_validate(tiny.DATASET)
    narrowed = node_config.Dataset.model_validate({**tiny.DATASET, "coverage": {"gemeente": ["GM0001"]}})
    # another coverage is another release; no coverage keeps the hash (and stored releases) it had before
    assert plain.definition_hash != narrowed.definition_hash
    before = plain.model_dump(mode="json")
    del before["coverage"]
    assert plain.definition_hash == hashlib.sha256(
        json.dumps(before, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def test_sums_name_each_node_once_per_cell() -> None:
    def answer(org: str, cells: list[tuple[str, int]], scale: float = 1.0) -> pb.Answer:
        return pb.Answer(org=org, noise_scale=scale, cells=[pb.Cell(group=[g], value=v) for g, v in cells])

    order = [("A",), ("B",), ("onbekend",)]
    summed = sum_cells([answer("x", [("B", 5)]), answer("y", [("A", 3), ("B", 4)])], order)
    assert [(tuple(c.group), c.value) for c in summed] == [(("A",), 3), (("B",), 9)]
    assert summed[0].ci_high - 3 == dp.half_width(1.0)
    assert summed[1].ci_high - 9 == dp.sum_half_width([1.0, 1.0])
    with pytest.raises(RegiozichtError, match="answered cell .* twice"):
        sum_cells([answer("x", [("A", 1), ("A", 2)])])
