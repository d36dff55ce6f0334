"""The checked-in wire code is exactly what the pinned generator makes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.processes  # starts real processes: left out of `make test-fast`

ROOT = Path(__file__).resolve().parent.parent
GENERATED = ("regiozicht_pb2.py", "regiozicht_pb2.pyi", "regiozicht_pb2_grpc.py")


def test_generated_code_matches_the_protos(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "protos", tmp_path / "protos")
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", "-Iprotos", "--python_out=.", "--pyi_out=.",
         "--grpc_python_out=.", "protos/regiozicht/v1/regiozicht.proto"],
        cwd=tmp_path, check=True,
    )
    for name in GENERATED:
        fresh = (tmp_path / "regiozicht" / "v1" / name).read_text()
        checked_in = (ROOT / "regiozicht" / "v1" / name).read_text()
        assert fresh == checked_in, f"regiozicht/v1/{name} is stale: run scripts/gen-protos.sh and commit"
