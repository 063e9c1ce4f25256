"""Benchmark: ``plan`` over a 12-week horizon on a synthetic city, SQLite and PostgreSQL.

Prints, per backend: occurrences materialised per second (one transaction, commit included), and the
rows a second, no-change run wrote (counted by the planner and checked independently in the tables).
Baseline in the same run: plain dateutil expansion of every service's RRULE, no holidays, no database.

    python bench/bench_plan.py                      # the default city: 5,000 branches, 50,000 services
    python bench/bench_plan.py --services 5000 --branches 500 --backends sqlite
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import uuid
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import Engine, create_engine, func, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.synthetic_city import build_city  # noqa: E402
from scheduler.db import make_engine, session_scope  # noqa: E402
from scheduler.models import Event, Occurrence, Service  # noqa: E402
from scheduler.planning import plan  # noqa: E402

TODAY = date(2026, 3, 2)


def baseline(engine: Engine, today: date, weeks: int) -> tuple[int, float]:
    """Plain dateutil: expand each service's rule from its first date at its time; nothing else."""
    from datetime import time as dtime
    from datetime import timedelta

    from dateutil.rrule import rrulestr

    with session_scope(engine) as session:
        rows = session.execute(select(Service.rrule, Service.start_date, Service.start_time)).all()
    lo = datetime.combine(today, dtime(0))
    hi = datetime.combine(today + timedelta(weeks=weeks) - timedelta(days=1), dtime(23, 59))
    started = time.perf_counter()
    count = 0  # wall time; run on a quiet machine, the figures compare
    for rule, start, hhmm in rows:
        hour, minute = int(hhmm[:2]), int(hhmm[3:])
        count += len(rrulestr(rule, dtstart=datetime.combine(start, dtime(hour, minute))).between(lo, hi, inc=True))
    return count, time.perf_counter() - started


def table_fingerprint(engine: Engine) -> tuple[int, int, object, int]:
    with session_scope(engine) as session:
        return (
            session.scalar(select(func.count()).select_from(Occurrence)) or 0,
            session.scalar(select(func.count()).select_from(Event)) or 0,
            session.scalar(select(func.max(Occurrence.updated_at))),
            session.scalar(select(func.sum(Occurrence.sequence))) or 0,
        )


def run_backend(name: str, url: str, args: argparse.Namespace) -> dict[str, float]:
    engine = make_engine(url)
    stats = build_city(engine, args.branches, args.services, args.volunteers, seed=0)
    print(f"[{name}] city: {stats.communities} communities, {stats.branches} branches, {stats.services} services, "
          f"{stats.roles} roles, {stats.volunteers} volunteers, built in {stats.seconds:.1f} s")
    if name == "sqlite":
        count, seconds = baseline(engine, TODAY, args.weeks)
        print(f"[baseline] dateutil expansion, no holidays, no database: {count} occurrences in {seconds:.2f} s "
              f"= {count / seconds:,.0f} occurrences/s")
    started, cpu = time.perf_counter(), time.process_time()
    with session_scope(engine) as session:
        first = plan(session, TODAY, args.weeks)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    rate = first.created / elapsed
    print(f"[{name}] plan {TODAY}+{args.weeks}w: {first.created} occurrences created, {first.events} events, "
          f"{elapsed:.2f} s wall (commit included; {cpu:.2f} s CPU in this process) = {rate:,.0f} occurrences/s")
    before = table_fingerprint(engine)
    started = time.perf_counter()
    with session_scope(engine) as session:
        again = plan(session, TODAY, args.weeks)
    re_elapsed = time.perf_counter() - started
    after = table_fingerprint(engine)
    print(f"[{name}] re-plan, nothing changed: {again.rows_written} rows written by the planner; tables "
          f"{'unchanged' if before == after else 'CHANGED'} (count, events, max updated_at, sum sequence); "
          f"{again.unchanged} occurrences checked in {re_elapsed:.2f} s")
    engine.dispose()
    return {"rate": rate, "replan_rows": again.rows_written}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark plan() on a synthetic city.")
    parser.add_argument("--branches", type=int, default=5000)
    parser.add_argument("--services", type=int, default=50000)
    parser.add_argument("--volunteers", type=int, default=20000,
                        help="volunteers do not enter planning; the default keeps the run short")
    parser.add_argument("--weeks", type=int, default=12)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg-admin-url", default=os.environ.get(
        "ROSTER_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args(argv)
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, {platform.platform()}")
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if "sqlite" in backends:
        with tempfile.TemporaryDirectory() as folder:
            run_backend("sqlite", f"sqlite:///{folder}/bench.db", args)
    if "postgresql" in backends:
        name = f"roster_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(args.pg_admin_url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        except Exception as exc:  # report and go on: the SQLite figures still stand
            print(f"[postgresql] skipped: cannot create a database ({exc.__class__.__name__})")
            return 0
        try:
            run_backend("postgresql", args.pg_admin_url.rsplit("/", 1)[0] + f"/{name}", args)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
