"""The example configuration files in deploy/ are valid."""

from __future__ import annotations

from pathlib import Path

from analyst.client import Profile
from coordinator import config as coordinator_config
from node import config as node_config
from node import covenant as covenant_file

DEPLOY = Path(__file__).resolve().parent.parent / "deploy" / "examples"


def test_example_node_config_and_covenant_validate() -> None:
    config = node_config.load(DEPLOY / "node.toml")
    assert config.node.kind == "rmc" and {d.name for d in config.datasets} == {"vsv", "rmc_stock"}
    covenant = covenant_file.load(config.covenant, config)
    assert covenant.purpose("rmc-monitor") is not None


def test_example_coordinator_config_and_profile_validate() -> None:
    assert coordinator_config.load(DEPLOY / "coordinator.toml").server.listen == "0.0.0.0:7443"
    assert Profile.load(DEPLOY / "profile.toml").coordinator.endswith(":7443")


def test_example_counter_config_validates_and_the_covenant_accepts_that_counter() -> None:
    from counter import config as counter_config

    counter = counter_config.load(DEPLOY / "counter.toml")
    config = node_config.load(DEPLOY / "node.toml")
    assert counter.counter.org in covenant_file.load(config.covenant, config).linked.counters
