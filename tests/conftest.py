"""Shared fixtures: a running two-node region over real processes and sockets."""

from __future__ import annotations

import collections
import contextlib
import copy
import dataclasses
import datetime as dt
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from analyst.client import AnalystClient, Profile
from demo.region import PartnerSetup, RegionFiles, RunningRegion, build, demo_covenant
from node import config as node_config
from node.ledger import Period, period_of
from node.service import NodeService
from regiozicht import authority, pemfiles
from regiozicht.identity import Identity
from regiozicht.query import build_count
from regiozicht.signed import Signer
from regiozicht.v1 import regiozicht_pb2 as pb
from tests import tiny

pytest_plugins = ["tests.pg_fixture"]


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
        org = f"school-{index}"
        # purpose `test` covers every column; ε 10000 a year is enough for the whole suite
        covenant = demo_covenant(org, [tiny.DATASET], purpose="test", epsilon="10000")
        partners.append(PartnerSetup(f"school{index}", org, "school", f"sqlite:///{database}",
                                     tiny.DATA_AS_OF, [tiny.DATASET], covenant))
    return partners, truth, databases


@contextlib.contextmanager
def running_tiny(root: Path, change: Callable[[list[PartnerSetup]], list[PartnerSetup]] | None = None,
                 configure: Callable[[RegionFiles], None] | None = None) -> Iterator[TinyRegion]:
    """The two tiny school nodes and the coordinator as processes (`change` may edit the set-ups first,
    `configure` the written files before anything starts)."""
    partners, truth, databases = tiny_partners(root)
    files = build(root / "region", change(partners) if change is not None else partners)
    if configure is not None:
        configure(files)
    running = RunningRegion(files)
    running.start()
    try:
        running.wait_until_online({"school-1", "school-2"})
        yield TinyRegion(files, running, truth, databases)
    finally:
        running.stop()


@pytest.fixture(scope="session")
def region(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TinyRegion]:
    with running_tiny(tmp_path_factory.mktemp("region")) as running:
        yield running


# -- one in-process node with a covenant of the test's choosing -----------------------------------


@dataclass
class NodeSetup:
    files: RegionFiles
    config: Path
    analyst: Signer

    def service(self) -> NodeService:
        """A NodeService on this node's config and state (call again to 'restart')."""
        node = NodeService(node_config.load(self.config))
        node.trust.update_crl(self.files.crl.read_bytes())
        return node

    def issue(self, role: str, org: str) -> Signer:
        """Another identity of the regional CA (a second analyst, a service)."""
        directory = self.files.root / f"{role}-{org}"
        directory.mkdir()
        authority.make_request(directory / "key.pem", directory / "request.csr", Identity(role, org))
        passphrase = self.files.passphrase_file.read_bytes().strip()
        certificate = authority.sign_request(self.files.ca_dir, passphrase, (directory / "request.csr").read_bytes(),
                                       role=role, org=org)
        return Signer(pemfiles.load_private_key(directory / "key.pem"), pemfiles.load_certificate(certificate))


def node_setup(tmp_path: Path, change: Callable[[dict[str, Any]], object] | None = None,
               persons: int = 50) -> NodeSetup:
    """Builds one tiny node (school-1) whose covenant `change` may edit first."""
    partners, _, _ = tiny_partners(tmp_path, persons=persons)
    partner = partners[0]
    covenant = copy.deepcopy(partner.covenant) or {}
    if change is not None:
        change(covenant)
    files = build(tmp_path / "region", [dataclasses.replace(partner, covenant=covenant)])
    analyst_dir = files.root / "analyst"
    analyst = Signer(pemfiles.load_private_key(analyst_dir / "key.pem"),
                     pemfiles.load_certificate((analyst_dir / "cert.pem").read_bytes()))
    return NodeSetup(files, files.node_configs["school1"], analyst)


def current_period(node: NodeService) -> Period:
    """The budget period the node charges right now: taken from the same clock the node reads."""
    return period_of(node.covenant.budget.period, int(time.time()))


def sign_query(signer: Signer, *, by: tuple[str, ...] = ("sex",), where: str | None = None, epsilon: str = "1",
               purpose: str = "test", peildatum: dt.date = tiny.PEILDATUM, now: float | None = None,
               query_id: str | None = None, refresh: bool = False) -> pb.Signed:
    """A signed envelope of a count over the tiny dataset."""
    body = build_count("registratie", epsilon=epsilon, purpose=purpose, peildatum=peildatum, by=list(by),
                       where=where).canonical()
    issued = int(time.time() if now is None else now)
    envelope = pb.QueryEnvelope(body=body, query_id=query_id or uuid.uuid4().hex, issued_at_unix=issued,
                                expires_at_unix=issued + 300, refresh=refresh)
    return signer.sign(envelope.SerializeToString())


def forge_responses(client: AnalystClient, forge: Callable[[pb.SubmitResponse], None]) -> None:
    """Makes the client's coordinator lie: `forge` alters every Submit response before the CLI checks it."""
    real = client.stub

    class LyingStub:
        def Catalog(self, request: pb.CatalogRequest, timeout: float) -> pb.CatalogResponse:
            response: pb.CatalogResponse = real.Catalog(request, timeout=timeout)
            return response

        def Submit(self, request: pb.SubmitRequest, timeout: float) -> pb.SubmitResponse:
            response: pb.SubmitResponse = real.Submit(request, timeout=timeout)
            forge(response)
            return response

    client.stub = LyingStub()  # type: ignore[assignment]
