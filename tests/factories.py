"""Factories that build rows for tests (through the domain operations where they exist)."""

from __future__ import annotations

import itertools
from datetime import date, datetime

from sqlalchemy.orm import Session

from scheduler.models import Branch, Community, Occurrence, Service, Volunteer
from scheduler.organisations import add_branch, add_community
from scheduler.services import ServiceSpec, add_service
from scheduler.volunteers import VolunteerSpec, add_volunteer

_counter = itertools.count(1)


def community(session: Session, slug: str = "ailian", name: str = "爱联社区") -> Community:
    return add_community(session, slug, name)


def branch(session: Session, slug: str = "shunjing", name: str = "顺景花园党支部",
           community_slug: str = "ailian") -> Branch:
    return add_branch(session, slug, name, community_slug)


def org(session: Session) -> Branch:
    """A community with one branch."""
    community(session)
    return branch(session)


def service(session: Session, slug: str | None = None, **overrides: object) -> Service:
    spec = ServiceSpec(
        title="四点半课堂", kind="classroom", branch="shunjing", venue="顺景花园党群之家",
        rrule="FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", start_date=date(2026, 1, 5), start_time="16:30",
        duration=120, holiday_policy="always", roles=["辅导员:2:tutor"], contact_role="支部第一书记",
    )
    for key, value in overrides.items():
        setattr(spec, key, value)
    return add_service(session, slug or f"svc-{next(_counter)}", spec)


def volunteer(session: Session, name: str = "王芳", phone: str | None = None, **overrides: object) -> Volunteer:
    n = next(_counter)
    spec = VolunteerSpec(name=name, phone=phone or f"139{n:08d}", branch="shunjing", skills=["tutor"])
    for key, value in overrides.items():
        setattr(spec, key, value)
    return add_volunteer(session, spec)


def occurrence(session: Session, svc: Service, start: datetime | None = None, minutes: int | None = None,
               status: str = "scheduled") -> Occurrence:
    """An occurrence row written directly (planning tests go through ``scheduler.planning``)."""
    from datetime import UTC, timedelta

    start = start or datetime(2026, 12, 7, 8, 30, tzinfo=UTC)
    occ = Occurrence(
        service_id=svc.id, original_start=start, start_at=start,
        end_at=start + timedelta(minutes=minutes or svc.duration_minutes), status=status, sequence=0,
    )
    session.add(occ)
    session.flush()
    return occ
