"""Whether a volunteer can serve a shift: the role's skill, a weekly availability window covering
it, no blackout date, no overlapping shift, the monthly cap. A coordinator's ``assign`` refuses a
seat that breaks one (unless forced), auto-fill applies the same pure rules to rows it loaded in
bulk, and moving an occurrence warns about the seated volunteers its new time breaks."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler import validation as v
from scheduler.models import SEATED_STATUSES, Assignment, Occurrence, OccurrenceStatus, Role, Volunteer
from scheduler.volunteers.skills import canonical_or_same

WEEKDAY_NAMES = {1: "mon", 2: "tue", 3: "wed", 4: "thu", 5: "fri", 6: "sat", 7: "sun"}


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


# Pure rules, shared with auto-fill (scheduler.rosters.fill), which applies them to rows it loaded in bulk.
def local_span(start_at: datetime, end_at: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    return start_at.astimezone(tz), end_at.astimezone(tz)


def span_key(local_start: datetime, local_end: datetime) -> tuple[int, str, str] | None:
    """(ISO weekday, "HH:MM", "HH:MM") of a shift, or None when it runs past midnight."""
    if local_end.date() == local_start.date():
        end = local_end.strftime("%H:%M")
    elif local_end.date() == local_start.date() + timedelta(days=1) and local_end.hour == local_end.minute == 0:
        end = "24:00"
    else:
        return None
    return local_start.isoweekday(), local_start.strftime("%H:%M"), end


def available(availability: Mapping[str, Any] | None, key: tuple[int, str, str] | None) -> bool:
    """Whether one weekly window covers the whole shift. No windows at all means any time."""
    if not availability:
        return True
    if key is None:
        return False
    weekday, start, end = key
    for window in availability.get(str(weekday), ()):
        first, _, last = str(window).partition("-")
        if first <= start and end <= last:
            return True
    return False


def blackout_days(local_start: datetime, local_end: datetime) -> list[str]:
    """The local dates a shift touches (ISO), for the blackout check."""
    days = [local_start.date()]
    last = (local_end - timedelta(microseconds=1)).date()
    while days[-1] < last:
        days.append(days[-1] + timedelta(days=1))
    return [d.isoformat() for d in days]


def month_bounds(local_start: datetime) -> tuple[datetime, datetime]:
    """The calendar month (in the shift's own zone) that the monthly cap counts."""
    first = local_start.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    nxt = (first + timedelta(days=32)).replace(day=1)
    return first, nxt


def describe_span(key: tuple[int, str, str] | None, local_start: datetime) -> str:
    if key is None:
        return f"{local_start:%Y-%m-%d %H:%M} (past midnight)"
    return f"{WEEKDAY_NAMES[key[0]]} {key[1]}-{key[2]}"


#: A volunteer's seated shift as the overlap and cap rules read it: (assignment id, occurrence id,
#: start_at, end_at).
SeatedShift = tuple[int, int, datetime, datetime]


def seated_shifts(session: Session, volunteer: Volunteer, first: datetime, last: datetime) -> list[SeatedShift]:
    """The volunteer's seated shifts of scheduled occurrences that end after ``first`` and start
    before ``last``: what ``check_reasons(..., shifts=...)`` needs for shifts between them (load
    once, check many: the seats page)."""
    return [(a, o, s, e) for a, o, s, e in session.execute(
        select(Assignment.id, Occurrence.id, Occurrence.start_at, Occurrence.end_at)
        .join(Occurrence, Occurrence.id == Assignment.occurrence_id)
        .where(Assignment.volunteer_id == volunteer.id, Assignment.status.in_(SEATED_STATUSES),
               Occurrence.status == OccurrenceStatus.SCHEDULED, Occurrence.end_at > first,
               Occurrence.start_at < last))]


def check_reasons(session: Session, volunteer: Volunteer, occurrence: Occurrence, role: Role,
                  ignore: Collection[int] = (), shifts: list[SeatedShift] | None = None) -> list[str]:
    """Every soft rule this placement breaks, as messages a coordinator reads (empty: all fine).

    ``ignore`` holds assignment ids to leave out of the overlap and cap sums (the shift a volunteer
    gives up in a swap). ``shifts`` (from ``seated_shifts``, covering the occurrence's calendar
    month and its span) replaces the two queries for the overlap and the cap.
    """
    reasons: list[str] = []
    tz = zone(occurrence.service.timezone)
    local_start, local_end = local_span(occurrence.start_at, occurrence.end_at, tz)
    skills = [canonical_or_same(s) for s in volunteer.skills or []]  # 医生 = doctor, even in older rows
    if role.skill and canonical_or_same(role.skill) not in skills:
        reasons.append(f"skill: role {role.name} needs {role.skill!r}; volunteer #{volunteer.id} has "
                       f"{', '.join(skills) or 'no skills'}")
    key = span_key(local_start, local_end)
    if not available(volunteer.availability, key):
        reasons.append(f"availability: volunteer #{volunteer.id} is not available {describe_span(key, local_start)} "
                       f"(windows: {v.format_availability(volunteer.availability) or 'none'})")
    blocked = set(volunteer.blackout_dates or ()) & set(blackout_days(local_start, local_end))
    if blocked:
        reasons.append(f"blackout: volunteer #{volunteer.id} is away on {', '.join(sorted(blocked))}")

    mine = None if shifts is None else [row for row in shifts if row[1] != occurrence.id and row[0] not in ignore]
    if mine is None:
        seated = (
            select(Assignment.id, Occurrence.id, Occurrence.start_at, Occurrence.end_at)
            .join(Occurrence, Occurrence.id == Assignment.occurrence_id)
            .where(Assignment.volunteer_id == volunteer.id, Assignment.status.in_(SEATED_STATUSES),
                   Occurrence.status == OccurrenceStatus.SCHEDULED, Occurrence.id != occurrence.id)
        )
        if ignore:
            seated = seated.where(Assignment.id.not_in(list(ignore)))
        clashes: list[SeatedShift] = [(a, o, s, e) for a, o, s, e in session.execute(
            seated.where(Occurrence.start_at < occurrence.end_at, Occurrence.end_at > occurrence.start_at))]
    else:
        clashes = [row for row in mine if row[2] < occurrence.end_at and row[3] > occurrence.start_at]
    if clashes:
        reasons.append(f"overlap: volunteer #{volunteer.id} already serves at occurrence "
                       f"{', '.join('#' + str(row[1]) for row in clashes)} at that time")
    if volunteer.monthly_cap_hours:
        month_start, month_end = month_bounds(local_start)
        rows: list[SeatedShift] = [(a, o, s, e) for a, o, s, e in session.execute(
            seated.where(Occurrence.start_at >= month_start, Occurrence.start_at < month_end))
        ] if mine is None else [row for row in mine if month_start <= row[2] < month_end]
        minutes = sum((row[3] - row[2]).total_seconds() for row in rows) / 60
        shift = (occurrence.end_at - occurrence.start_at).total_seconds() / 60
        if minutes + shift > volunteer.monthly_cap_hours * 60:
            reasons.append(f"monthly cap: volunteer #{volunteer.id} would serve {(minutes + shift) / 60:g} h in "
                           f"{local_start:%Y-%m}, over the cap of {volunteer.monthly_cap_hours} h")
    return reasons
