"""Volunteers (志愿者): contact channels, skills, availability, blackout dates, cap, private-feed token."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from scheduler import validation as v
from scheduler.db import utcnow
from scheduler.errors import Conflict, InvalidInput, NotFound
from scheduler.events import record_event
from scheduler.i18n import _
from scheduler.models import (
    Assignment,
    AssignmentStatus,
    Occurrence,
    OccurrenceStatus,
    Role,
    Service,
    Volunteer,
)
from scheduler.organisations import get_branch
from scheduler.redaction import mask_id_number, mask_phone
from scheduler.validation import CHANNELS
from scheduler.volunteers.skills import canonical_or_same, canonical_skills

#: ISO weekday → its Chinese name, as coordinators read dates (周三).
WEEKDAY_NAMES = {1: "周一", 2: "周二", 3: "周三", 4: "周四", 5: "周五", 6: "周六", 7: "周日"}


def new_feed_token() -> str:
    """An unguessable private-feed token: 192 random bits (FEEDS.md rule 18 asks for >= 128)."""
    return secrets.token_urlsafe(24)


def new_web_token() -> str:
    """The personal link's token: 128 random bits in 22 characters (short enough for an SMS)."""
    return secrets.token_urlsafe(16)


#: What a web token looks like (anything else is refused before any lookup).
WEB_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def volunteer_by_web_token(session: Session, token: str) -> Volunteer | None:
    """The active volunteer whose personal link this is; None for an unknown, rotated or malformed one."""
    if not 16 <= len(token) <= 64 or not set(token) <= WEB_TOKEN_CHARS:
        return None
    volunteer = session.scalar(select(Volunteer).where(Volunteer.web_token == token))
    return volunteer if volunteer is not None and volunteer.active else None


def web_token_of(session: Session, ref: str, rotate: bool = False) -> Volunteer:
    """The volunteer with a personal-link token (made now if they had none; ``rotate``: a new one,
    the old link then gets the same 404 as any unknown one)."""
    volunteer = get_volunteer(session, ref)
    if rotate or not volunteer.web_token:
        volunteer.web_token = new_web_token()
        record_event(session, "volunteer.token_rotated", volunteer_id=volunteer.id, token="web")
    return volunteer


@dataclass
class VolunteerSpec:
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    chat_id: str | None = None
    id_number: str | None = None
    branch: str | None = None
    skills: list[str] | None = None
    availability: str | None = None
    blackout: list[str] | None = None
    monthly_cap: int | None = None
    channel: str | None = None


def _apply(session: Session, volunteer: Volunteer, spec: VolunteerSpec) -> set[str]:
    changed: set[str] = set()

    def put(name: str, value: Any) -> None:
        if getattr(volunteer, name, None) != value:
            setattr(volunteer, name, value)
            changed.add(name)

    if spec.name is not None:
        put("name", v.text(spec.name, "name", 64))
    if spec.phone is not None:
        phone = v.phone(spec.phone)
        other = session.scalar(select(Volunteer.id).where(Volunteer.phone == phone))
        if other is not None and other != volunteer.id:
            # Masked as listings mask it: the message may be read over a coordinator's shoulder or logged.
            raise Conflict(_("phone: {phone} already belongs to volunteer #{id}").format(phone=mask_phone(phone), id=other))
        put("phone", phone)
    if spec.email is not None:
        put("email", v.email(spec.email) if spec.email.strip() else None)
    if spec.chat_id is not None:
        put("chat_id", v.text(spec.chat_id, "chat_id", 120, required=False) or None)
    if spec.id_number is not None:
        put("id_number", v.id_number(spec.id_number) if spec.id_number.strip() else None)
    if spec.branch is not None:
        put("home_branch_id", get_branch(session, spec.branch).id if spec.branch else None)
    if spec.skills is not None:
        put("skills", canonical_skills(v.text(s, "skills", 64) for s in spec.skills if s.strip()))
    if spec.availability is not None:
        put("availability", parse_availability(spec.availability))
    if spec.blackout is not None:
        days: set[str] = set()
        for item in spec.blackout:
            item = item.strip()
            if not item:
                continue
            if ".." in item:
                first_s, last_s = item.split("..", 1)
                first, last = v.iso_date(first_s, "blackout"), v.iso_date(last_s, "blackout")
                if last < first or (last - first).days > 366:
                    raise InvalidInput("blackout", _("{value} is not a range of at most a year").format(value=repr(item)))
                days.update((date.fromordinal(d)).isoformat() for d in range(first.toordinal(), last.toordinal() + 1))
            else:
                days.add(v.iso_date(item, "blackout").isoformat())
        put("blackout_dates", sorted(days))
    if spec.monthly_cap is not None:
        if spec.monthly_cap < 0 or spec.monthly_cap > 744:
            raise InvalidInput("monthly_cap", "hours a month must be between 0 and 744 (0 removes the cap)")
        put("monthly_cap_hours", spec.monthly_cap or None)
    if spec.channel is not None:
        if spec.channel not in CHANNELS:
            raise InvalidInput("channel", _("{value} is not one of {choices}").format(value=repr(spec.channel),
                                                                                      choices=", ".join(CHANNELS)))
        put("preferred_channel", spec.channel)
    return changed


_CN_DAYS = {"一": "mon", "二": "tue", "三": "wed", "四": "thu", "五": "fri", "六": "sat", "日": "sun", "天": "sun"}


def normalise_availability(value: str) -> str:
    """Weekly windows as typed in Chinese or English, in the stored text form.

    Accepts 周一至周五 16:00-19:00 (星期六, 礼拜天, full-width colons and dashes, ～) as well as
    mon-fri 16:00-19:00; a bare window after a comma (``sat 08:00-12:00,14:00-18:00``, as exported)
    belongs to the days before it. Empty text stays empty: no windows, which means any time.
    """
    text = value.replace("：", ":").replace("－", "-").replace("—", "-").replace("～", "-").replace("~", "-")
    text = re.sub(r"(?:周|星期|礼拜)([一二三四五六日天])", lambda m: _CN_DAYS[m.group(1)], text)
    text = re.sub(r"(mon|tue|wed|thu|fri|sat|sun)\s*[至到]\s*", r"\1-", text, flags=re.I)
    text = re.sub(r"(mon|tue|wed|thu|fri|sat|sun)\s*(\d)", r"\1 \2", text, flags=re.I)
    text = re.sub(r"(\d)\s*-\s*(\d)", r"\1-\2", text)
    chunks: list[str] = []
    days = ""
    for chunk in re.split(r"[;；,，]", text):
        chunk = chunk.strip()
        if not chunk:
            continue
        match = re.match(r"^([a-z]{3}(?:-[a-z]{3})?)\s", chunk, re.I)
        if match:
            days = match.group(1)
        elif days and re.match(r"^\d", chunk):
            chunk = f"{days} {chunk}"
        chunks.append(chunk)
    return "; ".join(chunks)


def parse_availability(value: str) -> dict[str, list[str]]:
    """The one parser of availability for the CLI and the CSV import: {"1": ["16:00-19:00"], ...}.

    An empty value gives no windows, which the checks read as available at any time.
    """
    return v.availability(normalise_availability(value))


def add_volunteer(session: Session, spec: VolunteerSpec) -> Volunteer:
    if not spec.name:
        raise InvalidInput("name", "is required")
    if not spec.phone:
        raise InvalidInput("phone", "is required")
    volunteer = Volunteer(feed_token=new_feed_token(), web_token=new_web_token(), skills=[], availability={},
                          blackout_dates=[], active=True)
    _apply(session, volunteer, spec)
    session.add(volunteer)
    session.flush()
    record_event(session, "volunteer.changed", volunteer_id=volunteer.id)
    return volunteer


def get_volunteer(session: Session, ref: str) -> Volunteer:
    """A volunteer by id (``12`` or ``#12``), by phone number, or by name where the name is unique.

    A name several volunteers share is refused as invalid input (exit 4) listing their ids, e.g.
    ``2 volunteers named 王芳: ids 12, 40``; an active volunteer wins over deactivated namesakes.
    """
    ref = ref.strip()
    volunteer: Volunteer | None = None
    if ref.lstrip("#").isdigit() and len(ref.lstrip("#")) < 11:
        volunteer = session.get(Volunteer, int(ref.lstrip("#")))
    else:
        try:
            phone = v.phone(ref, "volunteer")
        except InvalidInput:
            return _volunteer_by_name(session, ref)
        volunteer = session.scalar(select(Volunteer).where(Volunteer.phone == phone))
    if volunteer is None:
        raise NotFound("volunteer", ref)
    return volunteer


def _volunteer_by_name(session: Session, ref: str) -> Volunteer:
    name = v.CONTROL_RE.sub(" ", ref).strip()
    found = list(session.scalars(select(Volunteer).where(Volunteer.name == name).order_by(Volunteer.id)))
    candidates = [vol for vol in found if vol.active] or found
    if not candidates:
        raise NotFound("volunteer", _("{ref} (give an id, a phone number or a name)").format(ref=ref))
    if len(candidates) > 1:
        raise InvalidInput("volunteer", _("{count} volunteers named {name}: ids {ids}; give an id or a phone number").format(
            count=len(candidates), name=name, ids=", ".join(str(vol.id) for vol in candidates)))
    return candidates[0]


def edit_volunteer(session: Session, ref: str, spec: VolunteerSpec) -> tuple[Volunteer, set[str]]:
    volunteer = get_volunteer(session, ref)
    changed = _apply(session, volunteer, spec)
    if changed:
        session.flush()
        record_event(session, "volunteer.changed", volunteer_id=volunteer.id, fields=sorted(changed))
    return volunteer, changed


def deactivate_volunteer(session: Session, ref: str) -> Volunteer:
    volunteer = get_volunteer(session, ref)
    if not volunteer.active:
        raise Conflict(_("volunteer #{id} is already inactive").format(id=volunteer.id))
    volunteer.active = False
    record_event(session, "volunteer.changed", volunteer_id=volunteer.id, fields=["active"])
    return volunteer


def rotate_feed_token(session: Session, ref: str) -> Volunteer:
    """Give the volunteer a new private-feed URL; the old file is deleted at the next publish."""
    volunteer = get_volunteer(session, ref)
    volunteer.retired_feed_token = volunteer.feed_token
    volunteer.feed_token = new_feed_token()
    record_event(session, "volunteer.token_rotated", volunteer_id=volunteer.id)
    return volunteer


def list_volunteers(
    session: Session, branch: str | None = None, skill: str | None = None, include_inactive: bool = False,
    search: str | None = None,
) -> list[Volunteer]:
    query = select(Volunteer).order_by(Volunteer.id)
    if branch:
        query = query.where(Volunteer.home_branch_id == get_branch(session, branch).id)
    if not include_inactive:
        query = query.where(Volunteer.active.is_(True))
    if search:
        query = query.where(or_(Volunteer.name.contains(search), Volunteer.phone.contains(search)))
    volunteers = list(session.scalars(query))
    if skill:
        wanted = canonical_or_same(skill)  # 医生 finds doctors
        volunteers = [vol for vol in volunteers if wanted in {canonical_or_same(s) for s in vol.skills}]
    return volunteers


def coming_shifts(session: Session, volunteer: Volunteer, now: datetime | None = None,
                  limit: int = 50) -> list[dict[str, Any]]:
    """The volunteer's shifts that have not ended (seated or waitlisted, occurrence not cancelled), soonest
    first, with the assignment ids a coordinator types (times local to each service)."""
    now = now or utcnow()
    rows = session.execute(
        select(Assignment, Occurrence, Service.slug, Service.title, Service.timezone, Role.name)
        .join(Occurrence, Occurrence.id == Assignment.occurrence_id)
        .join(Service, Service.id == Occurrence.service_id)
        .join(Role, Role.id == Assignment.role_id)
        .where(Assignment.volunteer_id == volunteer.id,
               Assignment.status.in_((AssignmentStatus.INVITED, AssignmentStatus.CONFIRMED, AssignmentStatus.WAITLISTED)),
               Occurrence.status == OccurrenceStatus.SCHEDULED, Occurrence.end_at > now)
        .order_by(Occurrence.start_at, Assignment.id).limit(limit)
    ).all()
    shifts: list[dict[str, Any]] = []
    for assignment, occurrence, slug, title, tz_name, role in rows:
        tz = ZoneInfo(tz_name)
        start, end = occurrence.start_at.astimezone(tz), occurrence.end_at.astimezone(tz)
        shifts.append({
            "assignment_id": assignment.id, "occurrence_id": occurrence.id, "service": slug, "title": title,
            "role": role, "status": assignment.status, "start": start.isoformat(), "date": start.date().isoformat(),
            "weekday": WEEKDAY_NAMES[start.isoweekday()], "time": f"{start:%H:%M}-{end:%H:%M}",
            "seat_no": assignment.seat_no, "waitlist_pos": assignment.waitlist_pos,
        })
    return shifts


def volunteer_as_dict(volunteer: Volunteer, reveal: bool = False) -> dict[str, Any]:
    return {
        "id": volunteer.id,
        "name": volunteer.name,
        "phone": volunteer.phone if reveal else mask_phone(volunteer.phone),
        "email": volunteer.email,
        "chat_id": volunteer.chat_id,
        "id_number": mask_id_number(volunteer.id_number),
        "branch": volunteer.home_branch.slug if volunteer.home_branch else None,
        "skills": list(volunteer.skills),
        "availability": v.format_availability(volunteer.availability),
        "blackout_dates": list(volunteer.blackout_dates),
        "monthly_cap_hours": volunteer.monthly_cap_hours,
        "channel": volunteer.preferred_channel,
        "active": volunteer.active,
    }
