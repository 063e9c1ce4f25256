"""Feed publishing on the synthetic city: full publish cold and warm against an icalendar baseline
measured in the same run, and incremental republish after one roster change at two city sizes.

Usage: .venv/bin/python bench/bench_feeds.py [--sizes 71:400:1000,568:3200:8000] [--changes 50] [--url URL]
       .venv/bin/python bench/bench_feeds.py --full-city   # + the synthetic city: 5,000 branches (~15 min)

For each size (branches:services:volunteers) it builds a fresh city (SQLite in a temp folder unless
``--url`` names an empty PostgreSQL database), plans 12 weeks, seats volunteers in about half the
seats, then prints:

* baseline: the same public feeds built with icalendar ``Event`` objects + ``to_ical()`` (rows
  loaded the same way), and the parse check of the fast output against it. With ``--sample N``
  (default 10 on the full city) the baseline builds only every Nth branch and community feed (a
  deterministic sample; no district feed) and its build time is extrapolated per VEVENT to all the
  VEVENTs of the full publish; the load of the rows is timed once, not extrapolated. The parse
  check then covers the sampled feeds;
* full publish of every public feed (branches, communities, district): cold (empty cache, no
  files) and warm (after an earlier publish, nothing changed);
* incremental: one roster change committed (a seat taken or given back, with its outbox event),
  then mark dirty + publish of the branch, community and volunteer files (district left to its own
  interval): median and p90 over ``--changes`` changes, timed from the commit to the files on disk;
  then a check that the loader's row memo (``calendars.rows.ROW_MEMO``) gives the same rows as a
  fresh load after the changes.

The per-change cost follows the size of the changed community, not the city: ``--sizes
160:1600:9600`` (20 communities of 8 branches and 80 services, as in the full city) reproduces the
full city's community size in about a minute.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Engine, insert, select, text  # noqa: E402

from bench.synthetic_city import build_city  # noqa: E402
from calendars import rows as R  # noqa: E402
from calendars.build import FeedMeta, build_feed_icalendar  # noqa: E402
from calendars.dirty import all_public_keys, mark_dirty, mark_feeds_for_event  # noqa: E402
from calendars.publish import EVENT_CACHE, PublishResult, freeze_grown_caches, publish_dirty  # noqa: E402
from scheduler.db import make_engine, session_scope  # noqa: E402
from scheduler.events import record_event  # noqa: E402
from scheduler.migrate import upgrade  # noqa: E402
from scheduler.models import Assignment, Occurrence, Role, Service  # noqa: E402
from scheduler.planning import plan  # noqa: E402
from scheduler.settings import Settings  # noqa: E402

NOW = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
TODAY = NOW.date()


@dataclass
class Size:
    branches: int
    services: int
    volunteers: int

    @classmethod
    def parse(cls, text: str) -> Size:
        b, s, v = (int(x) for x in text.split(":"))
        return cls(b, s, v)


def seat_volunteers(engine: Engine, seed: int) -> int:
    """Fill about half of the seats of every public and private occurrence, straight into the table."""
    rng = random.Random(seed)
    with session_scope(engine) as s:
        volunteers = list(s.scalars(text("SELECT id FROM volunteer ORDER BY id")))
        roles = defaultdict(list)
        for role_id, service_id, count in s.execute(select(Role.id, Role.service_id, Role.count)):
            roles[service_id].append((role_id, count))
        occurrences = s.execute(select(Occurrence.id, Occurrence.service_id)).all()
        rows = []
        for occ_id, service_id in occurrences:
            taken: set[int] = set()
            for role_id, count in roles[service_id]:
                for seat_no in range(1, count + 1):
                    if rng.random() < 0.5:
                        vid = rng.choice(volunteers)
                        if vid in taken:
                            continue
                        taken.add(vid)
                        rows.append({"occurrence_id": occ_id, "role_id": role_id, "volunteer_id": vid,
                                     "status": "confirmed", "seat_no": seat_no, "sequence": 0,
                                     "forced": False, "created_at": NOW, "updated_at": NOW})
        for i in range(0, len(rows), 5000):
            s.execute(insert(Assignment), rows[i:i + 5000])
    return len(rows)


def build_public_with_icalendar(
    engine: Engine, settings: Settings, sample: int = 1
) -> tuple[dict[str, bytes], float, float]:
    """The baseline: the same public feeds from the same rows, through icalendar objects.

    Returns (feeds, load seconds, build seconds). ``sample > 1`` builds every ``sample``-th branch
    and community feed only (sorted by slug, so the sample is deterministic) and no district feed.
    """
    started = time.perf_counter()
    window = R.feed_window(NOW, settings.tz, settings.horizon_weeks)
    out: dict[str, bytes] = {}
    with session_scope(engine) as s:
        events = R.load_public_events(s, window)
        closures = R.load_closures(s, window)
        branches = R.load_branches(s)
        communities = R.load_communities(s)
    by_branch, by_community = defaultdict(list), defaultdict(list)
    for placed in events:
        if placed.branch_id is not None:
            by_branch[placed.branch_id].append(placed.row)
        by_community[placed.community_id].append(placed.row)
    assert not closures
    loaded = time.perf_counter()
    for b in branches[::sample]:
        out[f"branch:{b.slug}"] = build_feed_icalendar(FeedMeta(b.name, ""), by_branch[b.id], settings.domain)
    for c in communities[::sample]:
        out[f"community:{c.slug}"] = build_feed_icalendar(FeedMeta(c.name, ""), by_community[c.id], settings.domain)
    if sample == 1:
        out["district"] = build_feed_icalendar(FeedMeta("district", ""), [p.row for p in events], settings.domain)
    return out, loaded - started, time.perf_counter() - loaded


def parsed_events(data: bytes) -> list[tuple[object, ...]]:
    import icalendar

    cal = icalendar.Calendar.from_ical(data)
    found = []
    for e in cal.walk("VEVENT"):
        found.append((str(e["UID"]), e["SEQUENCE"], e.decoded("DTSTART"), e.decoded("DTEND"), str(e["SUMMARY"]),
                      str(e.get("LOCATION", "")), str(e["DESCRIPTION"]), str(e["STATUS"]), e.decoded("DTSTAMP")))
    return sorted(found, key=lambda t: str(t[0]))


def publish_public(engine: Engine, settings: Settings) -> tuple[float, PublishResult]:
    with session_scope(engine) as s:
        mark_dirty(s, all_public_keys(s), now=NOW)
    started = time.perf_counter()
    with session_scope(engine) as s:
        result = publish_dirty(s, settings, now=NOW)
    return time.perf_counter() - started, result


def one_change(engine: Engine, rng: random.Random, occurrence_ids: list[int], volunteer_ids: list[int]) -> None:
    """Give back a seat, or take a free one, with its outbox event (as the roster operations do)."""
    with session_scope(engine) as s:
        while True:
            occ_id = rng.choice(occurrence_ids)
            seated = s.scalars(select(Assignment).where(Assignment.occurrence_id == occ_id,
                                                        Assignment.status == "confirmed")).all()
            if seated and rng.random() < 0.5:
                a = seated[0]
                a.status, a.seat_no, a.sequence, a.updated_at = "cancelled", None, a.sequence + 1, NOW
                s.flush()
                record_event(s, "assignment.cancelled", assignment_id=a.id, occurrence_id=occ_id,
                             volunteer_id=a.volunteer_id)
                return
            roles = s.execute(
                select(Role.id, Role.count).join(Occurrence, Occurrence.service_id == Role.service_id)
                .where(Occurrence.id == occ_id)
            ).all()
            taken = {(a.role_id, a.seat_no) for a in seated}
            here = {a.volunteer_id for a in s.scalars(select(Assignment).where(Assignment.occurrence_id == occ_id))}
            for role_id, count in roles:
                free = [n for n in range(1, count + 1) if (role_id, n) not in taken]
                candidates = [v for v in rng.sample(volunteer_ids, 20) if v not in here]
                if free and candidates:
                    a = Assignment(occurrence_id=occ_id, role_id=role_id, volunteer_id=candidates[0],
                                   status="confirmed", seat_no=free[0], updated_at=NOW)
                    s.add(a)
                    s.flush()
                    record_event(s, "assignment.created", assignment_id=a.id, occurrence_id=occ_id,
                                 volunteer_id=a.volunteer_id)
                    return


def incremental(engine: Engine, settings: Settings, changes: int, seed: int) -> tuple[list[float], list[int]]:
    rng = random.Random(seed)
    window = R.feed_window(NOW, settings.tz, settings.horizon_weeks)
    with session_scope(engine) as s:
        occurrence_ids = list(s.scalars(
            select(Occurrence.id).join(Service, Service.id == Occurrence.service_id)
            .where(Occurrence.start_at >= NOW, Occurrence.start_at < window.end, Service.visibility == "public")
        ))
        volunteer_ids = list(s.scalars(text("SELECT id FROM volunteer")))
    times, files = [], []
    for _ in range(changes):
        one_change(engine, rng, occurrence_ids, volunteer_ids)  # committed here
        started = time.perf_counter()
        with session_scope(engine) as s:  # the relay's part
            from scheduler.models import Event

            for event in s.scalars(select(Event).where(Event.relayed_at.is_(None)).order_by(Event.id)):
                mark_feeds_for_event(s, event)
                event.relayed_at = NOW
        with session_scope(engine) as s:
            result = publish_dirty(s, settings, now=NOW, include_district=False)
        times.append(time.perf_counter() - started)
        files.append(result.written + result.unchanged)
    return times, files


def max_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_size(size: Size, changes: int, url: str | None, compare: bool, sample: int = 1, warm_runs: int = 3,
             keep: bool = False) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-feeds-"))
    engine = make_engine(url or f"sqlite:///{tmp}/city.db")
    upgrade(engine)
    setup = time.perf_counter()
    stats = build_city(engine, branches=size.branches, services=size.services, volunteers=size.volunteers, seed=0)
    with session_scope(engine) as s:
        planned = plan(s, TODAY, 12, now=NOW)
        s.execute(text("UPDATE event SET relayed_at = created_at"))  # setup noise, not part of the bench
    seats = seat_volunteers(engine, 1)
    if engine.dialect.name == "postgresql":
        # The bench seats volunteers with plain inserts: give the planner the statistics that
        # autovacuum (off on some servers, this one included) or a bulk fill would have given it.
        with engine.connect() as conn:
            conn.execute(text("ANALYZE"))
            conn.commit()
    settings = Settings.from_env({"ROSTER_HOME": str(tmp), "ROSTER_FEED_DIR": str(tmp / "feeds"),
                                  "ROSTER_DOMAIN": "roster.longcheng.example"})
    print(f"\n== city: {stats.communities} communities, {stats.branches} branches, {stats.services} services, "
          f"{stats.volunteers} volunteers; {planned.created} occurrences planned, {seats} seats taken "
          f"({engine.dialect.name}; set up in {time.perf_counter() - setup:.0f} s)", flush=True)

    if compare:
        reference, load_s, build_s = build_public_with_icalendar(engine, settings, sample)
        sample_events = sum(d.count(b"BEGIN:VEVENT") for d in reference.values())
        label = "all" if sample == 1 else f"every {sample}th branch and community:"
        print(f"baseline icalendar Event + to_ical(), {label} {len(reference)} feeds, {sample_events} VEVENTs: "
              f"load {load_s * 1000:.0f} ms + build {build_s * 1000:.0f} ms "
              f"({build_s / max(sample_events, 1) * 1e6:.0f} us per VEVENT)", flush=True)

        EVENT_CACHE.clear()
        R.ROW_MEMO.clear()
        cold, result = publish_public(engine, settings)
        total_events = sum(p.read_bytes().count(b"BEGIN:VEVENT") for p in settings.feed_dir.rglob("*.ics"))
        total_bytes = sum(p.stat().st_size for p in settings.feed_dir.rglob("*.ics"))
        print(f"full publish, cold:                  {cold * 1000:8.0f} ms  ({result.as_dict()}; {total_events} "
              f"VEVENTs, {total_bytes / 2**20:.0f} MiB)", flush=True)
        runs = []
        for _ in range(warm_runs):
            warm, result = publish_public(engine, settings)
            runs.append(warm)
            print(f"  warm run: {warm * 1000:.0f} ms", flush=True)
        warm = statistics.median(runs)
        print(f"full publish, warm (median of {warm_runs}):    {warm * 1000:8.0f} ms  ({result.as_dict()}; "
              f"cache {len(EVENT_CACHE)} events, max RSS {max_rss_mib():.0f} MiB)")
        if sample == 1:
            baseline = load_s + build_s
            print(f"baseline (measured, all feeds):      {baseline * 1000:8.0f} ms")
        else:
            baseline = load_s + build_s / sample_events * total_events
            print(f"baseline (extrapolated: load + {build_s / sample_events * 1e6:.0f} us x {total_events} VEVENTs): "
                  f"{baseline * 1000:8.0f} ms")
        print(f"warm speed-up over the baseline:     {baseline / warm:8.1f} x   (cold: {baseline / cold:.1f} x)",
              flush=True)

        # Equal on a parse: every feed the baseline built.
        checked = 0
        for key, data in sorted(reference.items()):
            path = settings.feed_dir / (f"{key.split(':')[0]}es/{key.split(':')[1]}.ics" if key.startswith("branch")
                                        else f"communities/{key.split(':')[1]}.ics" if key.startswith("community")
                                        else "district.ics")
            fast = parsed_events(path.read_bytes())
            slow = parsed_events(data)
            assert fast == slow, f"{key}: fast and icalendar output differ on parse"
            checked += 1
        print(f"parse check: fast output equals the icalendar output in all {checked} "
              f"{'feeds' if sample == 1 else 'sampled feeds'} ({sample_events} VEVENTs)", flush=True)

    else:
        EVENT_CACHE.clear()
        R.ROW_MEMO.clear()
        cold, result = publish_public(engine, settings)
        print(f"full publish, cold:                  {cold * 1000:8.0f} ms  ({result.as_dict()})", flush=True)
    freeze_grown_caches()  # as the worker's publish task does after each publish
    times, files = incremental(engine, settings, changes, seed=2)
    ms = sorted(t * 1000 for t in times)
    print(f"incremental (commit -> branch, community, volunteer files), {changes} changes: "
          f"median {statistics.median(ms):.1f} ms, p90 {ms[int(len(ms) * 0.9) - 1]:.1f} ms, max {ms[-1]:.1f} ms, "
          f"{statistics.mean(files):.1f} feeds rebuilt per change", flush=True)
    # The row memo after the changes gives the same rows as a fresh load (it is only a memo).
    window = R.feed_window(NOW, settings.tz, settings.horizon_weeks)
    with session_scope(engine) as s:
        # By occurrence: the order of an unsorted query may differ between two runs (PostgreSQL's
        # parallel scans); the feeds sort their events.
        memoized = {p.row.occurrence_id: p.row for p in R.load_public_events(s, window)}
        fresh = {p.row.occurrence_id: p.row for p in R.load_public_events(s, window, memo=R.RowMemo())}
    assert memoized == fresh, "the row memo gave rows a fresh load does not"
    print(f"row memo check: {len(fresh)} memoized rows equal a fresh load after the changes", flush=True)
    started = time.perf_counter()
    with session_scope(engine) as s:
        result = publish_dirty(s, settings, now=NOW)
    print(f"district feed on its own interval, after the {changes} changes: {(time.perf_counter() - started) * 1000:.0f} "
          f"ms ({result.as_dict()})", flush=True)
    engine.dispose()
    if keep:
        print(f"kept: {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)


FULL_CITY = "5000:50000:300000"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="71:400:1000,568:3200:8000",
                        help="comma-separated branches:services:volunteers (the baseline runs on the first)")
    parser.add_argument("--full-city", action="store_true",
                        help=f"add the synthetic city ({FULL_CITY}) with its own sampled baseline (~15 min)")
    parser.add_argument("--sample", type=int, default=10,
                        help="the full city's baseline builds every Nth branch and community feed (default 10)")
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument("--warm-runs", type=int, default=3)
    parser.add_argument("--url", default=None, help="an empty PostgreSQL database (default: SQLite in a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the temp folders (database, feeds)")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    sizes = [Size.parse(t) for t in args.sizes.split(",") if t]
    if args.url and len(sizes) + args.full_city > 1:
        parser.error("--url takes one city (one empty database): pass one --sizes, or --sizes '' --full-city")
    for i, size in enumerate(sizes):
        run_size(size, args.changes, args.url, compare=i == 0, warm_runs=args.warm_runs, keep=args.keep)
    if args.full_city:
        run_size(Size.parse(FULL_CITY), args.changes, args.url, compare=True, sample=args.sample,
                 warm_runs=args.warm_runs, keep=args.keep)


if __name__ == "__main__":
    main()
