"""Fair ranking: who may take a seat, in which order, and the greedy pass that gives seats out.

The rank key of a candidate is (no-shows in ``NO_SHOW_DAYS``, minutes served or rostered, last
served, volunteer id): lowest first, within the service's own branch and then its community.
Pools are cut by (branch or community, skill) and by weekly availability pattern, and cached.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from heapq import heapify, heappop, heappush
from typing import Any, Protocol

from scheduler.i18n import using
from scheduler.models import AssignmentStatus
from scheduler.rosters.fill.explain import open_reason
from scheduler.rosters.fill.results import FillResult, OpenSeats, Placement
from scheduler.volunteers.eligibility import available, blackout_days, span_key
from scheduler.volunteers.skills import canonical_or_same

TRAILING_DAYS = 28
NO_SHOW_DAYS = 90
#: Served load counts shifts held or done; a no-show is not service.
LOAD_STATUSES = (AssignmentStatus.INVITED, AssignmentStatus.CONFIRMED, AssignmentStatus.ATTENDED)


@dataclass(slots=True)
class Candidate:
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


def epoch(value: datetime) -> int:
    """Seconds since the epoch: rank keys and bookings compare integers, not datetimes."""
    return int(value.timestamp())


def utc_midnight(day: date) -> datetime:
    """The start of ``day`` in UTC (the bounds of what a fill loads)."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


class Planner:
    """The in-memory state of one fill: candidates, their rank keys, bookings and month totals.

    Pools are cut by (branch or community, skill) and, inside, by availability pattern: a city has
    few distinct weekly patterns, so "who is free mon 16:30-18:30" is decided once per pattern.
    """

    def __init__(self, vols: dict[int, Candidate]) -> None:
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
        #: Why seats were left open, by what the reason says (``_open_reason``).
        self.reasons: dict[tuple[Any, ...], tuple[str, str]] = {}
        #: The hard rules (qualification, age, minors), loaded once (``eligibility.load_bulk_hard_rules``).
        self.hard: Any = None

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


class SeatSink(Protocol):
    """Where the plan hands its seats while it goes on (the PostgreSQL writer thread)."""

    #: Hand the seats over once this many have been chosen.
    next_at: int

    def feed(self, placements: list[Placement]) -> None: ...


def plan(planner: Planner, occurrences: list[tuple[Any, ...]], services: dict[int, Any],
         roles: dict[int, list[Any]], result: FillResult, streamer: SeatSink | None = None) -> None:
    """The greedy pass: occurrences by start, roles by id, candidates by rank key (see module doc).
    With a streamer, the seats chosen so far are handed to it every ``STREAM_BATCH`` seats.

    Communities do not share candidates: a seat draws on its service's branch and community, and a
    volunteer belongs to one. So the pass goes one group of communities at a time (each group's
    occurrences in start order), which makes exactly the choices of one pass over the whole range
    in start order while a group's candidates stay warm in the CPU's cache (on the full synthetic
    city the pass over 300,000 volunteers in start order spent most of its time waiting on memory);
    the seats and open seats are then put back in start order."""
    groups = independent_groups(planner, occurrences, services)
    if len(groups) <= 1:
        _pass(planner, enumerate(occurrences), services, roles, result, streamer, None)
        return
    marks: list[tuple[int, int, int]] = []
    for group in groups:
        _pass(planner, ((pos, occurrences[pos]) for pos in group), services, roles, result, streamer, marks)
    if streamer is not None:
        streamer.feed(result.placements)  # all of it, before the order changes under it
    _restore_start_order(result, marks, len(occurrences))


def independent_groups(planner: Planner, occurrences: list[tuple[Any, ...]],
                       services: dict[int, Any]) -> list[list[int]]:
    """The positions of ``occurrences`` in groups that share no candidate: communities joined when a
    service of one is run by a branch whose volunteers belong to another. Groups in the order of
    their first occurrence, positions in start order inside each."""
    parent: dict[int, int] = {}

    def find(c: int) -> int:
        while (up := parent.setdefault(c, c)) != c:
            parent[c] = parent.setdefault(up, up)
            c = up
        return c

    for service in services.values():
        branch_id, community_id = service[2], service[3]
        members = planner.by_branch.get(branch_id) if branch_id is not None else None
        if members:
            a, b = find(community_id), find(planner.vols[members[0]].community)
            if a != b:
                parent[a] = b
        else:
            find(community_id)
    by_root: dict[int, list[int]] = {}
    for pos, occ in enumerate(occurrences):
        by_root.setdefault(find(services[occ[1]][3]), []).append(pos)
    return list(by_root.values())


def _restore_start_order(result: FillResult, marks: list[tuple[int, int, int]], count: int) -> None:
    """Put the placements and open seats of a pass made group by group back in occurrence order.
    ``marks`` holds, in the order the occurrences were planned, (position, placements so far,
    open seats so far) at the start of each."""
    placements, open_seats = result.placements, result.open_seats
    bounds: list[tuple[int, int, int, int]] = [(0, 0, 0, 0)] * count
    ends = [(p_lo, o_lo) for _, p_lo, o_lo in marks[1:]] + [(len(placements), len(open_seats))]
    for (pos, p_lo, o_lo), (p_hi, o_hi) in zip(marks, ends, strict=True):
        bounds[pos] = (p_lo, p_hi, o_lo, o_hi)
    in_order: list[Placement] = []
    open_in_order: list[OpenSeats] = []
    for p_lo, p_hi, o_lo, o_hi in bounds:
        if p_hi > p_lo:
            in_order.extend(placements[p_lo:p_hi])
        if o_hi > o_lo:
            open_in_order.extend(open_seats[o_lo:o_hi])
    result.placements, result.open_seats = in_order, open_in_order


def _pass(planner: Planner, todo: Iterable[tuple[int, tuple[Any, ...]]], services: dict[int, Any],
          roles: dict[int, list[Any]], result: FillResult, streamer: SeatSink | None,
          marks: list[tuple[int, int, int]] | None) -> None:
    """``plan``'s loop over ``todo`` (position, occurrence); records ``marks`` when given."""
    vols = planner.vols
    keys = planner.keys
    rank = keys.__getitem__
    placements = result.placements
    open_seats = result.open_seats
    timings: dict[tuple[datetime, datetime, str], tuple[Any, ...]] = {}
    hard = planner.hard
    for pos, (occ_id, service_id, start_at, end_at, local_start, local_end) in todo:
        if marks is not None:
            marks.append((pos, len(placements), len(open_seats)))
        service = services[service_id]
        slug, branch_id, community_id = service[1], service[2], service[3]
        # Few distinct (start, end, zone) in a city: work out each one's span, dates and text once.
        when = timings.get((start_at, end_at, service[4]))
        if when is None:
            start, end = epoch(start_at), epoch(end_at)
            when = timings[(start_at, end_at, service[4])] = (
                span_key(local_start, local_end), frozenset(blackout_days(local_start, local_end)), start, end,
                (end - start) // 60, local_start.strftime("%Y-%m-%d %H:%M"), (local_start.year, local_start.month))
        span, days, start, end, minutes, start_text, month_key = when
        totals = planner.month[month_key]
        here = planner.at_occurrence[occ_id]
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
                    elif hard is not None and (code := hard.code(vid, role_id, service_id, local_start,
                                                                 local_end)) is not None:
                        why_not = code
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
                        if reason is None and hard is not None:
                            reason = hard.code(other.id, role_id, service_id, local_start, local_end)
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
                english, shown = _open_reason(planner, community_id, skill, span, local_start, rejected)
                open_seats.append(OpenSeats(occ_id, slug, start_text, role_name, need, english,
                                            "" if shown == english else shown))


#: How many candidates after the winner are looked at to find the two next in line.
RUNNER_LOOKAHEAD = 6


def _ineligible(vol: Candidate, here: set[int], days: frozenset[str], totals: dict[int, int], minutes: int,
                start: int, end: int) -> str | None:
    """Why a candidate of the pool could not take this seat (the checks of ``plan``'s loop), or None."""
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


def _open_reason(planner: Planner, community_id: int, skill: str | None, span: tuple[int, str, str] | None,
                 local_start: datetime, rejected: dict[str, int]) -> tuple[str, str]:
    """Why seats were left open: in English (JSON) and in the language in force (tables); the
    same reason is written once per fill (``open_reason`` reads the start only without a span)."""
    everyone = len(planner.by_community[community_id])
    skilled = len(planner.skilled("community", community_id, skill)) if everyone else 0
    available_now = len(planner.eligible("community", community_id, skill, span)) if everyone else 0
    key = (everyone, skilled, available_now, skill, span, local_start if span is None else None,
           tuple(sorted(rejected.items())))
    found = planner.reasons.get(key)
    if found is None:
        with using("en"):
            english = open_reason(everyone, skilled, available_now, skill, span, local_start, rejected)
        shown = open_reason(everyone, skilled, available_now, skill, span, local_start, rejected)
        found = planner.reasons[key] = (english, shown)
    return found
