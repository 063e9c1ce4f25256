"""What a re-plan changed, row by row: the report of a ``--dry-run`` (and of a real run, to compare).

``mark()`` is taken in the transaction before the operation; ``changes_since()`` after it, in the
same transaction, reads the occurrences created (ids above the mark), the ones cancelled or
re-planned (``updated_at`` at or after the mark: the planner stamps every row it touches) and the
change notices written (ledger rows above the mark), i.e. the volunteers who would be told. Ids of
new rows are not reported: PostgreSQL's sequences do not roll back, so a dry run's ids would not be
the real run's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from scheduler.db import utcnow
from scheduler.models import Assignment, Occurrence, OccurrenceStatus, Reminder, Service, Volunteer

#: Rows listed per kind of change; the counts are always complete.
MAX_ROWS_LISTED = 200


@dataclass(frozen=True)
class ChangeMark:
    occurrence_id: int
    reminder_id: int
    since: datetime


def mark(session: Session) -> ChangeMark:
    """Where the tables stand before an operation (in its transaction)."""
    session.flush()
    occurrence_id = session.scalar(select(func.max(Occurrence.id))) or 0
    reminder_id = session.scalar(select(func.max(Reminder.id))) or 0
    return ChangeMark(int(occurrence_id), int(reminder_id), utcnow())


def _local(moment: datetime, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).isoformat()


def changes_since(session: Session, before: ChangeMark, limit: int = MAX_ROWS_LISTED) -> dict[str, Any]:
    """The occurrences created, cancelled and re-planned and the volunteers told since ``before``,
    each list sorted (service, start) and cut at ``limit`` rows (``*_total`` gives the full count)."""
    session.flush()
    base = (select(Service.slug, Service.timezone, Occurrence.start_at, Occurrence.status, Occurrence.cancel_reason,
                   Occurrence.provisional)
            .join(Service, Service.id == Occurrence.service_id))
    created = session.execute(base.where(Occurrence.id > before.occurrence_id)
                              .order_by(Service.slug, Occurrence.start_at)).all()
    touched = session.execute(base.where(Occurrence.id <= before.occurrence_id, Occurrence.updated_at >= before.since)
                              .order_by(Service.slug, Occurrence.start_at)).all()
    cancelled = [r for r in touched if r.status == OccurrenceStatus.CANCELLED]
    replanned = [r for r in touched if r.status != OccurrenceStatus.CANCELLED]
    told = session.execute(
        select(Volunteer.id, Volunteer.name, Reminder.kind, Service.slug, Service.timezone, Occurrence.start_at)
        .join(Assignment, Assignment.id == Reminder.assignment_id)
        .join(Volunteer, Volunteer.id == Assignment.volunteer_id)
        .join(Occurrence, Occurrence.id == Assignment.occurrence_id)
        .join(Service, Service.id == Occurrence.service_id)
        .where(Reminder.id > before.reminder_id)
        .distinct()
        .order_by(Service.slug, Occurrence.start_at, Volunteer.id, Reminder.kind)
    ).all()
    return {
        "created": [{"service": r.slug, "start": _local(r.start_at, r.timezone), "provisional": bool(r.provisional)}
                    for r in created[:limit]],
        "created_total": len(created),
        "cancelled": [{"service": r.slug, "start": _local(r.start_at, r.timezone), "reason": r.cancel_reason}
                      for r in cancelled[:limit]],
        "cancelled_total": len(cancelled),
        "replanned": [{"service": r.slug, "start": _local(r.start_at, r.timezone), "status": r.status}
                      for r in replanned[:limit]],
        "replanned_total": len(replanned),
        "notified": [{"volunteer_id": r.id, "name": r.name, "notice": r.kind.split(":")[0], "service": r.slug,
                      "start": _local(r.start_at, r.timezone)} for r in told[:limit]],
        "notified_total": len(told),
    }
