"""One table of exit codes (`regiozicht.errors.ExitCode`): every CLI's help, the README and the
protocol doc say what it says, and no command exits with a bare number instead of a typed error."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from coordinator.cli.main import app as analyst_app
from node.cli import app as node_app
from regiozicht.errors import ERROR_CLASSES, EXIT_MEANINGS, ExitCode, exit_codes_help

ROOT = Path(__file__).resolve().parent.parent


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_every_exit_code_has_a_meaning_and_every_error_a_code() -> None:
    assert set(EXIT_MEANINGS) == set(ExitCode)
    assert all(isinstance(cls.exit_code, ExitCode) for cls in ERROR_CLASSES.values())


def test_both_clis_print_the_table_in_their_help() -> None:
    for app in (analyst_app, node_app):
        result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "2000"})
        assert result.exit_code == 0
        for code in ExitCode:
            assert f"{int(code)} {EXIT_MEANINGS[code]}" in _flat(result.output)


def test_the_readme_states_the_table() -> None:
    readme = _flat((ROOT / "README.md").read_text())
    assert _flat(exit_codes_help().removeprefix("Exit codes: ")).lower() in readme.lower()


def test_the_protocol_doc_lists_every_error_with_its_status_and_code() -> None:
    rows = set(re.findall(r"^\| (\w+) \| ([A-Z_]+) \| (\d) \|$", (ROOT / "docs" / "protocol.md").read_text(), re.MULTILINE))
    assert rows == {(name, cls.status.name, str(int(cls.exit_code))) for name, cls in ERROR_CLASSES.items()}


def test_no_command_exits_with_a_bare_number() -> None:
    bare = re.compile(r"typer\.Exit\((?:code=)?\d+\)")
    found = [f"{path.relative_to(ROOT)}:{n}" for folder in ("coordinator", "node", "regiozicht")
             for path in (ROOT / folder).rglob("*.py")
             for n, line in enumerate(path.read_text().splitlines(), 1) if bare.search(line)]
    assert not found, found
