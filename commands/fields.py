"""How a record's fields read for people: ``roster service show``, ``volunteer show``, ``branch show``
and ``attendance show`` print a ``field value`` table whose labels and values come from here, in the
reader's language. JSON keeps the record's English keys and raw values (scripts rely on them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from scheduler.i18n import N_, _, translate

#: Field labels, by the record's key (a key missing here prints as itself: tests/cli/test_tour_zh.py
#: runs the show commands in Chinese and fails on an English key).
LABELS = {
    "id": N_("id"), "slug": N_("slug"), "name": N_("name"), "title": N_("title"), "kind": N_("kind"),
    "community": N_("community"), "branch": N_("branch"), "venue": N_("venue"), "rrule": N_("RRULE"),
    "recurrence": N_("when"), "start_date": N_("first date"), "start_time": N_("start time"),
    "duration_minutes": N_("duration"), "timezone": N_("time zone"), "holiday_policy": N_("holidays"),
    "visibility": N_("visibility"), "contact_role": N_("contact role"), "reminder_offsets": N_("reminders before"),
    "confirm_hours": N_("confirm by"), "active": N_("active"), "roles": N_("roles"), "phone": N_("phone"),
    "email": N_("email"), "chat_id": N_("chat id"), "id_number": N_("ID number"), "skills": N_("skills"),
    "availability": N_("availability"), "blackout_dates": N_("blackout dates"),
    "monthly_cap_hours": N_("monthly cap"), "channel": N_("reminder channel"), "secretary_title": N_("secretary"),
    "services": N_("services"), "volunteers": N_("volunteers"), "volunteer_id": N_("volunteer id"),
    "volunteer": N_("volunteer"), "occurrence_id": N_("occurrence"), "service": N_("service"),
    "assignment_id": N_("assignment"), "check_in": N_("check in"), "check_out": N_("check out"),
    "minutes": N_("minutes"), "hours": N_("hours"), "status": N_("status"), "status_label": N_("status"),
    "recorded_by": N_("recorded by"), "checkin_method": N_("checked in by"), "checkout_method": N_("checked out by"),
    "approved_by": N_("approved by"), "approved_at": N_("approved at"), "review_reasons": N_("to review"),
    "centre_name": N_("service centre"), "age": N_("age"), "birth_date": N_("birth date"),
    "party_member": N_("serving Party member"), "work_unit": N_("work unit"),
}

#: Service kinds (服务类别), holiday policies, visibilities and channels as people read them.
VALUES = {
    "kind": {"clinic": N_("free clinic"), "classroom": N_("after-school classroom"),
             "elderly_care": N_("elderly care"), "reading": N_("parent-child reading"),
             "centre_opening": N_("service centre opening"), "culture": N_("culture and arts"),
             "legal": N_("legal aid"), "community": N_("neighbourhood service"), "other": N_("other")},
    "holiday_policy": {"always": N_("always"), "skip_holidays": N_("skips holidays"),
                       "workdays": N_("workdays only")},
    "visibility": {"public": N_("public"), "private": N_("private")},
    "channel": {"console": N_("console"), "email": N_("email"), "wecom": N_("WeCom"), "dingtalk": N_("DingTalk"),
                "sms": N_("SMS"), "guardian": N_("SMS to the guardian")},
    "checkin_method": {"cli": N_("coordinator (CLI)"), "web-qr": N_("QR code at the venue")},
    "checkout_method": {"cli": N_("coordinator (CLI)"), "web-qr": N_("QR code at the venue")},
}


def _list(values: list[Any]) -> str:
    return _(", ").join(str(v) for v in values)


def _skills(values: list[str]) -> str:
    from scheduler.volunteers.skills import skill_label

    return _list([skill_label(v) for v in values])


def _roles(roles: list[dict[str, Any]]) -> str:
    from scheduler.volunteers.skills import skill_label

    parts = []
    for role in roles:
        text = _("{role} ×{count}").format(role=role["name"], count=role["count"])
        if role.get("skill"):
            text += _(" (needs {skill})").format(skill=skill_label(role["skill"]))
        parts.append(text)
    return _list(parts)


def _minutes(value: int) -> str:
    hours, minutes = divmod(int(value), 60)
    if hours and minutes:
        return _("{hours} h {minutes} min").format(hours=hours, minutes=minutes)
    return _("{hours} h").format(hours=hours) if hours else _("{minutes} min").format(minutes=minutes)


def _offsets(values: list[int]) -> str:
    return _list([_minutes(v) for v in values])


def _date(iso: str) -> str:
    from datetime import date

    from scheduler.i18n import format_date

    return format_date(date.fromisoformat(iso), with_year=True)


RENDER: dict[str, Callable[[Any], str]] = {
    "start_date": _date, "birth_date": _date,
    "skills": _skills, "roles": _roles, "duration_minutes": _minutes, "reminder_offsets": _offsets,
    "confirm_hours": lambda v: _("{hours} h before").format(hours=v),
    "monthly_cap_hours": lambda v: _("{hours} h").format(hours=v),
}


def label(key: str) -> str:
    return translate(LABELS[key]) if key in LABELS else key


def value(key: str, raw: Any) -> str:
    """``raw`` as a person reads it: yes/no, lists joined, known codes named, nothing for None."""
    if raw is None or raw == "" or raw == []:
        return ""
    if isinstance(raw, bool):
        return _("yes") if raw else _("no")
    if key in RENDER:
        return RENDER[key](raw)
    if key in VALUES and raw in VALUES[key]:
        return translate(VALUES[key][raw])
    if isinstance(raw, list):
        return _list([value(key, item) if not isinstance(item, dict) else ", ".join(
            f"{label(k)} {value(k, v)}" for k, v in item.items()) for item in raw])
    return str(raw)


#: Change notices by their change (the ledger's kind is ``change:occurrence-seq:assignment-seq``).
NOTICES = {"assigned": N_("notice: assigned"), "moved": N_("notice: moved"), "cancelled": N_("notice: cancelled"),
           "role_changed": N_("notice: role changed"), "unassigned": N_("notice: unassigned"),
           "promoted": N_("notice: off the waitlist"), "swap": N_("notice: handed over"),
           "deadline": N_("notice: released unconfirmed")}


def reminder_kind(kind: str) -> str:
    """A ledger kind as people read it: ``before:1440`` is "24 h before", a notice by its change."""
    head, _sep, rest = kind.partition(":")
    if head == "before" and rest.isdigit():
        return _("{time} before").format(time=_minutes(int(rest)))
    if head in NOTICES:
        return translate(NOTICES[head])
    return kind
