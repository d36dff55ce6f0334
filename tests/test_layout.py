"""The folders show who trusts whom: the node, the hub, the analyst's side and the counter import
only the shared kernel (`regiozicht/`), never each other, except the two documented seams
(docs/architecture.md): the `regiozicht` entry point and the coordinator's scheduled monitor; and
`node/` has no import cycle."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("node", "coordinator", "analyst", "counter")
SEAMS = {  # module → the other parts it may import, and why (docs/architecture.md)
    "coordinator/cli/main.py": {"analyst", "counter"},  # assembles every command group
    "coordinator/cli/serve.py": {"analyst"},  # checks the [monitor] section's file and profile
    "coordinator/schedule.py": {"analyst"},  # the scheduled monitor is an analyst client
}


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_the_parts_import_the_kernel_never_each_other() -> None:
    crossings = []
    for part in PARTS:
        for path in (ROOT / part).rglob("*.py"):
            name = str(path.relative_to(ROOT))
            allowed = {part} | SEAMS.get(name, set())
            for module in _imports(path):
                top = module.split(".")[0]
                if top in PARTS and top not in allowed:
                    crossings.append(f"{name} imports {module}")
    assert not crossings, crossings


def test_node_has_no_import_cycle() -> None:
    graph = {}
    for path in (ROOT / "node").glob("*.py"):
        graph[f"node.{path.stem}"] = {m for m in _imports(path) if m.startswith("node.")}
    seen: set[str] = set()

    def visit(module: str, stack: tuple[str, ...]) -> None:
        assert module not in stack, " → ".join((*stack, module))
        if module in seen:
            return
        for target in graph.get(module, ()):
            visit(target, (*stack, module))
        seen.add(module)

    for module in graph:
        visit(module, ())
