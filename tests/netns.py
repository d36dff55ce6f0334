"""Network namespaces for tests: a coordinator's namespace holding a bridge, and one namespace per
node joined to it by a veth pair, on a private /24 whose addresses exist only inside these namespaces.

Every name carries the test process's id and a counter, so parallel runs and other users of the
machine never meet; `Net.down` removes the namespaces (and with them every veth pair) even after
a failure. Needs root and `ip`; `require` skips without them, or fails under CI (CI set).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import subprocess
from collections.abc import Iterator
from typing import NoReturn

import pytest

_numbers = itertools.count(1)


def unavailable(reason: str) -> NoReturn:
    """Skips on a developer's machine; under CI fails, so a CI without namespaces never passes by skipping."""
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but {reason}; the network-namespace tests must run in CI (as root, with iproute2 "
                    "and nftables: scripts/ensure-nftables.sh)", pytrace=False)
    pytest.skip(reason)


def require(*tools: str) -> None:
    """Skips (fails under CI) unless this is root and `ip netns` and every named tool work."""
    if os.geteuid() != 0:
        unavailable("network namespaces need root (ip netns add); run the tests as root")
    for tool in ("ip", *tools):
        if shutil.which(tool) is None:
            unavailable(f"`{tool}` is not installed (Debian: iproute2, nftables; scripts/ensure-nftables.sh)")
    probe = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        unavailable(f"`ip netns` does not work here: {probe.stderr.strip()}")


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"`ip {' '.join(args)}` failed: {done.stderr.strip()}")


class Net:
    """The coordinator's namespace at <subnet>.1 (a bridge), node i's namespace at <subnet>.(10 + i) (eth0)."""

    def __init__(self, nodes: int) -> None:
        number = next(_numbers)
        prefix = f"rz{os.getpid()}t{number}"
        self.subnet = f"10.231.{number % 250}"
        self.coordinator = f"{prefix}c"
        self.nodes = [f"{prefix}n{i}" for i in range(1, nodes + 1)]
        self._made: list[str] = []

    @property
    def coordinator_address(self) -> str:
        return f"{self.subnet}.1"

    def address(self, namespace: str) -> str:
        return self.coordinator_address if namespace == self.coordinator else f"{self.subnet}.{10 + self.nodes.index(namespace) + 1}"

    def up(self) -> None:
        for namespace in (self.coordinator, *self.nodes):
            _ip("netns", "add", namespace)
            self._made.append(namespace)
            _ip("-n", namespace, "link", "set", "lo", "up")
        c = self.coordinator
        _ip("-n", c, "link", "add", "br0", "type", "bridge")
        _ip("-n", c, "addr", "add", f"{self.coordinator_address}/24", "dev", "br0")
        _ip("-n", c, "link", "set", "br0", "up")
        for index, namespace in enumerate(self.nodes, 1):
            # made straight inside the two namespaces: no name in the host's namespace to collide with
            _ip("link", "add", f"v{index}", "netns", c, "type", "veth", "peer", "name", "eth0", "netns", namespace)
            _ip("-n", c, "link", "set", f"v{index}", "master", "br0", "up")
            _ip("-n", namespace, "addr", "add", f"{self.address(namespace)}/24", "dev", "eth0")
            _ip("-n", namespace, "link", "set", "eth0", "up")

    def down(self) -> None:
        for namespace in reversed(self._made):
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, check=False)
        self._made.clear()

    def link(self, namespace: str, up: bool) -> None:
        """A node's cable in or out (its eth0 up or down)."""
        _ip("-n", namespace, "link", "set", "eth0", "up" if up else "down")

    @staticmethod
    def exec(namespace: str, *command: str) -> list[str]:
        return ["ip", "netns", "exec", namespace, *command]


@contextlib.contextmanager
def namespaces(nodes: int) -> Iterator[Net]:
    """A fresh set of namespaces, removed afterwards whatever happened."""
    require()
    net = Net(nodes)
    try:
        net.up()
        yield net
    finally:
        net.down()
