"""The CLI's house: cli.py is the entry point, commands/ holds the commands, loaded only when used;
one exit-code table; one --json flag and one formatter."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

import cli
from scheduler import errors
from scheduler.errors import EXIT_CODES, USAGE_EXIT_CODE, RosterError

ROOT = Path(__file__).resolve().parents[2]
COMMAND_MODULES = sorted((ROOT / "commands").glob("*.py"))


def _loaded(name: str) -> click.Command:
    command = cli.cli.get_command(click.Context(cli.cli), name)
    assert command is not None, name
    return command


def test_help_imports_no_command_module(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "sys.argv = ['roster', '--help']\n"
        "import cli\n"
        "try:\n    cli.main()\nexcept SystemExit:\n    pass\n"
        "loaded = sorted(m for m in sys.modules if m == 'commands' or m.startswith('commands.'))\n"
        "assert not loaded, loaded\n"
    )
    env = {"PATH": "/usr/bin:/bin", "ROSTER_HOME": str(tmp_path / "var"), "ROSTER_LANG": "en"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    for name, (_, text) in cli.COMMANDS.items():
        assert re.search(rf"^  {re.escape(name)} +{re.escape(text)}$", result.stdout, re.M), name


@pytest.mark.parametrize("name", list(cli.COMMANDS))
def test_static_command_table_says_what_each_command_says(name: str) -> None:
    command = _loaded(name)
    assert command.name == name
    assert command.get_short_help_str(10_000) == cli.COMMANDS[name][1]


def test_every_command_module_is_in_the_table() -> None:
    listed = {target.split(":")[0] for target, _ in cli.COMMANDS.values()}
    for path in COMMAND_MODULES:
        source = path.read_text(encoding="utf-8")
        if "@command(" in source or "@group(" in source:
            assert f"commands.{path.stem}" in listed, path.name


def test_unknown_command_suggests_the_nearest_one(invoke) -> None:  # type: ignore[no-untyped-def]
    result = invoke("brnch", "list")
    assert result.exit_code == USAGE_EXIT_CODE
    assert "Did you mean 'branch'?" in result.output


def test_commands_hold_no_queries_file_writes_or_url_layout() -> None:
    """Commands parse, call the domain and render: SQL, files and feed paths live below them."""
    for path in [ROOT / "cli.py", *COMMAND_MODULES]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert node.module not in ("calendars.dirty", "scheduler.models"), \
                    f"{path.name}:{node.lineno} imports {node.module}"
                names = {alias.name for alias in node.names}
                assert not names & {"feed_path", "feed_url", "select", "func", "text", "insert", "update",
                                    "delete"}, f"{path.name}:{node.lineno} imports {names}"
            if isinstance(node, ast.Call):
                func = node.func
                called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "os":
                    called = f"os.{called}"
                assert called not in ("open", "write_bytes", "write_text", "os.replace", "os.rename", "execute",
                                      "scalar", "scalars"), f"{path.name}:{node.lineno} calls {called}"


# --------------------------------------------------------------------------- one exit-code table


def test_every_error_class_has_a_documented_exit_code() -> None:
    classes = [obj for obj in vars(errors).values() if isinstance(obj, type) and issubclass(obj, RosterError)]
    assert len(classes) >= 7
    for error in classes:
        assert error.exit_code in EXIT_CODES, error.__name__
    assert USAGE_EXIT_CODE in EXIT_CODES and 0 in EXIT_CODES


def test_help_prints_the_exit_code_table(invoke) -> None:  # type: ignore[no-untyped-def]
    output = invoke("--help").output
    for code, meaning in EXIT_CODES.items():
        assert f"  {code}  {meaning}\n" in output
    assert not hasattr(cli, "EXIT_CODES_HELP")


def test_readme_exit_code_table_is_the_same_table() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Exit codes", 1)[1].split("\n#", 1)[0]
    rows = {int(code): meaning.replace("`", "").strip()
            for code, meaning in re.findall(r"^\| (\d+) \| (.+) \|$", section, re.M)}
    assert rows == EXIT_CODES


# --------------------------------------------------------------------------- --json and the formatter


def test_json_flag_works_before_and_after_the_command(invoke) -> None:  # type: ignore[no-untyped-def]
    assert invoke("community", "add", "ailian", "--name", "爱联社区").exit_code == 0
    before = invoke("--json", "community", "list")
    after = invoke("community", "list", "--json")
    assert before.exit_code == after.exit_code == 0
    assert before.output == after.output
    assert json.loads(after.output)[0]["name"] == "爱联社区"


def test_a_command_with_only_a_sentence_says_it_as_json(invoke) -> None:  # type: ignore[no-untyped-def]
    added = json.loads(invoke("coordinator", "add", "--name", "李书记", "--json").output)
    removed = invoke("coordinator", "remove", str(added["id"]), "--json")
    assert removed.exit_code == 0
    assert json.loads(removed.output) == {"message": f"removed coordinator #{added['id']}"}


def test_json_output_carries_no_lines_meant_for_people(invoke) -> None:  # type: ignore[no-untyped-def]
    result = invoke("schedule", "--week", "2026-03-02", "--json")
    assert result.exit_code == 0
    assert json.loads(result.output)["occurrences"] == []  # no "nothing scheduled" line mixed in
    assert "nothing scheduled" in invoke("schedule", "--week", "2026-03-02").output


def test_table_cells_are_plain_text_not_markup(capsys: pytest.CaptureFixture[str]) -> None:
    from cli import TableFormatter

    TableFormatter().table(("服务", "备注"), [("[bold]四点半课堂[/bold]", "坏了[/b]"), ("义诊", None)])
    out = capsys.readouterr().out
    assert "[bold]四点半课堂[/bold]" in out and "坏了[/b]" in out
