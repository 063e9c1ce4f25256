"""Engines and the one-transaction-per-command session scope."""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import DateTime, Engine, create_engine, event, text
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from scheduler.errors import DatabaseBusy

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 30_000


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime stored as naive UTC, read back aware (SQLite and PostgreSQL alike)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where an aware one is required")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    # WAL lets the CLI read while a worker writes; busy_timeout makes writers wait instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.execute("PRAGMA foreign_keys = ON")
    # SQLite's default page cache is 2 MiB; a city-sized database re-reads its indexes from the OS on
    # every query after a write. 64 MiB per connection keeps a community's rows and indexes hot.
    cursor.execute("PRAGMA cache_size = -65536")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    # pysqlite's deferred BEGIN upgrades to a write lock mid-transaction, which deadlocks two
    # writers (one gets SQLITE_BUSY at once, whatever busy_timeout says). BEGIN IMMEDIATE takes
    # the write lock up front so the second writer waits its turn.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL, a busy timeout, foreign keys and immediate transactions."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)

        @event.listens_for(engine, "connect")
        def _no_pysqlite_begin(dbapi_connection: Any, connection_record: Any) -> None:
            dbapi_connection.isolation_level = None

        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


_ENGINES: dict[str, Engine] = {}
#: Per-engine defaults copied into every session's ``info`` (quiet hours, default channel...).
_SESSION_DEFAULTS: weakref.WeakKeyDictionary[Engine, dict[str, Any]] = weakref.WeakKeyDictionary()


def set_session_defaults(engine: Engine, info: dict[str, Any]) -> None:
    """Settings that operations read from ``session.info`` for every session on ``engine``."""
    _SESSION_DEFAULTS[engine] = dict(info)


def engine_for(url: str) -> Engine:
    """One engine per URL per process."""
    engine = _ENGINES.get(url)
    if engine is None:
        engine = _ENGINES[url] = make_engine(url)
    return engine


def dispose_engines() -> None:
    for engine in _ENGINES.values():
        engine.dispose()
    _ENGINES.clear()


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any error."""
    session = sessionmaker(bind=engine, expire_on_commit=False)()
    session.info.update(_SESSION_DEFAULTS.get(engine, {}))
    try:
        yield session
        session.commit()
    except OperationalError as exc:
        session.rollback()
        if "database is locked" in str(exc) or "database is busy" in str(exc):
            raise DatabaseBusy("database is locked by another writer; try again in a moment") from exc
        raise
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def run_in_transaction(engine: Engine, work: Callable[[Session], T], attempts: int = 3) -> T:
    """Run ``work`` in one transaction, retrying when SQLite stays locked past its busy timeout."""
    for attempt in range(attempts):
        try:
            with session_scope(engine) as session:
                return work(session)
        except DatabaseBusy:
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


#: Rows a bulk write must add before it refreshes the planner's statistics itself.
ANALYZE_AFTER_ROWS = 50_000


def analyze_after_bulk_write(session: Session, tables: Sequence[str], rows: int) -> bool:
    """``ANALYZE`` tables a bulk write just grew (PostgreSQL), in its transaction.

    Query plans follow the statistics: a city's first plan (a million occurrences) or a fill (a million
    seats) into tables analysed while small make PostgreSQL scan whole tables where an index would do
    (a community's feed: 226 ms instead of 30-40 ms at the full city). Autovacuum would fix that within
    a minute or so, when it runs (it is off on some servers); doing it here costs a second. SQLite
    plans without gathered statistics and is left alone.
    """
    if rows < ANALYZE_AFTER_ROWS or session.get_bind().dialect.name != "postgresql":
        return False
    for table in tables:
        session.execute(text(f"ANALYZE {table}"))
    return True

