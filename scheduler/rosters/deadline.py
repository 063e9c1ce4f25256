"""The confirmation deadline (确认截止): a service may want its invited volunteers to confirm
``confirm_hours`` before the shift; at that moment a seat still only invited is released.

Released means declined through :func:`scheduler.rosters.decline_shift` with the reason
:data:`REASON`, so the waitlist moves up and the promoted volunteers are told exactly as after a
decline typed at the CLI; the released volunteer gets an "unassigned" notice with the reason.

Only invitations made before the deadline count: a volunteer invited after it (a late assignment,
or promoted from the waitlist by this very release) keeps the seat until the shift, so a second
run, or a run after a worker was down, releases nobody twice and never releases the one who just
moved up. ``Assignment.updated_at`` is the moment of the invitation (every roster change touches it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.models import Assignment, AssignmentStatus, Occurrence, OccurrenceStatus, Service
from scheduler.policy import OperationPolicy
from scheduler.reminders import notify
from scheduler.rosters import decline_shift
from scheduler.services import MAX_CONFIRM_HOURS

#: The reason recorded on the released seat and told to the volunteer.
REASON = "未在截止时间前确认"


@dataclass
class Released:
    """What one run did: the released assignments and the waitlisted ones that took their seats."""

    released: list[int] = field(default_factory=list)
    promoted: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[int]]:
        return {"released": self.released, "promoted": self.promoted}


def due_unconfirmed(session: Session, now: datetime) -> list[int]:
    """Invited seats whose service's deadline has come (shift not started) and that were invited before it."""
    rows = session.execute(
        select(Assignment.id, Assignment.updated_at, Occurrence.start_at, Service.confirm_hours)
        .join(Occurrence, Assignment.occurrence_id == Occurrence.id)
        .join(Service, Occurrence.service_id == Service.id)
        .where(Assignment.status == AssignmentStatus.INVITED, Service.confirm_hours.is_not(None),
               Occurrence.status == OccurrenceStatus.SCHEDULED, Occurrence.start_at > now,
               # No deadline lies further ahead than the largest one a service may set.
               Occurrence.start_at <= now + timedelta(hours=MAX_CONFIRM_HOURS))
        .order_by(Occurrence.start_at, Assignment.id)
    ).all()
    due = []
    for assignment_id, invited_at, start, hours in rows:
        deadline = start - timedelta(hours=hours or 0)  # never None: the query selects set ones
        if deadline <= now and invited_at < deadline:
            due.append(assignment_id)
    return due


def release_unconfirmed(session: Session, now: datetime, policy: OperationPolicy) -> Released:
    """Decline every seat unconfirmed at its service's deadline; the waitlist moves up (idempotent)."""
    result = Released()
    for assignment_id in due_unconfirmed(session, now):
        assignment = session.get(Assignment, assignment_id)
        if assignment is None or assignment.status != AssignmentStatus.INVITED:
            continue  # changed by an earlier release in this run (a swap of seats cannot, but be sure)
        declined = decline_shift(session, assignment_id, REASON, now=now, policy=policy)
        notify(session, declined.declined, "unassigned", now, {"reason": REASON, "deadline": True}, policy=policy)
        result.released.append(assignment_id)
        result.promoted.extend(entry.id for entry, _ in declined.promoted)
    return result
