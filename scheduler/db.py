"""Engines and the one-transaction-per-command session scope."""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import DateTime, Engine, create_engine, event, text
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from scheduler.errors import DatabaseBusy
from scheduler.i18n import _

T = TypeVar("T")

#: Seconds a transaction waits for another's lock before ``DatabaseBusy`` (``ROSTER_LOCK_TIMEOUT``): SQLite's
#: busy timeout and ``run_in_transaction``'s retries together, PostgreSQL's ``lock_timeout``. Only lock
#: waits are bounded: a long statement (a city-wide fill) runs as long as it needs.
DEFAULT_LOCK_TIMEOUT = 5.0
#: Execution option that marks a read-only session (``read_scope``).
READ_ONLY_OPTION = "roster_read_only"
#: PostgreSQL's SQLSTATE for a lock wait that ran out (``lock_timeout``).
PG_LOCK_NOT_AVAILABLE = "55P03"

#: The instant (``time.monotonic()``) by which the running ``run_in_transaction`` must have its lock.
_deadline: ContextVar[float | None] = ContextVar("roster_lock_deadline", default=None)


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
    cursor.execute(f"PRAGMA busy_timeout = {connection_record.info['roster.busy_ms']}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.execute("PRAGMA foreign_keys = ON")
    # SQLite's default page cache is 2 MiB; a city-sized database re-reads its indexes from the OS on
    # every query after a write. 64 MiB per connection keeps a community's rows and indexes hot.
    cursor.execute("PRAGMA cache_size = -65536")
    cursor.close()


def _remaining_ms(default_ms: int) -> int:
    deadline = _deadline.get()
    if deadline is None:
        return default_ms
    return max(int((deadline - time.monotonic()) * 1000), 1)


def _sqlite_begin(conn: Any) -> None:
    info = conn.info
    if conn.get_execution_options().get(READ_ONLY_OPTION):
        # A read takes no write lock: WAL gives it a snapshot however long a writer holds the lock.
        # query_only turns an accidental write into an error instead of a lock upgrade.
        if not info.get("roster.query_only"):
            conn.exec_driver_sql("PRAGMA query_only = 1")
            info["roster.query_only"] = True
        conn.exec_driver_sql("BEGIN")
        return
    # pysqlite's deferred BEGIN upgrades to a write lock mid-transaction, which deadlocks two
    # writers (one gets SQLITE_BUSY at once, whatever busy_timeout says). BEGIN IMMEDIATE takes
    # the write lock up front so the second writer waits its turn, no longer than what is left
    # of its run_in_transaction's budget.
    if info.get("roster.query_only"):
        conn.exec_driver_sql("PRAGMA query_only = 0")
        info["roster.query_only"] = False
    busy_ms = _remaining_ms(info["roster.busy_ms"])
    if info.get("roster.busy_set", info["roster.busy_ms"]) != busy_ms:
        conn.exec_driver_sql(f"PRAGMA busy_timeout = {busy_ms}")
        info["roster.busy_set"] = busy_ms
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_checkin(dbapi_connection: Any, connection_record: Any) -> None:
    # A pooled connection leaves a read as a writable connection (raw cursors find it so).
    if connection_record.info.get("roster.query_only"):
        dbapi_connection.execute("PRAGMA query_only = 0")
        connection_record.info["roster.query_only"] = False


def _pg_begin(conn: Any) -> None:
    if conn.get_execution_options().get(READ_ONLY_OPTION):
        conn.exec_driver_sql("SET TRANSACTION READ ONLY")


#: Each engine's lock budget in seconds (``make_engine``'s ``lock_timeout``).
_LOCK_TIMEOUTS: weakref.WeakKeyDictionary[Engine, float] = weakref.WeakKeyDictionary()
_READ_ENGINES: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()


def make_engine(url: str, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT, **kwargs: Any) -> Engine:
    """Create an engine whose lock waits end after ``lock_timeout`` seconds (then ``DatabaseBusy``).

    SQLite gets WAL, a busy timeout, foreign keys and immediate transactions for writers; PostgreSQL
    gets ``lock_timeout`` on every connection.
    """
    busy_ms = max(int(lock_timeout * 1000), 1)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": lock_timeout}, **kwargs)

        @event.listens_for(engine, "connect", insert=True)
        def _busy_budget(dbapi_connection: Any, connection_record: Any) -> None:
            connection_record.info["roster.busy_ms"] = busy_ms

        event.listen(engine, "connect", _sqlite_pragmas)

        @event.listens_for(engine, "connect")
        def _no_pysqlite_begin(dbapi_connection: Any, connection_record: Any) -> None:
            dbapi_connection.isolation_level = None

        event.listen(engine, "begin", _sqlite_begin)
        event.listen(engine, "checkin", _sqlite_checkin)
    else:
        connect_args = dict(kwargs.pop("connect_args", {}))
        if url.startswith("postgresql"):
            # libpq's startup options: the setting holds for the session, whatever the transactions do.
            options = connect_args.get("options", "")
            connect_args["options"] = f"{options} -c lock_timeout={busy_ms}".strip()
        engine = create_engine(url, pool_pre_ping=True, connect_args=connect_args, **kwargs)
        if url.startswith("postgresql"):
            event.listen(engine, "begin", _pg_begin)
    _LOCK_TIMEOUTS[engine] = lock_timeout
    return engine


def lock_timeout_of(engine: Engine) -> float:
    """Seconds ``engine``'s transactions wait for a lock."""
    return _LOCK_TIMEOUTS.get(engine, DEFAULT_LOCK_TIMEOUT)


_ENGINES: dict[str, Engine] = {}
def engine_for(url: str, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> Engine:
    """One engine per URL per process (the first call's ``lock_timeout`` holds)."""
    engine = _ENGINES.get(url)
    if engine is None:
        engine = _ENGINES[url] = make_engine(url, lock_timeout=lock_timeout)
    return engine


def dispose_engines() -> None:
    for engine in _ENGINES.values():
        engine.dispose()
    _ENGINES.clear()


def is_lock_wait(exc: OperationalError) -> bool:
    """A lock wait that ran out: SQLite's busy timeout, PostgreSQL's ``lock_timeout``."""
    code = getattr(exc.orig, "pgcode", None) or getattr(exc.orig, "sqlstate", None)
    if code == PG_LOCK_NOT_AVAILABLE:
        return True
    message = str(exc.orig)
    return "database is locked" in message or "database is busy" in message


def _busy(engine: Engine) -> DatabaseBusy:
    seconds = f"{lock_timeout_of(engine):g}"
    return DatabaseBusy(_("database busy: another process holds a lock (waited {seconds} s, "
                          "ROSTER_LOCK_TIMEOUT); try again in a moment").format(seconds=seconds))


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any error; a lock wait that ran out is
    ``DatabaseBusy`` (exit 8)."""
    session = sessionmaker(bind=engine, expire_on_commit=False)()
    try:
        yield session
        session.commit()
    except OperationalError as exc:
        session.rollback()
        if is_lock_wait(exc):
            raise _busy(engine) from exc
        raise
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def read_engine(engine: Engine) -> Engine:
    """``engine`` for read-only sessions: SQLite's deferred BEGIN (no write lock), PostgreSQL's
    ``READ ONLY`` transactions; same pool, same events."""
    reader = _READ_ENGINES.get(engine)
    if reader is None:
        reader = _READ_ENGINES[engine] = engine.execution_options(**{READ_ONLY_OPTION: True})
    return reader


@contextmanager
def read_scope(engine: Engine) -> Iterator[Session]:
    """One read-only transaction: never takes SQLite's write lock, so a listing never waits for a
    writer; writing in it is an error. Rolled back at the end (nothing to commit)."""
    session = sessionmaker(bind=read_engine(engine), expire_on_commit=False)()
    try:
        yield session
    except OperationalError as exc:
        if is_lock_wait(exc):
            raise _busy(engine) from exc
        raise
    finally:
        session.rollback()
        session.close()


def run_in_transaction(engine: Engine, work: Callable[[Session], T], attempts: int = 3, via: str | None = None) -> T:
    """Run ``work`` in one transaction, retrying a lock SQLite refused at once; every wait, retries
    included, ends within the engine's lock timeout (then ``DatabaseBusy``). ``via`` ("cli", "web")
    is recorded in the events the transaction writes (``session.info["via"]``)."""
    deadline = time.monotonic() + lock_timeout_of(engine)
    token = _deadline.set(deadline)
    try:
        for attempt in range(attempts):
            try:
                with session_scope(engine) as session:
                    if via is not None:
                        session.info["via"] = via
                    return work(session)
            except DatabaseBusy:
                pause = 0.1 * (attempt + 1)
                if attempt == attempts - 1 or time.monotonic() + pause >= deadline:
                    raise
                time.sleep(pause)
    finally:
        _deadline.reset(token)
    raise AssertionError("unreachable")


def run_read(engine: Engine, work: Callable[[Session], T]) -> T:
    """Run ``work`` in one read-only transaction (``read_scope``)."""
    with read_scope(engine) as session:
        return work(session)


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

