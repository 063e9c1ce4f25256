"""Volunteer services (志愿服务项目) and their roles."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler import privacy
from scheduler import validation as v
from scheduler.errors import Conflict, InvalidInput, NotFound
from scheduler.events import record_event
from scheduler.i18n import _
from scheduler.models import (
    HOLIDAY_POLICIES,
    SERVICE_KINDS,
    VISIBILITIES,
    HolidayPolicy,
    Role,
    Service,
    Visibility,
)
from scheduler.organisations import get_branch, get_community
from scheduler.services import recurrence
from scheduler.volunteers.skills import canonical_skill


@dataclass
class ServiceSpec:
    """What a coordinator typed to add or edit a service; None means "leave as is"."""

    title: str | None = None
    kind: str | None = None
    branch: str | None = None
    community: str | None = None
    venue: str | None = None
    rrule: str | None = None
    every: str | None = None
    start_date: date | None = None
    start_time: str | None = None
    duration: str | int | None = None
    timezone: str | None = None
    holiday_policy: str | None = None
    visibility: str | None = None
    contact_role: str | None = None
    description: str | None = None
    reminder_offsets: list[int] | None = None
    #: Hours before the shift by which an invitation must be confirmed; 0 removes the deadline.
    confirm_hours: int | None = None
    roles: list[str] = field(default_factory=list)


#: The furthest confirmation deadline: two weeks before the shift.
MAX_CONFIRM_HOURS = 14 * 24


def _choice(value: str, allowed: tuple[str, ...], field_name: str) -> str:
    if value not in allowed:
        raise InvalidInput(field_name, _("{value} is not one of {choices}").format(
            value=repr(value), choices=", ".join(allowed)))
    return value


def _apply(session: Session, service: Service, spec: ServiceSpec) -> set[str]:
    """Apply the given fields; return the names of fields that changed."""
    changed: set[str] = set()

    def put(name: str, value: Any) -> None:
        if getattr(service, name, None) != value:
            setattr(service, name, value)
            changed.add(name)

    # Public feeds show these texts word for word: no phone, email, ID number or volunteer's name.
    privacy.refuse_personal_data(session, {
        "title": spec.title, "venue": spec.venue, "contact_role": spec.contact_role,
        "description": spec.description, "role": "\n".join(spec.roles),
    })
    if spec.title is not None:
        put("title", v.text(spec.title, "title", 200))
    if spec.kind is not None:
        put("kind", _choice(spec.kind, SERVICE_KINDS, "kind"))
    if spec.branch is not None:
        branch = get_branch(session, spec.branch)
        put("branch_id", branch.id)
        put("community_id", branch.community_id)
    elif spec.community is not None:
        put("community_id", get_community(session, spec.community).id)
        put("branch_id", None)
    if spec.venue is not None:
        put("venue", v.text(spec.venue, "venue", 300, required=False))
    if spec.timezone is not None:
        put("timezone", v.timezone(spec.timezone))
    if spec.start_date is not None:
        put("start_date", v.date_in_range(spec.start_date, "start_date"))
    if spec.start_time is not None:
        put("start_time", v.local_time(spec.start_time, "time"))
    if spec.duration is not None:
        put("duration_minutes", v.duration_minutes(spec.duration))
    if spec.every is not None and spec.rrule is not None:
        raise InvalidInput("every", "give --every or --rrule, not both")
    rule = recurrence.shorthand_to_rrule(spec.every) if spec.every is not None else spec.rrule
    if rule is not None or "start_date" in changed:
        start = service.start_date
        if start is None:
            raise InvalidInput("start_date", "a service needs a first date")
        # The rule must advance and fire soon after the first date, or planning would loop or fail.
        field_name = "every" if spec.every is not None else ("rrule" if rule is not None else "start_date")
        put("rrule", recurrence.normalise_rrule(rule if rule is not None else service.rrule, start, field_name))
    if spec.holiday_policy is not None:
        put("holiday_policy", _choice(spec.holiday_policy, HOLIDAY_POLICIES, "holiday_policy"))
    if spec.visibility is not None:
        put("visibility", _choice(spec.visibility, VISIBILITIES, "visibility"))
    if spec.contact_role is not None:
        put("contact_role", v.text(spec.contact_role, "contact_role", 120, required=False))
    if spec.description is not None:
        put("description", v.text(spec.description, "description", 2000, required=False))
    if spec.reminder_offsets is not None:
        offsets = sorted({int(o) for o in spec.reminder_offsets}, reverse=True)
        if any(o <= 0 or o > 14 * 24 * 60 for o in offsets):
            raise InvalidInput("reminders", "offsets are minutes before the shift, between 1 and 20160")
        put("reminder_offsets", offsets)
    if spec.confirm_hours is not None:
        if not 0 <= spec.confirm_hours <= MAX_CONFIRM_HOURS:
            raise InvalidInput("confirm_by", _("hours before the shift, between 1 and {max} (0 removes the "
                                               "deadline)").format(
                max=MAX_CONFIRM_HOURS))
        put("confirm_hours", spec.confirm_hours or None)
    if spec.roles:
        # A role's required skill is one of the vocabulary's (医生 and doctor are one skill), stored in English.
        parsed = [(name, count, canonical_skill(skill, "role") if skill else None)
                  for name, count, skill in (v.role_spec(r) for r in spec.roles)]
        names = [name for name, _, _ in parsed]
        if len(set(names)) != len(names):
            raise InvalidInput("role", "each role name may appear once")
        existing = {role.name: role for role in service.roles}
        for name, count, skill in parsed:
            role = existing.get(name)
            if role is None:
                service.roles.append(Role(name=name, count=count, skill=skill))
                changed.add("roles")
            elif (role.count, role.skill) != (count, skill):
                role.count, role.skill = count, skill
                changed.add("roles")
    return changed


def add_service(session: Session, slug: str, spec: ServiceSpec) -> Service:
    """Create a service from ``spec``; title, owner, recurrence, start date and time are required."""
    slug = v.slug(slug)
    if session.scalar(select(Service.id).where(Service.slug == slug)) is not None:
        raise Conflict(_("slug: a service with slug {slug} already exists").format(slug=repr(slug)))
    for name in ("title", "start_date", "start_time", "duration"):
        if getattr(spec, name) is None:
            raise InvalidInput(name, "is required")
    if spec.branch is None and spec.community is None:
        raise InvalidInput("branch", "give --branch or --community (who runs the service)")
    if spec.rrule is None and spec.every is None:
        raise InvalidInput("rrule", "give --rrule or --every")
    if not spec.roles:
        raise InvalidInput("role", "a service needs at least one role (NAME:COUNT[:SKILL])")
    service = Service(
        slug=slug,
        kind="other",
        timezone="Asia/Shanghai",
        holiday_policy=HolidayPolicy.ALWAYS,
        visibility=Visibility.PUBLIC,
        venue="",
        contact_role="",
        description="",
        reminder_offsets=[1440, 120],
        start_date=spec.start_date,
        rrule="",
        roles=[],
    )
    _apply(session, service, spec)
    if service.kind == "elderly_care" and spec.visibility is None and "入户" in (service.title + service.venue):
        service.visibility = Visibility.PRIVATE
    session.add(service)
    session.flush()
    record_event(session, "service.created", service_id=service.id)
    return service


def edit_service(session: Session, slug: str, spec: ServiceSpec) -> tuple[Service, set[str]]:
    service = get_service(session, slug)
    # The start date is applied (and counted as a change) inside _apply, like every other field.
    changed = _apply(session, service, spec)
    if changed:
        session.flush()
        record_event(session, "service.changed", service_id=service.id, fields=sorted(changed))
    return service, changed


def get_service(session: Session, slug: str) -> Service:
    service = session.scalar(select(Service).where(Service.slug == slug))
    if service is None:
        raise NotFound("service", slug)
    return service


def list_services(session: Session, branch: str | None = None, community: str | None = None) -> list[Service]:
    query = select(Service).order_by(Service.slug)
    if branch:
        query = query.where(Service.branch_id == get_branch(session, branch).id)
    if community:
        query = query.where(Service.community_id == get_community(session, community).id)
    return list(session.scalars(query))


def service_as_dict(service: Service) -> dict[str, Any]:
    return {
        "slug": service.slug,
        "title": service.title,
        "kind": service.kind,
        "community": service.community.slug,
        "branch": service.branch.slug if service.branch else None,
        "venue": service.venue,
        "rrule": service.rrule,
        "recurrence": recurrence.describe(service.rrule),
        "start_date": service.start_date.isoformat(),
        "start_time": service.start_time,
        "duration_minutes": service.duration_minutes,
        "timezone": service.timezone,
        "holiday_policy": service.holiday_policy,
        "visibility": service.visibility,
        "contact_role": service.contact_role,
        "reminder_offsets": list(service.reminder_offsets),
        "confirm_hours": service.confirm_hours,
        "active": service.active,
        "roles": [{"name": r.name, "count": r.count, "skill": r.skill} for r in service.roles],
    }
