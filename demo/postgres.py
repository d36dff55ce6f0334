"""A throwaway PostgreSQL cluster on loopback, for tests and benchmarks.

PostgreSQL refuses to run as root; as root (CI) the server runs as the
`postgres` OS user. Listens only on 127.0.0.1, trust authentication.
"""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def bin_dir() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(candidates[-1]).parent if candidates else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresCluster:
    def __init__(self, bin_dir: Path, root: Path) -> None:
        self.bin_dir = bin_dir
        self.data = root / "data"
        self.port = free_port()
        self.as_root = os.geteuid() == 0
        self._created = 0
        self.root = root

    def _run(self, *args: str) -> None:
        cmd = [str(self.bin_dir / args[0]), *args[1:]]
        if self.as_root:  # PostgreSQL refuses to run as root
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, cwd="/tmp")

    def start(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--locale=C.UTF-8")
        self._run("pg_ctl", "-D", str(self.data), "-w", "-l", str(self.data / "server.log"), "-o",
                  f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.data}", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def url(self, dbname: str | None = None) -> str:
        """Create a fresh database and return its SQLAlchemy URL."""
        import psycopg

        self._created += 1
        name = dbname or f"test_{self._created}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"




def start_cluster() -> PostgresCluster | None:
    """A started cluster in a fresh temporary directory, or None without PostgreSQL binaries."""
    binaries = bin_dir()
    if binaries is None:
        return None
    root = Path(tempfile.mkdtemp(prefix="regiozicht-pg-"))
    cluster = PostgresCluster(binaries, root)
    if cluster.as_root:
        shutil.chown(root, "postgres", "postgres")
    try:
        cluster.start()
    except subprocess.CalledProcessError:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return cluster
