"""What a privacy officer sees of linked counts: `covenant check` shows the linking rules, the
counters the node accepts and each partner's budget; a covenant without a counter refuses
every linked count before anything is read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from node.covenant import Covenant, LinkedRules
from node.linkauth import check_counter
from regiozicht.errors import PermissionDenied
from tests.conftest import node_setup

pytestmark = pytest.mark.processes  # starts real processes: left out of `make test-fast`


def _linked(covenant: dict[str, Any]) -> None:
    covenant["purposes"][0]["linking"] = {"kinds": ["wi"], "datasets": ["registratie"], "partner_datasets": ["bijstand"]}
    covenant["linked"] = {"counters": ["regio-teller"], "pair_epsilon": "2", "failed_runs_alert": 4}


def test_covenant_check_shows_linking_rules_and_accepted_counters(tmp_path: Path) -> None:
    setup = node_setup(tmp_path, _linked)
    script = Path(sys.executable).parent / "regiozicht-node"
    out = subprocess.run([str(script), "covenant", "check", "--config", str(setup.config), "--format", "json"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    document = json.loads(out.stdout)
    assert document["linked"] == {"counters": ["regio-teller"], "pair_epsilon": "2", "pair_delta": None,
                                  "failed_runs_alert": 4}
    assert document["linking"] == [{"purpose": "test", "datasets": "registratie", "partner_kinds": "wi",
                                    "partner_orgs": "(any of those kinds)", "partner_datasets": "bijstand"}]


@pytest.mark.parametrize("counters,counter", [((), "regio-teller"), (("regio-teller",), "ander-teller")])
def test_a_counter_the_covenant_does_not_list_is_refused(counters: tuple[str, ...], counter: str) -> None:
    covenant = Covenant.model_construct(organisation="rmc-1", linked=LinkedRules(counters=counters))  # type: ignore[call-arg]  # only what check_counter reads
    with pytest.raises(PermissionDenied, match=f"does not accept counter '{counter}'"):
        check_counter(covenant, counter)
    partial = Covenant.model_construct(  # type: ignore[call-arg]  # only what check_counter reads
        organisation="rmc-1", linked=LinkedRules(counters=(counter,)))
    check_counter(partial, counter)
