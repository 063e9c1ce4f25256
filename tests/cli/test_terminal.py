"""Tables with Chinese text line up in a real terminal: the installed ``roster`` runs inside tmux (a
real pseudo-terminal, its width from the window), in Chinese and in English, and the screen tmux
holds is read back. Every column separator of a table must stand in the same terminal column on
every line, counting an East Asian wide character as two cells as terminals do."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import unicodedata
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from scheduler.db import make_engine, session_scope
from scheduler.migrate import upgrade
from tests.conftest import service_missing
from tests.rosters.test_printable import WEEK, build_week

#: A real terminal per test; no clock is involved, so the dated runs leave it out like the browser tests.
pytestmark = pytest.mark.slow

ROSTER = Path(sys.executable).with_name("roster")
SEPARATORS = set("│┃╇┼╪┿")
WIDTH = 180


def cells(text: str) -> int:
    """Terminal cells of ``text``: East Asian wide and full-width characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 0 if unicodedata.combining(ch) else 1
               for ch in text)


def separator_columns(line: str) -> list[int]:
    columns, at = [], 0
    for ch in line:
        if ch in SEPARATORS:
            columns.append(at)
        at += cells(ch)
    return columns


def tables(screen: str) -> list[list[str]]:
    """The tables on a screen: runs of lines that hold a column separator."""
    found: list[list[str]] = []
    current: list[str] = []
    for line in screen.splitlines():
        if any(ch in SEPARATORS for ch in line):
            current.append(line)
        elif current:
            found.append(current)
            current = []
    if current:
        found.append(current)
    return found


def misaligned(table: list[str]) -> list[str]:
    """The lines whose separators stand elsewhere than the header's."""
    expected = separator_columns(table[0])
    return [line for line in table[1:] if separator_columns(line) != expected]


def test_the_checker_sees_a_table_padded_by_characters_instead_of_cells() -> None:
    """What a formatter that pads with len() prints: the checker must call it misaligned."""
    names = ("王芳", "Li Ming", "欧阳娜娜")
    header = f" {'name'.ljust(8)} ┃ phone"
    body = [f" {name.ljust(8)} │ 13800138000" for name in names]
    assert misaligned([header, *body]) == [body[0], body[2]]
    padded = [f" {name}{' ' * (8 - cells(name))} │ 13800138000" for name in names]
    assert misaligned([header, *padded]) == []


class Terminal:
    """A tmux server of our own (its own socket, no user config) with one window WIDTH cells wide."""

    def __init__(self, env: dict[str, str]) -> None:
        self.socket = f"roster-test-{uuid.uuid4().hex[:8]}"
        self.env = env

    def tmux(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["tmux", "-u", "-L", self.socket, "-f", "/dev/null", *args], env=self.env,
                              capture_output=True, text=True, timeout=30, check=check)

    def run(self, command: str, lang: str, timeout: float = 60) -> str:
        """``command`` typed at a shell in a fresh window; the screen once it has finished."""
        marker = f"__done_{uuid.uuid4().hex[:6]}__"
        name = uuid.uuid4().hex[:6]
        script = f"export ROSTER_LANG={lang}; {command}; echo; echo {marker}; exec sleep 600"
        self.tmux("new-session", "-d", "-s", name, "-x", str(WIDTH), "-y", "100", "sh", "-c", script)
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                screen = self.tmux("capture-pane", "-p", "-t", name, "-S", "-", "-E", "-").stdout
                if marker in screen:
                    return screen.split(marker)[0]
                time.sleep(0.2)
            raise AssertionError(f"{command!r} did not finish in {timeout} s; the screen:\n{screen}")
        finally:
            self.tmux("kill-session", "-t", name, check=False)

    def close(self) -> None:
        self.tmux("kill-server", check=False)


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    if not shutil.which("tmux"):
        service_missing("tmux is not installed: run make test-tools")
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
    env.update(LANG="C.UTF-8", LC_ALL="C.UTF-8", TERM="xterm-256color", HOME=str(tmp_path),
               ROSTER_HOME=str(tmp_path / "var"), ROSTER_DATABASE_URL=f"sqlite:///{tmp_path}/roster.db",
               ROSTER_FEED_DIR=str(tmp_path / "feeds"))
    term = Terminal(env)
    yield term
    term.close()


@pytest.fixture
def week_on_disk(terminal: Terminal) -> Engine:
    """The printable test's week (two branches, one with a 37-character Chinese name; Chinese
    services, roles, venues and names) in the database the terminal's roster reads."""
    engine = make_engine(terminal.env["ROSTER_DATABASE_URL"])
    upgrade(engine)
    with session_scope(engine) as session:
        build_week(session)
    engine.dispose()
    return engine


COMMANDS = (f"{ROSTER} schedule --week {WEEK.isoformat()} --no-files", f"{ROSTER} volunteer list",
            f"{ROSTER} service list", f"{ROSTER} branch list", f"{ROSTER} volunteer show 13800138001")


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_tables_with_chinese_text_line_up_in_a_real_terminal(terminal: Terminal, week_on_disk: Engine,
                                                               lang: str) -> None:
    for command in COMMANDS:
        screen = terminal.run(command, lang)
        assert "Traceback" not in screen, screen
        found = tables(screen)
        assert found, f"{command}: no table on the screen:\n{screen}"
        assert any(cells(ch) == 2 for table in found for line in table for ch in line), (
            f"{command}: no Chinese text in its table:\n{screen}")
        for table in found:
            assert len(table) >= 3, (command, table)  # header, rule, at least one row
            assert misaligned(table) == [], f"{command} ({lang}):\n" + "\n".join(table)
            assert max(cells(line) for line in table) <= WIDTH, f"{command}: wider than the terminal"
        headers = [table[0] for table in found]
        if lang == "zh_CN":  # the headers speak the chosen language: Chinese, or English only
            assert all(any(cells(ch) == 2 for ch in header) for header in headers), headers
        else:
            assert all(header.replace("┃", "").isascii() for header in headers), headers
