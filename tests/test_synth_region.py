"""The node's compiled statements agree with the synthetic truth, and DP
intervals cover the recorded truth at the stated rate, over real processes."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from analyst.client import AnalystClient, Profile
from demo import synthregion
from demo.region import RunningRegion, build, demo_covenant
from node.compile import cells, compile_count
from node.config import Dataset
from regiozicht.query import CountQuery, build_count
from synth.generate import generate
from synth.manifest import Manifest
from synth.truth import Truth

pytestmark = pytest.mark.processes  # starts real processes: left out of `make test-fast`

# five consecutive reference dates: the histories behind a monitor's trends (issue 16)
PEILDATA = tuple(dt.date(year, 10, 1) for year in range(2026, 2021, -1))


@pytest.fixture(scope="module")
def small_region(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Manifest, Truth]:
    data = tmp_path_factory.mktemp("synth") / "data"
    manifest = generate(data, scale=0.03, seed=11, gemeenten=4)
    return data, manifest, Truth.load(data)


def test_every_dataset_compiles_to_the_truths_counts(small_region: tuple[Path, Manifest, Truth]) -> None:
    """The node's real statement (one row per person, onbekend cells, filters)
    against the truth computed from the simulation — two independent paths."""
    data, manifest, truth = small_region
    for partner in synthregion.partners(data, manifest):
        engine = create_engine(partner.database_url)
        for raw in partner.datasets:
            dataset = Dataset.model_validate(raw)
            dims = sorted(dataset.dimensions)
            groupings = [()] + [(d,) for d in dims] + ([tuple(dims[:2])] if len(dims) > 1 else [])
            for peildatum in PEILDATA:
                for by in groupings:
                    query = CountQuery(dataset.name, "1", "check", peildatum, by)
                    with engine.connect() as connection:
                        rows = connection.execute(compile_count(dataset, query), {"peildatum": peildatum}).all()
                    got = {tuple(r[:-1]): r[-1] for r in rows}
                    expected = truth.count(partner.node_id, dataset.name, peildatum, by=by)
                    assert {c: got.get(c, 0) for c in cells(dataset, by)} == {
                        tuple(c): n for c, n in expected.items()}, (partner.node_id, dataset.name, peildatum, by)
        engine.dispose()


def test_five_years_of_figures_are_of_one_region(small_region: tuple[Path, Manifest, Truth]) -> None:
    """Each yearly figure a monitor shows is of the same order as the newest: the simulated history
    is full for every one of the five reference dates, not thinning out towards the start."""
    data, manifest, truth = small_region
    checked = 0
    for partner in synthregion.partners(data, manifest):
        for raw in partner.datasets:
            name = raw["name"]
            newest = sum(truth.count(partner.node_id, name, PEILDATA[0], by=()).values())
            if newest < 100:
                continue
            for peildatum in PEILDATA[1:]:
                total = sum(truth.count(partner.node_id, name, peildatum, by=()).values())
                assert 0.5 * newest <= total <= 2 * newest, (partner.node_id, name, peildatum, total, newest)
            checked += 1
    assert checked >= 5


@pytest.fixture(scope="module")
def running(small_region: tuple[Path, Manifest, Truth], tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnalystClient]:
    data, manifest, _ = small_region
    partners = synthregion.partners(data, manifest, only={"wi-regio", next(p.id for p in manifest.partners
                                                                           if p.id.startswith("wi-gm"))})
    # 400 fresh releases at ε 0.5 need more than the demo's yearly budget
    partners = [dataclasses.replace(p, covenant=demo_covenant(p.org, p.datasets, epsilon="1000")) for p in partners]
    files = build(tmp_path_factory.mktemp("region"), partners)
    region = RunningRegion(files)
    region.start()
    try:
        region.wait_until_online({p.org for p in partners})
        client = AnalystClient(Profile.load(files.profile))
        yield client
        client.close()
    finally:
        region.stop()


def test_intervals_cover_the_recorded_truth(small_region: tuple[Path, Manifest, Truth], running: AnalystClient) -> None:
    """400 fresh releases (each recomputed and charged, never the stored one) of
    bijstand, summed over both W&I nodes: at least 366 of the 95% intervals must
    cover the recorded truth. With coverage exactly 95% fewer than 366 happen
    with probability below 0.2%; the exact-convolution interval covers at least
    95%, so the false-failure rate is lower still."""
    _data, manifest, truth = small_region
    ids = {p.org: p.id for p in manifest.partners}
    query = build_count("bijstand", epsilon="0.5", purpose="rmc-monitor", peildatum=PEILDATA[0])
    covered = 0
    for _ in range(400):
        result = running.count(query, refresh=True)
        assert not result.failures and not any(n.from_store for n in result.nodes)
        true = sum(truth.count(ids[n.org], "bijstand", PEILDATA[0],
                               where=synthregion.within(manifest, manifest.partner(ids[n.org])))[()]
                   for n in result.nodes)
        (cell,) = result.cells
        covered += cell.ci_low <= true <= cell.ci_high
    assert covered >= 366, covered
