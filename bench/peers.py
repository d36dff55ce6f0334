"""The peers measured in the same run, on the same synthetic data and machine.

    python bench/peers.py [--persons 1000000] [--runs 7] [--sizes 1 8] [--node-persons 1000]

SmartNoise SQL 1.0.10 (.venv-smartnoise, bench/peer_smartnoise.py) on the
grouped person count of bench/node_overhead.py (1M persons by gemeente and sex)
on SQLite and on PostgreSQL, against our node end to end on the same table and
engine: warm, alternated runs, medians. SmartNoise's time is its
`reader.execute` on an open connection; ours is the analyst's request through
the coordinator and the node over mTLS to the verified, durably released answer.

Flower 1.42 federated analytics (.venv-flower, the app in bench/peers_flower/):
real `flower-superlink` and N `flower-supernode` processes on loopback, the
ServerApp sending a `@app.query()` message to each SuperNode, which counts its
persons by gemeente in its own SQLite file, and summing the replies. The
SuperNodes read the very files our N node processes serve (`--node-persons`
persons each), our region answers the same count by gemeente; Flower's time
is taken in its ServerApp from the messages' send to the last reply, ours at
the analyst. Flower's side has no noise, no signatures and no ledger, and runs
a plain COUNT(*), so the comparison favours it.

Each peer's venv is made by its make target (bench-peer-smartnoise,
bench-peer-flower), which this bench runs itself; PostgreSQL by
scripts/ensure-postgres.sh. Last line: `vs_smartnoise=… vs_flower=…`
(SmartNoise time ÷ ours on the worse engine; Flower N=8 ÷ ours N=8; targets ≥ 4
and ≥ 300).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analyst.client import AnalystClient, NodeInfo, Profile
from bench import peer_venv
from bench.common import DATA_AS_OF, GEMEENTEN, PEILDATUM, dataset, make_postgres, make_sqlite, median
from demo.postgres import PostgresCluster, start_cluster
from demo.region import PartnerSetup, RunningRegion, build, demo_covenant, free_port
from regiozicht.query import CountQuery, build_count

ROOT = Path(__file__).resolve().parent.parent
FLOWER_APP = ROOT / "bench" / "peers_flower"


def _partner(node_id: str, url: str, name: str) -> PartnerSetup:
    # as bench/node_overhead.py's _partner (private there): one school node with a budget the bench can't exhaust
    spec = dataset(name)
    return PartnerSetup(node_id, node_id, "school", url, DATA_AS_OF, [spec],
                        covenant=demo_covenant(node_id, [spec], epsilon="1000000"))


def _ours(client: AnalystClient, query: CountQuery, publishers: list[NodeInfo]) -> float:
    """Seconds of one fresh release end to end at the analyst (as bench/node_overhead.py's _end_to_end)."""
    started = time.perf_counter()
    result = client.count(query, refresh=True, publishers=publishers)
    elapsed = time.perf_counter() - started
    if result.failures:
        raise RuntimeError(f"our count failed: {result.failures[0]}")
    return elapsed


class SmartNoise:
    """bench/peer_smartnoise.py in .venv-smartnoise, one timed `reader.execute` per request."""

    def __init__(self, bin_dir: Path, engine: str, target: str) -> None:
        self.process = subprocess.Popen([str(bin_dir / "python"), str(ROOT / "bench" / "peer_smartnoise.py"),
                                         engine, target], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.ready = self._reply()

    def _reply(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"SmartNoise peer exited with {self.process.wait()}; its error is above")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def run(self) -> tuple[float, dict[str, float]]:
        assert self.process.stdin is not None
        self.process.stdin.write("run\n")
        self.process.stdin.flush()
        reply = self._reply()
        return float(reply["seconds"]), reply["cells"]

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(30)


def _postgres() -> PostgresCluster:
    subprocess.run([str(ROOT / "scripts" / "ensure-postgres.sh")], check=False, stdout=sys.stderr)
    cluster = start_cluster()
    if cluster is None:
        raise SystemExit("PostgreSQL's server binaries (initdb) are missing: install Debian's postgresql package "
                         "(scripts/ensure-postgres.sh does, as root).")
    return cluster


def smartnoise(bin_dir: Path, root: Path, persons: int, runs: int) -> dict[str, float]:
    """SmartNoise's p50 ÷ ours, per engine, alternated runs on the same 1M-person tables."""
    cluster = _postgres()
    print(f"building {persons:,}-person tables (SQLite, PostgreSQL) …", file=sys.stderr, flush=True)
    sqlite_path = root / "big.sqlite"
    partners = [_partner("big-sqlite", make_sqlite(sqlite_path, persons), "personen_sqlite"),
                _partner("big-pg", make_postgres(cluster.url("bench_big"), persons), "personen_pg")]
    targets = {"personen_sqlite": ("sqlite", str(sqlite_path)),
               "personen_pg": ("postgres", f"host=127.0.0.1 port={cluster.port} dbname=bench_big user=postgres")}
    files = build(root / "region-smartnoise", partners)
    region = RunningRegion(files)
    region.start()
    ratios = {}
    try:
        region.wait_until_online({p.org for p in partners})
        client = AnalystClient(Profile.load(files.profile))
        for name, (engine, target) in targets.items():
            peer = SmartNoise(bin_dir, engine, target)
            query = build_count(name, epsilon="1", purpose="rmc-monitor", peildatum=PEILDATUM,
                                by=["gemeente", "sex"])
            publishers = client.publishers(name)  # outside the timing, as in bench/node_overhead.py
            for _ in range(2):  # warm caches and connections on both sides
                peer.run()
                _ours(client, query, publishers)
            theirs, ours = [], []
            for _ in range(runs):
                seconds, cells = peer.run()
                theirs.append(seconds)
                ours.append(_ours(client, query, publishers))
            peer.close()
            if len(cells) != 2 * len(GEMEENTEN) or abs(sum(cells.values()) - persons) > 0.01 * persons:
                raise RuntimeError(f"SmartNoise's cells are not the count of {persons:,} persons: {cells}")
            label = "SQLite" if engine == "sqlite" else "PostgreSQL"
            ratios[label] = median(theirs) / median(ours)
            print(f"{label}: SmartNoise SQL p50 {median(theirs) * 1000:.0f} ms (charges ε={peer.ready['epsilon']:g} "
                  f"for the question), our node end to end p50 {median(ours) * 1000:.0f} ms, {runs} alternated "
                  f"runs on {persons:,} persons: vs_smartnoise_{label.lower()}={ratios[label]:.2f}", flush=True)
        print(f"SmartNoise SQL's statement: {peer.ready['statement']}")
        client.close()
    finally:
        region.stop()
        cluster.stop()
        shutil.rmtree(cluster.root, ignore_errors=True)
    return ratios


def _wait_listening(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"flower-superlink exited with {process.returncode}; see {log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"flower-superlink not listening after {timeout:.0f} s; see {log}")


class Federation:
    """A flower-superlink and one flower-supernode per SQLite file, as processes on loopback."""

    def __init__(self, bin_dir: Path, root: Path, databases: list[Path]) -> None:
        self.bin_dir, self.root, self.databases = bin_dir, root, databases
        self.home = root / "flwr-home"  # FLWR_HOME: the CLI's config and installed apps, never ~/.flwr
        self.env = {**os.environ, "FLWR_HOME": str(self.home), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
        self.processes: list[subprocess.Popen[bytes]] = []
        self.logs: list[IO[bytes]] = []

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = (self.root / f"{name}.log").open("ab")
        self.logs.append(log)
        # a session of its own: stop() ends the process group, with the superexec and app processes it spawned
        process = subprocess.Popen([str(self.bin_dir / args[0]), *args[1:]], cwd=self.root, env=self.env,
                                   stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
        self.processes.append(process)
        return process

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        port = free_port()
        (self.home / "config.toml").write_text(
            f'[superlink]\ndefault = "bench"\n\n[superlink.bench]\naddress = "127.0.0.1:{port}"\ninsecure = true\n')
        superlink = self._spawn("superlink", ["flower-superlink", "--insecure", "--host", "127.0.0.1",
                                              "--port", str(port), "--disable-runtime-dependency-installation"])
        _wait_listening(port, superlink, self.root / "superlink.log")
        for index, database in enumerate(self.databases):
            self._spawn(f"supernode-{index}", ["flower-supernode", "--insecure", "--superlink", f"127.0.0.1:{port}",
                                               "--port", str(free_port()), "--node-config",
                                               f"database='{database}'"])

    def _flwr(self, *args: str) -> dict[str, Any]:
        done = subprocess.run([str(self.bin_dir / "flwr"), *args, "--format", "json"], cwd=self.root, env=self.env,
                              capture_output=True, text=True, check=False)
        try:
            reply: dict[str, Any] = json.loads(done.stdout)
        except json.JSONDecodeError as exc:
            raise RuntimeError(f"flwr {args[0]} failed: {(done.stdout + done.stderr).strip()[-2000:]}") from exc
        if not reply.get("success", False):
            raise RuntimeError(f"flwr {args[0]} failed: {reply}")
        return reply

    def count(self, queries: int, warmup: int) -> list[float]:
        """`flwr run` the app: seconds per query as its ServerApp timed them."""
        results = self.root / f"results-{len(self.databases)}.json"
        config = f"nodes={len(self.databases)} queries={queries} warmup={warmup} results='{results}'"
        run_id = self._flwr("run", str(FLOWER_APP), "bench", "--run-config", config)["run-id"]
        deadline = time.monotonic() + 300 + 60 * (queries + warmup)
        while not results.exists():
            status = str(self._flwr("ls", "bench", "--run-id", str(run_id))["runs"][0]["status"])
            if status.startswith("finished") and not results.exists():
                raise RuntimeError(f"Flower run {run_id} ended {status} without results; see {self.root}/*.log")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Flower run {run_id} still {status} after its deadline; see {self.root}/*.log")
            time.sleep(2)
        time.sleep(0.2)  # the ServerApp closes the file as it writes it; give it the moment
        answer = json.loads(results.read_text())
        persons = sum(_persons(database) for database in self.databases)
        if answer["nodes"] != len(self.databases) or sum(answer["cells"].values()) != persons:
            raise RuntimeError(f"Flower's answer is not the count of {persons:,} persons: {answer}")
        return [float(seconds) for seconds in answer["seconds"]]

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for log in self.logs:
            log.close()


def _persons(database: Path) -> int:
    import sqlite3

    with sqlite3.connect(database) as connection:
        return int(connection.execute("SELECT count(*) FROM person").fetchone()[0])


def _ours_region(root: Path, databases: list[Path], queries: int) -> float:
    """p50 seconds of our count by gemeente over the nodes serving `databases`, at the analyst."""
    partners = [_partner(f"school-{index:02d}", f"sqlite:///{database}", "personen")
                for index, database in enumerate(databases)]
    region = RunningRegion(build(root / f"region-{len(databases)}", partners))
    region.start()
    try:
        region.wait_until_online({p.org for p in partners}, timeout=300)
        client = AnalystClient(Profile.load(region.files.profile))
        query = build_count("personen", epsilon="1", purpose="rmc-monitor", peildatum=PEILDATUM, by=["gemeente"])
        publishers = client.publishers("personen")
        for _ in range(10):  # warm connections, caches and the nodes' Describe re-sends, as bench/fanout.py
            _ours(client, query, publishers)
        walls = [_ours(client, query, publishers) for _ in range(queries)]
        client.close()
        return median(walls)
    finally:
        region.stop()


def flower(bin_dir: Path, root: Path, sizes: list[int], node_persons: int, queries: int,
           flower_queries: int) -> dict[int, float]:
    """Flower's p50 ÷ ours per number of nodes, on the same SQLite files."""
    ratios = {}
    for nodes in sizes:
        folder = root / f"flower-{nodes}"
        folder.mkdir()
        databases = [Path(make_sqlite(folder / f"s{i}.sqlite", node_persons).removeprefix("sqlite:///"))
                     for i in range(nodes)]
        ours = _ours_region(folder, databases, queries)
        federation = Federation(bin_dir, folder, databases)
        federation.start()
        try:
            theirs = median(federation.count(flower_queries, warmup=1))
        finally:
            federation.stop()
        ratios[nodes] = theirs / ours
        print(f"{nodes} node{'s' if nodes > 1 else ''} of {node_persons:,} persons: Flower 1.42 p50 "
              f"{theirs * 1000:.0f} ms request to answer at its ServerApp ({flower_queries} queries), ours p50 "
              f"{ours * 1000:.1f} ms at the analyst ({queries} queries): {ratios[nodes]:.0f}×", flush=True)
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=1_000_000, help="persons in the SmartNoise table")
    parser.add_argument("--runs", type=int, default=7, help="alternated runs per engine against SmartNoise")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 8], help="node counts against Flower")
    parser.add_argument("--node-persons", type=int, default=1000, help="persons per node against Flower")
    parser.add_argument("--queries", type=int, default=50, help="our timed queries per node count")
    parser.add_argument("--flower-queries", type=int, default=5, help="Flower's timed queries per node count")
    args = parser.parse_args()
    # both venvs first: a fresh clone spends its install minutes before any measurement, not between them
    smartnoise_bin, flower_bin = peer_venv.ensure("bench-peer-smartnoise"), peer_venv.ensure("bench-peer-flower")
    root = Path(tempfile.mkdtemp(prefix="regiozicht-peers-"))
    try:
        versus_smartnoise = smartnoise(smartnoise_bin, root, args.persons, args.runs)
        versus_flower = flower(flower_bin, root, args.sizes, args.node_persons, args.queries, args.flower_queries)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    worse = min(versus_smartnoise, key=lambda label: versus_smartnoise[label])
    print(f"worse engine against SmartNoise SQL: {worse}")
    print(f"vs_smartnoise={versus_smartnoise[worse]:.2f} vs_flower={versus_flower[max(args.sizes)]:.0f}")


if __name__ == "__main__":
    main()
