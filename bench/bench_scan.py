"""The reminder scan (``scheduler.reminders.scan.scan_due``) on a city-sized roster, 1,000 due.

Builds the synthetic city (bench/synthetic_city.py; ``--full-city``: 5,000 branches, 50,000
services, 300,000 volunteers), plans 4 weeks (2026-03-02..03-29, about 411,000 occurrences), and
seats every seat of every occurrence with one bulk ``INSERT ... SELECT`` (about 1.43 M seats; the
volunteers are spread so that no one holds two seats of an occurrence). No reminder row exists.
Every outbox event is marked scanned. The bench picks the reminder instant (start - offset, for
each of the service's offsets: the city's are 1440 and 120 minutes) whose seats come closest to
``--due`` (instants come in groups: many services start on the hour; the full city's smallest holds
3,549 seats), seats only a prefix of that group's occurrences holding about ``--due`` seats (the
rest of the group stays open), sets ``reminder_scan.scanned_to`` a second before the instant and
``now`` so that ``now + lookahead`` is that instant: the scan a second after the previous one,
with about ``--due`` seats due. Then ``scan_due`` runs ``--repeats`` times, each in its own
transaction rolled back at the end (the database is the same every time); median and max, and:

* the floor: a no-op scan (``scanned_to`` at ``now + lookahead``: nothing due, nothing to record);
* the same 1,000 due on a roster a tenth of the size: the bench seats a tenth of the occurrences
  (and every occurrence whose seats are due) first, measures, then seats the rest and measures again.

The scan runs with the default policy (quiet hours 22:00-07:30: the lookahead is their length).

Usage: python bench/bench_scan.py [--url postgresql+psycopg2://postgres@127.0.0.1:5432/postgres
       | --url sqlite:////tmp/dir] [--full-city] [--due 1000] [--repeats 15]
The default city is a tenth of the full one (quick: ~1 min); ``--full-city`` is the issue's case.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_fill import FIRST, NOW, WEEKS, fresh_database  # noqa: E402
from bench.synthetic_city import build_city  # noqa: E402
from scheduler.db import make_engine, session_scope  # noqa: E402
from scheduler.migrate import upgrade  # noqa: E402
from scheduler.models import Assignment, Occurrence, ReminderScan, Role, Service  # noqa: E402
from scheduler.policy import DEFAULT_POLICY  # noqa: E402
from scheduler.reminders.scan import lookahead, scan_due  # noqa: E402

#: The scan's clock: a Tuesday morning inside the planned weeks (08:00 in Shanghai).
SCAN_NOW = datetime(2026, 3, 10, 0, 0, tzinfo=UTC)


def _naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None)


def seat(engine: Engine, where: str) -> int:
    """Seat every seat of the occurrences matching ``where`` (SQL on ``o``): one statement."""
    dialect = engine.dialect.name
    stamp = "'2026-03-01 00:00:00'" if dialect == "postgresql" else "'2026-03-01 00:00:00.000000'"
    with engine.begin() as conn:
        top = conn.scalar(select(func.max(Role.count))) or 1
        lo, hi = conn.execute(text("SELECT min(id), max(id) FROM volunteer")).one()
        span = hi - lo + 1
        # k numbers an occurrence's seats 0..n-1 (roles in id order): the volunteer is taken from
        # a place in the volunteer ids that depends on the occurrence, so no one holds two seats of one.
        result = conn.execute(text(f"""
            WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < {top}),
            seats AS (
                SELECT o.id AS occurrence_id, r.id AS role_id, s.n AS seat_no,
                       row_number() OVER (PARTITION BY o.id ORDER BY r.id, s.n) - 1 AS k
                FROM occurrence o JOIN role r ON r.service_id = o.service_id JOIN seq s ON s.n <= r.count
                WHERE o.status = 'scheduled' AND ({where}))
            INSERT INTO assignment (occurrence_id, role_id, volunteer_id, status, seat_no, forced, sequence,
                                    created_at, updated_at)
            SELECT occurrence_id, role_id, {lo} + ((CAST(occurrence_id AS BIGINT) * 7919 + k) % {span}), 'invited', seat_no,
                   {'false' if dialect == 'postgresql' else '0'}, 0, {stamp}, {stamp}
            FROM seats"""))
        count = int(result.rowcount or 0)
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    return count


def choose_instant(engine: Engine, due: int) -> tuple[datetime, int]:
    """The reminder instant (start - offset) whose seats, counted from the roles (every seat is
    taken), come closest to ``due``: a weekday in the planned weeks, so the roster around it is full.
    Instants come in groups (many services start on the hour), so the count is near ``due``, not equal."""
    with session_scope(engine) as s:
        offsets = {sid: [int(o) for o in offs or ()] for sid, offs in s.execute(
            select(Service.id, Service.reminder_offsets))}
        capacity = dict(s.execute(select(Role.service_id, func.sum(Role.count)).group_by(Role.service_id)).all())
        rows = s.execute(select(Occurrence.service_id, Occurrence.start_at)
                         .where(Occurrence.status == "scheduled")).all()
    by_instant: dict[datetime, int] = {}
    for sid, start in rows:
        start = start if start.tzinfo else start.replace(tzinfo=UTC)
        for offset in offsets.get(sid, ()):
            at = start - timedelta(minutes=offset)
            by_instant[at] = by_instant.get(at, 0) + int(capacity.get(sid, 0))
    window = (datetime(2026, 3, 9, tzinfo=UTC), datetime(2026, 3, 21, tzinfo=UTC))
    candidates = sorted((abs(n - due), at, n) for at, n in by_instant.items() if window[0] <= at < window[1])
    _, at, n = candidates[0]
    return at, n


def due_prefix(engine: Engine, near: str, due: int) -> tuple[list[int], int]:
    """The due group's occurrences (``near``, SQL on ``o``) in id order, as many as hold at most
    ``due`` seats (at least one), and their seats."""
    with engine.connect() as conn:
        rows = conn.execute(text(f"SELECT o.id, (SELECT sum(r.count) FROM role r WHERE r.service_id = o.service_id) "
                                 f"FROM occurrence o WHERE o.status = 'scheduled' AND {near} ORDER BY o.id")).all()
    chosen, seats = [], 0
    for oid, count in rows:
        if chosen and seats + int(count or 0) > due:
            break
        chosen.append(int(oid))
        seats += int(count or 0)
    return chosen, seats


def set_state(engine: Engine, scanned_to: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE event SET reminders_scanned_at = :t WHERE reminders_scanned_at IS NULL"),
                     {"t": _naive(NOW)})
        conn.execute(delete(ReminderScan))
        conn.execute(insert(ReminderScan).values(id=1, scanned_to=scanned_to))


def time_scan(engine: Engine, now: datetime, repeats: int) -> dict[str, Any]:
    seconds = []
    recorded = seats = 0
    for _ in range(repeats):
        with engine.connect() as conn:
            from sqlalchemy.orm import Session

            session = Session(bind=conn)
            conn.begin()
            started = time.perf_counter()
            result = scan_due(session, now, policy=DEFAULT_POLICY)
            session.flush()
            seconds.append(time.perf_counter() - started)
            recorded, seats = result.recorded, result.seats
            session.close()
            conn.rollback()
    return {"median_ms": statistics.median(seconds) * 1000, "max_ms": max(seconds) * 1000,
            "min_ms": min(seconds) * 1000, "recorded": recorded, "seats": seats}


def measure(engine: Engine, label: str, instant: datetime, expected: int, repeats: int) -> None:
    """Time the scan whose window holds ``instant`` only: ``scanned_to`` a second before it, and
    ``now`` such that ``now + lookahead`` is the instant (the scan one second after the last)."""
    ahead = lookahead(DEFAULT_POLICY.quiet_hours)
    now = instant - ahead
    with session_scope(engine) as s:
        roster = s.scalar(select(func.count()).select_from(Assignment)) or 0
    set_state(engine, instant - timedelta(seconds=1))
    hit = time_scan(engine, now, repeats)
    set_state(engine, instant)
    floor = time_scan(engine, now, repeats)
    print(f"  {label}: {roster:,} seats on the roster; scan at {now.isoformat()} (lookahead {ahead}), "
          f"window (instant - 1 s, instant = {instant.isoformat()}]")
    print(f"    scan, {hit['recorded']:,} recorded ({expected:,} expected, {hit['seats']:,} seats looked at): "
          f"median {hit['median_ms']:.1f} ms, min {hit['min_ms']:.1f}, max {hit['max_ms']:.1f} ms "
          f"({repeats} runs, each rolled back)")
    print(f"    floor, no-op scan (nothing due): median {floor['median_ms']:.1f} ms, min {floor['min_ms']:.1f}, "
          f"max {floor['max_ms']:.1f} ms (recorded {floor['recorded']})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", default="postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--full-city", action="store_true")
    parser.add_argument("--due", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args(argv)
    size = (5000, 50000, 300000) if args.full_city else (500, 5000, 30000)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, {args.url.split(':', 1)[0]}; "
          f"city {size[0]} branches / {size[1]} services / {size[2]} volunteers, {WEEKS} weeks from {FIRST}; "
          f"scan at {SCAN_NOW.isoformat()}, load average {os.getloadavg()[0]:.2f}")
    from scheduler.planning import plan

    with fresh_database(args.url, "scan") as url:
        engine = make_engine(url)
        upgrade(engine)
        started = time.perf_counter()
        build_city(engine, branches=size[0], services=size[1], volunteers=size[2])
        with session_scope(engine) as s:
            plan(s, FIRST, WEEKS, now=NOW)
        print(f"  city built and planned in {time.perf_counter() - started:.0f} s")
        instant, group = choose_instant(engine, args.due)
        # The due instant's occurrences: a prefix of them (by id) holding about --due seats is
        # seated in both rosters, the rest of that group left open (an instant's group is whole
        # occurrences: 3,549 seats at the full city's smallest); the others a tenth, then all.
        ahead = lookahead(DEFAULT_POLICY.quiet_hours)
        owed = [_naive(instant + timedelta(minutes=m)) for m in (120, 1440)]  # the city's offsets
        suffix = "" if engine.dialect.name == "postgresql" else ".000000"
        near = "o.start_at IN (" + ", ".join(f"'{at}{suffix}'" for at in owed) + ")"
        chosen, expected = due_prefix(engine, near, args.due)
        print(f"  due instant {instant.isoformat()}: its occurrences hold {group:,} seats; "
              f"{len(chosen):,} of them ({expected:,} seats) are seated, the rest left open")
        mine = "o.id IN (" + ", ".join(str(i) for i in chosen) + ")"
        assert ahead >= timedelta(0)
        started = time.perf_counter()
        seated = seat(engine, f"{mine} OR (o.id % 10 = 0 AND NOT {near})")
        print(f"  seated {seated:,} in {time.perf_counter() - started:.0f} s")
        measure(engine, "a tenth of the roster", instant, expected, args.repeats)
        started = time.perf_counter()
        seated += seat(engine, f"NOT {near} AND o.id % 10 <> 0")
        print(f"  seated the rest: {seated:,} in all ({time.perf_counter() - started:.0f} s)")
        measure(engine, "whole roster", instant, expected, args.repeats)
        print(f"  load average at the end {os.getloadavg()[0]:.2f}")
        engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
