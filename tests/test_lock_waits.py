"""Lock waits are bounded: a read never waits for a writer, a write waits ROSTER_LOCK_TIMEOUT at most
and then exits 8 saying the database is busy (SQLite and PostgreSQL, real concurrent lock holders)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, text

from scheduler.db import make_engine, run_in_transaction, session_scope
from scheduler.errors import Conflict, DatabaseBusy
from scheduler.settings import Settings

LOCK_TIMEOUT = 1.5
#: A read must not wait at all; this bound only absorbs a slow machine.
READ_BOUND = 1.0

Invoke = Callable[..., Result]


def timed(invoke: Invoke, *args: str) -> tuple[Result, float]:
    started = time.monotonic()
    result = invoke(*args)
    return result, time.monotonic() - started


def assert_busy_within_the_timeout(result: Result, elapsed: float) -> None:
    assert result.exit_code == DatabaseBusy.exit_code, result.output
    assert "database busy" in result.output and "ROSTER_LOCK_TIMEOUT" in result.output
    assert "Traceback" not in result.output
    assert LOCK_TIMEOUT - 0.2 <= elapsed <= LOCK_TIMEOUT + 2.0, elapsed


def test_default_lock_timeout_is_a_few_seconds() -> None:
    assert Settings.from_env({}).lock_timeout == 5
    assert Settings.from_env({"ROSTER_LOCK_TIMEOUT": "0.5"}).lock_timeout == 0.5


def test_bad_lock_timeout_names_the_variable() -> None:
    from scheduler.errors import InvalidInput

    with pytest.raises(InvalidInput, match="ROSTER_LOCK_TIMEOUT"):
        Settings.from_env({"ROSTER_LOCK_TIMEOUT": "forever"})


# --------------------------------------------------------------------------- SQLite


class SqliteWriter:
    """Another process that holds SQLite's write lock (BEGIN IMMEDIATE) until told to stop."""

    def __init__(self, path: Path) -> None:
        code = ("import sqlite3, sys\n"
                f"c = sqlite3.connect({str(path)!r}, isolation_level=None)\n"
                "c.execute('BEGIN IMMEDIATE')\n"
                "c.execute(\"UPDATE volunteer SET name = name || '' \")\n"
                "print('locked', flush=True)\n"
                "sys.stdin.read()\n"
                "c.execute('ROLLBACK')\n")
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == b"locked"

    def release(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        self.proc.wait(10)
        self.proc.stdout.close()


@pytest.fixture
def sqlite_writer(roster_env: dict[str, str], invoke: Invoke) -> Iterator[Callable[[], SqliteWriter]]:
    path = Path(roster_env["ROSTER_DATABASE_URL"].removeprefix("sqlite:///"))
    holders: list[SqliteWriter] = []

    def hold() -> SqliteWriter:
        holders.append(SqliteWriter(path))
        return holders[-1]

    yield hold
    for holder in holders:
        if holder.proc.poll() is None:
            holder.release()


@pytest.fixture
def lock_timeout(monkeypatch: pytest.MonkeyPatch) -> float:
    monkeypatch.setenv("ROSTER_LOCK_TIMEOUT", str(LOCK_TIMEOUT))
    return LOCK_TIMEOUT


def test_sqlite_read_commands_do_not_wait_for_a_writer(lock_timeout: float, invoke: Invoke,
                                                       sqlite_writer: Callable[[], SqliteWriter]) -> None:
    assert invoke("volunteer", "add", "--name", "王芳", "--phone", "13800138000").exit_code == 0
    reads = (("volunteer", "list"), ("volunteer", "show", "13800138000"), ("community", "list"),
             ("reminders", "list"))
    for args in reads:  # first runs import their modules: on a loaded machine that alone can take seconds
        assert invoke(*args).exit_code == 0, args
    holder = sqlite_writer()
    for args in reads:
        result, elapsed = timed(invoke, *args)
        assert result.exit_code == 0, (args, result.output)
        assert elapsed < READ_BOUND, (args, elapsed)
    assert "王芳" in invoke("volunteer", "list").output
    holder.release()


def test_sqlite_write_meeting_a_writer_exits_8_within_the_lock_timeout(
        lock_timeout: float, invoke: Invoke, sqlite_writer: Callable[[], SqliteWriter]) -> None:
    assert invoke("volunteer", "add", "--name", "王芳", "--phone", "13800138000").exit_code == 0
    holder = sqlite_writer()
    result, elapsed = timed(invoke, "volunteer", "add", "--name", "李明", "--phone", "13900139000")
    assert_busy_within_the_timeout(result, elapsed)
    holder.release()
    # Once the other writer is gone the same command goes through.
    assert invoke("volunteer", "add", "--name", "李明", "--phone", "13900139000").exit_code == 0


def test_a_read_scope_refuses_to_write(sqlite_engine: Engine) -> None:
    from sqlalchemy.exc import OperationalError

    from scheduler.db import read_scope

    with pytest.raises(OperationalError, match="readonly"), read_scope(sqlite_engine) as session:
        session.execute(text("UPDATE volunteer SET name = name"))
    # The pooled connection is writable again for the next writer.
    with session_scope(sqlite_engine) as session:
        session.execute(text("UPDATE volunteer SET name = name"))


def test_run_in_transaction_retries_stay_within_the_lock_timeout(sqlite_url: str, sqlite_engine: Engine) -> None:
    engine = make_engine(sqlite_url, lock_timeout=LOCK_TIMEOUT)
    holder = SqliteWriter(Path(sqlite_url.removeprefix("sqlite:///")))
    try:
        started = time.monotonic()
        with pytest.raises(DatabaseBusy, match="database busy"):
            run_in_transaction(engine, lambda s: s.execute(text("SELECT 1")))
        elapsed = time.monotonic() - started
        assert LOCK_TIMEOUT - 0.2 <= elapsed <= LOCK_TIMEOUT + 1.0, elapsed
    finally:
        holder.release()
        engine.dispose()


# --------------------------------------------------------------------------- PostgreSQL


@pytest.fixture
def pg_invoke(pg_url: str, roster_env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
              lock_timeout: float) -> Iterator[Invoke]:
    """``roster ARGS`` in-process against a fresh PostgreSQL database."""
    from cli import cli

    monkeypatch.setenv("ROSTER_DATABASE_URL", pg_url)
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(cli, list(args), catch_exceptions=False)

    assert run("init").exit_code == 0
    yield run


@pytest.fixture
def pg_holder(pg_url: str) -> Iterator[Engine]:
    """Another session's connection, whose open transaction holds the locks a test takes."""
    engine = make_engine(pg_url, lock_timeout=60)
    yield engine
    engine.dispose()


def test_postgresql_table_lock_lets_reads_through_and_bounds_a_write(pg_invoke: Invoke, pg_holder: Engine) -> None:
    assert pg_invoke("volunteer", "add", "--name", "王芳", "--phone", "13800138000").exit_code == 0
    assert pg_invoke("volunteer", "list").exit_code == 0  # imports done before the clock starts
    with pg_holder.connect() as other, other.begin():
        other.execute(text("LOCK TABLE volunteer IN EXCLUSIVE MODE"))  # writers wait, readers pass
        result, elapsed = timed(pg_invoke, "volunteer", "list")
        assert result.exit_code == 0 and "王芳" in result.output, result.output
        assert elapsed < READ_BOUND, elapsed
        result, elapsed = timed(pg_invoke, "volunteer", "add", "--name", "李明", "--phone", "13900139000")
        assert_busy_within_the_timeout(result, elapsed)
    assert pg_invoke("volunteer", "add", "--name", "李明", "--phone", "13900139000").exit_code == 0


def test_postgresql_row_lock_bounds_an_edit_of_that_row(pg_invoke: Invoke, pg_holder: Engine) -> None:
    assert pg_invoke("volunteer", "add", "--name", "王芳", "--phone", "13800138000").exit_code == 0
    assert pg_invoke("volunteer", "show", "13800138000").exit_code == 0  # imports done before the clock starts
    with pg_holder.connect() as other, other.begin():
        other.execute(text("SELECT id FROM volunteer FOR UPDATE"))
        result, elapsed = timed(pg_invoke, "volunteer", "show", "13800138000")
        assert result.exit_code == 0 and elapsed < READ_BOUND, (result.output, elapsed)
        result, elapsed = timed(pg_invoke, "volunteer", "edit", "13800138000", "--name", "王芳芳")
        assert_busy_within_the_timeout(result, elapsed)
    assert pg_invoke("volunteer", "edit", "13800138000", "--name", "王芳芳").exit_code == 0


# --------------------------------------------------------------------------- messages


def test_duplicate_phone_error_masks_the_number_on_add_and_edit(invoke: Invoke) -> None:
    assert invoke("volunteer", "add", "--name", "王芳", "--phone", "13800138000").exit_code == 0
    assert invoke("volunteer", "add", "--name", "李明", "--phone", "13900139000").exit_code == 0
    added = invoke("volunteer", "add", "--name", "李娜", "--phone", "13800138000")
    edited = invoke("volunteer", "edit", "13900139000", "--phone", "13800138000")
    for result in (added, edited):
        assert result.exit_code == Conflict.exit_code, result.output
        assert "phone: 138****8000 already belongs to volunteer #1" in result.output
        assert "13800138000" not in result.output
