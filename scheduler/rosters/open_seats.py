"""Seats a volunteer can take (可报名): open seats of their branch's services, then their community's,
that pass every check a coordinator's ``assign`` applies; full roles they could join the waitlist of.

What the volunteer pages list; counts only, never who holds the other seats.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, bindparam, case, func, or_, select
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
from scheduler.volunteers.eligibility import (
    NO_STANDING,
    Placement,
    Standing,
    check_reasons,
    needs_standing,
    placement_fits,
    seated_shifts,
    standing_of,
)

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


@lru_cache(maxsize=1)
def _candidates() -> Select[Any]:
    """The candidate (occurrence, role) rows of one volunteer's window, as plain columns, built once
    (parameters: volunteer, branch, now, until): their seated count, tier (own branch 0, the rest of
    its community 1) then time; occurrences the volunteer is already on are left out."""
    taken = (select(func.count()).select_from(Assignment)
             .where(Assignment.occurrence_id == Occurrence.id, Assignment.role_id == Role.id,
                    Assignment.status.in_(SEATED_STATUSES))
             .correlate(Occurrence, Role).scalar_subquery())
    mine = select(Assignment.occurrence_id).where(Assignment.volunteer_id == bindparam("volunteer"),
                                                  Assignment.status.in_((*SEATED_STATUSES, "waitlisted")))
    community = select(Branch.community_id).where(Branch.id == bindparam("branch")).scalar_subquery()
    tier = case((Service.branch_id == bindparam("branch"), 0), else_=1)
    return (
        select(Occurrence.id, Role.id, Role.count, taken, Occurrence.start_at, Occurrence.end_at, Service.timezone,
               Role.name, Role.skill, Role.required_qualification, Role.min_age, Service.minor_latest_end,
               Service.title, Service.venue, Service.branch_id)
        .join(Service, Service.id == Occurrence.service_id)
        .join(Role, Role.service_id == Service.id)
        .where(Occurrence.status == OccurrenceStatus.SCHEDULED, Occurrence.start_at > bindparam("now"),
               Occurrence.start_at <= bindparam("until"), Service.active.is_(True),
               or_(Service.branch_id == bindparam("branch"), Service.community_id == community),
               Occurrence.id.not_in(mine))
        .order_by(tier, Occurrence.start_at, Occurrence.id, Role.id))


def open_seats(session: Session, volunteer: Volunteer, now: datetime, limit: int = 30,
               horizon: timedelta = HORIZON, full_limit: int | None = None) -> tuple[list[OpenSeat], list[OpenSeat]]:
    """(seats the volunteer may claim now, full roles whose waitlist they may join), own branch
    before the rest of the community, soonest first, at most ``limit`` free ones and ``full_limit``
    (default ``limit``) full ones; each passes every
    check a coordinator's ``assign`` applies.

    One query of plain columns (``_candidates``, built once, run on the Core connection:
    bench/bench_web.py) for the candidate (occurrence, role) pairs of the window with their seated
    counts, ordered by tier then time; every row is then given the rules ``check_reasons`` applies
    (``placement_fits``, the same rules) on those columns, against the volunteer's seated shifts
    loaded once and their standing (loaded only when a rule can need it): no ORM object per row,
    and the loop stops when both lists are full.
    """
    home = volunteer.home_branch_id
    if home is None:
        return [], []
    session.flush()  # Core statements do not autoflush: a caller's pending change is counted too
    rows = session.connection().execute(_candidates(), {"volunteer": volunteer.id, "branch": home, "now": now,
                                                        "until": now + horizon}).all()
    if not rows:
        return [], []
    # The volunteer's seated shifts, loaded once for every row's overlap and monthly-cap check: from
    # before the first candidate's calendar month to after the last one's.
    shifts = seated_shifts(session, volunteer, now - timedelta(days=32), now + horizon + timedelta(days=32))
    standing: Standing | None = None

    free: list[OpenSeat] = []
    full: list[OpenSeat] = []
    most = {True: limit, False: limit if full_limit is None else full_limit}  # free (True), full (False)
    for occ, role_id, count, seated, start, end, timezone, role, skill, required, min_age, latest, title, venue, \
            branch_id in rows:
        left = count - seated
        target = free if left > 0 else full
        if len(target) >= most[left > 0]:
            if len(free) >= most[True] and len(full) >= most[False]:
                break
            continue
        placement = Placement(occ, start, end, timezone, role, skill, required, min_age, latest)
        if standing is None and needs_standing(volunteer, placement):
            standing = standing_of(session, volunteer)
        if not placement_fits(volunteer, placement, standing or NO_STANDING, shifts):
            continue
        target.append(OpenSeat(occ, role_id, title, role, venue, start, end, timezone, max(left, 0),
                               "branch" if branch_id == home else "community"))
    return free, full


@dataclass(frozen=True)
class ShiftRow:
    """A line of "my shifts" (我的排班) or of the shifts offered to me, as plain columns."""

    assignment_id: int
    status: str
    waitlist_pos: int | None
    title: str
    role: str
    venue: str
    start: datetime
    end: datetime
    timezone: str
    #: A hand-over of this shift to someone else is waiting for them (my shifts only).
    offered: bool = False


def my_shifts(session: Session, volunteer: Volunteer, now: datetime, limit: int = 50) -> list[ShiftRow]:
    """The volunteer's shifts that have not ended (seated or waitlisted, occurrence scheduled),
    soonest first, as ``scheduler.volunteers.coming_shifts`` lists them, with whether a hand-over is
    pending: one query of plain columns (bench/bench_web.py)."""
    pending = select(Handover.assignment_id).where(Handover.assignment_id == Assignment.id).exists()
    return [ShiftRow(*tuple(row)) for row in session.execute(
        select(Assignment.id, Assignment.status, Assignment.waitlist_pos, Service.title, Role.name, Service.venue,
               Occurrence.start_at, Occurrence.end_at, Service.timezone, pending)
        .join(Occurrence, Occurrence.id == Assignment.occurrence_id)
        .join(Service, Service.id == Occurrence.service_id)
        .join(Role, Role.id == Assignment.role_id)
        .where(Assignment.volunteer_id == volunteer.id,
               Assignment.status.in_(("invited", "confirmed", "waitlisted")),
               Occurrence.status == OccurrenceStatus.SCHEDULED, Occurrence.end_at > now)
        .order_by(Occurrence.start_at, Assignment.id).limit(limit))]


def handovers_for(session: Session, volunteer: Volunteer, now: datetime) -> list[ShiftRow]:
    """Shifts other volunteers offered to this one (转让), not yet begun and still theirs to give."""
    return [ShiftRow(*row) for row in session.execute(
        select(Assignment.id, Assignment.status, Assignment.waitlist_pos, Service.title, Role.name, Service.venue,
               Occurrence.start_at, Occurrence.end_at, Service.timezone)
        .join(Handover, Handover.assignment_id == Assignment.id)
        .join(Occurrence, Occurrence.id == Assignment.occurrence_id)
        .join(Service, Service.id == Occurrence.service_id)
        .join(Role, Role.id == Assignment.role_id)
        .where(Handover.volunteer_id == volunteer.id, Assignment.status.in_(("invited", "confirmed")),
               Occurrence.status == OccurrenceStatus.SCHEDULED, Occurrence.start_at > now)
        .order_by(Occurrence.start_at))]


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
