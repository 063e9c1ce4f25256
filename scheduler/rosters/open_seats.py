"""Seats a volunteer can take (可报名): open seats of their branch's services, then their community's,
that pass every check a coordinator's ``assign`` applies; full roles they could join the waitlist of.

What the volunteer pages list; counts only, never who holds the other seats.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from scheduler.models import (
    SEATED_STATUSES,
    Assignment,
    Branch,
    Handover,
    Occurrence,
    OccurrenceStatus,
    Role,
    Service,
    Volunteer,
)
from scheduler.volunteers.eligibility import check_reasons, seated_shifts

#: How far ahead the pages offer seats.
HORIZON = timedelta(days=28)


@dataclass(frozen=True)
class OpenSeat:
    occurrence_id: int
    role_id: int
    title: str
    role: str
    venue: str
    start: datetime
    end: datetime
    timezone: str
    free: int
    #: "branch" (the volunteer's own) or "community".
    tier: str

    @property
    def local_start(self) -> datetime:
        return self.start.astimezone(ZoneInfo(self.timezone))

    @property
    def local_end(self) -> datetime:
        return self.end.astimezone(ZoneInfo(self.timezone))


def open_seats(session: Session, volunteer: Volunteer, now: datetime, limit: int = 30,
               horizon: timedelta = HORIZON) -> tuple[list[OpenSeat], list[OpenSeat]]:
    """(seats the volunteer may claim now, full roles whose waitlist they may join), soonest first,
    own branch before the rest of the community; each passes every soft check."""
    if volunteer.home_branch_id is None:
        return [], []
    branch = session.get(Branch, volunteer.home_branch_id)
    if branch is None:
        return [], []
    seated = (select(Assignment.occurrence_id, Assignment.role_id, func.count().label("taken"))
              .where(Assignment.status.in_(SEATED_STATUSES))
              .group_by(Assignment.occurrence_id, Assignment.role_id).subquery())
    mine = select(Assignment.occurrence_id).where(Assignment.volunteer_id == volunteer.id,
                                                  Assignment.status.in_((*SEATED_STATUSES, "waitlisted")))
    rows = session.execute(
        select(Occurrence, Role, Service, func.coalesce(seated.c.taken, 0))
        .join(Service, Service.id == Occurrence.service_id)
        .join(Role, Role.service_id == Service.id)
        .outerjoin(seated, (seated.c.occurrence_id == Occurrence.id) & (seated.c.role_id == Role.id))
        .where(Occurrence.status == OccurrenceStatus.SCHEDULED, Occurrence.start_at > now,
               Occurrence.start_at <= now + horizon, Service.active.is_(True),
               or_(Service.branch_id == branch.id, Service.community_id == branch.community_id),
               Occurrence.id.not_in(mine))
        .order_by(Occurrence.start_at, Occurrence.id, Role.id)).all()
    # The volunteer's seated shifts, loaded once for every row's overlap and monthly-cap check: from
    # before the first candidate's calendar month to after the last one's.
    shifts = seated_shifts(session, volunteer, now - timedelta(days=32), now + horizon + timedelta(days=32))
    free: list[OpenSeat] = []
    full: list[OpenSeat] = []
    for occurrence, role, service, taken in rows:
        if len(free) >= limit and len(full) >= limit:
            break
        target = free if taken < role.count else full
        if len(target) >= limit or check_reasons(session, volunteer, occurrence, role, shifts=shifts):
            continue
        target.append(OpenSeat(occurrence.id, role.id, service.title, role.name, service.venue, occurrence.start_at,
                               occurrence.end_at, service.timezone, max(role.count - taken, 0),
                               "branch" if service.branch_id == branch.id else "community"))
    order = {"branch": 0, "community": 1}
    free.sort(key=lambda seat: (order[seat.tier], seat.start))
    full.sort(key=lambda seat: (order[seat.tier], seat.start))
    return free, full


def handovers_for(session: Session, volunteer: Volunteer, now: datetime) -> list[tuple[Assignment, Occurrence]]:
    """Shifts other volunteers offered to this one (转让), not yet begun and still theirs to give."""
    return [(assignment, occurrence) for assignment, occurrence in session.execute(
        select(Assignment, Occurrence).join(Handover, Handover.assignment_id == Assignment.id)
        .join(Occurrence, Occurrence.id == Assignment.occurrence_id)
        .where(Handover.volunteer_id == volunteer.id, Assignment.status.in_(("invited", "confirmed")),
               Occurrence.status == OccurrenceStatus.SCHEDULED, Occurrence.start_at > now)
        .order_by(Occurrence.start_at)).all()]


def offer_handover(session: Session, assignment: Assignment, taker_phone: str, now: datetime) -> Volunteer:
    """Offer the shift to the volunteer with this phone number, who must be able to take it (every
    check); it moves when they accept (``accept_handover``). Refusals name no one."""
    from scheduler import validation as v
    from scheduler.errors import CheckRefused, Conflict, NotFound
    from scheduler.events import record_event

    if assignment.status not in ("invited", "confirmed") or assignment.occurrence.start_at <= now:
        raise Conflict("this shift can no longer be handed over")
    phone = v.phone(taker_phone, "phone")
    taker = session.scalar(select(Volunteer).where(Volunteer.phone == phone, Volunteer.active.is_(True)))
    if taker is None or taker.id == assignment.volunteer_id:
        raise NotFound("volunteer", "with that phone number")
    if session.scalar(select(Assignment.id).where(Assignment.occurrence_id == assignment.occurrence_id,
                                                  Assignment.volunteer_id == taker.id,
                                                  Assignment.status.in_((*SEATED_STATUSES, "waitlisted")))):
        raise Conflict("that volunteer is already on this shift")
    if check_reasons(session, taker, assignment.occurrence, assignment.role):
        raise CheckRefused("that volunteer cannot take this shift (role, time or monthly cap)")
    offer = session.get(Handover, assignment.id)
    if offer is None:
        session.add(Handover(assignment_id=assignment.id, volunteer_id=taker.id, created_at=now))
    else:
        offer.volunteer_id, offer.created_at = taker.id, now
    session.flush()
    record_event(session, "assignment.changed", assignment_id=assignment.id, occurrence_id=assignment.occurrence_id,
                 volunteer_id=assignment.volunteer_id, status=assignment.status, handover_to=taker.id)
    return taker


def withdraw_handover(session: Session, assignment: Assignment) -> bool:
    offer = session.get(Handover, assignment.id)
    if offer is None:
        return False
    session.delete(offer)
    return True


def accept_handover(session: Session, assignment_id: int, taker: Volunteer, now: datetime, policy: object) -> Assignment:
    """The taker accepts a shift offered to them: it moves (``rosters.swap``: seat kept, checks
    applied again, both told)."""
    from scheduler import rosters
    from scheduler.errors import NotFound

    offer = session.get(Handover, assignment_id)
    if offer is None or offer.volunteer_id != taker.id:
        raise NotFound("handover", assignment_id)
    session.delete(offer)
    session.flush()
    (row,) = rosters.swap(session, assignment_id, to_volunteer=str(taker.id), now=now, policy=policy)  # type: ignore[arg-type]
    return row
