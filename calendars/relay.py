"""Relay outbox events: mark the feeds each one affects dirty, then stamp it relayed.

Idempotent: marking a feed dirty twice is the same as once, and a relayed event is never picked up
again. Two relays running at once take disjoint events on PostgreSQL (``SKIP LOCKED``); on SQLite
``BEGIN IMMEDIATE`` runs them one after the other.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from scheduler.db import utcnow
from scheduler.models import Event

#: Bookkeeping kinds written by the workers themselves: they affect no feed.
SILENT_KINDS = ("digest.sent", "horizon.warned")


def relay_events(session: Session, limit: int = 500, now: datetime | None = None) -> int:
    """Relay up to ``limit`` unrelayed events, oldest first; return how many were relayed."""
    from calendars.dirty import mark_feeds_for_event

    now = now or utcnow()
    query = select(Event).where(Event.relayed_at.is_(None)).order_by(Event.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    events = list(session.scalars(query))
    for event in events:
        if event.kind not in SILENT_KINDS:
            mark_feeds_for_event(session, event)
        event.relayed_at = now
    return len(events)


def relay_pending(session: Session, batch: int = 500, now: datetime | None = None) -> int:
    """Relay every event waiting in the outbox, in batches of ``batch``; return how many.

    What a coordinator's own ``roster feeds publish`` runs first, so that a change made with no
    worker running reaches the feeds at once (the same idempotent work as the relay beat).
    """
    total = 0
    while True:
        count = relay_events(session, limit=batch, now=now)
        total += count
        if count < batch:
            return total


def unrelayed_count(session: Session) -> int:
    """Events still waiting for the relay (a health figure)."""
    return int(session.scalar(select(func.count()).select_from(Event).where(Event.relayed_at.is_(None))) or 0)
