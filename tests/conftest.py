"""Shared fixtures: a running two-node region over real processes and sockets."""

from __future__ import annotations

import collections
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from coordinator.client import AnalystClient, Profile
from demo.region import PartnerSetup, RegionFiles, RunningRegion, build
from tests import tiny

pytest_plugins: list[str] = []  # tests.pg_fixture joins when it exists


@dataclass
class TinyRegion:
    files: RegionFiles
    running: RunningRegion
    truth: collections.Counter[tuple[str, str]]  # summed over both nodes
    databases: dict[str, Path]

    def client(self) -> AnalystClient:
        return AnalystClient(Profile.load(self.files.profile))

    def state_db(self, node_id: str) -> Path:
        return self.files.node_configs[node_id].parent / "state.sqlite"


def tiny_partners(root: Path, persons: int = 300) -> tuple[list[PartnerSetup], collections.Counter[tuple[str, str]], dict[str, Path]]:
    truth: collections.Counter[tuple[str, str]] = collections.Counter()
    partners, databases = [], {}
    for index in (1, 2):
        database = root / f"school{index}.sqlite"
        truth += tiny.make(database, persons, seed=index)
        databases[f"school{index}"] = database
        partners.append(PartnerSetup(f"school{index}", f"school-{index}", "school", f"sqlite:///{database}",
                                     tiny.DATA_AS_OF, [tiny.DATASET]))
    return partners, truth, databases


@pytest.fixture(scope="session")
def region(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TinyRegion]:
    root = tmp_path_factory.mktemp("region")
    partners, truth, databases = tiny_partners(root)
    files = build(root / "region", partners)
    running = RunningRegion(files)
    running.start()
    try:
        running.wait_until_online({"school-1", "school-2"})
        yield TinyRegion(files, running, truth, databases)
    finally:
        running.stop()
