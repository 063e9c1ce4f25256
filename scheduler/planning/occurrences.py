"""Single occurrences (场次): list with filters, cancel, move; each change tells seated volunteers.

A moved or cancelled occurrence is *pinned*: re-planning leaves it alone. Its identity
(service, original start) never changes, so feeds keep the same UID (RFC 5545 section 3.8.4.7)
and bump SEQUENCE (section 3.8.7.4).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload, object_session

from scheduler import reminders
from scheduler import validation as v
from scheduler.db import utcnow
from scheduler.errors import Conflict, InvalidInput, NotFound
from scheduler.events import record_event
from scheduler.i18n import _
from scheduler.models import (
    SEATED_STATUSES,
    Assignment,
    AssignmentStatus,
    Occurrence,
    OccurrenceStatus,
    Service,
)
from scheduler.organisations import get_branch, get_community
from scheduler.planning import utc_bounds
from scheduler.policy import DEFAULT_POLICY, OperationPolicy
from scheduler.volunteers.eligibility import check_breaks


def get_occurrence(session: Session, occurrence_id: int | str) -> Occurrence:
    """The occurrence with this id (``42`` or ``"#42"``); NotFound (exit 3) when there is none."""
    occurrence = session.get(Occurrence, v.record_id(occurrence_id, "occurrence"))
    if occurrence is None:
        raise NotFound("occurrence", occurrence_id)
    return occurrence


def seated_counts(session: Session, occurrence_ids: list[int]) -> dict[int, dict[int, int]]:
    """occurrence id -> role id -> seated assignments (statuses that hold a seat)."""
    counts: dict[int, dict[int, int]] = defaultdict(dict)
    for i in range(0, len(occurrence_ids), 5000):
        chunk = occurrence_ids[i:i + 5000]
        rows = session.execute(
            select(Assignment.occurrence_id, Assignment.role_id, func.count())
            .where(Assignment.occurrence_id.in_(chunk), Assignment.status.in_(SEATED_STATUSES))
            .group_by(Assignment.occurrence_id, Assignment.role_id)
        )
        for oid, rid, n in rows:
            counts[oid][rid] = int(n)
    return counts


def open_seats(occurrence: Occurrence, seated: dict[int, int]) -> int:
    """Sum over roles of count minus seated assignments."""
    return sum(max(0, role.count - seated.get(role.id, 0)) for role in occurrence.service.roles)


def list_occurrences(session: Session, service: str | None = None, branch: str | None = None,
                     community: str | None = None, start: date | None = None, end: date | None = None,
                     open_only: bool = False, include_cancelled: bool = True,
                     limit: int | None = None) -> list[Occurrence]:
    """Occurrences by start, filtered; dates are local dates in each service's zone (inclusive)."""
    query = (
        select(Occurrence).join(Service, Service.id == Occurrence.service_id)
        .options(joinedload(Occurrence.service).selectinload(Service.roles))
        .order_by(Occurrence.start_at, Occurrence.id)
    )
    if service:
        query = query.where(Service.slug == service)
        if session.scalar(select(Service.id).where(Service.slug == service)) is None:
            raise NotFound("service", service)
    if branch:
        query = query.where(Service.branch_id == get_branch(session, branch).id)
    if community:
        query = query.where(Service.community_id == get_community(session, community).id)
    if start and end and end < start:
        raise InvalidInput("to", _("{end} is before {start}").format(end=end.isoformat(), start=start.isoformat()))
    if start:
        query = query.where(Occurrence.start_at >= utc_bounds(start, start)[0])
    if end:
        query = query.where(Occurrence.start_at < utc_bounds(end, end)[1])
    if open_only or not include_cancelled:
        query = query.where(Occurrence.status == OccurrenceStatus.SCHEDULED)
    found = list(session.scalars(query).unique())
    if start or end:
        found = [o for o in found if (start is None or _local(o.start_at, o.service).date() >= start)
                 and (end is None or _local(o.start_at, o.service).date() <= end)]
    if open_only:
        counts = seated_counts(session, [o.id for o in found])
        found = [o for o in found if open_seats(o, counts.get(o.id, {})) > 0]
    if limit is not None:
        found = found[:limit]
    return found


def _local(moment: datetime, service: Service) -> datetime:
    return moment.astimezone(ZoneInfo(service.timezone))


_LOCAL_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d{1,2}:\d{2})$")


def parse_local_start(value: str | datetime, zone: str, field: str = "to") -> datetime:
    """``YYYY-MM-DD HH:MM`` in the service's zone -> aware datetime."""
    if isinstance(value, datetime):
        naive = value.replace(tzinfo=None)
    else:
        match = _LOCAL_RE.match(value.strip())
        if not match:
            raise InvalidInput(field, _("{value!r} is not a local start like '2026-10-10 09:30'").format(value=value))
        day = v.iso_date(match.group(1), field)
        hhmm = v.local_time(match.group(2), field)
        naive = datetime(day.year, day.month, day.day, int(hhmm[:2]), int(hhmm[3:]))
    # iso_date keeps typed dates in 1900-2100; a datetime passed in gets the same bound, so that the
    # zone shift and the end never overflow.
    v.date_in_range(naive.date(), field)
    return naive.replace(tzinfo=ZoneInfo(zone))


def cancel_occurrence(session: Session, occurrence_id: int, reason: str,
                      now: datetime | None = None, policy: OperationPolicy = DEFAULT_POLICY) -> Occurrence:
    """Cancel one occurrence by hand (pinned: re-planning keeps it cancelled) and tell seated volunteers."""
    now = now or utcnow()
    reason = v.text(reason, "reason", 200)
    occurrence = get_occurrence(session, occurrence_id)
    if occurrence.status == OccurrenceStatus.CANCELLED:
        raise Conflict(_("occurrence #{id} is already cancelled").format(id=occurrence_id))
    occurrence.status = OccurrenceStatus.CANCELLED
    occurrence.cancel_reason = reason
    occurrence.pinned = True
    occurrence.sequence += 1
    occurrence.updated_at = now
    session.flush()
    record_event(session, "occurrence.cancelled", occurrence_id=occurrence.id, service_id=occurrence.service_id,
                 sequence=occurrence.sequence, reason="by_hand")
    reminders.occurrence_changed(session, occurrence, "cancelled", {"reason": reason}, now=now, policy=policy)
    return occurrence


def move_occurrence(session: Session, occurrence_id: int, new_start: str | datetime,
                    duration: str | int | None = None, now: datetime | None = None,
                    reason: str | None = None, policy: OperationPolicy = DEFAULT_POLICY) -> Occurrence:
    """Move one occurrence to a new local start (and optionally length); identity is kept, it is pinned.

    Seated volunteers are told, with ``reason`` when given; ``move_warnings`` says whom the new time
    no longer suits.
    """
    now = now or utcnow()
    if reason is not None:
        reason = v.text(reason, "reason", 200, required=False) or None
    occurrence = get_occurrence(session, occurrence_id)
    if occurrence.status == OccurrenceStatus.CANCELLED:
        raise Conflict(_("occurrence #{id} is cancelled; it cannot be moved").format(id=occurrence_id))
    service = occurrence.service
    start_local = parse_local_start(new_start, service.timezone)
    start = start_local.astimezone(UTC)
    minutes = (v.duration_minutes(duration) if duration is not None
               else int((occurrence.end_at - occurrence.start_at).total_seconds() // 60))
    if start <= now:
        raise InvalidInput("to", _("{start} is in the past").format(start=start_local.strftime("%Y-%m-%d %H:%M")))
    end = start + timedelta(minutes=minutes)
    if start == occurrence.start_at and end == occurrence.end_at:
        raise Conflict(_("occurrence #{id} already starts at {start}").format(
            id=occurrence_id, start=start_local.strftime("%Y-%m-%d %H:%M")))
    previous = occurrence.start_at
    occurrence.start_at = start
    occurrence.end_at = end
    occurrence.pinned = True
    occurrence.sequence += 1
    occurrence.updated_at = now
    session.flush()
    record_event(session, "occurrence.moved", occurrence_id=occurrence.id, service_id=occurrence.service_id,
                 sequence=occurrence.sequence, previous_start=previous.isoformat(), start=start.isoformat(),
                 end=end.isoformat())
    detail = {"from": _local(previous, service).strftime("%Y-%m-%d %H:%M"),
              "to": start_local.strftime("%Y-%m-%d %H:%M"), "old_start": previous.isoformat()}
    if reason:
        detail["reason"] = reason
    reminders.occurrence_changed(session, occurrence, "moved", detail, now=now, policy=policy)
    return occurrence


#: The soft checks a new time can break for someone already seated (skill and cap do not move).
_MOVE_CHECKS = ("availability", "blackout", "overlap")


def move_warnings(session: Session, occurrence: Occurrence) -> list[dict[str, Any]]:
    """Seated volunteers whose availability, blackout dates or other shifts the occurrence's
    current time breaks: the move stands, the coordinator is told whom to call."""
    warnings = []
    for assignment in session.scalars(
            select(Assignment).where(Assignment.occurrence_id == occurrence.id,
                                     Assignment.status.in_((AssignmentStatus.INVITED, AssignmentStatus.CONFIRMED))).order_by(Assignment.id)):
        reasons = [text for code, text in check_breaks(session, assignment.volunteer, occurrence, assignment.role)
                   if code in _MOVE_CHECKS]
        if reasons:
            warnings.append({"assignment_id": assignment.id, "volunteer_id": assignment.volunteer_id,
                             "volunteer": assignment.volunteer.name, "reasons": reasons})
    return warnings


@dataclass(frozen=True)
class RoleSeats:
    """One role of an occurrence: how many it needs and how many seats are taken."""

    role: str
    skill: str | None
    count: int
    seated: int

    @property
    def open(self) -> int:
        return max(0, self.count - self.seated)

    def as_json(self) -> dict[str, Any]:
        return {"role": self.role, "skill": self.skill, "count": self.count, "seated": self.seated,
                "open": self.open}


@dataclass(frozen=True)
class OccurrenceView:
    """An occurrence as a coordinator sees it: times aware UTC, shown in the service's ``timezone``."""

    id: int
    service: str
    title: str
    branch: str | None
    community: str
    venue: str
    timezone: str
    start_at: datetime
    end_at: datetime
    original_start: datetime
    status: str
    cancel_reason: str | None
    pinned: bool
    provisional: bool
    sequence: int
    roles: tuple[RoleSeats, ...]

    @property
    def local_start(self) -> datetime:
        return self.start_at.astimezone(ZoneInfo(self.timezone))

    @property
    def local_end(self) -> datetime:
        return self.end_at.astimezone(ZoneInfo(self.timezone))

    @property
    def moved(self) -> bool:
        return self.start_at != self.original_start

    @property
    def open_seats(self) -> int:
        return sum(r.open for r in self.roles)

    def as_json(self) -> dict[str, Any]:
        """The stable JSON shape (``--json``): local times in the service's zone and the UTC instants."""
        start, end = self.local_start, self.local_end
        original = self.original_start.astimezone(ZoneInfo(self.timezone))
        return {
            "id": self.id,
            "service": self.service,
            "title": self.title,
            "branch": self.branch,
            "community": self.community,
            "venue": self.venue,
            "timezone": self.timezone,
            "date": start.date().isoformat(),
            "start": start.strftime("%Y-%m-%dT%H:%M"),
            "end": end.strftime("%Y-%m-%dT%H:%M"),
            "start_utc": self.start_at.isoformat(),
            "end_utc": self.end_at.isoformat(),
            "original_start": original.strftime("%Y-%m-%dT%H:%M"),
            "moved": self.moved,
            "status": self.status,
            "cancel_reason": self.cancel_reason,
            "pinned": self.pinned,
            "provisional": self.provisional,
            "sequence": self.sequence,
            "roles": [r.as_json() for r in self.roles],
            "open_seats": self.open_seats,
        }


def occurrence_view(occurrence: Occurrence, seated: dict[int, int] | None = None) -> OccurrenceView:
    """The occurrence's view: status, times, open seats per role.

    ``seated`` maps role id to seated assignments; when omitted it is counted from the database.
    """
    service = occurrence.service
    if seated is None:
        session = object_session(occurrence)
        seated = seated_counts(session, [occurrence.id]).get(occurrence.id, {}) if session else {}
    return OccurrenceView(
        id=occurrence.id,
        service=service.slug,
        title=service.title,
        branch=service.branch.slug if service.branch else None,
        community=service.community.slug,
        venue=service.venue,
        timezone=service.timezone,
        start_at=occurrence.start_at.astimezone(UTC),
        end_at=occurrence.end_at.astimezone(UTC),
        original_start=occurrence.original_start.astimezone(UTC),
        status=occurrence.status,
        cancel_reason=occurrence.cancel_reason,
        pinned=occurrence.pinned,
        provisional=occurrence.provisional,
        sequence=occurrence.sequence,
        roles=tuple(RoleSeats(r.name, r.skill, r.count, seated.get(r.id, 0)) for r in service.roles),
    )


def occurrence_views(session: Session, occurrences: list[Occurrence]) -> list[OccurrenceView]:
    """``occurrence_view`` for many, counting seats in one query."""
    counts = seated_counts(session, [o.id for o in occurrences])
    return [occurrence_view(o, counts.get(o.id, {})) for o in occurrences]


__all__ = [
    "cancel_occurrence", "get_occurrence", "list_occurrences", "move_occurrence", "move_warnings",
    "OccurrenceView", "RoleSeats", "occurrence_view", "occurrence_views", "open_seats", "parse_local_start",
    "seated_counts",
]
