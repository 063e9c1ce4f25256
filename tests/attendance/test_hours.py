"""Hours: star levels, reports by volunteer/branch/community/month, the CSV and XLSX exports."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from scheduler import attendance as att
from scheduler.attendance import hours
from scheduler.db import session_scope
from scheduler.errors import InvalidInput
from scheduler.models import Assignment, Attendance
from scheduler.volunteers import VolunteerSpec, edit_volunteer
from tests import factories

EVENING = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("total_hours", "extra_minutes", "level"), [
    (0, 0, ""), (99, 59, ""), (100, 0, "一星志愿者"), (299, 59, "一星志愿者"), (300, 0, "二星志愿者"),
    (600, 0, "三星志愿者"), (999, 59, "三星志愿者"), (1000, 0, "四星志愿者"), (1500, 0, "五星志愿者"),
])
def test_star_levels_follow_cumulative_hours(total_hours: int, extra_minutes: int, level: str) -> None:
    assert hours.star_level(total_hours * 60 + extra_minutes) == level


def test_next_star_tells_what_is_missing() -> None:
    assert hours.next_star(99 * 60) == ("一星志愿者", 60)
    assert hours.next_star(1500 * 60) is None


@pytest.mark.parametrize(("minutes", "text"), [(1, "0.02"), (30, "0.50"), (50, "0.83"), (125, "2.08"),
                                               (135, "2.25"), (0, "0.00")])
def test_hours_have_two_decimals_from_minutes(minutes: int, text: str) -> None:
    assert hours.hours_text(minutes) == text


def test_formula_cells_are_neutralised() -> None:
    assert [hours.neutralise(c) for c in ("=1+2", "+86", "-3", "@SUM(A1)", "\tx", "王芳", 2, Decimal("1.50"))] == [
        "'=1+2", "'+86", "'-3", "'@SUM(A1)", "'\tx", "王芳", 2, Decimal("1.50")]


@dataclass
class City:
    shunjing_occ: int
    committee_occ: int
    january_occ: int
    wang: int
    li: int


def _served(session: Session, volunteer_id: int, occurrence_id: int, start: str, end: str,
            now: datetime = EVENING) -> Attendance:
    att.checkin(session, str(volunteer_id), occurrence_id, at=start, now=now)
    return att.checkout(session, str(volunteer_id), occurrence_id, at=end, now=now)


@pytest.fixture
def city(engine: Engine) -> City:
    """Two organisers (a branch and a community committee), two volunteers, hours in two months."""
    with session_scope(engine) as s:
        factories.org(s)
        branch_service = factories.service(s, title="四点半课堂", venue="顺景花园党群之家")
        committee_service = factories.service(s, title="=HYPERLINK(\"http://x\")义诊", branch=None,
                                              community="ailian", kind="clinic", venue="",
                                              contact_role="社区党委书记")
        home_visits = factories.service(s, title="关爱空巢老人入户探访", kind="elderly_care",
                                        venue="某某小区5栋301", visibility="private")
        shunjing = factories.occurrence(s, branch_service).id
        committee = factories.occurrence(s, committee_service, start=datetime(2026, 12, 7, 1, 0, tzinfo=UTC)).id
        january = factories.occurrence(s, home_visits, start=datetime(2026, 1, 10, 2, 0, tzinfo=UTC)).id
        wang = factories.volunteer(s, "王芳", id_number="440307199001051234").id
        li = factories.volunteer(s, "-李明").id
        s.add(Assignment(occurrence_id=shunjing, role_id=branch_service.roles[0].id, volunteer_id=wang,
                         status="confirmed", seat_no=1))
        _served(s, wang, shunjing, "16:30", "18:30")  # 120 min in December
        _served(s, wang, committee, "09:00", "10:50")  # 110 min in December
        _served(s, li, shunjing, "16:30", "17:20")  # 50 min in December
        _served(s, wang, january, "10:00", "11:00", now=datetime(2026, 1, 10, 12, 0, tzinfo=UTC))  # 60 min
        return City(shunjing, committee, january, wang, li)


def _pending(engine: Engine, city: City) -> int:
    """A record that waits for approval (a long day): never counted."""
    with session_scope(engine) as s:
        svc = factories.service(s, title="长时间")
        occ = factories.occurrence(s, svc, start=datetime(2026, 12, 8, 0, 0, tzinfo=UTC), minutes=600).id
        record = _served(s, city.li, occ, "08:00", "17:30", now=EVENING + timedelta(days=1))
        assert record.status == "pending_approval"
        return record.id


def test_report_by_volunteer_counts_approved_minutes_with_all_time_star(engine: Engine, city: City) -> None:
    _pending(engine, city)
    with session_scope(engine) as s:
        # 100 h served long before, approved: a star for Wang, outside the report's range.
        old = factories.occurrence(s, factories.service(s), start=datetime(2025, 6, 1, 0, 0, tzinfo=UTC))
        s.add(Attendance(volunteer_id=city.wang, occurrence_id=old.id, check_in=old.start_at,
                         check_out=old.start_at + timedelta(minutes=5770), minutes=5770, status="approved",
                         approved_by="张主任", approved_at=old.start_at))
        s.flush()
        rows = hours.hours_report(s, "volunteer", date(2026, 12, 1), date(2026, 12, 31))
    assert [(r["name"], r["records"], r["minutes"], r["hours"]) for r in rows] == [
        ("王芳", 2, 230, "3.83"), ("-李明", 1, 50, "0.83")]
    wang = rows[0]
    assert (wang["total_minutes"], wang["star"], wang["home_branch"]) == (6060, "一星志愿者", "顺景花园党支部")
    assert (wang["next_star"], wang["hours_to_next_star"]) == ("二星志愿者", "199.00")
    assert rows[1]["star"] == "" and rows[1]["total_minutes"] == 50


def test_report_by_branch_puts_committee_services_under_the_community(engine: Engine, city: City) -> None:
    with session_scope(engine) as s:
        rows = hours.hours_report(s, "branch", date(2026, 12, 1), date(2026, 12, 31))
    assert [(r["organiser"], r["community"], r["records"], r["volunteers"], r["minutes"]) for r in rows] == [
        ("爱联社区", "爱联社区", 1, 1, 110), ("顺景花园党支部", "爱联社区", 2, 2, 170)]


def test_report_by_community_and_month(engine: Engine, city: City) -> None:
    with session_scope(engine) as s:
        by_community = hours.hours_report(s, "community")
        by_month = hours.hours_report(s, "month")
    assert [(r["community"], r["records"], r["volunteers"], r["hours"]) for r in by_community] == [
        ("爱联社区", 4, 2, "5.67")]
    assert [(r["month"], r["records"], r["minutes"]) for r in by_month] == [("2026-01", 1, 60), ("2026-12", 3, 280)]


def test_report_range_uses_local_dates(engine: Engine, city: City) -> None:
    with session_scope(engine) as s:
        # 2026-12-07 09:00 local is 01:00 UTC: the committee clinic belongs to the 7th, not the 6th.
        assert hours.hours_report(s, "volunteer", date(2026, 12, 6), date(2026, 12, 6)) == []
        with pytest.raises(InvalidInput, match="^to: "):
            hours.hours_report(s, "month", date(2026, 12, 7), date(2026, 12, 6))
        with pytest.raises(InvalidInput, match="^by: "):
            hours.hours_report(s, "street")


def test_rejected_records_stop_counting(engine: Engine, city: City) -> None:
    with session_scope(engine) as s:
        record_id = s.scalar(select(Attendance.id).where(Attendance.volunteer_id == city.li))
        att.reject(s, record_id, by="张主任", reason="未实际到岗", now=EVENING)
        rows = hours.hours_report(s, "volunteer")
    assert [r["name"] for r in rows] == ["王芳"]


def test_export_rows_carry_the_national_record_fields(engine: Engine, city: City) -> None:
    with session_scope(engine) as s:
        rows = hours.export_rows(s, date(2026, 1, 1), date(2026, 12, 31))
    assert rows[0] == list(hours.EXPORT_HEADER)
    by_start = {(row[1], row[6]): row for row in rows[1:]}
    assert by_start["王芳", "2026-12-07 16:30"][1:] == [
        "王芳", "440307********1234", "四点半课堂", "辅导员", "顺景花园党群之家", "2026-12-07 16:30",
        "2026-12-07 18:30", Decimal("2.00"), "顺景花园党支部", "支部第一书记", "已审核"]
    assert by_start["-李明", "2026-12-07 16:30"][4] == hours.WALK_IN_ROLE
    committee = by_start["王芳", "2026-12-07 09:00"]
    assert (committee[4], committee[9], committee[10]) == ("现场参与", "爱联社区", "社区党委书记")
    home_visit = by_start["王芳", "2026-01-10 10:00"]
    assert home_visit[5] == hours.PRIVATE_VENUE  # a beneficiary's home address is never exported
    assert "某某小区" not in repr(rows)


def test_export_leaves_out_pending_records_unless_asked(engine: Engine, city: City) -> None:
    _pending(engine, city)
    with session_scope(engine) as s:
        approved = hours.export_rows(s)
        everything = hours.export_rows(s, include_unapproved=True)
    assert len(approved) == 5 and len(everything) == 6
    assert everything[-1][-1] == "待审核" and everything[-1][8] == Decimal("9.50")


def test_csv_export_opens_in_excel_and_reads_back(engine: Engine, city: City) -> None:
    with session_scope(engine) as s:
        data = hours.export_csv(hours.export_rows(s))
    assert data.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
    table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert "本导出不是志愿服务证明" in table[0][0] and len(table[0]) == 1
    assert table[1] == list(hours.EXPORT_HEADER)
    names = {row[1] for row in table[2:]}
    assert names == {"王芳", "'-李明"}
    titles = {row[3] for row in table[2:]}
    assert "'=HYPERLINK(\"http://x\")义诊" in titles
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in table for cell in row)
    assert {row[8] for row in table[2:]} == {"2.00", "1.83", "0.83", "1.00"}
    assert b"\r\n" in data


def test_xlsx_export_keeps_formulas_as_text(engine: Engine, city: City) -> None:
    with session_scope(engine) as s:
        data = hours.export_xlsx(hours.export_rows(s))
    sheet = load_workbook(io.BytesIO(data)).active
    assert sheet is not None
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert "本导出不是志愿服务证明" in values[0][0]
    assert values[1] == list(hours.EXPORT_HEADER)
    assert "440307********1234" in {row[2] for row in values[2:]}
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)
    assert {row[8] for row in values[2:]} == {2.0, 1.83, 0.83, 1.0}


def test_id_numbers_are_masked_and_missing_ones_blank(engine: Engine, city: City) -> None:
    with session_scope(engine) as s:
        edit_volunteer(s, str(city.li), VolunteerSpec(id_number="44030319860106002X"))
        rows = hours.export_rows(s)
    ids = {row[1]: row[2] for row in rows[1:]}
    assert ids == {"王芳": "440307********1234", "-李明": "440303********002X"}


def test_export_with_recognition_appends_points_earned_and_party_work_unit(engine: Engine, city: City) -> None:
    """``hours export --recognition`` (issue 18): after the national fields, the points each record
    holds in the ledger and the serving Party member's work unit; without it the national columns only."""
    from sqlalchemy import func

    from scheduler.models import PointsEntry, Volunteer
    from scheduler.party import set_party_member

    with session_scope(engine) as s:
        set_party_member(s, s.get(Volunteer, city.wang), True, "龙岗区卫生健康局")
    with session_scope(engine) as s:
        plain = hours.export_rows(s)
        rows = hours.export_rows(s, recognition=True)
        held = dict(s.execute(select(PointsEntry.attendance_id, func.sum(PointsEntry.amount_centi))
                              .group_by(PointsEntry.attendance_id)).all())
    assert len(plain[0]) == len(hours.EXPORT_HEADER)
    assert rows[0] == list(hours.EXPORT_HEADER) + ["获得积分", "在职党员", "工作单位"]
    assert [row[:len(hours.EXPORT_HEADER)] for row in rows] == plain  # the national fields unchanged
    assert any(held.values())
    for row in rows[1:]:
        assert row[-3] == Decimal(held.get(row[0], 0)) / 100, row
        assert row[-2:] == (["是", "龙岗区卫生健康局"] if row[1] == "王芳" else ["否", ""]), row
    sheet = load_workbook(io.BytesIO(hours.export_xlsx(rows))).active
    assert sheet is not None
    assert [cell.value for cell in sheet[2]][-3:] == ["获得积分", "在职党员", "工作单位"]
