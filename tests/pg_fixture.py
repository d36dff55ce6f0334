"""Session-scoped throwaway PostgreSQL cluster for tests (`postgres` fixture)."""
from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator

import pytest

from demo.postgres import PostgresCluster, start_cluster

__all__ = ["PostgresCluster", "postgres"]


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    try:
        cluster = start_cluster()
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"could not start PostgreSQL ({exc.stderr!r}); install Debian's postgresql package")
    if cluster is None:
        pytest.skip("PostgreSQL binaries not found: install Debian's postgresql package (apt-get install postgresql)")
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(cluster.root, ignore_errors=True)
