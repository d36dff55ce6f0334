"""A dataset name is bound to the partner kinds or orgs allowed to publish it: a node with a valid
certificate that publishes another partner's dataset name is left out of the catalog and never
asked (the coordinator's config), and the analyst's CLI never sums its answer (the analyst's own
profile, checked against the kind and org in the node's certificate), so a coordinator that
passes such an answer on cannot get it counted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from analyst.client import AnalystClient, Profile
from demo.region import RegionFiles
from regiozicht.bindings import STANDARD_PUBLISHERS, DatasetBindings
from regiozicht.errors import ConfigError
from regiozicht.query import build_count
from synth.datasets import DEFINITIONS
from tests import tiny
from tests.conftest import TinyRegion, running_tiny

pytestmark = pytest.mark.processes  # starts real processes: left out of `make test-fast`


def _count(client: AnalystClient) -> object:
    query = build_count("registratie", epsilon="1", purpose="test", peildatum=tiny.PEILDATUM, by=["sex"])
    return client.count(query)


def test_the_standard_table_binds_each_kinds_standard_datasets_to_that_kind() -> None:
    expected = {d.name: (kind,) for kind, defs in DEFINITIONS.items() for d in defs}
    assert STANDARD_PUBLISHERS == expected
    bindings = DatasetBindings()
    assert bindings.allows("vsv", "rmc-hm", "rmc") and not bindings.allows("vsv", "wi-rogue", "wi")
    assert bindings.allows("registratie", "anyone", "school")  # a name listed nowhere is open
    assert DatasetBindings.with_overrides({"vsv": ["rmc", "wi-extra"]}, "x").allows("vsv", "wi-extra", "wi")
    with pytest.raises(ConfigError, match="lists no kind or org"):
        DatasetBindings.with_overrides({"vsv": []}, "coordinator.toml")


@pytest.fixture(scope="module")
def bound_region(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TinyRegion]:
    """Two school nodes publishing `registratie`; coordinator.toml binds it to school-1 only."""
    def bind(files: RegionFiles) -> None:
        with files.coordinator_config.open("a") as config:
            config.write('\n[datasets]\nregistratie = ["school-1"]\n')

    with running_tiny(tmp_path_factory.mktemp("bound"), configure=bind) as running:
        yield running


def test_the_coordinator_leaves_an_unbound_publisher_out_of_catalog_and_queries(bound_region: TinyRegion) -> None:
    client = bound_region.client()
    try:
        nodes = {n.org: n for n in client.catalog()}
        assert nodes["school-1"].dataset("registratie") is not None
        assert nodes["school-2"].dataset("registratie") is None
        assert [name for name, _ in nodes["school-2"].left_out] == ["registratie"]
        result = _count(client)
    finally:
        client.close()
    assert [n.org for n in result.nodes] == ["school-1"] and not result.failures  # type: ignore[attr-defined]
    log = (bound_region.files.root / "logs" / "coordinator.log").read_text()
    assert "school-2 (school): left out of the catalog and never queried for it: dataset registratie is bound " \
           "to school-1" in log


def test_the_cli_never_sums_an_answer_its_profile_does_not_bind(region: TinyRegion) -> None:
    """The coordinator (default config) asks both schools; the analyst's profile binds the name to one."""
    profile = Profile.load(region.files.profile).model_copy(update={"datasets": {"registratie": ["school-1"]}})
    client = AnalystClient(profile)
    try:
        nodes = {n.org: n for n in client.catalog()}
        assert nodes["school-2"].dataset("registratie") is None
        # the coordinator still sends both answers: the CLI names the one it leaves out and sums the other
        result = client.count(build_count("registratie", epsilon="1", purpose="test", peildatum=tiny.PEILDATUM,
                                          by=["sex"]), publishers=[nodes["school-1"]])
    finally:
        client.close()
    failures = {n.org: n for n in result.failures}
    assert set(failures) == {"school-2"} and failures["school-2"].error_kind == "PermissionDenied"
    assert "Not summed: dataset registratie is bound to school-1" in failures["school-2"].error
    answered = [n for n in result.nodes if not n.error]
    assert [n.org for n in answered] == ["school-1"]
    assert len(result.noise_scales) == 1


def test_the_catalog_shows_who_publishes_what(bound_region: TinyRegion, tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    done = subprocess.run([str(Path(sys.executable).parent / "regiozicht"), "catalog", "--format", "json",
                           "--profile", str(bound_region.files.profile)], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    rows = {(r["dataset"], r["node"]): r for r in json.loads(done.stdout)["rows"]}
    assert rows[("registratie", "school-1")]["summed"] == "yes"
    assert rows[("registratie", "school-2")]["summed"].startswith("no: the coordinator's config does not bind")
