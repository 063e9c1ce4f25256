"""Auto-fill (自动排班): fill open seats fairly and deterministically, and explain each choice.

Rules, in order, for every open seat (occurrences by start time, then id; roles by id):

1. Only volunteers who pass every check a coordinator's ``assign`` applies: active, the role's
   skill, a weekly availability window covering the shift, no blackout date, no overlapping shift
   (never a double booking), the monthly cap including this shift, not already on a row of this
   occurrence (someone who declined is not asked again).
2. The service's own branch first, then the rest of its community (a community-run service draws
   on the whole community at once).
3. Within a tier: fewer recent no-shows (90 days) first, then fewer minutes served over the trailing
   window (28 days before ``first``, plus what is already rostered up to ``last``, including what
   this run adds), then least recently served, then the lowest volunteer id.

Scale: everything is loaded in a handful of queries (occurrences, roles, volunteers, assignments
around the range), computed in memory, and written in bulk: no query per candidate. Candidates come
off a heap in rank order (the same order as sorting the pool). On PostgreSQL the seats are COPYed
by a writer thread, a batch at a time, while the plan goes on (the server's index and foreign-key
work runs on the other core), and each batch's before-shift reminder rows follow it in the same
transaction, made by one INSERT ... SELECT from the seats (only a row per occurrence and offset goes
over the wire). SQLite writes at the end with executemany. A seat a coordinator took while the fill
was computing is skipped and reported, never double-booked (UNIQUE(occurrence_id, role_id,
seat_no) is the arbiter: the batch falls back to ``ON CONFLICT DO NOTHING``).
"""

from __future__ import annotations

import gc
import io
import json
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from heapq import heapify, heappop, heappush
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from scheduler.db import analyze_after_bulk_write, utcnow
from scheduler.errors import InvalidInput
from scheduler.models import (
    SEATED_STATUSES,
    Assignment,
    Branch,
    Event,
    Occurrence,
    Reminder,
    Role,
    Service,
    Volunteer,
)
from scheduler.organisations import get_branch, get_community
from scheduler.reminders import (
    DEFAULT_CHANNEL,
    DEFAULT_QUIET_HOURS,
    QUIET_HOURS_KEY,
    parse_quiet_hours,
    quiet_adjusted,
)
from scheduler.rosters import (
    available,
    blackout_days,
    describe_span,
    get_assignment,
    span_key,
    zone,
)
from scheduler.volunteers.skills import canonical_or_same

TRAILING_DAYS = 28
NO_SHOW_DAYS = 90
MAX_DAYS = 92
RULE = ("own branch first, then the community; then fewest no-shows in 90 days, fewest minutes served "
        "(28 days before the run plus what is rostered), least recently served, lowest id")
#: Served load counts shifts held or done; a no-show is not service.
LOAD_STATUSES = ("invited", "confirmed", "attended")


@dataclass(slots=True)
class Placement:
    occurrence_id: int
    service: str
    start: str
    role: str
    role_id: int
    seat_no: int
    volunteer_id: int
    volunteer: str
    tier: str
    choice: tuple[Any, ...]
    assignment_id: int | None = None


@dataclass(slots=True)
class OpenSeats:
    occurrence_id: int
    service: str
    start: str
    role: str
    open: int
    reason: str


@dataclass
class FillResult:
    first: date
    last: date
    dry_run: bool
    occurrences: int = 0
    seats: int = 0
    already_taken: int = 0
    placements: list[Placement] = field(default_factory=list)
    open_seats: list[OpenSeats] = field(default_factory=list)
    lost_races: int = 0
    #: Volunteers owed an "assigned" notice (one each, however many seats they got).
    notified: int = 0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def filled(self) -> int:
        return len(self.placements)

    @property
    def left_open(self) -> int:
        return sum(o.open for o in self.open_seats)

    def as_dict(self) -> dict[str, Any]:
        return {
            "first": self.first.isoformat(), "last": self.last.isoformat(), "dry_run": self.dry_run,
            "occurrences": self.occurrences, "seats": self.seats, "already_taken": self.already_taken,
            "filled": self.filled, "left_open": self.left_open, "lost_races": self.lost_races,
            "notified": self.notified,
            "placements": [
                {"occurrence_id": p.occurrence_id, "service": p.service, "start": p.start, "role": p.role,
                 "seat_no": p.seat_no, "volunteer_id": p.volunteer_id, "volunteer": p.volunteer, "tier": p.tier,
                 "assignment_id": p.assignment_id}
                for p in self.placements
            ],
            "open_seats": [
                {"occurrence_id": o.occurrence_id, "service": o.service, "start": o.start, "role": o.role,
                 "open": o.open, "reason": o.reason}
                for o in self.open_seats
            ],
        }


@dataclass(slots=True)
class _Vol:
    id: int
    name: str
    branch: int
    community: int
    skills: frozenset[str]
    availability: dict[str, Any]
    blackout: frozenset[str]
    cap_minutes: int
    #: The preferred channel; empty for the configured default.
    channel: str
    no_shows: int = 0
    load: int = 0
    last: int = 0
    busy: list[tuple[int, int]] | None = None


def _ts(value: datetime) -> int:
    return int(value.timestamp())


def _utc_day(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


class _Planner:
    """The in-memory state of one fill: candidates, their rank keys, bookings and month totals.

    Pools are cut by (branch or community, skill) and, inside, by availability pattern: a city has
    few distinct weekly patterns, so "who is free mon 16:30-18:30" is decided once per pattern.
    """

    def __init__(self, vols: dict[int, _Vol]) -> None:
        self.vols = vols
        self.by_branch: dict[int, list[int]] = defaultdict(list)
        self.by_community: dict[int, list[int]] = defaultdict(list)
        self.pattern_of: dict[int, int] = {}
        self.patterns: list[dict[str, Any]] = []
        seen: dict[str, int] = {}
        for vid in sorted(vols):
            vol = vols[vid]
            self.by_branch[vol.branch].append(vid)
            self.by_community[vol.community].append(vid)
            signature = repr(sorted((k, list(w)) for k, w in vol.availability.items()))
            number = seen.get(signature)
            if number is None:
                number = seen[signature] = len(self.patterns)
                self.patterns.append(vol.availability)
            self.pattern_of[vid] = number
        #: The rank key of each volunteer, updated as seats are given out.
        self.keys: dict[int, tuple[int, int, int, int]] = {}
        #: Minutes rostered per (year, month) per volunteer, for the monthly cap.
        self.month: dict[tuple[int, int], dict[int, int]] = defaultdict(dict)
        self.at_occurrence: dict[int, set[int]] = defaultdict(set)
        self.taken: dict[tuple[int, int], set[int]] = defaultdict(set)
        self._skilled: dict[tuple[str, int, str | None], list[int]] = {}
        self._by_pattern: dict[tuple[str, int, str | None], list[tuple[int, list[int]]]] = {}
        self._fits: dict[tuple[int, tuple[int, str, str] | None], bool] = {}
        self._eligible: dict[tuple[str, int, str | None, tuple[int, str, str] | None], list[int]] = {}

    def rekey(self) -> None:
        self.keys = {vid: (vol.no_shows, vol.load, vol.last, vid) for vid, vol in self.vols.items()}

    def skilled(self, scope: str, key: int, skill: str | None) -> list[int]:
        cache_key = (scope, key, skill)
        found = self._skilled.get(cache_key)
        if found is None:
            pool = self.by_branch[key] if scope == "branch" else self.by_community[key]
            found = pool if skill is None else [vid for vid in pool if skill in self.vols[vid].skills]
            self._skilled[cache_key] = found
        return found

    def eligible(self, scope: str, key: int, skill: str | None, span: tuple[int, str, str] | None) -> list[int]:
        """Volunteers of a pool with the skill and a window covering the span (static checks, cached)."""
        cache_key = (scope, key, skill, span)
        found = self._eligible.get(cache_key)
        if found is None:
            groups = self._by_pattern.get((scope, key, skill))
            if groups is None:
                grouped: dict[int, list[int]] = defaultdict(list)
                for vid in self.skilled(scope, key, skill):
                    grouped[self.pattern_of[vid]].append(vid)
                groups = self._by_pattern[(scope, key, skill)] = sorted(grouped.items())
            found = []
            for pattern, members in groups:
                fits = self._fits.get((pattern, span))
                if fits is None:
                    fits = self._fits[(pattern, span)] = available(self.patterns[pattern], span)
                if fits:
                    found.extend(members)
            self._eligible[cache_key] = found
        return found


def _load_scope(session: Session, branch: str | None, community: str | None) -> Any:
    query = select(Service.id).where(Service.active.is_(True))
    if branch:
        query = query.where(Service.branch_id == get_branch(session, branch).id)
    if community:
        query = query.where(Service.community_id == get_community(session, community).id)
    return query


def fill(session: Session, first: date, last: date, branch: str | None = None, community: str | None = None,
         dry_run: bool = False, now: datetime | None = None) -> FillResult:
    """Fill the open seats of occurrences whose local date is in ``first``..``last``; see the module doc."""
    # A city's fill allocates millions of small acyclic tuples: the cyclic collector's passes over
    # them cost a quarter of the run and free nothing, so it is paused for the call.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _fill(session, first, last, branch, community, dry_run, now)
    finally:
        if collecting:
            gc.enable()


def _fill(session: Session, first: date, last: date, branch: str | None, community: str | None,
          dry_run: bool, now: datetime | None) -> FillResult:
    if last < first:
        raise InvalidInput("to", "the last date is before the first")
    if (last - first).days >= MAX_DAYS:
        raise InvalidInput("to", f"fill at most {MAX_DAYS} days at once")
    if branch and community:
        raise InvalidInput("branch", "give a branch or a community, not both")
    now = now or utcnow()
    result = FillResult(first=first, last=last, dry_run=dry_run)
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        tick = time.perf_counter()
        result.timings[name] = round(tick - clock, 3)
        clock = tick

    scope = _load_scope(session, branch, community)
    # Zones are at most a day off UTC: load a day either side, then keep the local dates wanted.
    lo, hi = _utc_day(first) - timedelta(days=1), _utc_day(last) + timedelta(days=2)
    occ_rows = session.execute(
        select(Occurrence.id, Occurrence.service_id, Occurrence.start_at, Occurrence.end_at)
        .where(Occurrence.status == "scheduled", Occurrence.start_at >= lo, Occurrence.start_at < hi,
               Occurrence.start_at > now, Occurrence.service_id.in_(scope))
        .order_by(Occurrence.start_at, Occurrence.id)
    ).all()
    service_ids = sorted({row[1] for row in occ_rows})
    services: dict[int, Any] = {}
    roles: dict[int, list[Any]] = defaultdict(list)
    for chunk in _chunked(service_ids, 20000):
        for row in session.execute(select(
                Service.id, Service.slug, Service.branch_id, Service.community_id, Service.timezone,
                Service.reminder_offsets).where(Service.id.in_(chunk))):
            services[row[0]] = row
        for row in session.execute(select(Role.id, Role.service_id, Role.name, Role.count, Role.skill)
                                   .where(Role.service_id.in_(chunk)).order_by(Role.id)):
            roles[row[1]].append(row)
    occurrences = []
    for occ_id, service_id, start_at, end_at in occ_rows:
        tz = zone(services[service_id][4])
        local_start, local_end = start_at.astimezone(tz), end_at.astimezone(tz)
        if first <= local_start.date() <= last:
            occurrences.append((occ_id, service_id, start_at, end_at, local_start, local_end))
    result.occurrences = len(occurrences)
    lap("load_occurrences")

    communities = sorted({services[sid][3] for sid in service_ids})
    branch_community: dict[int, int] = {}
    for chunk in _chunked(communities, 20000):
        for bid, cid in session.execute(select(Branch.id, Branch.community_id).where(Branch.community_id.in_(chunk))):
            branch_community[bid] = cid
    vols: dict[int, _Vol] = {}
    if occurrences:
        wanted_branches = select(Branch.id).where(Branch.community_id.in_(communities)) if len(communities) < 20000 \
            else select(Branch.id)
        for row in session.execute(select(
                Volunteer.id, Volunteer.name, Volunteer.home_branch_id, Volunteer.skills, Volunteer.availability,
                Volunteer.blackout_dates, Volunteer.monthly_cap_hours, Volunteer.preferred_channel)
                .where(Volunteer.active.is_(True), Volunteer.home_branch_id.in_(wanted_branches))):
            vid, name, home, skills, availability, blackout, cap, channel = row
            community_id = branch_community.get(home)
            if community_id is None:
                continue
            vols[vid] = _Vol(
                id=vid, name=name, branch=home, community=community_id,
                skills=frozenset(canonical_or_same(s) for s in skills or ()), availability=availability or {},
                blackout=frozenset(blackout or ()), cap_minutes=(cap or 0) * 60,
                channel=channel or "")
    lap("load_volunteers")

    planner = _Planner(vols)
    # Existing rows around the range: load (trailing window), bookings (overlap), month totals (cap),
    # seats taken and who already has a row at each occurrence.
    month_lo = _utc_day(first.replace(day=1)) - timedelta(days=1)
    win_lo = min(_utc_day(first) - timedelta(days=TRAILING_DAYS), month_lo)
    last_month_end = (last.replace(day=1) + timedelta(days=32)).replace(day=1)
    win_hi = _utc_day(last_month_end) + timedelta(days=1)
    load_from = _ts(_utc_day(first) - timedelta(days=TRAILING_DAYS))
    target_ids = {occ[0] for occ in occurrences}
    if occurrences:
        rows = session.execute(
            select(Assignment.occurrence_id, Assignment.role_id, Assignment.volunteer_id, Assignment.seat_no,
                   Assignment.status, Occurrence.status, Occurrence.start_at, Occurrence.end_at, Service.timezone)
            .join(Occurrence, Occurrence.id == Assignment.occurrence_id)
            .join(Service, Service.id == Occurrence.service_id)
            .where(Occurrence.start_at >= win_lo, Occurrence.start_at < win_hi)
        )
        month = planner.month
        for occ_id, role_id, vid, seat_no, status, occ_status, start_at, end_at, tz_name in rows:
            if occ_id in target_ids:
                planner.at_occurrence[occ_id].add(vid)
                if seat_no is not None:
                    planner.taken[(occ_id, role_id)].add(seat_no)
            vol = vols.get(vid)
            if vol is None or status not in SEATED_STATUSES or occ_status != "scheduled":
                continue
            start, end = _ts(start_at), _ts(end_at)
            minutes = (end - start) // 60
            local = start_at.astimezone(zone(tz_name))
            totals = month[(local.year, local.month)]
            totals[vid] = totals.get(vid, 0) + minutes
            if vol.busy is None:
                vol.busy = []
            vol.busy.append((start, end))
            if status in LOAD_STATUSES and start >= load_from:
                vol.load += minutes
                vol.last = max(vol.last, start)
        no_show_from = _utc_day(first) - timedelta(days=NO_SHOW_DAYS)
        for vid, count in session.execute(
                select(Assignment.volunteer_id, func.count())
                .join(Occurrence, Occurrence.id == Assignment.occurrence_id)
                .where(Assignment.status == "no_show", Occurrence.start_at >= no_show_from,
                       Occurrence.start_at < _utc_day(first) + timedelta(days=1))
                .group_by(Assignment.volunteer_id)):
            if vid in vols:
                vols[vid].no_shows = count
    planner.rekey()
    lap("load_assignments")

    streamer = None
    if not dry_run and session.get_bind().dialect.name == "postgresql":
        streamer = _SeatStreamer(session, now, _Dues(session, services, occurrences, vols, now))
    try:
        _plan(planner, occurrences, services, roles, result, streamer)
    except BaseException:
        if streamer is not None:
            streamer.abort()  # the caller's transaction rolls back what it wrote
        raise
    inserted = streamer.close(result.placements) if streamer is not None else None
    # Streamed, the seats and their reminder rows went in during the plan: the phase is both.
    lap("compute" if streamer is None else "compute_and_write_seats")
    if streamer is not None:  # of which the writer thread's database work (overlapping the plan)
        result.timings.update({name: round(value, 3) for name, value in streamer.seconds.items()})
    if not dry_run and result.placements:
        _write(session, result, services, occurrences, vols, now, inserted)
    lap("write")
    if not dry_run and analyze_after_bulk_write(session, ["assignment", "reminder"], len(result.placements)):
        lap("analyze")
    return result


def _chunked(items: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _plan(planner: _Planner, occurrences: list[tuple[Any, ...]], services: dict[int, Any],
          roles: dict[int, list[Any]], result: FillResult, streamer: _SeatStreamer | None = None) -> None:
    """The greedy pass: occurrences by start, roles by id, candidates by rank key (see module doc).
    With a streamer, the seats chosen so far are handed to it every ``STREAM_BATCH`` seats."""
    vols = planner.vols
    keys = planner.keys
    rank = keys.__getitem__
    placements = result.placements
    start_texts: dict[tuple[int, str], str] = {}
    for occ_id, service_id, start_at, end_at, local_start, local_end in occurrences:
        service = services[service_id]
        slug, branch_id, community_id = service[1], service[2], service[3]
        span = span_key(local_start, local_end)
        days = frozenset(blackout_days(local_start, local_end))
        start, end = _ts(start_at), _ts(end_at)
        minutes = (end - start) // 60
        totals = planner.month[(local_start.year, local_start.month)]
        here = planner.at_occurrence[occ_id]
        start_text = start_texts.get((start, service[4]))
        if start_text is None:  # few distinct start times: format each once
            start_text = start_texts[(start, service[4])] = local_start.strftime("%Y-%m-%d %H:%M")
        if streamer is not None and len(placements) >= streamer.next_at:
            streamer.feed(placements)
        for role_id, _, role_name, count, skill in roles[service_id]:
            skill = canonical_or_same(skill) if skill else None  # one vocabulary: 医生 = doctor
            taken = planner.taken.get((occ_id, role_id), ())
            result.seats += count
            result.already_taken += len(taken)
            need = count - len(taken)
            if need <= 0:
                continue
            free = [n for n in range(1, count + 1) if n not in taken]
            tiers: tuple[tuple[str, list[int], int | None], ...]
            if branch_id is not None:
                tiers = (("branch", planner.eligible("branch", branch_id, skill, span), None),
                         ("community", planner.eligible("community", community_id, skill, span), branch_id))
            else:
                tiers = (("community", planner.eligible("community", community_id, skill, span), None),)
            rejected: dict[str, int] = {}
            passed_over: list[tuple[int, str]] = []
            for tier, pool, skip_branch in tiers:
                # Candidates in rank order, lazily: a seat is usually taken within the first few, so a
                # heap (O(n) to build, O(log n) a step) beats sorting the whole pool. Keys end with the
                # volunteer id, so they are unique and the order is exactly that of a sort.
                heap = list(map(rank, pool))
                heapify(heap)
                while heap:
                    vid = heappop(heap)[3]
                    vol = vols[vid]
                    if skip_branch is not None and vol.branch == skip_branch:
                        continue
                    why_not = None
                    if vid in here:
                        why_not = "already on this occurrence"
                    elif vol.blackout and not days.isdisjoint(vol.blackout):
                        why_not = "blackout"
                    elif vol.cap_minutes and totals.get(vid, 0) + minutes > vol.cap_minutes:
                        why_not = "monthly cap"
                    else:
                        busy = vol.busy
                        if busy:
                            for s, e in busy:
                                if s < end and e > start:
                                    why_not = "overlap"
                                    break
                    if why_not is not None:
                        rejected[why_not] = rejected.get(why_not, 0) + 1
                        if len(passed_over) < 3 and why_not != "already on this occurrence":
                            passed_over.append((vid, why_not))
                        continue
                    # The next two in line who could have taken the seat (as ranked when the pool was
                    # ordered); the ineligible ones met on the way are kept apart with their reason, so
                    # `why` never offers a candidate who was ruled out. A few looks at most.
                    following = [heappop(heap) for _ in range(min(RUNNER_LOOKAHEAD, len(heap)))]
                    for nxt in following:
                        heappush(heap, nxt)
                    runners: list[int] = []
                    ruled_out: list[tuple[int, str]] = []
                    for nxt in following:
                        other = vols[nxt[3]]
                        if skip_branch is not None and other.branch == skip_branch:
                            continue
                        reason = _ineligible(other, here, days, totals, minutes, start, end)
                        if reason is None:
                            runners.append(other.id)
                            if len(runners) == 2:
                                break
                        elif len(ruled_out) < 3:
                            ruled_out.append((other.id, reason))
                    placements.append(Placement(
                        occ_id, slug, start_text, role_name, role_id, free.pop(0), vid, vol.name, tier,
                        (tier, keys[vid], len(pool), dict(rejected), tuple(passed_over),
                         tuple(keys[r] for r in runners), tuple(ruled_out))))
                    here.add(vid)
                    vol.load += minutes
                    if start > vol.last:
                        vol.last = start
                    if busy := vol.busy:
                        busy.append((start, end))
                    else:
                        vol.busy = [(start, end)]
                    totals[vid] = totals.get(vid, 0) + minutes
                    keys[vid] = (vol.no_shows, vol.load, vol.last, vid)
                    need -= 1
                    if need == 0:
                        break
                if need == 0:
                    break
            if need > 0:
                result.open_seats.append(OpenSeats(occ_id, slug, start_text, role_name, need, _open_reason(
                    planner, community_id, skill, span, local_start, rejected)))


#: How many candidates after the winner are looked at to find the two next in line.
RUNNER_LOOKAHEAD = 6


def _ineligible(vol: _Vol, here: set[int], days: frozenset[str], totals: dict[int, int], minutes: int,
                start: int, end: int) -> str | None:
    """Why a candidate of the pool could not take this seat (the checks of ``_plan``'s loop), or None."""
    if vol.id in here:
        return "already on this occurrence"
    if vol.blackout and not days.isdisjoint(vol.blackout):
        return "blackout"
    if vol.cap_minutes and totals.get(vol.id, 0) + minutes > vol.cap_minutes:
        return "monthly cap"
    for s, e in vol.busy or ():
        if s < end and e > start:
            return "overlap"
    return None


def explanation_of(raw: tuple[Any, ...]) -> dict[str, Any]:
    """The stored form of a fill choice: tier, the winner's score, the pool, who was passed over and why,
    the next in line (eligible only) and the ineligible ones ranked among them, with their reason.
    A score is [no-shows, minutes served or rostered, last served (epoch s)]."""
    tier, key, pool, rejected, passed_over, runners, ruled_out = raw
    data: dict[str, Any] = {"method": "fill", "tier": tier, "score": list(key[:3]), "pool": pool}
    if rejected:
        data["rejected"] = rejected
    if passed_over:
        data["passed_over"] = [list(item) for item in passed_over]
    if runners:
        data["runners_up"] = [[r[3], r[0], r[1], r[2]] for r in runners]
    if ruled_out:
        data["ineligible_next"] = [list(item) for item in ruled_out]
    return data


def _explanation_json(raw: tuple[Any, ...]) -> str:
    """``explanation_of(raw)`` as compact ASCII JSON, formatted directly: the same text the json
    module writes (a test holds them equal), at a fraction of the cost for a million rows."""
    tier, key, pool, rejected, passed_over, runners, ruled_out = raw
    parts = [f'{{"method":"fill","tier":{_js(tier)},"score":[{key[0]},{key[1]},{key[2]}],"pool":{pool}']
    if rejected:
        parts.append(',"rejected":{' + ",".join(f"{_js(why_not)}:{n}" for why_not, n in rejected.items()) + "}")
    if passed_over:
        parts.append(',"passed_over":[' + ",".join(f"[{vid},{_js(why_not)}]" for vid, why_not in passed_over) + "]")
    if runners:
        parts.append(',"runners_up":[' + ",".join(f"[{r[3]},{r[0]},{r[1]},{r[2]}]" for r in runners) + "]")
    if ruled_out:
        parts.append(',"ineligible_next":[' + ",".join(f"[{vid},{_js(why_not)}]" for vid, why_not in ruled_out)
                     + "]")
    parts.append("}")
    return "".join(parts)


_js = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]


def _open_reason(planner: _Planner, community_id: int, skill: str | None, span: tuple[int, str, str] | None,
                 local_start: datetime, rejected: dict[str, int]) -> str:
    everyone = len(planner.by_community[community_id])
    if not everyone:
        return "no active volunteers whose home branch is in this community"
    skilled = len(planner.skilled("community", community_id, skill))
    available_now = len(planner.eligible("community", community_id, skill, span))
    parts = [f"{everyone} active volunteers in the community"]
    if skill:
        parts.append(f"{everyone - skilled} lack skill {skill}")
    if skilled - available_now:
        parts.append(f"{skilled - available_now} not available {describe_span(span, local_start)}")
    for why_not, count in sorted(rejected.items()):
        parts.append(f"{count} {why_not}")
    return "no eligible volunteer left: " + ", ".join(parts)


# --------------------------------------------------------------------------- writing


EVENT_BATCH = 500


def _write(session: Session, result: FillResult, services: dict[int, Any], occurrences: list[tuple[Any, ...]],
           vols: dict[int, _Vol], now: datetime, inserted: dict[tuple[int, int], int] | None = None) -> None:
    """Insert the chosen seats and their reminder rows (unless a streamer did: ``inserted``), and
    their events (one per batch of seats, ids only)."""
    placements = result.placements
    stamp = now.astimezone(UTC).replace(tzinfo=None)
    stamp_text = _sqlite_value(stamp)  # SQLite rows are built in storage form: one conversion, not millions
    dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True).encode
    columns = ("occurrence_id", "role_id", "volunteer_id", "status", "seat_no", "forced", "explanation",
               "sequence", "created_at", "updated_at")
    dialect = session.get_bind().dialect.name
    streamed = inserted is not None  # seats and their reminder rows already written
    if inserted is not None:
        pass
    elif dialect == "postgresql":
        inserted = _pg_copy_assignments(session, columns, _seat_lines(placements, stamp),
                                        [(p.occurrence_id, p.volunteer_id) for p in placements])
    else:
        inserted = _generic_insert_assignments(session, columns, [
            (p.occurrence_id, p.role_id, p.volunteer_id, "invited", p.seat_no, 0, _explanation_json(p.choice),
             0, stamp_text, stamp_text)
            for p in placements], storage_form=True)
    kept: list[Placement] = []
    for p in placements:
        aid = inserted.get((p.occurrence_id, p.volunteer_id))
        if aid is None:
            result.lost_races += 1
            result.open_seats.append(OpenSeats(p.occurrence_id, p.service, p.start, p.role, 1,
                                               "seat taken by another writer while filling; run fill again"))
            continue
        p.assignment_id = aid
        kept.append(p)
    result.placements = kept

    events = []
    for i in range(0, len(kept), EVENT_BATCH):
        batch = kept[i:i + EVENT_BATCH]
        payload = {"assignment_ids": [p.assignment_id for p in batch],
                   "occurrence_ids": sorted({p.occurrence_id for p in batch}),
                   "volunteer_ids": sorted({p.volunteer_id for p in batch}), "status": "invited", "via": "fill"}
        events.append(("assignment.created", dumps(payload), stamp))
    event_cols = ("kind", "payload", "created_at")
    dues = _Dues(session, services, occurrences, vols, now)
    if dialect == "postgresql":
        _pg_copy(session, "event", event_cols, events)
        if not streamed:
            _pg_batch_reminders(session.connection().connection.dbapi_connection,
                                (p.assignment_id for p in kept if p.assignment_id is not None),
                                dues.lines(kept), dues.channel_lines(kept), dues.channel, stamp)
    else:
        _generic_insert(session, Event.__table__, event_cols, events)  # type: ignore[arg-type]
        _generic_insert_reminders(session, kept, dues, vols, stamp_text)
    notices = _assigned_notices(kept, dues, stamp if dialect == "postgresql" else stamp_text)
    if dialect == "postgresql":
        _pg_copy(session, "reminder", REMINDER_COLUMNS, notices)
    else:
        _generic_insert(session, Reminder.__table__, REMINDER_COLUMNS, notices,  # type: ignore[arg-type]
                        storage_form=True)
    result.notified = len(notices)


def _assigned_notices(kept: Sequence[Placement], dues: _Dues, stamp: Any) -> list[tuple[Any, ...]]:
    """One "assigned" notice row per volunteer, naming all their new shifts (not one per seat),
    anchored on their first new assignment; due now (the dispatcher keeps quiet hours)."""
    shifts: dict[int, list[int]] = defaultdict(list)
    for p in kept:
        shifts[p.volunteer_id].append(p.assignment_id)  # type: ignore[arg-type]
    preferred, channel = dues.preferred, dues.channel
    rows = []
    for vid, ids in shifts.items():
        ids.sort()
        payload = '{"assignment_ids":[' + ",".join(map(str, ids)) + '],"change":"assigned"}'
        rows.append((ids[0], "assigned:fill", preferred.get(vid, channel), stamp, "pending", 0, payload, stamp,
                     stamp))
    return rows


SEAT_COLUMNS = ("occurrence_id", "role_id", "volunteer_id", "status", "seat_no", "forced", "explanation",
                "sequence", "created_at", "updated_at")
#: Seats per COPY while the plan goes on.
STREAM_BATCH = 100_000
#: Bytes handed to the driver per read of a COPY's data. The writer thread needs the GIL for each
#: read while the planning thread holds it, so small reads cost a thread switch (up to
#: ``sys.getswitchinterval()``) each.
COPY_CHUNK = 1 << 24


def _seat_lines(placements: Sequence[Placement], stamp: datetime) -> list[str]:
    """COPY text lines of new seats, made directly: ids, fixed words and a timestamp need no
    escaping, and the ASCII JSON only its backslashes."""
    stamp_text = str(stamp)
    lines = []
    for p in placements:
        explanation = _explanation_json(p.choice)
        if "\\" in explanation:
            explanation = explanation.replace("\\", "\\\\")
        lines.append(f"{p.occurrence_id}\t{p.role_id}\t{p.volunteer_id}\tinvited\t{p.seat_no}\tf\t"
                     f"{explanation}\t0\t{stamp_text}\t{stamp_text}")
    return lines


class _SeatStreamer:
    """Writes the seats and their reminder rows to PostgreSQL on a thread while the plan goes on: the server inserts (its
    indexes and foreign-key checks are most of a fill's cost) on one core while Python plans on the
    other. Same connection, same transaction; the planning thread does not use the connection until
    ``close``. Each batch goes in as ``_pg_copy_assignments`` writes it (a lost race costs only the
    seats taken)."""

    def __init__(self, session: Session, now: datetime, dues: _Dues) -> None:
        self.connection = session.connection().connection.dbapi_connection
        self.dues = dues
        self.stamp = now.astimezone(UTC).replace(tzinfo=None)
        self.next_at = STREAM_BATCH
        self.sent = 0
        self.found: dict[tuple[int, int], int] = {}
        self.error: BaseException | None = None
        #: Seconds the writer thread spent on seats and on reminder rows (the database's share).
        self.seconds = {"db_seats": 0.0, "db_reminders": 0.0}
        self.batches: queue.Queue[tuple[list[str], list[tuple[int, int]], list[str], list[str]] | None] = \
            queue.Queue(maxsize=2)
        self.thread = threading.Thread(target=self._run, name="fill-seat-writer", daemon=True)
        self.thread.start()

    def feed(self, placements: list[Placement]) -> None:
        batch = placements[self.sent:]
        self.sent = len(placements)
        self.next_at = self.sent + STREAM_BATCH
        if batch and self.error is None:
            self.batches.put((_seat_lines(batch, self.stamp), [(p.occurrence_id, p.volunteer_id) for p in batch],
                              self.dues.lines(batch), self.dues.channel_lines(batch)))

    def close(self, placements: list[Placement]) -> dict[tuple[int, int], int]:
        """Hand over the rest, wait for the writes, and return (occurrence, volunteer) -> new id."""
        try:
            self.feed(placements)
        finally:
            self.batches.put(None)
            self.thread.join()
        if self.error is not None:
            raise self.error
        return self.found

    def abort(self) -> None:
        """Stop after the batch in hand (the plan failed), without raising."""
        self.error = self.error or RuntimeError("fill aborted")
        self.batches.put(None)
        self.thread.join()

    def _run(self) -> None:
        while (batch := self.batches.get()) is not None:
            if self.error is not None:
                continue  # drain: the transaction is failed; close() raises
            try:
                seat_lines, keys, due_lines, channel_lines = batch
                started = time.perf_counter()
                found = _pg_copy_batch(self.connection, seat_lines, keys)
                seated = time.perf_counter()
                # Reminder rows in the same transaction, right after their seats (a batch ends at an
                # occurrence boundary, so each occurrence's dues travel with all its seats).
                _pg_batch_reminders(self.connection, found.values(), due_lines, channel_lines, self.dues.channel,
                                    self.stamp)
                self.seconds["db_seats"] += seated - started
                self.seconds["db_reminders"] += time.perf_counter() - seated
                self.found.update(found)
            except BaseException as exc:  # re-raised by close() in the planning thread
                self.error = exc


REMINDER_COLUMNS = ("assignment_id", "kind", "channel", "due_at", "status", "attempts", "payload", "created_at",
                    "updated_at")


class _Dues:
    """The before-shift rows a filled occurrence owes: (kind, due as naive UTC), timed as
    ``reminders.sync_assignment_reminders`` times them (out of quiet hours; a moment past goes out now)."""

    def __init__(self, session: Session, services: dict[int, Any], occurrences: list[tuple[Any, ...]],
                 vols: dict[int, _Vol], now: datetime) -> None:
        self.quiet = parse_quiet_hours(session.info.get(QUIET_HOURS_KEY, DEFAULT_QUIET_HOURS))
        self.services = services
        self.occurrences = {occ[0]: (occ[1], occ[2]) for occ in occurrences}
        self.now = now
        self.channel = str(session.info.get("roster.default_channel") or DEFAULT_CHANNEL)
        #: Volunteers with a channel of their own (``reminders.channel_for``); the rest get ``channel``.
        self.preferred = {vid: vol.channel for vid, vol in vols.items() if vol.channel}
        # A city has few distinct start times per zone: time each (start, offset, zone) once.
        self._timed: dict[tuple[datetime, int, str], datetime] = {}

    def of(self, occurrence_id: int) -> list[tuple[str, datetime]]:
        service_id, start = self.occurrences[occurrence_id]
        service = self.services[service_id]
        tz_name = service[4]
        owed = []
        for offset in service[5] or ():
            offset = int(offset)
            due = self._timed.get((start, offset, tz_name))
            if due is None:
                due = quiet_adjusted(start - timedelta(minutes=offset), start, tz_name, self.quiet)
                due = max(due, self.now).astimezone(UTC).replace(tzinfo=None)
                self._timed[(start, offset, tz_name)] = due
            owed.append((f"before:{offset}", due))
        return owed

    def lines(self, placements: Sequence[Placement]) -> list[str]:
        """COPY text lines (occurrence_id, kind, due_at) for the occurrences of these seats."""
        seen: set[int] = set()
        lines: list[str] = []
        for p in placements:
            if p.occurrence_id not in seen:
                seen.add(p.occurrence_id)
                lines.extend(f"{p.occurrence_id}\t{kind}\t{due}" for kind, due in self.of(p.occurrence_id))
        return lines


    def channel_lines(self, placements: Sequence[Placement]) -> list[str]:
        """COPY text lines (volunteer_id, channel) for those of these seats' volunteers with a channel of their own."""
        preferred = self.preferred
        return [f"{vid}\t{_copy_value(preferred[vid])}" for vid in {p.volunteer_id for p in placements}
                if vid in preferred]


def _id_runs(ids: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted ids as inclusive (first, last) runs of consecutive values."""
    runs: list[tuple[int, int]] = []
    for aid in sorted(ids):
        if runs and runs[-1][1] == aid - 1:
            runs[-1] = (runs[-1][0], aid)
        else:
            runs.append((aid, aid))
    return runs


def _pg_batch_reminders(connection: Any, ids: Iterable[int], due_lines: list[str], channel_lines: list[str],
                        channel: str, stamp: datetime) -> None:
    """Reminder rows made by the database from seats just written: only the (occurrence, kind, due)
    rows go over the wire (one per filled occurrence and offset, not per seat), with the
    (volunteer, channel) rows of volunteers who chose a channel; everyone else gets ``channel``.
    The seats are named by id ranges: ids drawn from the sequence are this fill's alone."""
    runs = _id_runs(ids)
    if not runs:
        return
    cursor = connection.cursor()
    try:
        cursor.execute("CREATE TEMP TABLE IF NOT EXISTS fill_due "
                       "(occurrence_id integer, kind varchar(32), due_at timestamp) ON COMMIT DROP")
        cursor.execute("TRUNCATE fill_due")
        cursor.copy_expert("COPY fill_due (occurrence_id, kind, due_at) FROM STDIN",
                           io.StringIO("".join(f"{line}\n" for line in due_lines)), size=COPY_CHUNK)
        cursor.execute("ANALYZE fill_due")
        if channel_lines:
            cursor.execute("CREATE TEMP TABLE IF NOT EXISTS fill_channel "
                           "(volunteer_id integer, channel varchar(16)) ON COMMIT DROP")
            cursor.execute("TRUNCATE fill_channel")
            cursor.copy_expert("COPY fill_channel (volunteer_id, channel) FROM STDIN",
                               io.StringIO("".join(f"{line}\n" for line in channel_lines)), size=COPY_CHUNK)
            cursor.execute("ANALYZE fill_channel")
            chosen = ("coalesce(c.channel, %(channel)s)",
                      "LEFT JOIN fill_channel c ON c.volunteer_id = a.volunteer_id ")
        else:
            chosen = ("%(channel)s", "")
        statement = (
            f"INSERT INTO reminder ({', '.join(REMINDER_COLUMNS)}) "
            f"SELECT a.id, d.kind, {chosen[0]}, d.due_at, 'pending', 0, '{{}}', %(stamp)s, %(stamp)s "
            "FROM assignment a JOIN fill_due d ON d.occurrence_id = a.occurrence_id "
            f"{chosen[1]}WHERE a.id BETWEEN %(lo)s AND %(hi)s ORDER BY a.id, d.kind")
        # One run as a rule (one nextval series); a few if another writer drew ids meanwhile.
        for lo, hi in runs:
            cursor.execute(statement, {"lo": lo, "hi": hi, "stamp": stamp, "channel": channel})
    finally:
        cursor.close()


def _generic_insert_reminders(session: Session, kept: list[Placement], dues: _Dues, vols: dict[int, _Vol],
                              stamp_text: str) -> None:
    """SQLite: the rows built in storage form (a due time is formatted once per distinct value)."""
    rows = []
    texts: dict[datetime, str] = {}
    for p in kept:
        aid = p.assignment_id
        assert aid is not None
        channel = vols[p.volunteer_id].channel or dues.channel
        for kind, due in dues.of(p.occurrence_id):
            due_text = texts.get(due)
            if due_text is None:
                due_text = texts[due] = _sqlite_value(due)
            rows.append((aid, kind, channel, due_text, "pending", 0, "{}", stamp_text, stamp_text))
    _generic_insert(session, Reminder.__table__, REMINDER_COLUMNS, rows,  # type: ignore[arg-type]
                    storage_form=True)


def _copy_value(value: Any) -> str:
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, str):
        # COPY text format: backslash, tab and newlines are escaped.
        return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return str(value)


def _copy_chunks(rows: Iterable[tuple[Any, ...]], size: int = 200_000) -> Iterator[io.StringIO]:
    lines: list[str] = []
    for row in rows:
        lines.append("\t".join([_copy_value(x) for x in row]))
        if len(lines) == size:
            yield io.StringIO("\n".join(lines) + "\n")
            lines = []
    if lines:
        yield io.StringIO("\n".join(lines) + "\n")


def _pg_copy(session: Session, table: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]) -> None:
    cursor = session.connection().connection.cursor()
    try:
        for chunk in _copy_chunks(rows):
            cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", chunk)
    finally:
        cursor.close()


def _pg_insert_assignments(session: Session, columns: Sequence[str],
                           rows: list[tuple[Any, ...]]) -> dict[tuple[int, int], int]:
    """COPY the seats with ids drawn from the sequence, in a SAVEPOINT. If a coordinator took one of
    those seats meanwhile, the unique constraint rejects the COPY: roll back to the savepoint and go
    through a scratch table with ON CONFLICT DO NOTHING, which skips exactly the seats taken."""
    lines = ["\t".join([_copy_value(x) for x in row]) for row in rows]
    return _pg_copy_assignments(session, columns, lines, [(row[0], row[2]) for row in rows])


def _pg_copy_assignments(session: Session, columns: Sequence[str], lines: list[str],
                         keys: list[tuple[int, int]]) -> dict[tuple[int, int], int]:
    """``_pg_insert_assignments`` for rows already COPY text (without the id); ``keys`` are their
    (occurrence_id, volunteer_id)."""
    assert tuple(columns) == SEAT_COLUMNS
    return _pg_copy_batch(session.connection().connection.dbapi_connection, lines, keys)


def _pg_copy_batch(connection: Any, lines: list[str], keys: list[tuple[int, int]]) -> dict[tuple[int, int], int]:
    """COPY seats (lines without the id) on a DBAPI connection, ids drawn from the sequence, in a
    savepoint; on a unique violation, through a scratch table with ON CONFLICT DO NOTHING."""
    import psycopg2

    if not lines:
        return {}
    all_columns = ", ".join(("id", *SEAT_COLUMNS))
    cursor = connection.cursor()
    try:
        cursor.execute("SELECT nextval(pg_get_serial_sequence('assignment', 'id')) FROM generate_series(1, %s)",
                       (len(lines),))
        ids = [row[0] for row in cursor.fetchall()]
        data = "".join([f"{aid}\t{line}\n" for aid, line in zip(ids, lines, strict=True)])
        cursor.execute("SAVEPOINT fill_seats")
        try:
            cursor.copy_expert(f"COPY assignment ({all_columns}) FROM STDIN", io.StringIO(data), size=COPY_CHUNK)
        except psycopg2.IntegrityError:
            cursor.execute("ROLLBACK TO SAVEPOINT fill_seats")
        else:
            cursor.execute("RELEASE SAVEPOINT fill_seats")
            return dict(zip(keys, ids, strict=True))
        cursor.execute("RELEASE SAVEPOINT fill_seats")
        cursor.execute("CREATE TEMP TABLE fill_assignment (LIKE assignment INCLUDING DEFAULTS) ON COMMIT DROP")
        cursor.copy_expert(f"COPY fill_assignment ({all_columns}) FROM STDIN", io.StringIO(data), size=COPY_CHUNK)
        cursor.execute(f"INSERT INTO assignment ({all_columns}) SELECT {all_columns} FROM fill_assignment "
                       "ON CONFLICT DO NOTHING RETURNING id, occurrence_id, volunteer_id")
        found = {(occ, vol): aid for aid, occ, vol in cursor.fetchall()}
        cursor.execute("DROP TABLE fill_assignment")
        return found
    finally:
        cursor.close()


def _generic_insert_assignments(session: Session, columns: Sequence[str], rows: list[tuple[Any, ...]],
                                storage_form: bool = False) -> dict[tuple[int, int], int]:
    """SQLite: the fill's transaction holds the write lock (BEGIN IMMEDIATE) from its first read,
    so nothing changed since we loaded; ids are allocated above the current maximum."""
    table: Table = Assignment.__table__  # type: ignore[assignment]
    start = (session.scalar(select(func.max(Assignment.id))) or 0) + 1
    rows_with_ids = [(start + i, *row) for i, row in enumerate(rows)]
    _generic_insert(session, table, ("id", *columns), rows_with_ids, prefix="OR IGNORE", storage_form=storage_form)
    lo, hi = start, start + len(rows)
    found = session.execute(select(Assignment.id, Assignment.occurrence_id, Assignment.volunteer_id)
                            .where(Assignment.id >= lo, Assignment.id < hi))
    return {(occ, vol): aid for aid, occ, vol in found}


def _generic_insert(session: Session, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]],
                    prefix: str | None = None, storage_form: bool = False) -> None:
    """Insert through the driver, bypassing SQLAlchemy's type processors. Values are naive UTC
    datetimes, booleans and JSON text, converted here; with ``storage_form`` they are already what
    SQLite stores (datetime text, 0/1), which spares a function call per value (a third of a
    city-sized fill's write on SQLite)."""
    if not rows:
        return
    placeholders = ", ".join("?" for _ in columns)
    verb = f"INSERT {prefix} INTO" if prefix else "INSERT INTO"
    sql = f"{verb} {table.name} ({', '.join(columns)}) VALUES ({placeholders})"
    raw = session.connection().connection.cursor()
    try:
        raw.executemany(sql, rows if storage_form else [tuple(_sqlite_value(x) for x in row) for row in rows])
    finally:
        raw.close()


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")  # SQLAlchemy's SQLite storage format
    if isinstance(value, bool):
        return int(value)
    return value


# --------------------------------------------------------------------------- explaining


def why(session: Session, assignment_id: str | int) -> dict[str, Any]:
    """The stored explanation of an assignment, and lines a coordinator reads."""
    from scheduler.rosters import assignment_as_dict

    assignment = get_assignment(session, assignment_id)
    data = assignment_as_dict(assignment, with_name=True)
    explanation = assignment.explanation or {}
    lines = [f"assignment #{assignment.id}: {assignment.volunteer.name} (#{assignment.volunteer_id}) as "
             f"{data['role']} at occurrence #{assignment.occurrence_id} ({data['service']} "
             f"{data['start'][:16].replace('T', ' ')}), {assignment.status}"]
    method = explanation.get("method")
    if method == "fill":
        tier = "the service's own branch" if explanation["tier"] == "branch" else "the community"
        lines.append(f"chosen by auto-fill from {tier}: {explanation['pool']} candidates had the skill and "
                     "the time free")
        lines.append(f"rule: {RULE}")
        lines.append(f"winner #{assignment.volunteer_id}: {_score_text(explanation['score'])}")
        for vid, why_not in explanation.get("passed_over", []):
            lines.append(f"passed over #{vid}: {why_not}")
        for count_reason, count in sorted(explanation.get("rejected", {}).items()):
            lines.append(f"candidates ruled out ({count_reason}): {count}")
        for vid, *score in explanation.get("runners_up", []):
            lines.append(f"next in line #{vid}: {_score_text(score)}")
        for vid, why_not in explanation.get("ineligible_next", []):
            lines.append(f"ranked next but not eligible #{vid}: {why_not}")
    elif method in ("manual", "swap", "handover"):
        lines.append({"manual": "assigned by a coordinator", "swap": "took this shift in a swap",
                      "handover": "took over this shift from another volunteer"}[method])
        for reason in explanation.get("overridden", []):
            lines.append(f"check overridden (--force): {reason}")
        if assignment.force_note:
            lines.append(f"note: {assignment.force_note}")
    else:
        lines.append("no explanation recorded")
    return {"assignment": data, "explanation": explanation, "lines": lines}


def _score_text(score: Sequence[int]) -> str:
    no_shows, minutes, last = score[0], score[1], score[2]
    last_text = datetime.fromtimestamp(last, UTC).date().isoformat() if last else "never"
    return f"{no_shows} no-shows, {minutes} min served or rostered, last served {last_text}"
