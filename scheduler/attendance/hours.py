"""Volunteer hours: reports (by volunteer, branch, community, month), star levels, and the export
for entry into the national volunteer service system (志愿服务记录与证明出具办法, 2021).

Only approved, closed records count. An export is a working file, not a certificate: a
志愿服务记录证明 is issued and stamped by the recording organisation (docs/hours.md).
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Select, distinct, func, literal, select
from sqlalchemy.orm import Session

from scheduler.errors import InvalidInput, NotFound
from scheduler.i18n import _
from scheduler.models import (
    Assignment,
    Attendance,
    AttendanceStatus,
    Branch,
    Community,
    Occurrence,
    PointsEntry,
    Role,
    Service,
    Visibility,
    Volunteer,
)
from scheduler.validation import neutralise
from scheduler.volunteers import mask_id_number

#: Star levels by cumulative approved hours (Guangdong/Shenzhen 星级志愿者; Longgang uses the same
#: thresholds): highest first.
STAR_LEVELS: tuple[tuple[int, str], ...] = (
    (1500, "五星志愿者"),
    (1000, "四星志愿者"),
    (600, "三星志愿者"),
    (300, "二星志愿者"),
    (100, "一星志愿者"),
)
_Query = TypeVar("_Query", bound="Select[*tuple[Any, ...]]")
REPORT_DIMENSIONS = ("volunteer", "branch", "community", "month")
EXPORT_FORMATS = ("csv", "xlsx")
NOT_A_CERTIFICATE = (
    "说明：本导出不是志愿服务证明，仅供录入全国志愿服务信息系统前核对；"
    "志愿服务记录证明由记录单位依《志愿服务记录与证明出具办法》出具并盖章。身份证号已脱敏。"
)
EXPORT_HEADER = (
    "记录编号",
    "志愿者姓名",
    "身份证号",
    "服务项目名称",
    "服务岗位",
    "服务地点",
    "服务开始时间",
    "服务结束时间",
    "服务时长（小时）",
    "组织单位",
    "联系人",
    "记录状态",
)
#: ``--recognition`` (issue 18): appended after the national record's fields, for the subdistrict's
#: own use (points and serving Party members' work units), never part of what the national system asks.
RECOGNITION_HEADER = ("获得积分", "在职党员", "工作单位")
STATUS_LABELS = {"open": "进行中", "pending_approval": "待审核", "approved": "已审核", "rejected": "未通过"}
#: Where a private service (a home visit) took place is a beneficiary's home: never exported.
PRIVATE_VENUE = "入户服务（地址不导出）"
WALK_IN_ROLE = "现场参与"
#: Characters that make a spreadsheet treat a cell as a formula (OWASP "CSV injection").


def hours_decimal(minutes: int) -> Decimal:
    """Minutes as hours to two decimals, rounded half up (50 min → 0.83)."""
    return (Decimal(minutes) / Decimal(60)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def hours_text(minutes: int) -> str:
    return f"{hours_decimal(minutes):.2f}"


def star_level(minutes: int) -> str:
    """The star level earned by cumulative approved minutes ("" below 100 hours)."""
    for hours, name in STAR_LEVELS:
        if minutes >= hours * 60:
            return name
    return ""


def next_star(minutes: int) -> tuple[str, int] | None:
    """The next level and the minutes still needed, or None at the top."""
    for hours, name in reversed(STAR_LEVELS):
        if minutes < hours * 60:
            return name, hours * 60 - minutes
    return None


def date_range(date_from: date | None, date_to: date | None, tz: ZoneInfo) -> tuple[datetime | None, datetime | None]:
    """Inclusive local dates as a half-open UTC range."""
    if date_from and date_to and date_to < date_from:
        raise InvalidInput("to", _("{to} is before --from {start}").format(
            to=date_to.isoformat(), start=date_from.isoformat()))
    since = datetime.combine(date_from, time(0), tzinfo=tz).astimezone(UTC) if date_from else None
    until = (datetime.combine(date_to + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
             if date_to else None)
    return since, until


def _counted(query: _Query, since: datetime | None, until: datetime | None) -> _Query:
    """Approved, closed records whose check-in is in [since, until), joined to their service."""
    query = (
        query.select_from(Attendance)
        .join(Occurrence, Occurrence.id == Attendance.occurrence_id)
        .join(Service, Service.id == Occurrence.service_id)
        .where(Attendance.status == AttendanceStatus.APPROVED, Attendance.check_out.is_not(None))
    )
    if since is not None:
        query = query.where(Attendance.check_in >= since)
    if until is not None:
        query = query.where(Attendance.check_in < until)
    return query


def cumulative_minutes(session: Session, volunteer_ids: Iterable[int]) -> dict[int, int]:
    """All-time approved minutes per volunteer (star levels are cumulative)."""
    ids = sorted(set(volunteer_ids))
    totals: dict[int, int] = {}
    for start in range(0, len(ids), 900):
        query = (
            select(Attendance.volunteer_id, func.sum(Attendance.minutes))
            .where(Attendance.status == AttendanceStatus.APPROVED, Attendance.check_out.is_not(None),
                   Attendance.volunteer_id.in_(ids[start:start + 900]))
            .group_by(Attendance.volunteer_id)
        )
        totals.update({vid: int(total or 0) for vid, total in session.execute(query)})
    return totals


def hours_report(session: Session, by: str = "volunteer", date_from: date | None = None,
                 date_to: date | None = None, tz: ZoneInfo | str = "Asia/Shanghai") -> list[dict[str, Any]]:
    """Approved hours grouped by volunteer, organiser branch, community or local month.

    ``date_from``/``date_to`` are inclusive local dates of the check-in. Volunteer rows also carry the
    all-time cumulative hours and the star level they earn. The database does the grouping (months,
    which depend on the zone, are grouped here from three columns a row).
    """
    if by not in REPORT_DIMENSIONS:
        raise InvalidInput("by", _("{value} is not one of {choices}").format(
            value=repr(by), choices=", ".join(REPORT_DIMENSIONS)))
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    since, until = date_range(date_from, date_to, zone)
    measures = (func.count(), func.coalesce(func.sum(Attendance.minutes), 0),
                func.count(distinct(Attendance.volunteer_id)))
    result: list[dict[str, Any]] = []
    if by == "volunteer":
        grouped = {vid: (int(records), int(minutes or 0)) for vid, records, minutes, _ in session.execute(
            _counted(select(Attendance.volunteer_id, *measures), since, until).group_by(Attendance.volunteer_id))}
        people = _volunteer_labels(session, grouped)
        totals = cumulative_minutes(session, grouped)
        for vid, (records, minutes) in grouped.items():
            name, home_branch = people.get(vid, ("", ""))
            total = totals.get(vid, 0)
            upcoming = next_star(total)
            result.append({
                "volunteer_id": vid, "name": name, "home_branch": home_branch,
                "records": records, "minutes": minutes, "hours": hours_text(minutes),
                "total_minutes": total, "total_hours": hours_text(total), "star": star_level(total),
                "next_star": upcoming[0] if upcoming else "",
                "hours_to_next_star": hours_text(upcoming[1]) if upcoming else "",
            })
        result.sort(key=lambda r: (-r["minutes"], r["volunteer_id"]))
    elif by in ("branch", "community"):
        keys = (Service.branch_id, Service.community_id) if by == "branch" else (Service.community_id,)
        rows = list(session.execute(_counted(select(*keys, *measures), since, until).group_by(*keys)))
        branch_ids = {row[0] for row in rows if by == "branch" and row[0] is not None}
        branches = {b.id: b for b in _load(session, Branch, branch_ids)}
        communities = {c.id: c for c in _load(session, Community, {row[len(keys) - 1] for row in rows})}
        for row in rows:
            records, minutes, volunteers = (int(x) for x in row[len(keys):])
            community = communities[row[len(keys) - 1]]
            figures = {"records": records, "volunteers": volunteers, "minutes": minutes,
                       "hours": hours_text(minutes)}
            if by == "community":
                result.append(dict(community=community.name, slug=community.slug, **figures))
            elif row[0] is None:  # run by the community's own Party committee
                result.append(dict(organiser=community.name, slug=community.slug, community=community.name,
                                   **figures))
            else:
                result.append(dict(organiser=branches[row[0]].name, slug=branches[row[0]].slug,
                                   community=community.name, **figures))
        result.sort(key=lambda r: (r["community"], r.get("organiser", ""), r["slug"]))
    else:
        months: dict[str, dict[str, Any]] = defaultdict(lambda: {"records": 0, "minutes": 0, "volunteers": set()})
        query = _counted(select(Attendance.check_in, Attendance.minutes, Attendance.volunteer_id), since, until)
        for check_in, record_minutes, vid in session.execute(query):
            group = months[check_in.astimezone(zone).strftime("%Y-%m")]
            group["records"] += 1
            group["minutes"] += record_minutes or 0
            group["volunteers"].add(vid)
        for month in sorted(months):
            group = months[month]
            result.append({"month": month, "records": group["records"], "volunteers": len(group["volunteers"]),
                           "minutes": group["minutes"], "hours": hours_text(group["minutes"])})
    return result


def _volunteer_labels(session: Session, ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    """id -> (name, home branch name), read as columns in chunks."""
    wanted = sorted(set(ids))
    labels: dict[int, tuple[str, str]] = {}
    for start in range(0, len(wanted), 900):
        query = (
            select(Volunteer.id, Volunteer.name, Branch.name)
            .outerjoin(Branch, Branch.id == Volunteer.home_branch_id)
            .where(Volunteer.id.in_(wanted[start:start + 900]))
        )
        labels.update({vid: (name, branch or "") for vid, name, branch in session.execute(query)})
    return labels


def _load(session: Session, model: Any, ids: Iterable[int]) -> list[Any]:
    wanted = sorted(set(ids))
    found: list[Any] = []
    for start in range(0, len(wanted), 500):
        found.extend(session.scalars(select(model).where(model.id.in_(wanted[start:start + 500]))))
    return found


# --------------------------------------------------------------------------- one volunteer


@dataclass(frozen=True)
class HoursRecord:
    """One of a volunteer's own records, for their hours page."""

    check_in: datetime
    timezone: str
    service: str
    minutes: int | None
    status: str

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]


@dataclass(frozen=True)
class VolunteerHours:
    """A volunteer's own totals (all time), star level and records, newest first."""

    approved_minutes: int
    pending_minutes: int
    star: str
    next_star: tuple[str, int] | None
    records: list[HoursRecord]


def volunteer_hours(session: Session, volunteer_id: int, limit: int = 200) -> VolunteerHours:
    """Approved and pending minutes (all time), the star level the approved ones earn, and the
    volunteer's latest ``limit`` records: theirs only, nobody else's."""
    totals = dict(session.execute(
        select(Attendance.status, func.coalesce(func.sum(Attendance.minutes), 0))
        .where(Attendance.volunteer_id == volunteer_id, Attendance.check_out.is_not(None),
               Attendance.status.in_((AttendanceStatus.APPROVED, AttendanceStatus.PENDING_APPROVAL)))
        .group_by(Attendance.status)
    ).all())
    approved = int(totals.get(AttendanceStatus.APPROVED) or 0)
    rows = session.execute(
        select(Attendance.check_in, Service.timezone, Service.title, Attendance.minutes, Attendance.status)
        .join(Occurrence, Occurrence.id == Attendance.occurrence_id)
        .join(Service, Service.id == Occurrence.service_id)
        .where(Attendance.volunteer_id == volunteer_id)
        .order_by(Attendance.check_in.desc(), Attendance.id.desc()).limit(limit)
    )
    return VolunteerHours(approved, int(totals.get(AttendanceStatus.PENDING_APPROVAL) or 0), star_level(approved),
                          next_star(approved), [HoursRecord(*row) for row in rows])


# --------------------------------------------------------------------------- export


def export_rows(session: Session, date_from: date | None = None, date_to: date | None = None,
                tz: ZoneInfo | str = "Asia/Shanghai", include_unapproved: bool = False,
                recognition: bool = False) -> list[list[Any]]:
    """The header and one row per closed record, in the national record's fields.

    Approved records only unless ``include_unapproved`` (then pending and rejected ones too, with
    their status). ID numbers are masked; times are local to each service's zone; hours to two
    decimals from the minutes. ``recognition`` appends the points the record earned (its ledger
    entries' sum: a rejected or corrected record shows what it holds now) and whether the volunteer
    is a serving Party member, with the work unit.
    """
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    since, until = date_range(date_from, date_to, zone)
    statuses = (AttendanceStatus.APPROVED, AttendanceStatus.PENDING_APPROVAL, AttendanceStatus.REJECTED) if include_unapproved else (AttendanceStatus.APPROVED,)
    earned: Any = (select(func.coalesce(func.sum(PointsEntry.amount_centi), 0))
                   .where(PointsEntry.attendance_id == Attendance.id).correlate(Attendance).scalar_subquery()
                   if recognition else literal(0))
    # Columns, not ORM objects: an export of a year is hundreds of thousands of rows.
    query = (
        select(Attendance.id, Attendance.check_in, Attendance.check_out, Attendance.minutes, Attendance.status,
               Volunteer.name, Volunteer.id_number, Service.title, Service.visibility, Service.venue,
               Service.timezone, Service.contact_role, Role.name, Branch.name, Community.name,
               Volunteer.party_member, Volunteer.work_unit, earned)
        .join(Occurrence, Occurrence.id == Attendance.occurrence_id)
        .join(Service, Service.id == Occurrence.service_id)
        .join(Volunteer, Volunteer.id == Attendance.volunteer_id)
        .join(Community, Community.id == Service.community_id)
        .outerjoin(Branch, Branch.id == Service.branch_id)
        .outerjoin(Assignment, Assignment.id == Attendance.assignment_id)
        .outerjoin(Role, Role.id == Assignment.role_id)
        .where(Attendance.status.in_(statuses), Attendance.check_out.is_not(None))
        .order_by(Attendance.check_in, Attendance.id)
    )
    if since is not None:
        query = query.where(Attendance.check_in >= since)
    if until is not None:
        query = query.where(Attendance.check_in < until)
    rows: list[list[Any]] = [list(EXPORT_HEADER) + (list(RECOGNITION_HEADER) if recognition else [])]
    zones: dict[str, ZoneInfo] = {}
    for (record_id, check_in, check_out, minutes, status, name, id_number, title, visibility, venue, zone_name,
         contact_role, role_name, branch_name, community_name, party_member, work_unit,
         earned_centi) in session.execute(query):
        service_tz = zones.get(zone_name) or zones.setdefault(zone_name, ZoneInfo(zone_name))
        assert check_out is not None  # the query asks for closed records
        rows.append([
            record_id,
            name,
            mask_id_number(id_number),
            title,
            role_name or WALK_IN_ROLE,
            PRIVATE_VENUE if visibility == Visibility.PRIVATE else venue,
            check_in.astimezone(service_tz).strftime("%Y-%m-%d %H:%M"),
            check_out.astimezone(service_tz).strftime("%Y-%m-%d %H:%M"),
            hours_decimal(minutes or 0),
            branch_name or community_name,
            contact_role,
            STATUS_LABELS[status],
        ])
        if recognition:
            rows[-1] += [Decimal(int(earned_centi or 0)) / 100, "是" if party_member else "否",
                         (work_unit or "") if party_member else ""]
    return rows


def export_csv(rows: Sequence[Sequence[Any]]) -> bytes:
    """UTF-8 with a BOM (Excel opens it as UTF-8), CRLF lines, the not-a-certificate note first."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([NOT_A_CERTIFICATE])
    for row in rows:
        writer.writerow([neutralise(cell) for cell in row])
    return buffer.getvalue().encode("utf-8-sig")


def export_xlsx(rows: Sequence[Sequence[Any]]) -> bytes:
    """The same rows as an Excel workbook (openpyxl); hours are numbers with two decimals."""
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "志愿服务记录"
    sheet.append([NOT_A_CERTIFICATE])
    for index, row in enumerate(rows):
        sheet.append([neutralise(cell) for cell in row])
        if index:
            sheet.cell(row=sheet.max_row, column=EXPORT_HEADER.index("服务时长（小时）") + 1).number_format = "0.00"
            if len(row) > len(EXPORT_HEADER):  # the points earned
                sheet.cell(row=sheet.max_row, column=len(EXPORT_HEADER) + 1).number_format = "0.00"
    widths = (10, 12, 22, 24, 14, 24, 18, 18, 16, 24, 16, 10, 10, 10, 24)
    for column, width in zip("ABCDEFGHIJKLMNO", widths[:len(rows[0]) if rows else 12], strict=False):
        sheet.column_dimensions[column].width = width
    sheet.freeze_panes = "A3"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# --------------------------------------------------------------------------- short of a threshold

_PERIOD = re.compile(r"^(?P<year>\d{4})(?:-(?:(?P<quarter>[Qq][1-4])|(?P<month>\d{1,2})))?$")


def parse_period(text: str) -> tuple[date, date]:
    """``2026-Q4``, ``2026`` or ``2026-11`` as its first and last local date (inclusive)."""
    raw = text.strip()
    match = _PERIOD.match(raw)
    if match is None:
        raise InvalidInput("period", "expected a year (2026), a quarter (2026-Q4) or a month (2026-11)")
    year = int(match["year"])
    if not 1900 <= year <= 2100:
        raise InvalidInput("period", "the year is outside 1900-2100")
    if match["quarter"]:
        first_month = 3 * (int(match["quarter"][1]) - 1) + 1
        last_month = first_month + 2
    elif match["month"]:
        first_month = last_month = int(match["month"])
        if not 1 <= first_month <= 12:
            raise InvalidInput("period", "the month is not between 1 and 12")
    else:
        first_month, last_month = 1, 12
    following = date(year + 1, 1, 1) if last_month == 12 else date(year, last_month + 1, 1)
    return date(year, first_month, 1), following - timedelta(days=1)


def hours_short(session: Session, below_minutes: int, date_from: date, date_to: date,
                tz: ZoneInfo | str = "Asia/Shanghai", community: str | None = None,
                branch: str | None = None) -> list[dict[str, Any]]:
    """Active volunteers whose approved minutes with a check-in in [date_from, date_to] (local dates,
    inclusive) are under ``below_minutes``, largest shortfall first; ``community``/``branch`` (slugs)
    keep those whose home branch is there. A volunteer with no record in the period has 0 minutes."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    since, until = date_range(date_from, date_to, zone)
    people = (
        select(Volunteer.id, Volunteer.name, Branch.name, Branch.slug, Community.name, Community.slug)
        .outerjoin(Branch, Branch.id == Volunteer.home_branch_id)
        .outerjoin(Community, Community.id == Branch.community_id)
        .where(Volunteer.active.is_(True))
    )
    if branch is not None:
        if session.scalar(select(Branch.id).where(Branch.slug == branch)) is None:
            raise NotFound("branch", branch)
        people = people.where(Branch.slug == branch)
    if community is not None:
        if session.scalar(select(Community.id).where(Community.slug == community)) is None:
            raise NotFound("community", community)
        people = people.where(Community.slug == community)
    served = dict(session.execute(
        _counted(select(Attendance.volunteer_id, func.coalesce(func.sum(Attendance.minutes), 0)), since, until)
        .join(Volunteer, Volunteer.id == Attendance.volunteer_id)
        .where(Volunteer.active.is_(True))
        .group_by(Attendance.volunteer_id)).all())
    result: list[dict[str, Any]] = []
    for vid, name, branch_name, branch_slug, community_name, community_slug in session.execute(people):
        minutes = int(served.get(vid) or 0)
        if minutes >= below_minutes:
            continue
        result.append({
            "volunteer_id": vid, "name": name, "branch": branch_name or "", "branch_slug": branch_slug or "",
            "community": community_name or "", "community_slug": community_slug or "",
            "minutes": minutes, "hours": hours_text(minutes),
            "short_minutes": below_minutes - minutes, "hours_needed": hours_text(below_minutes - minutes),
        })
    result.sort(key=lambda r: (-r["short_minutes"], r["community_slug"], r["branch_slug"], r["volunteer_id"]))
    return result
