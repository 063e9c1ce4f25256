"""Shared fixtures: databases built by running the migrations, on SQLite and PostgreSQL.

Set ``ROSTER_REQUIRE_SERVICES=1`` (CI does) to turn a skip for a missing service into a failure.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session

from scheduler.db import make_engine, session_scope
from scheduler.migrate import upgrade

# The suite reads English (the message ids); tests of the Chinese interface choose it themselves
# (ROSTER_LANG=zh_CN in their environment, or scheduler.i18n.using). Subprocesses inherit this.
os.environ["ROSTER_LANG"] = os.environ.get("ROSTER_TEST_LANG", "en")

PG_ADMIN_URL = os.environ.get("ROSTER_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("ROSTER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRE_SERVICES = os.environ.get("ROSTER_REQUIRE_SERVICES") == "1"


def pytest_configure(config: pytest.Config) -> None:
    """Refuse a libfaketime run that would hang: ``make test-dates`` sets up the clocks it needs."""
    preload = os.environ.get("LD_PRELOAD", "")
    if "libfaketime" in preload and not (
            os.environ.get("FAKETIME_DONT_FAKE_MONOTONIC") == "1" and "monotonic_sleep" in preload):
        raise pytest.UsageError(
            "under libfaketime with a faked monotonic clock, Python's timed lock waits never return; "
            "run `make test-dates` (or see its recipe in the Makefile for the variables it sets)")
    if "libfaketime" in preload:
        # pytest puts PYTEST_CURRENT_TEST into the environment three times a test; libfaketime reads
        # the environment from any thread that asks the time, and a putenv racing that getenv crashed
        # an xdist worker (SIGSEGV in a dated run). Nothing here reads the variable.
        import _pytest.runner

        _pytest.runner._update_current_test_var = lambda item, when: None  # type: ignore[assignment]


def server_env() -> dict[str, str]:
    """The environment for a server the tests start (redis-server): without libfaketime, which it does
    not survive. Like PostgreSQL, a server keeps the real clock; our code takes time from Python only."""
    return {k: v for k, v in os.environ.items() if k != "LD_PRELOAD" and not k.startswith("FAKETIME")}


def service_missing(reason: str) -> None:
    """Skip, or fail when CI requires every service."""
    if REQUIRE_SERVICES:
        pytest.fail(f"required service unavailable: {reason}")
    pytest.skip(reason)


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def pg_available() -> bool:
    return _port_open("127.0.0.1", 5432)


@pytest.fixture(scope="session")
def redis_url() -> str:
    if not _port_open("127.0.0.1", 6379):
        service_missing("Redis is not running on 127.0.0.1:6379")
    return REDIS_URL


def _fresh_pg_database(pg_available: bool) -> Iterator[str]:
    if not pg_available:
        service_missing("PostgreSQL is not running on 127.0.0.1:5432")
    name = f"roster_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        from scheduler.db import dispose_engines

        dispose_engines()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/roster.db"


@pytest.fixture
def pg_url(pg_available: bool) -> Iterator[str]:
    yield from _fresh_pg_database(pg_available)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, pg_available: bool) -> Iterator[str]:
    """A fresh, migrated-to-nothing database URL on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/roster.db"
    else:
        yield from _fresh_pg_database(pg_available)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A migrated engine, on SQLite and on PostgreSQL."""
    eng = make_engine(db_url)
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    """A migrated engine on a fresh PostgreSQL database (for what only PostgreSQL has)."""
    eng = make_engine(pg_url)
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[Engine]:
    eng = make_engine(sqlite_url)
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """One ``session_scope`` on a fresh database: it commits when the test body returns and rolls
    back when it raises (each test gets its own database, so nothing leaks between tests)."""
    with session_scope(engine) as s:
        yield s


@pytest.fixture
def roster_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment for CLI runs against a fresh SQLite database under tmp_path."""
    env = {
        "ROSTER_HOME": str(tmp_path / "var"),
        "ROSTER_DATABASE_URL": f"sqlite:///{tmp_path}/cli.db",
        "ROSTER_FEED_DIR": str(tmp_path / "feeds"),
        "ROSTER_BROKER_URL": f"sqla+sqlite:///{tmp_path}/broker.db",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def cli_runner(roster_env: dict[str, str]) -> CliRunner:
    return CliRunner()


@pytest.fixture
def invoke(cli_runner: CliRunner, roster_env: dict[str, str]):  # type: ignore[no-untyped-def]
    """Run ``roster ARGS`` in-process against the fresh database; migrations run first."""
    from cli import cli
    from scheduler.db import dispose_engines

    first = cli_runner.invoke(cli, ["init"], catch_exceptions=False)
    assert first.exit_code == 0, first.output

    def run(*args: str, input: str | None = None):  # type: ignore[no-untyped-def]
        return cli_runner.invoke(cli, list(args), input=input, catch_exceptions=False)

    yield run
    dispose_engines()


@pytest.fixture
def roster_on_db(engine: Engine, db_url: str, tmp_path: Path) -> Iterator[Callable[..., Result]]:
    """``roster ARGS`` on the test's database (SQLite or PostgreSQL), in English unless ``lang=``."""
    from cli import cli
    from scheduler.db import dispose_engines

    env = {"ROSTER_DATABASE_URL": db_url, "ROSTER_HOME": str(tmp_path / "home"),
           "ROSTER_FEED_DIR": str(tmp_path / "feeds"), "ROSTER_BROKER_URL": f"sqla+sqlite:///{tmp_path}/b.db"}

    def run(*args: str, lang: str = "en") -> Result:
        return CliRunner().invoke(cli, list(args), env={**env, "ROSTER_LANG": lang}, catch_exceptions=False)

    yield run
    dispose_engines()
