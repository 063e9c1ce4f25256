"""The Chinese tour (docs/tour.zh-CN.md) is true: every command of its ``sh`` blocks runs, in order, on a
fresh database, in Chinese, and answers in Chinese; its exit-code table is the program's."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from scheduler.errors import EXIT_CODES

ROOT = Path(__file__).resolve().parents[2]
TOUR = ROOT / "docs" / "tour.zh-CN.md"
CJK = re.compile(r"[\u4e00-\u9fff]")
#: English a message id would leave in the output had it no translation.
ENGLISH = re.compile(r"\b(the|volunteer|volunteers|added|occurrence|occurrences|nothing|would|seats?|"
                     r"assigned|shifts?|service|branch|community|reminders?)\b")


def tour_commands() -> list[list[str]]:
    text = TOUR.read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"^```sh\n(.*?)^```", text, re.M | re.S):
        for line in block.splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                argv = shlex.split(line, comments=True)
                assert argv[0] == "roster", line
                commands.append(argv[1:])
    return commands


def test_the_tour_has_the_commands_of_a_coordinators_week() -> None:
    names = {" ".join(argv[:2]) if argv[0] in {"service", "volunteer", "community", "branch", "reminders",
                                              "digest", "hours", "points", "qualifications"} else argv[0]
             for argv in tour_commands()}
    for expected in ("init", "community add", "branch add", "service add", "volunteer add", "plan", "fill",
                     "schedule", "reminders upcoming", "digest preview", "hours short", "qualifications add"):
        assert expected in names, expected


def test_every_command_of_the_chinese_tour_runs_and_answers_in_chinese(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from cli import cli
    from scheduler.db import dispose_engines

    env = {"ROSTER_LANG": "zh_CN", "ROSTER_HOME": str(tmp_path / "var"),
           "ROSTER_DATABASE_URL": f"sqlite:///{tmp_path}/tour.db", "ROSTER_FEED_DIR": str(tmp_path / "feeds"),
           "ROSTER_BROKER_URL": f"sqla+sqlite:///{tmp_path}/broker.db"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    runner = CliRunner()
    try:
        for argv in tour_commands():
            result = runner.invoke(cli, argv, catch_exceptions=False)
            shown = " ".join(argv)
            assert result.exit_code == 0, (shown, result.output)
            assert "Traceback" not in result.output
            if result.output.strip():
                assert CJK.search(result.output), (shown, result.output)
                assert not ENGLISH.search(result.output.lower()), (shown, result.output)
            if argv == ["schedule"] and "--week" in result.output:
                # This week is over (a weekend, or a week of holidays): the roster names the next week
                # with shifts, and the command it gives prints that one.
                hinted = shlex.split(result.output.split("roster ", 1)[1].splitlines()[0])
                assert hinted[0] == "schedule", result.output
                followed = runner.invoke(cli, hinted, catch_exceptions=False)
                assert followed.exit_code == 0 and CJK.search(followed.output), followed.output
        printed = list((tmp_path / "var").rglob("roster-*.xlsx")) + list((tmp_path / "var").rglob("roster-*.html"))
        assert len(printed) == 2, printed  # schedule wrote the printable roster into the data folder
    finally:
        dispose_engines()


def test_the_tours_exit_code_table_is_the_programs() -> None:
    text = TOUR.read_text(encoding="utf-8")
    section = text.split("## 出错时", 1)[1]
    codes = {int(code) for code in re.findall(r"^\| (\d+) \|", section, re.M)}
    assert codes == set(EXIT_CODES)


def test_the_commands_shown_but_not_run_name_real_commands_and_options() -> None:
    """The ``text`` blocks (files the reader brings, servers the reader starts) are not run; each of
    their ``roster`` lines still names a command and only options it has (``export --out`` had none)."""
    import click

    from cli import cli

    text = TOUR.read_text(encoding="utf-8")
    lines = [line for block in re.findall(r"^```text\n(.*?)^```", text, re.M | re.S)
             for line in block.splitlines() if line.startswith("roster ")]
    assert len(lines) >= 3
    for line in lines:
        argv = shlex.split(line, comments=True)[1:]
        command: click.Command = cli
        ctx = click.Context(cli)
        while isinstance(command, click.Group) and argv and not argv[0].startswith("-"):
            found = command.get_command(ctx, argv[0])
            assert found is not None, line
            command, argv = found, argv[1:]
        names = {name for param in command.params for name in (*param.opts, *param.secondary_opts)}
        for token in argv:
            if token.startswith("--"):
                assert token.split("=", 1)[0] in names, (line, token)
