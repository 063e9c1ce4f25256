"""Loading what a fill needs in a handful of queries (no query per candidate): the occurrences in
range with their services and roles, the candidates, and the rows already around the range
(bookings, month totals, seats taken, served load, no-shows)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from scheduler.models import (
    SEATED_STATUSES,
    Assignment,
    Branch,
    Occurrence,
    OccurrenceStatus,
    Role,
    Service,
    Volunteer,
)
from scheduler.organisations import get_branch, get_community
from scheduler.rosters.fill.ranking import (
    LOAD_STATUSES,
    NO_SHOW_DAYS,
    TRAILING_DAYS,
    Candidate,
    Planner,
    epoch,
    utc_midnight,
)
from scheduler.volunteers.eligibility import zone
from scheduler.volunteers.skills import canonical_or_same

#: Occurrences in range: (id, service_id, start_at, end_at, local start, local end), by start then id.
Occurrences = list[tuple[Any, ...]]


def _scope(session: Session, branch: str | None, community: str | None) -> Any:
    query = select(Service.id).where(Service.active.is_(True))
    if branch:
        query = query.where(Service.branch_id == get_branch(session, branch).id)
    if community:
        query = query.where(Service.community_id == get_community(session, community).id)
    return query


def load_occurrences(session: Session, first: date, last: date, branch: str | None, community: str | None,
                     now: datetime) -> tuple[Occurrences, dict[int, Any], dict[int, list[Any]]]:
    """The scheduled occurrences not yet started whose local date is in ``first``..``last``, their
    services (id, slug, branch_id, community_id, timezone, reminder_offsets) and roles by service."""
    scope = _scope(session, branch, community)
    session.flush()  # the bulk reads below go through the Core connection, which does not autoflush
    db = session.connection()
    # Zones are at most a day off UTC: load a day either side, then keep the local dates wanted.
    lo, hi = utc_midnight(first) - timedelta(days=1), utc_midnight(last) + timedelta(days=2)
    occ_rows = db.execute(
        select(Occurrence.id, Occurrence.service_id, Occurrence.start_at, Occurrence.end_at)
        .where(Occurrence.status == OccurrenceStatus.SCHEDULED, Occurrence.start_at >= lo, Occurrence.start_at < hi,
               Occurrence.start_at > now, Occurrence.service_id.in_(scope))
        .order_by(Occurrence.start_at, Occurrence.id)
    ).all()
    service_ids = sorted({row[1] for row in occ_rows})
    services: dict[int, Any] = {}
    roles: dict[int, list[Any]] = defaultdict(list)
    for chunk in _chunked(service_ids, 20000):
        for row in db.execute(select(
                Service.id, Service.slug, Service.branch_id, Service.community_id, Service.timezone,
                Service.reminder_offsets).where(Service.id.in_(chunk))):
            services[row[0]] = row
        for row in db.execute(select(Role.id, Role.service_id, Role.name, Role.count, Role.skill)
                                   .where(Role.service_id.in_(chunk)).order_by(Role.id)):
            roles[row[1]].append(row)
    occurrences: Occurrences = []
    for occ_id, service_id, start_at, end_at in occ_rows:
        tz = zone(services[service_id][4])
        local_start, local_end = start_at.astimezone(tz), end_at.astimezone(tz)
        if first <= local_start.date() <= last:
            occurrences.append((occ_id, service_id, start_at, end_at, local_start, local_end))
    return occurrences, services, roles


def load_candidates(session: Session, services: dict[int, Any], occurrences: Occurrences) -> dict[int, Candidate]:
    """The active volunteers whose home branch is in a community of these services."""
    service_ids = sorted(services)
    communities = sorted({services[sid][3] for sid in service_ids})
    branch_community: dict[int, int] = {}
    for chunk in _chunked(communities, 20000):
        for bid, cid in session.execute(select(Branch.id, Branch.community_id).where(Branch.community_id.in_(chunk))):
            branch_community[bid] = cid
    vols: dict[int, Candidate] = {}
    if occurrences:
        wanted_branches = select(Branch.id).where(Branch.community_id.in_(communities)) if len(communities) < 20000 \
            else select(Branch.id)
        for row in session.connection().execute(select(
                Volunteer.id, Volunteer.name, Volunteer.home_branch_id, Volunteer.skills, Volunteer.availability,
                Volunteer.blackout_dates, Volunteer.monthly_cap_hours, Volunteer.preferred_channel)
                .where(Volunteer.active.is_(True), Volunteer.home_branch_id.in_(wanted_branches))):
            vid, name, home, skills, availability, blackout, cap, channel = row
            community_id = branch_community.get(home)
            if community_id is None:
                continue
            vols[vid] = Candidate(
                id=vid, name=name, branch=home, community=community_id,
                skills=frozenset(canonical_or_same(s) for s in skills or ()), availability=availability or {},
                blackout=frozenset(blackout or ()), cap_minutes=(cap or 0) * 60,
                channel=channel or "")
    return vols


def load_bookings(session: Session, planner: Planner, occurrences: Occurrences, first: date, last: date) -> None:
    """Existing rows around the range: load (trailing window), bookings (overlap), month totals (cap),
    seats taken and who already has a row at each occurrence; no-shows in ``NO_SHOW_DAYS``."""
    vols = planner.vols
    month_lo = utc_midnight(first.replace(day=1)) - timedelta(days=1)
    win_lo = min(utc_midnight(first) - timedelta(days=TRAILING_DAYS), month_lo)
    last_month_end = (last.replace(day=1) + timedelta(days=32)).replace(day=1)
    win_hi = utc_midnight(last_month_end) + timedelta(days=1)
    load_from = epoch(utc_midnight(first) - timedelta(days=TRAILING_DAYS))
    target_ids = {occ[0] for occ in occurrences}
    if occurrences:
        rows = session.connection().execute(
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
            if vol is None or status not in SEATED_STATUSES or occ_status != OccurrenceStatus.SCHEDULED:
                continue
            start, end = epoch(start_at), epoch(end_at)
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
        no_show_from = utc_midnight(first) - timedelta(days=NO_SHOW_DAYS)
        for vid, count in session.execute(
                select(Assignment.volunteer_id, func.count())
                .join(Occurrence, Occurrence.id == Assignment.occurrence_id)
                .where(Assignment.status == "no_show", Occurrence.start_at >= no_show_from,
                       Occurrence.start_at < utc_midnight(first) + timedelta(days=1))
                .group_by(Assignment.volunteer_id)):
            if vid in vols:
                vols[vid].no_shows = count


def _chunked(items: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]
