"""The week roster a coordinator prints: per occurrence, its roles, who is on, seats open.

This is the coordinator's own view, so it carries volunteers' names and assignment ids; it never
reaches a feed. A cancelled occurrence lists nobody: its seats keep their last status (the people
were told of the cancellation) but nobody is on, invited or waiting for it.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from scheduler.db import utcnow
from scheduler.i18n import N_, translate
from scheduler.models import (
    SEATED_STATUSES,
    Assignment,
    AssignmentStatus,
    Occurrence,
    OccurrenceStatus,
    Role,
    Service,
    Volunteer,
)
from scheduler.organisations import get_branch, get_community
from scheduler.volunteers import WEEKDAY_NAMES
from scheduler.volunteers.eligibility import zone

DEFAULT_ZONE = "Asia/Shanghai"

#: Assignment and occurrence statuses as a person reads them (JSON keeps the raw values).
STATUS_LABELS = {
    "invited": N_("invited"), "confirmed": N_("confirmed"), "declined": N_("declined"),
    "cancelled": N_("cancelled"), "waitlisted": N_("waitlisted"), "attended": N_("attended"),
    "no_show": N_("no-show"), "scheduled": N_("scheduled"),
}


def status_label(status: str) -> str:
    """A status value in the language in force (an unknown value as it is)."""
    label = STATUS_LABELS.get(str(status))
    return translate(label) if label else str(status)


def week_bounds(day: date) -> tuple[date, date]:
    """Monday..Sunday of the ISO week holding ``day``."""
    monday = day - timedelta(days=day.isoweekday() - 1)
    return monday, monday + timedelta(days=6)


def week_schedule(session: Session, week: date | None = None, branch: str | None = None,
                  community: str | None = None, now: datetime | None = None) -> dict[str, Any]:
    """The roster of the week holding ``week`` (default: this week in Shanghai), sorted by start."""
    if week is None:
        week = (now or utcnow()).astimezone(zone(DEFAULT_ZONE)).date()
    first, last = week_bounds(week)
    lo = datetime(first.year, first.month, first.day, tzinfo=UTC) - timedelta(days=1)
    hi = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=2)
    query = (select(Occurrence, Service).join(Service, Service.id == Occurrence.service_id)
             .where(Occurrence.start_at >= lo, Occurrence.start_at < hi)
             .order_by(Occurrence.start_at, Occurrence.id))
    if branch:
        query = query.where(Service.branch_id == get_branch(session, branch).id)
    if community:
        query = query.where(Service.community_id == get_community(session, community).id)
    picked: list[tuple[Occurrence, Service, datetime, datetime]] = []
    for occurrence, service in session.execute(query):
        tz = zone(service.timezone)
        local_start, local_end = occurrence.start_at.astimezone(tz), occurrence.end_at.astimezone(tz)
        if first <= local_start.date() <= last:
            picked.append((occurrence, service, local_start, local_end))
    service_ids = sorted({svc.id for _, svc, _, _ in picked})
    occurrence_ids = [occ.id for occ, _, _, _ in picked]
    roles: dict[int, list[Role]] = defaultdict(list)
    if service_ids:
        for role in session.scalars(select(Role).where(Role.service_id.in_(service_ids)).order_by(Role.id)):
            roles[role.service_id].append(role)
    people: dict[tuple[int, int], list[tuple[Assignment, str]]] = defaultdict(list)
    if occurrence_ids:
        for assignment, name in session.execute(
                select(Assignment, Volunteer.name).join(Volunteer, Volunteer.id == Assignment.volunteer_id)
                .where(Assignment.occurrence_id.in_(occurrence_ids),
                       Assignment.status.in_((*SEATED_STATUSES, AssignmentStatus.WAITLISTED)))
                .order_by(Assignment.seat_no, Assignment.waitlist_pos, Assignment.id)):
            people[(assignment.occurrence_id, assignment.role_id)].append((assignment, name))
    occurrences: list[dict[str, Any]] = []
    total_open = 0
    for occurrence, service, local_start, local_end in picked:
        role_rows: list[dict[str, Any]] = []
        occurrence_open = 0
        for role in roles[service.id]:
            rows = people[(occurrence.id, role.id)] if occurrence.status != OccurrenceStatus.CANCELLED else []
            on = [{"assignment_id": a.id, "volunteer_id": a.volunteer_id, "name": name, "status": a.status,
                   "seat_no": a.seat_no, "forced": a.forced} for a, name in rows if a.seat_no is not None]
            waiting = [{"assignment_id": a.id, "volunteer_id": a.volunteer_id, "name": name,
                        "position": a.waitlist_pos} for a, name in rows if a.status == AssignmentStatus.WAITLISTED]
            open_seats = max(role.count - len(on), 0) if occurrence.status == OccurrenceStatus.SCHEDULED else 0
            occurrence_open += open_seats
            role_rows.append({"name": role.name, "count": role.count, "skill": role.skill, "on": on,
                              "waitlist": waiting, "open": open_seats})
        total_open += occurrence_open
        occurrences.append({
            "id": occurrence.id, "service": service.slug, "title": service.title, "venue": service.venue,
            "date": local_start.date().isoformat(), "weekday": WEEKDAY_NAMES[local_start.isoweekday()],
            "time": f"{local_start:%H:%M}-{local_end:%H:%M}", "start": local_start.isoformat(),
            "status": occurrence.status, "provisional": occurrence.provisional, "roles": role_rows,
            "open": occurrence_open,
        })
    following = None if occurrences else next_week_with_shifts(session, last, branch, community)
    return {"first": first.isoformat(), "last": last.isoformat(), "occurrences": occurrences,
            "open": total_open, "next_week": following.isoformat() if following else None}


def next_week_with_shifts(session: Session, after: date, branch: str | None = None,
                          community: str | None = None) -> date | None:
    """The Monday of the first week after ``after`` with a scheduled occurrence (in its service's own
    time zone), or None: what an empty week's roster points to (on a Saturday, this week is over)."""
    monday = after + timedelta(days=1)
    found: list[date] = []
    for timezone in session.scalars(select(Service.timezone).distinct()):
        tz = zone(timezone)
        since = datetime(monday.year, monday.month, monday.day, tzinfo=tz).astimezone(UTC)
        query = (select(func.min(Occurrence.start_at)).join(Service, Service.id == Occurrence.service_id)
                 .where(Service.timezone == timezone, Occurrence.start_at >= since,
                        Occurrence.status == OccurrenceStatus.SCHEDULED))
        if branch:
            query = query.where(Service.branch_id == get_branch(session, branch).id)
        if community:
            query = query.where(Service.community_id == get_community(session, community).id)
        first = session.scalar(query)
        if first is not None:
            found.append(week_bounds(first.astimezone(tz).date())[0])
    if found:
        return min(found)
    return None
