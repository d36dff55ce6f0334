"""Opening the node's governance state without serving: for `covenant`, `budget` and `audit` commands."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from node import config as node_config
from node import covenant as covenant_file
from node.config import NodeConfig
from node.covenant import Covenant
from node.ledger import Ledger
from node.state import StateDB
from node.watermark import Watermark


@dataclass
class Governance:
    config: NodeConfig
    covenant: Covenant
    state: StateDB
    ledger: Ledger


def open_governance(config_path: Path) -> Governance:
    config = node_config.load(config_path)
    covenant = covenant_file.load(config.covenant, config)
    state = StateDB(config.state.url)
    ledger = Ledger(state, covenant, Watermark(config.state.watermark_path()), config.node.org)
    return Governance(config, covenant, state, ledger)
