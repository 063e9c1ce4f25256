"""Attendance (签到/签退): check-in and check-out to the minute, corrections with a trail, no-shows
and approval. Hours (reports, star levels, the export) are in ``scheduler.attendance.hours``.

Rules (docs/hours.md):

* Times are whole minutes (seconds are dropped), stored UTC, typed and shown in the service's zone.
* A record counts service time only: check-in to check-out, never travel.
* On check-out a normal record is approved automatically; a record that takes the volunteer past
  8 hours in a local day, or is the 4th (or later) check-in/out pair at one occurrence in a day,
  or checked in more than ``ROSTER_EARLY_CHECKIN_MINUTES`` (60) before the shift, or lasts longer
  than the shift plus ``ROSTER_OVERTIME_MINUTES`` (60), waits for a coordinator
  (``pending_approval``) with the reason shown: hours are never inflated by accident. Only
  approved minutes count in reports.
* Every correction, approval and rejection writes an ``AttendanceCorrection`` row (who, when, why).
* All writes for one volunteer are serialised by locking the volunteer's row (``FOR UPDATE`` on
  PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already serialises writers), so two coordinators cannot
  both check the same person in, or write overlapping records.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from scheduler import validation as v
from scheduler.db import utcnow
from scheduler.errors import Conflict, InvalidInput, NotFound
from scheduler.events import record_event
from scheduler.i18n import _
from scheduler.models import (
    SEATED_STATUSES,
    Assignment,
    AssignmentStatus,
    Attendance,
    AttendanceCorrection,
    AttendanceMethod,
    AttendanceStatus,
    Occurrence,
    OccurrenceStatus,
    Service,
    Volunteer,
)
from scheduler.planning.occurrences import get_occurrence
from scheduler.points import sync_attendance_credit
from scheduler.policy import DEFAULT_POLICY, OperationPolicy
from scheduler.rosters.schedule import status_label
from scheduler.volunteers import get_volunteer

#: More than this many minutes in one local day needs a coordinator's approval.
DAY_LIMIT_MINUTES = 8 * 60
#: More than this many check-in/out pairs at one occurrence in one day needs approval.
PAIRS_PER_ACTIVITY_DAY = 3
#: ``approved_by`` of a record approved by the rules rather than by a person.
AUTO_APPROVER = "auto"
#: How far from its occurrence a check-in or check-out may lie: a typo in the date ("2026-12-17"
#: for "2026-12-07") must not create hours on the wrong day.
SLACK = timedelta(hours=12)
CORRECTABLE_FIELDS = ("check_in", "check_out")
STATUS_LABELS = {
    "open": "进行中",
    "pending_approval": "待审核",
    "approved": "已审核",
    "rejected": "未通过",
}
LOCAL_FORMAT = "%Y-%m-%d %H:%M"
_TIME_ONLY = re.compile(r"^(\d{1,2}):(\d{2})(?::\d{2}(?:\.\d+)?)?$")


# --------------------------------------------------------------------------- time helpers


def to_minute(moment: datetime) -> datetime:
    """Drop seconds: records count whole minutes (志愿服务条例 Art. 19 counts service time)."""
    return moment.replace(second=0, microsecond=0)


def local_text(moment: datetime | None, tz: ZoneInfo) -> str:
    return "" if moment is None else moment.astimezone(tz).strftime(LOCAL_FORMAT)


def parse_local(value: str | datetime, tz: ZoneInfo, field: str, on: date | None = None) -> datetime:
    """A typed local time ("2026-12-07 16:30", ISO with or without offset, or "16:30" on ``on``)
    as an aware UTC datetime truncated to the minute."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=tz)
        return to_minute(moment.astimezone(UTC))
    text = value.strip()
    match = _TIME_ONLY.match(text)
    if match and on is not None:
        try:
            local = datetime.combine(on, time(int(match.group(1)), int(match.group(2))))
        except ValueError:
            raise InvalidInput(field, _("{value} is not a time of day").format(value=repr(value))) from None
    else:
        try:
            local = datetime.fromisoformat(text.replace("/", "-"))
        except ValueError:
            raise InvalidInput(field, _("{value} is not a local time like 2026-12-07 16:30").format(
                value=repr(value))) from None
    if local.tzinfo is None:
        local = local.replace(tzinfo=tz)
        # A wall-clock time skipped by a DST change does not exist; say so rather than guess.
        if local.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != local.replace(tzinfo=None):
            raise InvalidInput(field, _("{value} does not exist in {zone} (a clock change)").format(
                value=repr(value), zone=tz.key))
    return to_minute(local.astimezone(UTC))


def _resolve(at: str | datetime | None, now: datetime, occurrence: Occurrence, field: str) -> datetime:
    tz = _zone(occurrence)
    now_minute = to_minute(now.astimezone(UTC))
    moment = now_minute if at is None else parse_local(at, tz, field, on=occurrence.start_at.astimezone(tz).date())
    if moment > now_minute:
        raise InvalidInput(field, _("{moment} is in the future (now {now})").format(
            moment=local_text(moment, tz), now=local_text(now_minute, tz)))
    earliest, latest = occurrence.start_at - SLACK, occurrence.end_at + SLACK
    if not earliest <= moment <= latest:
        raise InvalidInput(
            field,
            _("{moment} is too far from occurrence #{id} ({start}-{end}); "
              "record it at the occurrence the volunteer served").format(
                moment=local_text(moment, tz), id=occurrence.id, start=local_text(occurrence.start_at, tz),
                end=occurrence.end_at.astimezone(tz).strftime("%H:%M")),
        )
    return moment


def _zone(occurrence: Occurrence) -> ZoneInfo:
    return ZoneInfo(occurrence.service.timezone)


def _local_day_bounds(moment: datetime, tz: ZoneInfo) -> tuple[date, datetime, datetime]:
    day = moment.astimezone(tz).date()
    start = datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
    return day, start, end


def minutes_text(minutes: int | None) -> str:
    """``125`` → ``2 h 5 min``."""
    if minutes is None:
        return ""
    hours, rest = divmod(minutes, 60)
    if hours:
        return _("{hours} h {minutes} min").format(hours=hours, minutes=rest)
    return _("{minutes} min").format(minutes=rest)


# --------------------------------------------------------------------------- lookups


def get_attendance(session: Session, attendance_id: int | str) -> Attendance:
    ref = str(attendance_id).strip().lstrip("#")
    if not ref.isdigit():
        raise InvalidInput("id", _("{value} is not an attendance record id (a number)").format(value=repr(attendance_id)))
    record = session.get(Attendance, int(ref))
    if record is None:
        raise NotFound("attendance record", attendance_id)
    return record


def _lock_volunteer(session: Session, volunteer_id: int) -> None:
    # Serialise every attendance write for this volunteer: the checks below read, then write.
    session.execute(select(Volunteer.id).where(Volunteer.id == volunteer_id).with_for_update())


def _open_record(session: Session, volunteer_id: int) -> Attendance | None:
    return session.scalar(
        select(Attendance).where(Attendance.volunteer_id == volunteer_id, Attendance.status == AttendanceStatus.OPEN)
        .order_by(Attendance.id).limit(1)
    )


def _overlapping(session: Session, volunteer_id: int, start: datetime, end: datetime | None,
                 exclude_id: int | None = None) -> Attendance | None:
    """A counted record of this volunteer sharing time with [start, end) (``end`` None: the instant)."""
    query = select(Attendance).where(
        Attendance.volunteer_id == volunteer_id,
        Attendance.status != AttendanceStatus.REJECTED,
        Attendance.check_out.is_not(None),
        Attendance.check_out > start,
        Attendance.check_in < end if end is not None else Attendance.check_in <= start,
    )
    if exclude_id is not None:
        query = query.where(Attendance.id != exclude_id)
    return session.scalar(query.order_by(Attendance.check_in).limit(1))


def _overlap_error(field: str, other: Attendance, tz: ZoneInfo) -> InvalidInput:
    return InvalidInput(
        field,
        _("overlaps record #{id} of the same volunteer ({start}-{end})").format(
            id=other.id, start=local_text(other.check_in, tz), end=other.check_out.astimezone(tz).strftime("%H:%M"))
        if other.check_out else _("overlaps record #{id} of the same volunteer").format(id=other.id),
    )


# --------------------------------------------------------------------------- approval policy


def review_reasons(session: Session, record: Attendance, policy: OperationPolicy = DEFAULT_POLICY) -> list[str]:
    """Why a closed record needs a coordinator (empty: the rules approve it)."""
    if record.check_out is None or record.minutes is None:
        return []
    occurrence = record_occurrence(session, record)
    tz = _zone(occurrence)
    day, start, end = _local_day_bounds(record.check_in, tz)
    counted = (
        Attendance.volunteer_id == record.volunteer_id,
        Attendance.status.in_((AttendanceStatus.PENDING_APPROVAL, AttendanceStatus.APPROVED)),
        Attendance.check_out.is_not(None),
        Attendance.check_in >= start,
        Attendance.check_in < end,
        Attendance.id != record.id,
    )
    others = session.scalar(select(func.coalesce(func.sum(Attendance.minutes), 0)).where(*counted)) or 0
    reasons = []
    day_total = int(others) + record.minutes
    if day_total > DAY_LIMIT_MINUTES:
        reasons.append(_("{total} on {day} (more than 8 h in a day)").format(
            total=minutes_text(day_total), day=day.isoformat()))
    pairs = 1 + (session.scalar(
        select(func.count()).select_from(Attendance)
        .where(*counted, Attendance.occurrence_id == record.occurrence_id)
    ) or 0)
    if pairs > PAIRS_PER_ACTIVITY_DAY:
        reasons.append(_("{pairs} check-in/out pairs at occurrence #{occurrence} on {day} (more than {limit})").format(
            pairs=pairs, occurrence=record.occurrence_id, day=day.isoformat(),
            limit=PAIRS_PER_ACTIVITY_DAY))
    early = policy.early_checkin_minutes
    lead = int((occurrence.start_at - record.check_in).total_seconds() // 60)
    if lead > early:
        reasons.append(_("checked in {lead} before the shift starts at {start} (more than {early} min early)").format(
            lead=minutes_text(lead), start=local_text(occurrence.start_at, tz), early=early))
    over = policy.overtime_minutes
    shift = int((occurrence.end_at - occurrence.start_at).total_seconds() // 60)
    if record.minutes > shift + over:
        reasons.append(_("{recorded} recorded for a {shift} shift (more than {over} min over its length)").format(
            recorded=minutes_text(record.minutes), shift=minutes_text(shift), over=over))
    return reasons


def record_occurrence(session: Session, record: Attendance) -> Occurrence:
    occurrence = session.get(Occurrence, record.occurrence_id)
    assert occurrence is not None  # a foreign key
    return occurrence


def _settle(session: Session, record: Attendance, now: datetime, *, policy: OperationPolicy) -> None:
    """Approve a normal closed record; send an exceptional one to a coordinator."""
    if review_reasons(session, record, policy=policy):
        record.status = AttendanceStatus.PENDING_APPROVAL
        record.approved_by = None
        record.approved_at = None
    elif record.status != AttendanceStatus.APPROVED:
        record.status = AttendanceStatus.APPROVED
        record.approved_by = AUTO_APPROVER
        record.approved_at = now


def _trail(session: Session, record: Attendance, field: str, old: str | None, new: str | None, by: str,
           reason: str, now: datetime) -> None:
    session.add(AttendanceCorrection(
        attendance_id=record.id, field=field, old_value=old, new_value=new, corrected_by=by,
        reason=reason, corrected_at=now,
    ))


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat(timespec="minutes")


def _who(by: str, field: str = "by", required: bool = False) -> str:
    return v.text(by or "", field, 64, required=required)


# --------------------------------------------------------------------------- operations


def checkin(session: Session, volunteer_ref: str, occurrence_id: int | str, at: str | datetime | None = None,
            by: str = "", now: datetime | None = None, method: AttendanceMethod = AttendanceMethod.CLI) -> Attendance:
    """Check a volunteer in at an occurrence (``at`` local to the service, default now); ``method``
    says how (a coordinator's command, or the volunteer's scan of the venue's code)."""
    now = now or utcnow()
    by = _who(by)
    volunteer = get_volunteer(session, volunteer_ref)
    occurrence = get_occurrence(session, occurrence_id)
    if occurrence.status == OccurrenceStatus.CANCELLED:
        raise Conflict(_("occurrence: #{id} was cancelled; nobody can check in").format(id=occurrence.id))
    tz = _zone(occurrence)
    check_in = _resolve(at, now, occurrence, "check_in")
    _lock_volunteer(session, volunteer.id)
    current = _open_record(session, volunteer.id)
    if current is not None:
        since = local_text(current.check_in, tz)
        if current.occurrence_id == occurrence.id:
            raise Conflict(_("check_in: volunteer #{volunteer} is already checked in at this occurrence since "
                             "{since} (record #{record}); check out first").format(
                volunteer=volunteer.id, since=since, record=current.id))
        raise Conflict(_("check_in: volunteer #{volunteer} is already checked in at occurrence #{occurrence} since "
                         "{since} (record #{record}); check out first").format(
            volunteer=volunteer.id, occurrence=current.occurrence_id, since=since, record=current.id))
    other = _overlapping(session, volunteer.id, check_in, None)
    if other is not None:
        raise _overlap_error("check_in", other, tz)
    assignment = session.scalar(
        select(Assignment).where(Assignment.occurrence_id == occurrence.id, Assignment.volunteer_id == volunteer.id)
    )
    # Only a seated assignment (invited, confirmed, attended, no-show) is linked: a declined,
    # cancelled or waitlisted volunteer who turns up anyway is recorded as a walk-in.
    linked = assignment if assignment is not None and assignment.status in SEATED_STATUSES else None
    record = Attendance(
        volunteer_id=volunteer.id, occurrence_id=occurrence.id, assignment_id=linked.id if linked else None,
        check_in=check_in, check_out=None, minutes=None, status=AttendanceStatus.OPEN, recorded_by=by, created_at=now,
        checkin_method=AttendanceMethod(method),
    )
    session.add(record)
    session.flush()
    record_event(session, "attendance.recorded", action="check_in", attendance_id=record.id,
                 occurrence_id=occurrence.id, assignment_id=record.assignment_id)
    return record


def checkout(session: Session, volunteer_ref: str, occurrence_id: int | str, at: str | datetime | None = None,
             by: str = "", now: datetime | None = None, policy: OperationPolicy = DEFAULT_POLICY,
             method: AttendanceMethod = AttendanceMethod.CLI) -> Attendance:
    """Check a volunteer out; closes the open record, counts its minutes, applies the approval rules.

    A linked assignment becomes ``attended``.
    """
    now = now or utcnow()
    by = _who(by)
    volunteer = get_volunteer(session, volunteer_ref)
    occurrence = get_occurrence(session, occurrence_id)
    tz = _zone(occurrence)
    _lock_volunteer(session, volunteer.id)
    current = _open_record(session, volunteer.id)
    if current is None or current.occurrence_id != occurrence.id:
        if current is not None:
            raise Conflict(_("check_out: volunteer #{volunteer} has not checked in at occurrence #{occurrence} "
                             "(checked in at occurrence #{other})").format(
                volunteer=volunteer.id, occurrence=occurrence.id, other=current.occurrence_id))
        raise Conflict(_("check_out: volunteer #{volunteer} has not checked in at occurrence #{occurrence}").format(
            volunteer=volunteer.id, occurrence=occurrence.id))
    check_out = _resolve(at, now, occurrence, "check_out")
    if check_out <= current.check_in:
        raise InvalidInput(
            "check_out",
            _("{check_out} is not after the check-in at {check_in}").format(
                check_out=local_text(check_out, tz), check_in=local_text(current.check_in, tz)),
        )
    other = _overlapping(session, volunteer.id, current.check_in, check_out, exclude_id=current.id)
    if other is not None:
        raise _overlap_error("check_out", other, tz)
    current.check_out = check_out
    current.minutes = int((check_out - current.check_in).total_seconds() // 60)
    current.checkout_method = AttendanceMethod(method)
    if by and not current.recorded_by:
        current.recorded_by = by
    _settle(session, current, now, policy=policy)
    if current.assignment_id is not None:
        assignment = session.get(Assignment, current.assignment_id)
        if assignment is not None and assignment.status in SEATED_STATUSES and assignment.status != AssignmentStatus.ATTENDED:
            assignment.status = AssignmentStatus.ATTENDED
            assignment.updated_at = now
    session.flush()
    sync_attendance_credit(session, current, by=current.approved_by or by, now=now)
    record_event(session, "attendance.recorded", action="check_out", attendance_id=current.id,
                 occurrence_id=occurrence.id, assignment_id=current.assignment_id, status=current.status)
    return current


def mark_no_show(session: Session, volunteer_ref: str, occurrence_id: int | str, by: str,
                 now: datetime | None = None, policy: OperationPolicy = DEFAULT_POLICY) -> Assignment:
    """Mark a seated volunteer who did not come as ``no_show`` (after the occurrence has started).

    Auto-fill reads the no-show history from ``Assignment.status``. Checking the volunteer in
    later (a late arrival recorded afterwards) turns the assignment into ``attended`` on checkout.
    """
    now = now or utcnow()
    by = _who(by, required=True)
    volunteer = get_volunteer(session, volunteer_ref)
    occurrence = get_occurrence(session, occurrence_id)
    tz = _zone(occurrence)
    if now < occurrence.start_at:
        raise Conflict(_("occurrence: #{id} starts {start}; mark no-shows once it has started").format(
            id=occurrence.id, start=local_text(occurrence.start_at, tz)))
    _lock_volunteer(session, volunteer.id)
    assignment = session.scalar(
        select(Assignment).where(Assignment.occurrence_id == occurrence.id, Assignment.volunteer_id == volunteer.id)
    )
    if assignment is None:
        raise NotFound("assignment", _("volunteer #{volunteer} at occurrence #{occurrence}").format(
            volunteer=volunteer.id, occurrence=occurrence.id))
    if assignment.status == AssignmentStatus.NO_SHOW:
        raise Conflict(_("status: volunteer #{volunteer} is already marked no-show at occurrence #{occurrence}").format(
            volunteer=volunteer.id, occurrence=occurrence.id))
    if assignment.status not in (AssignmentStatus.INVITED, AssignmentStatus.CONFIRMED):
        raise Conflict(_("status: the assignment is {status}; only an invited or confirmed "
                         "volunteer can be a no-show").format(status=status_label(assignment.status)))
    attended = session.scalar(
        select(Attendance.id).where(Attendance.volunteer_id == volunteer.id,
                                    Attendance.occurrence_id == occurrence.id, Attendance.status != AttendanceStatus.REJECTED)
        .limit(1)
    )
    if attended is not None:
        raise Conflict(_("status: volunteer #{volunteer} checked in at this occurrence (record #{record}); "
                         "reject that record first if it is wrong").format(volunteer=volunteer.id, record=attended))
    assignment.status = AssignmentStatus.NO_SHOW
    assignment.reason = f"no-show, marked by {by}"
    assignment.updated_at = now
    # Nothing is owed before a shift that is over: the claim cancels a before-shift row still pending.
    record_event(session, "attendance.recorded", action="no_show", occurrence_id=occurrence.id,
                 assignment_id=assignment.id)
    return assignment


def correct(session: Session, attendance_id: int | str, field: str, value: str | datetime, by: str, reason: str,
            now: datetime | None = None, policy: OperationPolicy = DEFAULT_POLICY) -> Attendance:
    """Change a record's check-in or check-out, keeping the trail (who, when, why).

    The minutes are recounted and the approval rules applied again: a corrected record that is now
    an exception waits for a coordinator even if it was approved before.
    """
    now = now or utcnow()
    if field not in CORRECTABLE_FIELDS:
        raise InvalidInput("field", _("{value} is not one of {choices}").format(
            value=repr(field), choices=", ".join(CORRECTABLE_FIELDS)))
    by = _who(by, required=True)
    reason = v.text(reason or "", "reason", 300)
    record = get_attendance(session, attendance_id)
    occurrence = record_occurrence(session, record)
    tz = _zone(occurrence)
    _lock_volunteer(session, record.volunteer_id)
    session.refresh(record)
    if field == "check_out" and record.check_out is None:
        raise Conflict(_("check_out: record #{id} is still open; use `roster checkout`").format(id=record.id))
    moment = _resolve(value, now, occurrence, field)
    old = record.check_in if field == "check_in" else record.check_out
    if moment == old:
        raise InvalidInput("value", _("{moment} is what record #{id} already says").format(
            moment=local_text(moment, tz), id=record.id))
    new_in = moment if field == "check_in" else record.check_in
    new_out = moment if field == "check_out" else record.check_out
    if new_out is not None and new_out <= new_in:
        raise InvalidInput(field, _("check-out {check_out} would not be after check-in {check_in}").format(
            check_out=local_text(new_out, tz), check_in=local_text(new_in, tz)))
    if record.status != AttendanceStatus.REJECTED:
        other = _overlapping(session, record.volunteer_id, new_in, new_out, exclude_id=record.id)
        if other is not None:
            raise _overlap_error(field, other, tz)
    _trail(session, record, field, _iso(old), _iso(moment), by, reason, now)
    record.check_in, record.check_out = new_in, new_out
    if new_out is not None:
        record.minutes = int((new_out - new_in).total_seconds() // 60)
        if record.status in (AttendanceStatus.APPROVED, AttendanceStatus.PENDING_APPROVAL):
            before = record.status
            _settle(session, record, now, policy=policy)
            if record.status != before:
                _trail(session, record, "status", before, record.status, AUTO_APPROVER,
                       "approval rules applied after correction", now)
    session.flush()
    sync_attendance_credit(session, record, by=by, now=now)
    record_event(session, "attendance.recorded", action="corrected", attendance_id=record.id,
                 occurrence_id=record.occurrence_id, field=field)
    return record


def approve(session: Session, attendance_id: int | str, by: str, now: datetime | None = None) -> Attendance:
    """A coordinator approves a record waiting for approval (or reverses a rejection)."""
    now = now or utcnow()
    by = _who(by, required=True)
    record = get_attendance(session, attendance_id)
    if record.status == AttendanceStatus.OPEN:
        raise Conflict(_("status: record #{id} is still open; check the volunteer out first").format(id=record.id))
    if record.status == AttendanceStatus.APPROVED:
        raise Conflict(_("status: record #{id} is already approved (by {by})").format(
            id=record.id, by=record.approved_by))
    _trail(session, record, "status", record.status, AttendanceStatus.APPROVED, by, "approved", now)
    record.status, record.approved_by, record.approved_at = AttendanceStatus.APPROVED, by, now
    session.flush()
    sync_attendance_credit(session, record, by=by, now=now)
    record_event(session, "attendance.recorded", action="approved", attendance_id=record.id,
                 occurrence_id=record.occurrence_id)
    return record


def reject(session: Session, attendance_id: int | str, by: str, reason: str,
           now: datetime | None = None) -> Attendance:
    """A coordinator rejects a record: its minutes stop counting. Rejecting an open record undoes a
    mistaken check-in (the volunteer can then be checked in again)."""
    now = now or utcnow()
    by = _who(by, required=True)
    reason = v.text(reason or "", "reason", 300)
    record = get_attendance(session, attendance_id)
    if record.status == AttendanceStatus.REJECTED:
        raise Conflict(_("status: record #{id} is already rejected").format(id=record.id))
    _trail(session, record, "status", record.status, AttendanceStatus.REJECTED, by, reason, now)
    record.status, record.approved_by, record.approved_at = AttendanceStatus.REJECTED, by, now
    session.flush()
    sync_attendance_credit(session, record, by=by, now=now)
    record_event(session, "attendance.recorded", action="rejected", attendance_id=record.id,
                 occurrence_id=record.occurrence_id)
    return record


# --------------------------------------------------------------------------- reading


def list_attendance(
    session: Session, pending: bool = False, occurrence_id: int | str | None = None,
    volunteer_ref: str | None = None, since: datetime | None = None, until: datetime | None = None,
    limit: int | None = 200,
) -> list[Attendance]:
    """Records, newest check-in first; ``pending``: only those waiting for a coordinator."""
    query: Select[tuple[Attendance]] = select(Attendance)
    if pending:
        query = query.where(Attendance.status == AttendanceStatus.PENDING_APPROVAL)
    if occurrence_id is not None:
        query = query.where(Attendance.occurrence_id == get_occurrence(session, occurrence_id).id)
    if volunteer_ref is not None:
        query = query.where(Attendance.volunteer_id == get_volunteer(session, volunteer_ref).id)
    if since is not None:
        query = query.where(Attendance.check_in >= since)
    if until is not None:
        query = query.where(Attendance.check_in < until)
    query = query.order_by(Attendance.check_in.desc(), Attendance.id.desc())
    if limit:
        query = query.limit(limit)
    return list(session.scalars(query))


def corrections(session: Session, attendance_id: int) -> list[AttendanceCorrection]:
    return list(session.scalars(
        select(AttendanceCorrection).where(AttendanceCorrection.attendance_id == attendance_id)
        .order_by(AttendanceCorrection.corrected_at, AttendanceCorrection.id)
    ))


def attendance_as_dict(session: Session, record: Attendance, with_trail: bool = False, policy: OperationPolicy = DEFAULT_POLICY) -> dict[str, Any]:
    """A record for the CLI: times local to the service's zone."""
    occurrence = record_occurrence(session, record)
    service: Service = occurrence.service
    tz = _zone(occurrence)
    volunteer = session.get(Volunteer, record.volunteer_id)
    from scheduler.attendance.hours import hours_text

    data: dict[str, Any] = {
        "id": record.id,
        "volunteer_id": record.volunteer_id,
        "volunteer": volunteer.name if volunteer else "",
        "occurrence_id": record.occurrence_id,
        "service": service.title,
        "assignment_id": record.assignment_id,
        "check_in": local_text(record.check_in, tz),
        "check_out": local_text(record.check_out, tz),
        "minutes": record.minutes,
        "hours": hours_text(record.minutes) if record.minutes is not None else "",
        "status": record.status,
        "status_label": STATUS_LABELS[record.status],
        "recorded_by": record.recorded_by,
        "checkin_method": record.checkin_method,
        "checkout_method": record.checkout_method,
        "approved_by": record.approved_by,
        "approved_at": local_text(record.approved_at, tz),
        "timezone": tz.key,
        "review_reasons": review_reasons(session, record, policy=policy) if record.status == AttendanceStatus.PENDING_APPROVAL else [],
    }
    if with_trail:
        data["trail"] = [
            {
                "field": c.field,
                "old": _trail_value(c.field, c.old_value, tz),
                "new": _trail_value(c.field, c.new_value, tz),
                "by": c.corrected_by,
                "at": local_text(c.corrected_at, tz),
                "reason": c.reason,
            }
            for c in corrections(session, record.id)
        ]
    return data


def _trail_value(field: str, value: str | None, tz: ZoneInfo) -> str | None:
    if value is None or field not in CORRECTABLE_FIELDS:
        return value
    try:
        return local_text(datetime.fromisoformat(value), tz)
    except ValueError:
        return value
