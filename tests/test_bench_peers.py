"""Every benchmark peer can be made from a fresh clone: each venv the benches ask for has a make
target that installs and stamps it, `make clean` removes it, and the peers' scripts parse.

Cheap: `make -n -B` prints the recipes without running them; nothing is installed.
"""

from __future__ import annotations

import ast
import subprocess
import tomllib
from pathlib import Path

import pytest

from bench import peer_venv

ROOT = Path(__file__).resolve().parent.parent
PEER_SCRIPTS = ["bench/peers.py", "bench/peer_venv.py", "bench/peer_smartnoise.py", "bench/openmined_peer.py",
                "bench/psi.py", "bench/peers_flower/flower_count/client_app.py",
                "bench/peers_flower/flower_count/server_app.py"]


def _dry_run(*targets: str) -> str:
    done = subprocess.run(["make", "-n", "-B", "-C", str(ROOT), "--no-print-directory", *targets],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("target", sorted(peer_venv.TARGETS))
def test_each_peer_target_makes_and_stamps_its_venv(target: str) -> None:
    venv = peer_venv.TARGETS[target].name
    recipe = _dry_run(target)
    assert f"-m venv {venv}" in recipe
    assert f"{venv}/bin/pip install" in recipe
    assert f"touch {venv}/.installed" in recipe


def test_bench_peers_makes_every_peer_and_clean_removes_them() -> None:
    recipe = _dry_run("bench-peers")
    for venv in peer_venv.TARGETS.values():
        assert f"touch {venv.name}/.installed" in recipe
    clean = _dry_run("clean")
    for venv in peer_venv.TARGETS.values():
        assert venv.name in clean.split()


@pytest.mark.parametrize("script", PEER_SCRIPTS)
def test_peer_scripts_parse(script: str) -> None:
    ast.parse((ROOT / script).read_text(), filename=script)


def test_flower_app_components_exist() -> None:
    app = ROOT / "bench" / "peers_flower"
    project = tomllib.loads((app / "pyproject.toml").read_text())
    for reference in project["tool"]["flwr"]["app"]["components"].values():
        module, attribute = reference.split(":")
        tree = ast.parse((app / (module.replace(".", "/") + ".py")).read_text())
        assigned = {target.id for node in tree.body if isinstance(node, ast.Assign)
                    for target in node.targets if isinstance(target, ast.Name)}
        assert attribute in assigned, reference
    assert {"nodes", "queries", "warmup", "peildatum", "results"} <= set(project["tool"]["flwr"]["app"]["config"])


def test_benches_ask_make_for_their_peer_rather_than_print_na() -> None:
    for script, target in [("bench/psi.py", "bench-peer-openmined"), ("bench/peers.py", "bench-peer-smartnoise"),
                           ("bench/peers.py", "bench-peer-flower")]:
        text = (ROOT / script).read_text()
        assert f'peer_venv.ensure("{target}")' in text, script
        assert "n/a" not in text, script  # the old fallback when the peer was missing
