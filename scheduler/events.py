"""The transactional outbox: every change writes its event row in the caller's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from scheduler.models import Event

#: Event kinds, so that handlers and producers agree on the words.
KINDS = (
    "service.created",
    "service.changed",
    "occurrence.planned",
    "occurrence.cancelled",
    "occurrence.moved",
    "occurrence.removed",
    "assignment.created",
    "assignment.changed",
    "assignment.cancelled",
    "waitlist.promoted",
    "volunteer.changed",
    "volunteer.token_rotated",
    "holidays.loaded",
    "closure.added",
    "closure.removed",
    "attendance.recorded",
    "digest.sent",
    "horizon.warned",
)


def record_event(session: Session, kind: str, **payload: Any) -> Event:
    """Add an event row to the session; payload holds ids and ISO strings, never personal data.
    A transaction opened for the CLI or the volunteer pages records where the change came from
    (``via``: "cli", "web"), unless the caller says (a fill's "via": "fill")."""
    if kind not in KINDS:
        raise ValueError(f"unknown event kind {kind!r}")
    via = session.info.get("via")
    if via is not None:
        payload.setdefault("via", via)
    event = Event(kind=kind, payload=payload)
    session.add(event)
    return event
