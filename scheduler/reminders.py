"""Reminders are rows, not timers: created and cancelled in the same transaction as the roster change.

Kinds: ``before:<minutes>`` (24 h and 2 h by default, per service), change notices
``moved:<seq>``, ``cancelled:<seq>``, ``role_changed:<seq>``, ``unassigned:<seq>`` and ``promoted``.
One row per (assignment, kind, channel); the dispatcher claims due rows, sends them once, marks them.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.db import utcnow
from scheduler.models import SEATED_STATUSES, Assignment, Occurrence, Reminder

DEFAULT_CHANNEL = "console"


def channel_for(assignment: Assignment) -> str:
    """The volunteer's preferred channel, else email if known, else the console."""
    volunteer = assignment.volunteer
    if volunteer.preferred_channel:
        return volunteer.preferred_channel
    return DEFAULT_CHANNEL


def idempotency_key(assignment_id: int, kind: str, channel: str) -> str:
    """Stable across retries: a channel that takes a key drops a repeat of the same message."""
    raw = f"roster:{assignment_id}:{kind}:{channel}".encode()
    return hashlib.sha256(raw).hexdigest()[:40]


def _upsert(session: Session, assignment: Assignment, kind: str, due_at: datetime,
            payload: dict[str, Any] | None = None) -> Reminder:
    channel = channel_for(assignment)
    existing = session.scalar(
        select(Reminder).where(
            Reminder.assignment_id == assignment.id, Reminder.kind == kind, Reminder.channel == channel
        )
    )
    now = utcnow()
    if existing is not None:
        if existing.status in ("pending", "cancelled"):
            existing.status = "pending"
            existing.due_at = due_at
            existing.payload = payload or {}
            existing.attempts = 0
            existing.last_error = None
            existing.updated_at = now
        return existing
    reminder = Reminder(
        assignment_id=assignment.id, kind=kind, channel=channel, due_at=due_at, status="pending",
        idempotency_key=idempotency_key(assignment.id, kind, channel), payload=payload or {},
        attempts=0, created_at=now, updated_at=now,
    )
    session.add(reminder)
    return reminder


def _cancel(session: Session, assignment_id: int, kinds_prefix: str | None = None) -> int:
    count = 0
    for reminder in session.scalars(
        select(Reminder).where(Reminder.assignment_id == assignment_id, Reminder.status == "pending")
    ):
        if kinds_prefix is None or reminder.kind.startswith(kinds_prefix):
            reminder.status = "cancelled"
            reminder.updated_at = utcnow()
            count += 1
    return count


def sync_assignment_reminders(session: Session, assignment: Assignment, now: datetime | None = None) -> None:
    """Make the before-shift rows match the assignment: due for a seated one, cancelled otherwise.

    Call after every change to an assignment or its occurrence (same transaction).
    """
    now = now or utcnow()
    session.flush()
    occurrence = assignment.occurrence
    seated = assignment.status in SEATED_STATUSES and assignment.status not in ("attended", "no_show")
    if not seated or occurrence.status != "scheduled" or occurrence.start_at <= now:
        _cancel(session, assignment.id, "before:")
        return
    offsets = [int(o) for o in occurrence.service.reminder_offsets or []]
    wanted = {f"before:{o}" for o in offsets}
    for reminder in session.scalars(
        select(Reminder).where(Reminder.assignment_id == assignment.id, Reminder.status == "pending")
    ):
        if reminder.kind.startswith("before:") and reminder.kind not in wanted:
            reminder.status = "cancelled"
    for offset in offsets:
        due = occurrence.start_at - timedelta(minutes=offset)
        if due < now:
            # Assigned late: a reminder whose moment has passed goes out now, while the shift is ahead.
            due = now
        _upsert(session, assignment, f"before:{offset}", due)


def notify(session: Session, assignment: Assignment, change: str, now: datetime | None = None,
           detail: dict[str, Any] | None = None) -> Reminder:
    """Owe the volunteer a change notice (moved, cancelled, role_changed, unassigned, promoted)."""
    now = now or utcnow()
    occurrence = assignment.occurrence
    kind = "promoted" if change == "promoted" else f"{change}:{occurrence.sequence}:{assignment.sequence}"
    payload = {"change": change, **(detail or {})}
    return _upsert(session, assignment, kind[:32], now, payload)


def occurrence_changed(session: Session, occurrence: Occurrence, change: str,
                       detail: dict[str, Any] | None = None, now: datetime | None = None) -> int:
    """After a move or cancel: tell every seated volunteer, and re-time their before-shift rows."""
    now = now or utcnow()
    count = 0
    for assignment in session.scalars(
        select(Assignment).where(
            Assignment.occurrence_id == occurrence.id, Assignment.status.in_(("invited", "confirmed"))
        )
    ):
        if occurrence.end_at > now:
            notify(session, assignment, change, now, detail)
            count += 1
        sync_assignment_reminders(session, assignment, now)
    return count
