"""A dataset published by several nodes: summed, and a missing node is named."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from regiozicht.query import build_count
from tests import tiny
from tests.conftest import TinyRegion


def test_an_offline_node_is_named_never_silently_left_out(region: TinyRegion) -> None:
    client = region.client()
    region.running.stop_process("node-school2")
    deadline = time.monotonic() + 30
    while any(n.online for n in client.catalog() if n.org == "school-2"):
        assert time.monotonic() < deadline, "the coordinator did not notice the node leaving"
        time.sleep(0.2)
    try:
        result = client.count(build_count("registratie", epsilon="0.61", purpose="test", peildatum=tiny.PEILDATUM))
        assert [n.org for n in result.failures] == ["school-2"]
        assert "offline" in result.failures[0].error
        assert [n.org for n in result.nodes if not n.error] == ["school-1"]
        cli = subprocess.run(
            [str(Path(sys.executable).parent / "regiozicht"), "query", "count", "registratie", "--epsilon", "0.62",
             "--purpose", "test", "--profile", str(region.files.profile)],
            capture_output=True, text=True, timeout=60, check=False)
        assert cli.returncode == 6, cli.stderr
        assert "missing: school-2" in cli.stderr
    finally:
        region.running.start_node("school2")
        region.running.wait_until_online({"school-1", "school-2"})


def test_refresh_recomputes_and_is_charged(region: TinyRegion) -> None:
    client = region.client()
    query = build_count("registratie", epsilon="0.63", purpose="test", peildatum=tiny.PEILDATUM, by=["sex"])
    client.count(query)
    again = client.count(query)
    assert all(n.from_store for n in again.nodes)
    refreshed = client.count(query, refresh=True)
    assert not any(n.from_store for n in refreshed.nodes) and all(n.epsilon == "0.63" for n in refreshed.nodes)
