"""The coordinator's side of governance: signed audit heads and `audit compare`,
early refusals from the nodes' Describes, suppressed sums, the catalog."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from regiozicht.audit_chain import entry_hash
from regiozicht.combine import sum_cells
from regiozicht.errors import PermissionDenied
from regiozicht.query import build_count
from regiozicht.v1 import regiozicht_pb2 as pb
from tests import tiny
from tests.conftest import TinyRegion

pytestmark = pytest.mark.processes  # starts real processes: left out of `make test-fast`

BIN = Path(sys.executable).parent


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120, check=False)


def _export(region: TinyRegion, node_id: str, out: Path) -> list[dict[str, object]]:
    done = _run(BIN / "regiozicht-node", "audit", "export", "--config", region.files.node_configs[node_id],
                "--format", "jsonl", "--out", out)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in out.read_text().splitlines()]


def _compare(region: TinyRegion, export: Path) -> subprocess.CompletedProcess[str]:
    return _run(BIN / "regiozicht", "audit", "compare", "school-1", export, "--config",
                region.files.coordinator_config)


def _write(path: Path, entries: list[dict[str, object]]) -> None:
    path.write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in entries))


def test_audit_compare_accepts_the_intact_trail_and_catches_truncation(region: TinyRegion, tmp_path: Path) -> None:
    client = region.client()
    for epsilon in ("0.21", "0.22", "0.23"):
        client.count(build_count("registratie", epsilon=epsilon, purpose="test", peildatum=tiny.PEILDATUM))
    time.sleep(0.5)  # let the coordinator's store settle
    entries = _export(region, "school1", tmp_path / "trail.jsonl")
    ok = _compare(region, tmp_path / "trail.jsonl")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "intact" in ok.stdout
    # truncated: the remaining chain is internally consistent, only the signed heads reveal it
    _write(tmp_path / "truncated.jsonl", entries[:-2])
    truncated = _compare(region, tmp_path / "truncated.jsonl")
    assert truncated.returncode == 8
    assert "truncated" in truncated.stdout


def test_audit_compare_catches_a_consistently_rewritten_trail(region: TinyRegion, tmp_path: Path) -> None:
    client = region.client()
    client.count(build_count("registratie", epsilon="0.24", purpose="test", peildatum=tiny.PEILDATUM))
    time.sleep(0.5)
    entries = _export(region, "school1", tmp_path / "trail.jsonl")
    # rewrite an early entry and re-hash everything after it, as a forger would
    victim = next(i for i, e in enumerate(entries) if e.get("decision") == "granted")
    entries[victim]["purpose"] = "something-else"
    for index in range(victim, len(entries)):
        if index > victim:
            entries[index]["prev_hash"] = entries[index - 1]["hash"]
        entries[index]["hash"] = entry_hash(entries[index])
    _write(tmp_path / "rewritten.jsonl", entries)
    rewritten = _compare(region, tmp_path / "rewritten.jsonl")
    assert rewritten.returncode == 8
    assert "rewritten" in rewritten.stdout


def test_a_purpose_outside_every_covenant_is_refused_early(region: TinyRegion) -> None:
    client = region.client()
    query = build_count("registratie", epsilon="1", purpose="marketing", peildatum=tiny.PEILDATUM)
    with pytest.raises(PermissionDenied, match="no purpose 'marketing'"):
        client.count(query)


def test_the_catalog_shows_purposes_and_budget(region: TinyRegion) -> None:
    done = _run(BIN / "regiozicht", "catalog", "--format", "json", "--profile", region.files.profile)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)["rows"]
    assert {r["node"] for r in rows} == {"school-1", "school-2"}
    purposes = rows[0]["purposes"]
    assert purposes and purposes[0]["id"] == "test" and purposes[0]["legal_basis"]
    assert rows[0]["epsilon_remaining"] and rows[0]["period"]


def test_a_suppressed_part_suppresses_the_sum() -> None:
    def answer(org: str, suppressed: bool) -> pb.Answer:
        return pb.Answer(org=org, noise_scale=1.0, cells=[
            pb.Cell(group=["M"], value=12, ci_low=9, ci_high=15),
            pb.Cell(group=["V"], value=0 if suppressed else 3, suppressed=suppressed)])

    cells = sum_cells([answer("a", False), answer("b", True)])
    assert cells[0].value == 24 and not cells[0].suppressed
    assert cells[1].suppressed and cells[1].value == 0
