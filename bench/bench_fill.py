"""Auto-fill at city scale and at Longcheng's size, against a naive per-candidate greedy.

Builds a synthetic city (bench/synthetic_city.py) in a fresh database, plans 4 weeks of
occurrences (scheduler.planning), then prints:

* ``fill`` over the whole city for 4 weeks: wall time per phase, seats filled / left open, and
  the peak memory of the process that ran it (a fresh child process: ``ru_maxrss``);
* the same at Longcheng's size (11 communities, 71 branches, a few hundred seats a week);
* the baseline, in the same run: a naive greedy that, for every open seat, asks the database about
  each candidate (skill, overlap, monthly cap, load) and inserts one row at a time. It runs on
  Longcheng whole and on the first ``--baseline-seats`` seats of the city; the city figure is
  extrapolated linearly per seat, and says so.
* the floor, in the same run, on the city: a bare bulk write of the very seat rows the fill wrote
  (same columns and values, read back from the filled database) into a copy of the database taken
  just before the fill (same schema, indexes and foreign keys): ``COPY`` on PostgreSQL, the
  driver's ``executemany`` on SQLite, one transaction, commit included; and the fill's ratio to it.
  A fill writes no before-shift reminder row (the dispatcher's scan derives them), so the seats,
  one "assigned" notice per volunteer and one event per 500 seats are all it writes.

Usage: python bench/bench_fill.py [--url postgresql+psycopg2://postgres@127.0.0.1:5432/postgres]
       [--full-city] [--branches N --services N --volunteers N] [--baseline-seats 200]
The default city is a tenth of the synthetic city (500 branches, 5000 services, 30000 volunteers)
so that a default run stays near 3 minutes; ``--full-city`` runs 5000 / 50000 / 300000 (~10 min).
A PostgreSQL URL names the admin database: the bench creates and drops its own databases.
``--url sqlite:///path/dir`` runs on SQLite files in that folder instead.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.orm import sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.synthetic_city import build_city  # noqa: E402
from scheduler import rosters  # noqa: E402
from scheduler.db import make_engine, session_scope  # noqa: E402
from scheduler.migrate import upgrade  # noqa: E402
from scheduler.models import SEATED_STATUSES, Assignment, Branch, Occurrence, Role, Volunteer  # noqa: E402

FIRST = date(2026, 3, 2)  # a Monday
WEEKS = 4
LAST = FIRST + timedelta(days=7 * WEEKS - 1)
NOW = datetime(2026, 3, 1, tzinfo=UTC)


@contextmanager
def fresh_database(url: str, label: str) -> Iterator[str]:
    if url.startswith("sqlite"):
        folder = Path(url.split("///", 1)[1])
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"bench_fill_{label}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        yield f"sqlite:///{path}"
        return
    with server_database(url, f"roster_bench_fill_{label}_{uuid.uuid4().hex[:8]}") as created:
        yield created


@contextmanager
def server_database(url: str, name: str, template: str | None = None) -> Iterator[str]:
    """A database ``name`` created on the PostgreSQL server ``url`` names (empty, or a copy of
    ``template``), dropped at the end; yields its URL."""
    admin = create_engine(url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
    try:
        yield url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def database_copy(url: str, label: str) -> Iterator[str]:
    """A copy of the database at ``url`` as it is now (PostgreSQL: ``CREATE DATABASE ... TEMPLATE``,
    no one may be connected; SQLite: the backup API), dropped at the end."""
    if url.startswith("sqlite"):
        import sqlite3

        source = Path(url.split("///", 1)[1])
        target = source.with_name(f"{source.stem}_{label}.db")
        for suffix in ("", "-wal", "-shm"):
            Path(str(target) + suffix).unlink(missing_ok=True)
        src, dst = sqlite3.connect(source), sqlite3.connect(target)
        src.backup(dst)
        src.close()
        dst.close()
        try:
            yield f"sqlite:///{target}"
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(str(target) + suffix).unlink(missing_ok=True)
        return
    source_name = url.rsplit("/", 1)[1]
    with server_database(url, f"{source_name}_{label}"[:63], template=source_name) as copied:
        yield copied


#: The columns a fill writes for a seat (scheduler.rosters.fill.rows.SEAT_COLUMNS).
BULK_COLUMNS = ("occurrence_id", "role_id", "volunteer_id", "status", "seat_no", "forced", "explanation",
                "sequence", "created_at", "updated_at")


def bare_bulk_write(filled_url: str, empty_url: str) -> dict[str, Any]:
    """The floor: the filled database's seat rows, read back as they are stored, written in one bulk
    statement into the copy taken before the fill (same schema, indexes, foreign keys). Only the
    write and its commit are timed."""
    cols = ", ".join(BULK_COLUMNS)
    if filled_url.startswith("sqlite"):
        import sqlite3

        src = sqlite3.connect(filled_url.split("///", 1)[1])
        rows = src.execute(f"SELECT {cols} FROM assignment ORDER BY id").fetchall()
        src.close()
        dst = sqlite3.connect(empty_url.split("///", 1)[1], isolation_level=None)
        for pragma in ("journal_mode = WAL", "synchronous = NORMAL", "foreign_keys = ON", "cache_size = -65536"):
            dst.execute(f"PRAGMA {pragma}")  # as scheduler.db sets every connection
        started = time.perf_counter()
        dst.execute("BEGIN IMMEDIATE")
        dst.executemany(f"INSERT INTO assignment ({cols}) VALUES ({', '.join('?' for _ in BULK_COLUMNS)})", rows)
        dst.execute("COMMIT")
        seconds = time.perf_counter() - started
        count = dst.execute("SELECT count(*) FROM assignment").fetchone()[0]
        dst.close()
        return {"seconds": seconds, "rows": count, "how": "executemany"}
    import io

    import psycopg2

    dsn = filled_url.replace("postgresql+psycopg2://", "postgresql://")
    buffer = io.BytesIO()
    with psycopg2.connect(dsn) as src, src.cursor() as cur:
        cur.copy_expert(f"COPY (SELECT {cols} FROM assignment ORDER BY id) TO STDOUT", buffer)
    src.close()
    data = buffer.getvalue()
    dst = psycopg2.connect(empty_url.replace("postgresql+psycopg2://", "postgresql://"))
    try:
        started = time.perf_counter()
        with dst.cursor() as cur:
            cur.copy_expert(f"COPY assignment ({cols}) FROM STDIN", io.BytesIO(data), size=1 << 24)
        dst.commit()
        seconds = time.perf_counter() - started
        with dst.cursor() as cur:
            cur.execute("SELECT count(*) FROM assignment")
            count = cur.fetchone()[0]  # type: ignore[index]
    finally:
        dst.close()
    return {"seconds": seconds, "rows": count, "how": "COPY", "mib": len(data) / 2**20}


def prepare(url: str, branches: int, services: int, volunteers: int, communities: int | None) -> dict[str, Any]:
    from scheduler.planning import plan

    engine = make_engine(url)
    upgrade(engine)
    started = time.perf_counter()
    build_city(engine, branches=branches, services=services, volunteers=volunteers, communities=communities)
    built = time.perf_counter() - started
    started = time.perf_counter()
    with session_scope(engine) as s:
        plan(s, FIRST, WEEKS, now=NOW)
    planned = time.perf_counter() - started
    with session_scope(engine) as s:
        occurrences = s.scalar(select(func.count()).select_from(Occurrence)) or 0
        seats = s.scalar(select(func.sum(Role.count)).select_from(Occurrence)
                         .join(Role, Role.service_id == Occurrence.service_id)) or 0
    engine.dispose()
    return {"build_s": built, "plan_s": planned, "occurrences": occurrences, "seats": seats}


def _peak_rss_mib() -> float:
    """This process's peak resident set (VmHWM; ru_maxrss would carry the parent's over exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _fill_child(url: str, out: Any) -> None:
    from scheduler.rosters.fill import fill

    engine = make_engine(url)
    rss_before = _peak_rss_mib()
    started = time.perf_counter()
    with session_scope(engine) as s:
        result = fill(s, FIRST, LAST, now=NOW)
    wall = time.perf_counter() - started
    out.put({"wall_s": wall, "filled": result.filled, "left_open": result.left_open, "seats": result.seats,
             "occurrences": result.occurrences, "timings": result.timings,
             "rss_before_mib": rss_before, "peak_rss_mib": _peak_rss_mib()})
    engine.dispose()


def run_fill(url: str) -> dict[str, Any]:
    """Fill 4 weeks in a fresh process, so that its peak RSS is the fill's own."""
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    child = ctx.Process(target=_fill_child, args=(url, out))
    child.start()
    data: dict[str, Any] = out.get(timeout=1800)
    child.join()
    return data


# --------------------------------------------------------------------------- the naive baseline


@dataclass
class NaiveResult:
    seats: int = 0
    filled: int = 0
    seconds: float = 0.0


def naive_fill(engine: Engine, max_seats: int | None) -> NaiveResult:
    """Greedy with a query per candidate: the shape auto-fill replaces.

    For each open seat in start order: list the branch's (then the community's) active volunteers;
    for each one ask the database whether it already has a row there, its checks
    (``rosters.check_reasons``: overlap and monthly-cap queries) and its shift count over the
    trailing 28 days; take the least loaded; insert one row. Rolled back at the end.
    """
    result = NaiveResult()
    started = time.perf_counter()
    session = sessionmaker(bind=engine)()
    try:
        occurrences = list(session.scalars(select(Occurrence).where(
            Occurrence.status == "scheduled", Occurrence.start_at >= datetime(2026, 3, 1, 16, tzinfo=UTC),
            Occurrence.start_at < datetime(2026, 3, 29, 16, tzinfo=UTC)).order_by(Occurrence.start_at, Occurrence.id)))
        for occ in occurrences:
            service = occ.service
            pools = [Volunteer.home_branch_id == service.branch_id] if service.branch_id else []
            pools.append(Volunteer.home_branch_id.in_(select(Branch.id).where(
                Branch.community_id == service.community_id)))
            for role in service.roles:
                for _ in range(len(rosters.free_seats(session, occ.id, role))):
                    if max_seats is not None and result.seats >= max_seats:
                        return result
                    result.seats += 1
                    best: tuple[int, int] | None = None
                    for pool in pools:
                        for vol in session.scalars(select(Volunteer).where(Volunteer.active.is_(True), pool)
                                                   .order_by(Volunteer.id)):
                            if session.scalar(select(Assignment.id).where(
                                    Assignment.occurrence_id == occ.id, Assignment.volunteer_id == vol.id)):
                                continue
                            if rosters.check_reasons(session, vol, occ, role):
                                continue
                            load = session.scalar(
                                select(func.count()).select_from(Assignment)
                                .join(Occurrence, Occurrence.id == Assignment.occurrence_id)
                                .where(Assignment.volunteer_id == vol.id, Assignment.status.in_(SEATED_STATUSES),
                                       Occurrence.start_at >= occ.start_at - timedelta(days=28))) or 0
                            if best is None or (load, vol.id) < best:
                                best = (load, vol.id)
                        if best is not None:
                            break
                    if best is None:
                        continue
                    seat = rosters.free_seats(session, occ.id, role)[0]
                    session.add(Assignment(occurrence_id=occ.id, role_id=role.id, volunteer_id=best[1],
                                           status="invited", seat_no=seat))
                    session.flush()
                    result.filled += 1
        return result
    finally:
        result.seconds = time.perf_counter() - started
        session.rollback()
        session.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", default="postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--branches", type=int, default=500)
    parser.add_argument("--services", type=int, default=5000)
    parser.add_argument("--volunteers", type=int, default=30000)
    parser.add_argument("--full-city", action="store_true", help="5000 branches, 50000 services, 300000 volunteers.")
    parser.add_argument("--baseline-seats", type=int, default=200,
                        help="Seats the naive baseline fills before its time is extrapolated.")
    parser.add_argument("--only", choices=("longcheng", "city"), help="Run one of the two sizes.")
    args = parser.parse_args(argv)
    if args.full_city:
        args.branches, args.services, args.volunteers = 5000, 50000, 300000
    print(f"python {sys.version.split()[0]}, {multiprocessing.cpu_count()} cores, "
          f"{args.url.split(':', 1)[0]}; fill {FIRST}..{LAST} ({WEEKS} weeks)")

    if args.only != "city":
        longcheng(args)
    if args.only != "longcheng":
        city(args)
    return 0


def longcheng(args: argparse.Namespace) -> None:
    with fresh_database(args.url, "longcheng") as url:
        info = prepare(url, branches=71, services=140, volunteers=700, communities=11)
        print(f"\nLongcheng: 11 communities, 71 branches, 140 services, 700 volunteers: "
              f"{info['occurrences']} occurrences, {info['seats']} seats in 4 weeks")
        fast = run_fill(url)
        print(f"  fill:  {fast['wall_s'] * 1000:8.0f} ms  filled {fast['filled']}, left open {fast['left_open']}, "
              f"phases {fast['timings']}, peak RSS {fast['peak_rss_mib']:.0f} MiB")
    with fresh_database(args.url, "longcheng_naive") as url:
        prepare(url, branches=71, services=140, volunteers=700, communities=11)
        engine = make_engine(url)
        naive = naive_fill(engine, args.baseline_seats)
        engine.dispose()
        per_seat = naive.seconds / max(naive.seats, 1)
        print(f"  naive: {naive.seconds:8.1f} s  for the first {naive.seats} open seats ({per_seat * 1000:.1f} ms a "
              f"seat, filled {naive.filled}); extrapolated to all {fast['seats']} seats: "
              f"{per_seat * fast['seats']:.0f} s, {per_seat * fast['seats'] / fast['wall_s']:.0f}x the fill")


def city(args: argparse.Namespace) -> None:
    with fresh_database(args.url, "city") as url:
        info = prepare(url, args.branches, args.services, args.volunteers, None)
        print(f"\ncity: {args.branches} branches, {args.services} services, {args.volunteers} volunteers "
              f"(built in {info['build_s']:.0f} s, planned in {info['plan_s']:.0f} s): "
              f"{info['occurrences']} occurrences, {info['seats']} seats in 4 weeks")
        engine = make_engine(url)
        naive = naive_fill(engine, args.baseline_seats)
        engine.dispose()
        per_seat = naive.seconds / max(naive.seats, 1)
        print(f"  naive: {naive.seconds:6.1f} s for the first {naive.seats} seats ({per_seat * 1000:.1f} ms a seat, "
              f"filled {naive.filled}, rolled back); extrapolated to {info['seats']} seats: "
              f"{per_seat * info['seats'] / 3600:.1f} h")
        with database_copy(url, "bare") as bare_url:
            big = run_fill(url)
            print(f"  fill:  {big['wall_s']:6.1f} s  filled {big['filled']}, left open {big['left_open']} "
                  f"of {big['seats']} seats; phases {big['timings']}")
            print(f"         peak RSS {big['peak_rss_mib']:.0f} MiB (before the fill {big['rss_before_mib']:.0f} MiB); "
                  f"vs naive extrapolated: {per_seat * info['seats'] / big['wall_s']:.0f}x faster")
            engine = make_engine(url)
            with session_scope(engine) as s:
                written = {"assignment": s.scalar(text("SELECT count(*) FROM assignment")),
                           "reminder": s.scalar(text("SELECT count(*) FROM reminder")),
                           "event (assignment.created)": s.scalar(
                               text("SELECT count(*) FROM event WHERE kind = 'assignment.created'"))}
            engine.dispose()
            print(f"         rows in the database after the fill: {written}")
            floor = bare_bulk_write(url, bare_url)
            print(f"  floor: {floor['seconds']:6.1f} s  bare {floor['how']} of the same {floor['rows']} seat rows into "
                  f"the pre-fill copy (indexes and foreign keys in place); fill / floor = "
                  f"{big['wall_s'] / floor['seconds']:.2f}x")


if __name__ == "__main__":
    raise SystemExit(main())
