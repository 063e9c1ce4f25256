"""Hours at city scale: check-in/out latency, reports and the export over many attendance records.

Builds a synthetic city (bench/synthetic_city.py), one occurrence per service per week of 2026 and
``--records`` approved attendance rows, then prints timings with their baselines measured in the
same run:

* check-in + check-out through ``scheduler.attendance`` (one transaction each, as the CLI does)
  against a bare one-row insert transaction;
* ``hours_report`` by volunteer/branch/community/month and ``export_rows`` + ``export_csv`` over a
  month and over the year, against a bare SQL ``SUM(minutes) GROUP BY volunteer_id`` over the same
  range (the least any report must do).

Usage: python bench/bench_hours.py [--records 200000] [--url sqlite:///var/bench_hours.db]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.synthetic_city import _chunks, build_city  # noqa: E402
from scheduler import attendance as att  # noqa: E402
from scheduler.attendance import hours  # noqa: E402
from scheduler.db import make_engine, session_scope  # noqa: E402
from scheduler.models import Attendance, Event, Occurrence, Service, Volunteer  # noqa: E402


def _timed(work: Callable[[], object], runs: int = 3) -> float:
    """Median seconds of ``runs`` calls."""
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def _populate(engine: Engine, records: int, volunteers: int, seed: int, reserved: int = 0) -> tuple[list[int], int]:
    """Weekly occurrences through 2026 and ``records`` approved attendance rows (none for the last
    ``reserved`` volunteers, whom the check-in timing uses)."""
    rng = random.Random(seed)
    with session_scope(engine) as s:
        services = list(s.execute(select(Service.id, Service.duration_minutes)))
        first_volunteer = s.scalar(select(func.min(Volunteer.id))) or 1
    monday = datetime(2026, 1, 5, 8, 30, tzinfo=UTC)
    occurrence_rows = []
    occ_id = 1
    occurrences: list[tuple[int, datetime, int]] = []
    for service_id, duration in services:
        for week in range(51):
            start = monday + timedelta(weeks=week, days=service_id % 5)
            occurrence_rows.append({
                "id": occ_id, "service_id": service_id, "original_start": start, "start_at": start,
                "end_at": start + timedelta(minutes=duration), "status": "scheduled", "pinned": False,
                "provisional": False, "sequence": 0, "created_at": start, "updated_at": start,
            })
            occurrences.append((occ_id, start, duration))
            occ_id += 1
    with engine.begin() as conn:
        for batch in _chunks(occurrence_rows):
            conn.execute(Occurrence.__table__.insert(), batch)

    def attendance_rows():  # type: ignore[no-untyped-def]
        for i in range(records):
            oid, start, duration = occurrences[rng.randrange(len(occurrences))]
            minutes = max(15, duration - rng.randrange(0, 30))
            yield {
                "id": i + 1, "volunteer_id": first_volunteer + rng.randrange(volunteers - reserved), "occurrence_id": oid,
                "assignment_id": None, "check_in": start, "check_out": start + timedelta(minutes=minutes),
                "minutes": minutes, "status": "approved", "recorded_by": "bench", "approved_by": "auto",
                "approved_at": start, "created_at": start,
            }

    with engine.begin() as conn:
        for batch in _chunks(attendance_rows()):
            conn.execute(Attendance.__table__.insert(), batch)
    if engine.dialect.name == "postgresql":
        from bench.synthetic_city import _fix_sequences

        _fix_sequences(engine, (Occurrence.__table__, Attendance.__table__))
    # Fresh statistics, as autovacuum would have after a bulk load: without them PostgreSQL plans
    # the report's joins as nested loops over "1 row" and takes seconds instead of milliseconds.
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    return [o[0] for o in occurrences], first_volunteer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--volunteers", type=int, default=20_000)
    parser.add_argument("--services", type=int, default=700)
    parser.add_argument("--branches", type=int, default=71)
    parser.add_argument("--pairs", type=int, default=200, help="check-in/out pairs timed one by one")
    parser.add_argument("--url", default=None, help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    tmp = tempfile.TemporaryDirectory()
    url = args.url or f"sqlite:///{tmp.name}/hours.db"
    engine = make_engine(url)
    started = time.perf_counter()
    build_city(engine, branches=args.branches, services=args.services, volunteers=args.volunteers,
               seed=args.seed, communities=11)
    occurrence_ids, first_volunteer = _populate(engine, args.records, args.volunteers, args.seed, reserved=args.pairs)
    print(f"database: {engine.dialect.name}; city: {args.branches} branches, {args.services} services, "
          f"{args.volunteers} volunteers, {len(occurrence_ids)} occurrences, {args.records} attendance records "
          f"(built in {time.perf_counter() - started:.1f} s)")

    # --- check-in/out, one transaction each (the CLI's shape), against a bare insert transaction.
    with session_scope(engine) as s:
        late = list(s.execute(select(Occurrence.id, Occurrence.start_at, Occurrence.end_at)
                              .where(Occurrence.start_at >= datetime(2026, 12, 1, tzinfo=UTC))
                              .order_by(Occurrence.id).limit(args.pairs)))
    fresh = [first_volunteer + args.volunteers - 1 - i for i in range(len(late))]
    pair_times = []
    for (occ, start, end), vol in zip(late, fresh, strict=True):
        t0 = time.perf_counter()
        with session_scope(engine) as s:
            att.checkin(s, str(vol), occ, now=start, by="bench")
        with session_scope(engine) as s:
            att.checkout(s, str(vol), occ, now=end, by="bench")
        pair_times.append(time.perf_counter() - t0)

    def bare_insert() -> None:
        with session_scope(engine) as s:
            s.add(Event(kind="attendance.recorded", payload={}))

    bare = [_timed(bare_insert, runs=1) for _ in range(args.pairs)]
    print(f"check-in + check-out (2 transactions): median {statistics.median(pair_times) * 1000:.1f} ms, "
          f"p90 {sorted(pair_times)[int(len(pair_times) * 0.9)] * 1000:.1f} ms; "
          f"baseline one-row insert transaction: median {statistics.median(bare) * 1000:.1f} ms")

    # --- reports and export against the bare aggregate.
    ranges = {"December": (date(2026, 12, 1), date(2026, 12, 31)), "year 2026": (date(2026, 1, 1), date(2026, 12, 31))}
    for label, (first, last) in ranges.items():
        since, until = hours.date_range(first, last, ZoneInfo("Asia/Shanghai"))
        with session_scope(engine) as s:
            in_range = s.scalar(select(func.count()).select_from(Attendance).where(
                Attendance.check_in >= since, Attendance.check_in < until, Attendance.status == "approved"))

        def bare_sum(since: datetime | None = since, until: datetime | None = until) -> object:
            with session_scope(engine) as s:
                return list(s.execute(
                    select(Attendance.volunteer_id, func.sum(Attendance.minutes))
                    .where(Attendance.check_in >= since, Attendance.check_in < until, Attendance.status == "approved")
                    .group_by(Attendance.volunteer_id)))

        print(f"{label}: {in_range} records; baseline SQL SUM GROUP BY volunteer: {_timed(bare_sum) * 1000:.0f} ms")
        for dimension in hours.REPORT_DIMENSIONS:
            def report(dimension: str = dimension, first: date = first, last: date = last) -> object:
                with session_scope(engine) as s:
                    return hours.hours_report(s, dimension, first, last)

            print(f"  hours_report --by {dimension:<9}: {_timed(report) * 1000:.0f} ms")

        def export(first: date = first, last: date = last) -> object:
            with session_scope(engine) as s:
                return hours.export_csv(hours.export_rows(s, first, last))

        print(f"  export_rows + export_csv    : {_timed(export, runs=1) * 1000:.0f} ms")
    engine.dispose()
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
