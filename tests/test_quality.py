"""`regiozicht-node quality` counts, on the node, the rows a partner should correct: invalid BSNs
(elfproef), duplicated rows, missing values, values outside a domain and persons outside the
node's coverage. The synthetic region's projection log says how many it put in; the report
must find them. Nothing is sent: the command needs no coordinator."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from synth.generate import generate

pytestmark = pytest.mark.processes  # starts real processes: left out of `make test-fast`

BIN = Path(sys.executable).parent


def test_quality_finds_the_imperfections_synth_put_in(tmp_path: Path) -> None:
    generate(tmp_path / "region", scale=0.01, seed=3, progress=False)
    database = tmp_path / "region" / "rmc.sqlite"
    with sqlite3.connect(database) as db:
        # a code the config does not know: a partner that still records an old municipality
        db.execute("UPDATE rmc_registratie SET gemeente = 'GM0002' WHERE gemeente = 'GM9002'")
    made = subprocess.run([BIN / "regiozicht-node", "init", "--kind", "rmc", "--org", "rmc-q", "--coordinator",
                           "localhost:1", "--database", f"sqlite:///{database}", "--dir", tmp_path / "node",
                           "--data-as-of", "2026-11-01"], capture_output=True, text=True, check=False)
    assert made.returncode == 0, made.stderr
    done = subprocess.run([BIN / "regiozicht-node", "quality", "-c", tmp_path / "node" / "node.toml",
                           "--at", "2026-10-01", "--format", "json"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    rows = {r["dataset"]: r for r in json.loads(done.stdout)["rows"]}
    stock = rows["rmc_stock"]
    assert stock["rows"] > stock["persons"] > 0
    assert stock["invalid_bsn"] > 0 and stock["duplicates"] > 0, stock
    assert "outside its domain: 'GM0002'" in stock["outside_domain"]
    table = subprocess.run([BIN / "regiozicht-node", "quality", "-c", tmp_path / "node" / "node.toml"],
                           capture_output=True, text=True, check=False)
    assert table.returncode == 0 and "never sent" in table.stdout
