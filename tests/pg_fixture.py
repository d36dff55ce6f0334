"""Session-scoped throwaway PostgreSQL cluster for tests (`postgres` fixture): skipped without PostgreSQL,
except under CI (CI set), where a missing PostgreSQL fails the tests."""
from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from typing import NoReturn

import pytest

from demo.postgres import PostgresCluster, start_cluster

__all__ = ["PostgresCluster", "postgres"]


def _unavailable(reason: str) -> NoReturn:
    """Skips on a developer's machine; under CI (environment variable CI set) fails, so a CI without
    PostgreSQL never passes by skipping the PostgreSQL tests."""
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but {reason}; the PostgreSQL tests must run in CI (scripts/ensure-postgres.sh "
                    "installs it as root)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    try:
        cluster = start_cluster()
    except subprocess.CalledProcessError as exc:
        _unavailable(f"could not start PostgreSQL ({exc.stderr!r}); install Debian's postgresql package")
    if cluster is None:
        _unavailable("PostgreSQL binaries not found: install Debian's postgresql package (apt-get install postgresql)")
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(cluster.root, ignore_errors=True)
