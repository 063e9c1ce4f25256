"""Serving Party members who report to their residential community (在职党员到社区报到).

A volunteer can be marked as a serving Party member with their work unit (工作单位); every quarter the
work unit asks how many hours each of its members served. :func:`party_report` gives, per work unit,
each member's approved hours in the quarter and in the year to the quarter's end against a yearly
target (default 50 h). No ID numbers: the report does not need them.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from scheduler import validation as v
from scheduler.errors import InvalidInput
from scheduler.events import record_event
from scheduler.i18n import N_, _, translate
from scheduler.models import Attendance, AttendanceStatus, Volunteer

DEFAULT_TARGET_HOURS = 50
_QUARTER = re.compile(r"^(\d{4})-?[Qq]([1-4])$")
#: What a member without a work unit is listed under.
NO_WORK_UNIT = N_("(no work unit recorded)")
#: The report's columns, in the exports' order (Chinese headers: the work units read them).
REPORT_HEADER = ("工作单位", "姓名", "所属支部", "本季度时长（小时）", "本年累计（小时）", "年度目标（小时）",
                 "完成率", "尚差（小时）")


@dataclass(frozen=True)
class Quarter:
    year: int
    number: int

    @property
    def label(self) -> str:
        return f"{self.year}-Q{self.number}"

    @property
    def first_day(self) -> date:
        return date(self.year, 3 * self.number - 2, 1)

    @property
    def end_day(self) -> date:
        """The day after the quarter's last."""
        return date(self.year + 1, 1, 1) if self.number == 4 else date(self.year, 3 * self.number + 1, 1)


def parse_quarter(value: str, field: str = "quarter") -> Quarter:
    """``2026-Q4`` (or ``2026Q4``): a year in 1900-2100 and a quarter 1-4."""
    match = _QUARTER.match((value or "").strip())
    if not match:
        raise InvalidInput(field, _("{value} is not a quarter like 2026-Q4 (Q1 to Q4)").format(value=repr(value)))
    year = int(match.group(1))
    if not 1900 <= year <= 2100:
        raise InvalidInput(field, _("{value} is outside 1900-2100").format(value=value))
    return Quarter(year, int(match.group(2)))


def parse_target(value: str | int | Decimal, field: str = "target") -> Decimal:
    try:
        target = Decimal(str(value).strip())
    except ArithmeticError:
        raise InvalidInput(field, _("{value} is not a number of hours").format(value=repr(value))) from None
    if not target.is_finite() or target <= 0 or target > 10_000:
        raise InvalidInput(field, _("{value} is not a number of hours above zero (at most 10000)").format(value=value))
    return target


def set_party_member(session: Session, volunteer: Volunteer, party_member: bool | None,
                     work_unit: str | None) -> set[str]:
    """Mark or unmark a volunteer as a serving Party member, and set their work unit; the changed fields."""
    changed: set[str] = set()
    if work_unit is not None:
        unit = v.text(work_unit, "work_unit", 200, required=False) or None
        if unit != volunteer.work_unit:
            volunteer.work_unit = unit
            changed.add("work_unit")
    if party_member is not None and party_member != volunteer.party_member:
        volunteer.party_member = party_member
        changed.add("party_member")
    if volunteer.party_member and not volunteer.work_unit and (party_member or "work_unit" in changed):
        raise InvalidInput("work_unit", N_("a serving Party member needs a work unit (--work-unit)"))
    if changed:
        session.flush()
        record_event(session, "volunteer.changed", volunteer_id=volunteer.id, fields=sorted(changed))
    return changed


def _bound(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def _approved_minutes(session: Session, ids: list[int], since: datetime, until: datetime) -> dict[int, int]:
    totals: dict[int, int] = {}
    for start in range(0, len(ids), 900):
        query = (
            select(Attendance.volunteer_id, func.sum(Attendance.minutes))
            .where(Attendance.status == AttendanceStatus.APPROVED, Attendance.check_out.is_not(None),
                   Attendance.check_in >= since, Attendance.check_in < until,
                   Attendance.volunteer_id.in_(ids[start:start + 900]))
            .group_by(Attendance.volunteer_id)
        )
        totals.update({vid: int(total or 0) for vid, total in session.execute(query)})
    return totals


def _hours(minutes: int) -> Decimal:
    return (Decimal(minutes) / 60).quantize(Decimal("0.01"))


def party_report(session: Session, quarter: Quarter, tz: ZoneInfo,
                 target_hours: Decimal | int = DEFAULT_TARGET_HOURS) -> list[dict[str, Any]]:
    """Per work unit (sorted), each serving Party member's approved hours in the quarter and in the
    year to the quarter's end, against the yearly target. Active and deactivated members alike (the
    hours were served); dates local to ``tz``."""
    target = Decimal(target_hours)
    members = list(session.scalars(select(Volunteer).where(Volunteer.party_member.is_(True))))
    ids = [m.id for m in members]
    until = _bound(quarter.end_day, tz)
    in_quarter = _approved_minutes(session, ids, _bound(quarter.first_day, tz), until)
    in_year = _approved_minutes(session, ids, _bound(date(quarter.year, 1, 1), tz), until)
    rows = []
    for member in members:
        ytd = _hours(in_year.get(member.id, 0))
        rows.append({
            "work_unit": member.work_unit or "", "volunteer_id": member.id, "name": member.name,
            "home_branch": member.home_branch.name if member.home_branch else "",
            "quarter": quarter.label, "quarter_hours": str(_hours(in_quarter.get(member.id, 0))),
            "year_to_date_hours": str(ytd), "target_hours": str(target),
            "percent": int((ytd * 100 / target).to_integral_value()) if target else 0,
            "remaining_hours": str(max(target - ytd, Decimal(0)).quantize(Decimal("0.01"))),
        })
    rows.sort(key=lambda r: (r["work_unit"] == "", r["work_unit"], r["name"], r["volunteer_id"]))
    return rows


def _cells(row: dict[str, Any]) -> list[Any]:
    return [row["work_unit"] or translate(NO_WORK_UNIT), row["name"], row["home_branch"],
            Decimal(row["quarter_hours"]), Decimal(row["year_to_date_hours"]), Decimal(row["target_hours"]),
            f"{row['percent']}%", Decimal(row["remaining_hours"])]


def report_title(quarter: Quarter) -> str:
    return f"在职党员到社区报到服务时长 {quarter.label}"


def report_csv(rows: list[dict[str, Any]], quarter: Quarter) -> bytes:
    """UTF-8 with a BOM (Excel opens it as UTF-8), CRLF lines, one row per member grouped by work unit."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([report_title(quarter)])
    writer.writerow(REPORT_HEADER)
    for row in rows:
        writer.writerow([v.neutralise(cell) for cell in _cells(row)])
    return buffer.getvalue().encode("utf-8-sig")


def report_xlsx(rows: list[dict[str, Any]], quarter: Quarter) -> bytes:
    """The same as an Excel workbook: one sheet, grouped by work unit, a subtotal line per unit."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = f"在职党员 {quarter.label}"
    sheet.append([report_title(quarter)])
    sheet.append(list(REPORT_HEADER))
    for cell in sheet[2]:
        cell.font = Font(bold=True)
    units: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        units.setdefault(row["work_unit"], []).append(row)
    for unit, members in units.items():
        for row in members:
            sheet.append([v.neutralise(cell) for cell in _cells(row)])
            for column in (4, 5, 6, 8):
                sheet.cell(row=sheet.max_row, column=column).number_format = "0.00"
        total_q = sum(Decimal(r["quarter_hours"]) for r in members)
        total_y = sum(Decimal(r["year_to_date_hours"]) for r in members)
        sheet.append([v.neutralise(unit or translate(NO_WORK_UNIT)), f"小计（{len(members)}人）", "", total_q, total_y])
        for cell in sheet[sheet.max_row]:
            cell.font = Font(bold=True)
        for column in (4, 5):
            sheet.cell(row=sheet.max_row, column=column).number_format = "0.00"
    for letter, width in zip("ABCDEFGH", (28, 12, 22, 18, 18, 18, 10, 14), strict=True):
        sheet.column_dimensions[letter].width = width
    sheet.freeze_panes = "A3"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
