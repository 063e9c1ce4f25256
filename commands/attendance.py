"""Attendance: checkin, checkout, noshow, and roster attendance (签到记录)."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import click

from cli import AppContext, command, group, pass_app
from commands.options import RECORD_ID, RECORD_REF, date_option_callback, default_by
from scheduler.i18n import N_, _, format_datetime, translate

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

#: Attendance statuses as a person reads them (JSON keeps the raw value, and its own ``status_label``).
STATUS_LABELS = {"open": N_("in progress"), "pending_approval": N_("pending approval"),
                 "approved": N_("approved"), "rejected": N_("rejected")}
#: The fields a trail entry names, as a person reads them (JSON keeps ``check_in``, ``check_out``, ``status``).
FIELD_LABELS = {"check_in": N_("check-in"), "check_out": N_("check-out"), "status": N_("status")}
#: How attendance_as_dict writes a local time (scheduler.attendance.LOCAL_FORMAT, in the service's zone).
LOCAL_FORMAT = "%Y-%m-%d %H:%M"


def status_label(status: str) -> str:
    """An attendance status in the language in force (an unknown value as it is)."""
    label = STATUS_LABELS.get(str(status))
    return translate(label) if label else str(status)


def field_label(field: str) -> str:
    label = FIELD_LABELS.get(field)
    return translate(label) if label else field


def _local(text: str | None) -> datetime | None:
    """A record's local ``YYYY-MM-DD HH:MM`` (already in the service's zone), ``None`` for another text."""
    try:
        return datetime.strptime(text or "", LOCAL_FORMAT)
    except ValueError:
        return None


def local_time_text(text: str | None) -> str:
    """A record's local time as a person reads it (``2026年12月7日（周一）16:30``); another text as it is."""
    moment = _local(text)
    return format_datetime(moment, with_year=True) if moment else (text or "")


def check_out_text(check_in: str, check_out: str) -> str:
    """The check-out beside its check-in: the time alone on the same day, else with its date."""
    start, end = _local(check_in), _local(check_out)
    if start and end and start.date() == end.date():
        return f"{end:%H:%M}"
    return local_time_text(check_out)


def attendance_line(data: dict[str, Any]) -> str:
    when = local_time_text(data["check_in"])
    if data["check_out"]:
        when += f"-{check_out_text(data['check_in'], data['check_out'])}"
    line = _("record #{id}: {volunteer} (#{volunteer_id}) {service} occurrence #{occurrence} {when} {zone}").format(
        id=data["id"], volunteer=data["volunteer"], volunteer_id=data["volunteer_id"], service=data["service"],
        occurrence=data["occurrence_id"], when=when, zone=data["timezone"])
    if data["minutes"] is not None:
        line += _(", {minutes} min ({hours} h)").format(minutes=data["minutes"], hours=data["hours"])
    line += _(", {status}").format(status=status_label(data["status"]))
    if data["assignment_id"] is None:
        line += _(", walk-in (no assignment)")
    return line


@command()
@click.argument("volunteer_ref", metavar="VOLUNTEER", type=RECORD_REF)
@click.argument("occurrence_id", metavar="OCCURRENCE", type=RECORD_ID)
@click.option("--at", help="Local time in the service's zone, e.g. '2026-12-07 16:30' or '16:30' "
                           "(default now; seconds are dropped).")
@click.option("--by", default="", help="Who records it (default: your login name).")
@pass_app
def checkin(app: AppContext, volunteer_ref: str, occurrence_id: int, at: str | None, by: str) -> None:
    """Check a volunteer in (签到) at an occurrence.

    \b
    VOLUNTEER is an id or phone number; OCCURRENCE an occurrence id.
    Example: roster checkin 13800138000 42 --at "2026-12-07 16:30" --by 李书记
    """
    from scheduler import attendance as att

    data = app.run(lambda s: att.attendance_as_dict(
        s, att.checkin(s, volunteer_ref, occurrence_id, at=at, by=by or default_by()), policy=app.policy))
    app.out.result(data, _("check-in {record}").format(record=attendance_line(data)))


@command()
@click.argument("volunteer_ref", metavar="VOLUNTEER", type=RECORD_REF)
@click.argument("occurrence_id", metavar="OCCURRENCE", type=RECORD_ID)
@click.option("--at", help="Local time in the service's zone (default now; seconds are dropped).")
@click.option("--by", default="", help="Who records it (default: your login name).")
@pass_app
def checkout(app: AppContext, volunteer_ref: str, occurrence_id: int, at: str | None, by: str) -> None:
    """Check a volunteer out (签退); normal records are approved at once.

    More than 8 hours in a day, a 4th check-in/out pair at one occurrence in a day, a check-in
    over an hour before the shift, or a record over the shift's length plus an hour waits for
    `roster attendance approve` (margins: ROSTER_EARLY_CHECKIN_MINUTES, ROSTER_OVERTIME_MINUTES). Example: roster checkout 13800138000 42 --at 18:30
    """
    from scheduler import attendance as att

    data = app.run(lambda s: att.attendance_as_dict(
        s, att.checkout(s, volunteer_ref, occurrence_id, at=at, by=by or default_by(), policy=app.policy),
        policy=app.policy))
    app.out.result(data, _("check-out {record}").format(record=attendance_line(data)))
    for reason in data["review_reasons"]:
        app.out.note("  " + _("waits for approval: {reason}").format(reason=reason))
    if data["status"] == "pending_approval":
        app.out.note("  " + _("a coordinator approves with: roster attendance approve {id} --by NAME").format(
            id=data["id"]))


@command()
@click.argument("volunteer_ref", metavar="VOLUNTEER", type=RECORD_REF)
@click.argument("occurrence_id", metavar="OCCURRENCE", type=RECORD_ID)
@click.option("--by", default="", help="Who marks it (default: your login name).")
@pass_app
def noshow(app: AppContext, volunteer_ref: str, occurrence_id: int, by: str) -> None:
    """Mark an invited or confirmed volunteer as a no-show (未到), after the occurrence started.

    Auto-fill reads this history. Example: roster noshow 13800138000 42
    """
    from scheduler.attendance import mark_no_show

    def work(s: Session) -> tuple[int, str]:
        assignment = mark_no_show(s, volunteer_ref, occurrence_id, by=by or default_by(), policy=app.policy)
        return assignment.id, assignment.volunteer.name

    assignment_id, name = app.run(work)
    app.out.message(_("assignment #{id}: {name} marked no-show at occurrence #{occurrence}").format(
        id=assignment_id, name=name, occurrence=occurrence_id))


@group()
def attendance() -> None:
    """List, correct, approve and reject attendance records (签到记录)."""


@attendance.command("list")
@click.option("--pending", is_flag=True, help="Only records waiting for a coordinator's approval.")
@click.option("--occurrence", "occurrence_id", type=RECORD_ID, help="Only this occurrence.")
@click.option("--volunteer", "volunteer_ref", type=RECORD_REF, help="Only this volunteer (id or phone).")
@click.option("--from", "date_from", callback=date_option_callback, help="From this local date (YYYY-MM-DD).")
@click.option("--to", "date_to", callback=date_option_callback, help="To this local date, inclusive.")
@click.option("--limit", type=click.IntRange(1, 100_000), default=200, show_default=True, help="Most rows.")
@pass_app
def attendance_list(app: AppContext, pending: bool, occurrence_id: int | None, volunteer_ref: str | None,
                    date_from: date | None, date_to: date | None, limit: int) -> None:
    """List attendance records, newest first; times local to each service."""
    from scheduler.attendance import attendance_as_dict, list_attendance
    from scheduler.attendance.hours import date_range

    def work(s: Session) -> list[dict[str, Any]]:
        since, until = date_range(date_from, date_to, app.settings.tz)
        records = list_attendance(s, pending=pending, occurrence_id=occurrence_id, volunteer_ref=volunteer_ref,
                                  since=since, until=until, limit=limit)
        return [attendance_as_dict(s, r, policy=app.policy) for r in records]

    data = app.read(work)
    app.out.records(data, (_("id"), _("volunteer"), _("service"), _("occ"), _("check-in"), _("check-out"), _("min"),
                           _("hours"), _("status"), _("why")),
                    [(d["id"], d["volunteer"], d["service"], d["occurrence_id"], local_time_text(d["check_in"]),
                      check_out_text(d["check_in"], d["check_out"]), d["minutes"], d["hours"],
                      status_label(d["status"]), "; ".join(d["review_reasons"])) for d in data])


@attendance.command("show")
@click.argument("attendance_id", metavar="ID", type=RECORD_ID)
@pass_app
def attendance_show(app: AppContext, attendance_id: int) -> None:
    """Show one record with its trail of corrections and decisions."""
    from scheduler.attendance import attendance_as_dict, get_attendance

    data = app.read(lambda s: attendance_as_dict(s, get_attendance(s, attendance_id), with_trail=True,
                                                 policy=app.policy))
    app.out.record(data, omit=("trail",))
    if data["trail"]:
        app.out.table((_("at"), _("changed by"), _("field"), _("old"), _("new"), _("reason")),
                      [(local_time_text(t["at"]), t["by"], field_label(t["field"]), _trail_value(t["field"], t["old"]),
                        _trail_value(t["field"], t["new"]), t["reason"]) for t in data["trail"]],
                      title=_("trail"))


def _trail_value(field: str, value: str | None) -> str:
    """A trail entry's old or new value as a person reads it: a local time, a status."""
    if value is None:
        return ""
    return status_label(value) if field == "status" else local_time_text(value)


@attendance.command("correct")
@click.argument("attendance_id", metavar="ID", type=RECORD_ID)
@click.option("--field", required=True, type=click.Choice(["check_in", "check_out"]), help="What to change.")
@click.option("--value", required=True, help="Local time, e.g. '2026-12-07 16:30' or '16:30'.")
@click.option("--reason", required=True, help="Why (kept in the trail).")
@click.option("--by", required=True, help="Who corrects it (kept in the trail).")
@pass_app
def attendance_correct(app: AppContext, attendance_id: int, field: str, value: str, reason: str, by: str) -> None:
    """Correct a check-in or check-out time; the trail keeps who, when and why.

    Example: roster attendance correct 7 --field check_out --value 18:30 --reason 忘记签退 --by 李书记
    """
    from scheduler.attendance import attendance_as_dict, correct

    data = app.run(lambda s: attendance_as_dict(
        s, correct(s, attendance_id, field, value, by=by, reason=reason, policy=app.policy), policy=app.policy))
    app.out.result(data, _("corrected the {field} of {record}").format(field=field_label(field),
                                                                    record=attendance_line(data)))


@attendance.command("approve")
@click.argument("attendance_id", metavar="ID", type=RECORD_ID)
@click.option("--by", required=True, help="The approving coordinator.")
@pass_app
def attendance_approve(app: AppContext, attendance_id: int, by: str) -> None:
    """Approve a record that waits for a coordinator; its hours then count."""
    from scheduler.attendance import approve, attendance_as_dict

    data = app.run(lambda s: attendance_as_dict(s, approve(s, attendance_id, by=by), policy=app.policy))
    app.out.result(data, _("approved {record}").format(record=attendance_line(data)))


@attendance.command("reject")
@click.argument("attendance_id", metavar="ID", type=RECORD_ID)
@click.option("--by", required=True, help="The rejecting coordinator.")
@click.option("--reason", required=True, help="Why (kept in the trail).")
@pass_app
def attendance_reject(app: AppContext, attendance_id: int, by: str, reason: str) -> None:
    """Reject a record: its hours stop counting (an open one is a mistaken check-in)."""
    from scheduler.attendance import attendance_as_dict, reject

    data = app.run(lambda s: attendance_as_dict(s, reject(s, attendance_id, by=by, reason=reason), policy=app.policy))
    app.out.result(data, _("rejected {record}").format(record=attendance_line(data)))
