"""Helpers for the points tests: hours served and approved through the attendance operations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from scheduler import attendance as att
from scheduler.models import Attendance, Service, Volunteer
from tests import factories


def serve(session: Session, svc: Service, volunteer: Volunteer, start: datetime, minutes: int) -> Attendance:
    """An occurrence of ``svc`` at ``start`` (UTC), the volunteer checked in at its start and out
    ``minutes`` later; the clock is pinned just after (the rules approve a normal record)."""
    occ = factories.occurrence(session, svc, start=start, minutes=max(minutes, 30))
    end = start + timedelta(minutes=minutes)
    now = end + timedelta(minutes=5)
    att.checkin(session, str(volunteer.id), occ.id, at=start, by="李书记", now=now)
    return att.checkout(session, str(volunteer.id), occ.id, at=end, by="李书记", now=now)


#: A pinned "now" before the factory's occurrences (2026-12-07): rates can be set from 12-07 on.
BEFORE = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)
