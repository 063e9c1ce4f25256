"""Reminders: derived before-shift ones, and change notices written with the change.

Before-shift reminders (``before:<minutes>``, 24 h and 2 h by default, per service) are derived
from the seats: no roster change writes them; the dispatcher's scan records each in the ledger
when it comes due (``scan``), then claims, re-checks, sends and marks it (``dispatch``).

Change notices are ledger rows written in the same transaction as the change, with the
coordinator's reason in ``payload["reason"]``: ``moved:<seq>``, ``cancelled:<seq>``,
``role_changed:<seq>``, ``unassigned:<seq>``, ``reinstated:<seq>``, ``promoted`` and
``assigned:...`` (one per volunteer per assign or fill, listing its new shifts in
``payload["assignment_ids"]``). One row per (assignment, kind, channel, shift start).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.db import utcnow
from scheduler.errors import Conflict, InvalidInput, NotFound
from scheduler.i18n import N_, _, translate
from scheduler.models import (
    Assignment,
    AssignmentStatus,
    Occurrence,
    Reminder,
    ReminderStatus,
)
from scheduler.policy import OperationPolicy, QuietHours
from scheduler.policy import parse_quiet_hours as parse_quiet_hours  # re-exported with QuietHours

#: Statuses the dispatcher may still send from; a cancel reaches them too.
OPEN_STATUSES = (ReminderStatus.PENDING, ReminderStatus.CLAIMED)
#: Ledger statuses as a coordinator reads them (JSON keeps the English value).
STATUS_WORDS = {"pending": N_("pending"), "claimed": N_("sending"), "sent": N_("sent"),
                "cancelled": N_("cancelled"), "failed": N_("failed"), "stale": N_("stale")}


def status_word(status: str) -> str:
    """A ledger status in the language in force (an unknown value as it is)."""
    word = STATUS_WORDS.get(str(status))
    return translate(word) if word else str(status)


def quiet_adjusted(due: datetime, shift_start: datetime, timezone: str, quiet: QuietHours | None) -> datetime:
    """Move a due time out of quiet hours: to their end if that still precedes the shift, else to
    just before they start. (The caller clamps a time already past to "now".)"""
    if quiet is None:
        return due
    tz = ZoneInfo(timezone)
    local = due.astimezone(tz)
    if not quiet.contains(local.time()):
        return due
    window_start, window_end = quiet.window_around(local)
    if window_end < shift_start:
        return window_end.astimezone(due.tzinfo)
    return (window_start - timedelta(minutes=1)).astimezone(due.tzinfo)


def channel_for(assignment: Assignment, policy: OperationPolicy) -> str:
    """The volunteer's preferred channel, else the policy's (ROSTER_REMINDER_CHANNEL, console by default)."""
    return assignment.volunteer.preferred_channel or policy.default_channel


def _upsert(session: Session, assignment: Assignment, kind: str, due_at: datetime,
            payload: dict[str, Any] | None = None, now: datetime | None = None, *,
            policy: OperationPolicy) -> Reminder:
    channel = channel_for(assignment, policy)
    shift_start = assignment.occurrence.start_at
    existing = session.scalar(
        select(Reminder).where(
            Reminder.assignment_id == assignment.id, Reminder.kind == kind, Reminder.channel == channel,
            Reminder.shift_start == shift_start,
        )
    )
    now = now or utcnow()
    if existing is not None:
        # A sent or failed notice stays as it is (a failure is retried by a coordinator).
        if existing.status in (ReminderStatus.PENDING, ReminderStatus.CANCELLED, ReminderStatus.STALE):
            existing.status = ReminderStatus.PENDING
            existing.claimed_by = None
            existing.lease_until = None
            existing.due_at = due_at
            existing.payload = payload or {}
            existing.attempts = 0
            existing.last_error = None
            existing.updated_at = now
        return existing
    reminder = Reminder(
        assignment_id=assignment.id, kind=kind, channel=channel, shift_start=shift_start, due_at=due_at,
        status=ReminderStatus.PENDING, payload=payload or {}, attempts=0, created_at=now, updated_at=now,
    )
    session.add(reminder)
    return reminder


def notify(session: Session, assignment: Assignment, change: str, now: datetime | None = None,
           detail: dict[str, Any] | None = None, *, policy: OperationPolicy) -> Reminder:
    """Owe the volunteer a change notice (moved, cancelled, role_changed, unassigned, promoted, assigned)."""
    now = now or utcnow()
    occurrence = assignment.occurrence
    kind = "promoted" if change == "promoted" else f"{change}:{occurrence.sequence}:{assignment.sequence}"
    payload = {"change": change, **(detail or {})}
    return _upsert(session, assignment, kind[:32], now, payload, now, policy=policy)


def notify_assigned(session: Session, assignment: Assignment, now: datetime | None = None, *,
                    policy: OperationPolicy) -> Reminder:
    """Owe the volunteer an "assigned" notice for this new shift (auto-fill writes its own in bulk,
    one per volunteer for all their new shifts)."""
    return notify(session, assignment, "assigned", now, {"assignment_ids": [assignment.id]}, policy=policy)


def occurrence_changed(session: Session, occurrence: Occurrence, change: str,
                       detail: dict[str, Any] | None = None, now: datetime | None = None, *,
                       policy: OperationPolicy) -> int:
    """After a move or cancel: tell every seated volunteer (their before-shift reminders follow
    from the seat: the scan owes the new time's, the claim drops the old time's)."""
    now = now or utcnow()
    count = 0
    for assignment in session.scalars(
        select(Assignment).where(
            Assignment.occurrence_id == occurrence.id, Assignment.status.in_((AssignmentStatus.INVITED, AssignmentStatus.CONFIRMED))
        )
    ):
        if occurrence.end_at > now:
            notify(session, assignment, change, now, detail, policy=policy)
            count += 1
    return count


@dataclass(frozen=True)
class ReminderView:
    """What a coordinator sees of a reminder (volunteer by id; the text is built at send time).

    Times are aware UTC; ``timezone`` is the service's, for showing them local.
    """

    #: None for an upcoming reminder: owed by a seat, not yet in the ledger.
    id: int | None
    kind: str
    channel: str
    status: str
    due_at: datetime
    attempts: int
    last_error: str | None
    sent_at: datetime | None
    assignment_id: int
    volunteer_id: int
    service: str
    shift_start: datetime
    timezone: str

    @property
    def local_due(self) -> datetime:
        return self.due_at.astimezone(ZoneInfo(self.timezone))

    @property
    def local_start(self) -> datetime:
        return self.shift_start.astimezone(ZoneInfo(self.timezone))

    def as_json(self) -> dict[str, Any]:
        """The stable JSON shape (``--json``): ISO instants in UTC."""
        return {
            "id": self.id,
            "kind": self.kind,
            "channel": self.channel,
            "status": self.status,
            "due_at": self.due_at.isoformat(),
            "attempts": self.attempts,
            "last_error": self.last_error,
            "sent_at": self.sent_at.isoformat() if self.sent_at else None,
            "assignment_id": self.assignment_id,
            "volunteer_id": self.volunteer_id,
            "service": self.service,
            "shift_start": self.shift_start.isoformat(),
        }


def reminder_view(reminder: Reminder) -> ReminderView:
    """The reminder's view, with its shift's service and zone."""
    assignment = reminder.assignment
    occurrence = assignment.occurrence
    return ReminderView(
        id=reminder.id, kind=reminder.kind, channel=reminder.channel, status=reminder.status,
        due_at=reminder.due_at.astimezone(UTC), attempts=reminder.attempts, last_error=reminder.last_error,
        sent_at=reminder.sent_at.astimezone(UTC) if reminder.sent_at else None,
        assignment_id=assignment.id, volunteer_id=assignment.volunteer_id, service=occurrence.service.slug,
        shift_start=occurrence.start_at.astimezone(UTC), timezone=occurrence.service.timezone,
    )


def list_reminders(session: Session, status: str | None = None, failed_only: bool = False,
                   limit: int = 500) -> list[Reminder]:
    """Reminders, most recently due first; ``failed_only`` lists the permanent failures."""
    query = select(Reminder)
    if failed_only:
        status = ReminderStatus.FAILED
    if status is not None:
        if status not in (ReminderStatus.PENDING, ReminderStatus.CLAIMED, ReminderStatus.SENT, ReminderStatus.CANCELLED, ReminderStatus.FAILED, ReminderStatus.STALE):
            raise InvalidInput("status", _("unknown reminder status {status}").format(status=repr(status)))
        query = query.where(Reminder.status == status)
    return list(session.scalars(query.order_by(Reminder.due_at.desc(), Reminder.id.desc()).limit(limit)))


def retry_reminder(session: Session, reminder_id: int, now: datetime | None = None) -> Reminder:
    """Send a failed (or stale) reminder again at the next dispatch, with a fresh attempt count."""
    now = now or utcnow()
    reminder = session.get(Reminder, reminder_id)
    if reminder is None:
        raise NotFound("reminder", reminder_id)
    if reminder.status not in (ReminderStatus.FAILED, ReminderStatus.STALE):
        raise Conflict(_("reminder #{id} is {status}; only failed or stale ones are retried").format(
            id=reminder_id, status=status_word(reminder.status)))
    reminder.status = ReminderStatus.PENDING
    reminder.due_at = now
    reminder.attempts = 0
    reminder.claimed_by = None
    reminder.lease_until = None
    reminder.updated_at = now
    return reminder
