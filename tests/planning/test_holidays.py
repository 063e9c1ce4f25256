"""The holiday calendar: package data, loaded years, provisional dates, the load file format."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from dateutil.rrule import rrulestr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from scheduler import planning
from scheduler.db import session_scope
from scheduler.errors import InvalidInput
from scheduler.models import Assignment, Event, HolidayDay, HolidayYear, Occurrence, Reminder
from scheduler.planning.holiday_years import holiday_status, load_year
from scheduler.planning.holidays import HolidayCalendar, parse_schedule
from tests import factories as f

NOW = datetime(2026, 12, 1, tzinfo=UTC)

OFFICIAL_2027 = """\
# a made-up 2027 notice for the tests
year 2027
source 国务院办公厅关于2027年部分节假日安排的通知（测试）
rest 2027-01-01..2027-01-03 元旦
rest 2027-02-06..2027-02-13 春节
work 2027-01-09 元旦
work 2027-02-20 春节
"""


def test_package_calendar_knows_2026_makeup_workdays_and_rest_days() -> None:
    calendar = HolidayCalendar()
    for makeup in (date(2026, 2, 14), date(2026, 2, 28), date(2026, 9, 20), date(2026, 10, 10)):
        info = calendar.day(makeup)
        assert info.workday and info.makeup_workday and not info.provisional
    national_day_saturday = calendar.day(date(2026, 10, 3))
    assert national_day_saturday.rest and not national_day_saturday.workday
    assert not calendar.is_workday(date(2026, 2, 16)) and calendar.is_workday(date(2026, 2, 24))
    assert calendar.source(2026) == "chinese_calendar"


def test_year_without_official_data_is_provisional_weekday_rule() -> None:
    calendar = HolidayCalendar()
    new_year = calendar.day(date(2027, 1, 1))  # a Friday
    assert new_year.provisional and new_year.workday and not new_year.rest
    assert not calendar.is_workday(date(2027, 1, 2))
    assert calendar.source(2027) is None


def test_loaded_year_wins_over_the_package() -> None:
    parsed = parse_schedule("year 2026\nrest 2026-03-02 测试假\n")
    from scheduler.planning.holidays import YearSchedule

    calendar = HolidayCalendar({2026: YearSchedule(2026, parsed.rest, parsed.workdays, "loaded")})
    assert calendar.is_rest(date(2026, 3, 2))
    assert not calendar.is_rest(date(2026, 10, 1))  # the package's National Day is not consulted
    assert calendar.source(2026) == "loaded"


def test_text_and_json_formats_read_the_same_schedule() -> None:
    text = parse_schedule(OFFICIAL_2027)
    json_form = parse_schedule(
        '{"year": 2027, "rest": [{"date": "2027-01-01..2027-01-03", "name": "元旦"},'
        ' {"date": "2027-02-06..2027-02-13", "name": "春节"}],'
        ' "workdays": [{"date": "2027-01-09", "name": "元旦"}, "2027-02-20"]}'
    )
    assert text.rest == json_form.rest
    assert set(text.workdays) == set(json_form.workdays) == {date(2027, 1, 9), date(2027, 2, 20)}
    assert text.rest[date(2027, 2, 10)] == "春节"


@pytest.mark.parametrize(
    ("content", "where"),
    [
        ("rest 2027-01-01\n", "year"),
        ("year 2027\nrest 2027-01-01\nwork 2027-01-04 周一\n", "line 3"),
        ("year 2027\nrest 2027-02-30\n", "line 2"),
        ("year 2027\n\nrest 2028-01-01\n", "line 3"),
        ("year 2027\nrest 2027-01-01\nrest 2027-01-01..2027-01-02\n", "line 3"),
        ("year 2027\nholiday 2027-01-01\n", "line 2"),
        ("year 2027\nwork 2027-01-09\n", "rest"),
        ('{"year": 2027, "rest": [{"date": "2027-01-01"}, {"date": "nope"}]}', "rest[1].date"),
        ('{"year": "twenty", "rest": []}', "year"),
        ('{"year": 2027, "rest": ["2027-01-01"], "extra": 1}', "extra"),
        ('{"year": 2027,\n "rest": [}', "line 2"),
    ],
)
def test_bad_schedule_file_names_the_line_or_field(content: str, where: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_schedule(content)
    assert caught.value.field == where


def test_bad_file_writes_nothing(session: Session) -> None:
    with pytest.raises(InvalidInput):
        load_year(session, "year 2027\nrest 2027-01-01\nwork 2027-01-05\n", today=date(2026, 12, 20))
    assert session.scalar(select(func.count()).select_from(HolidayDay)) == 0
    assert session.scalar(select(func.count()).select_from(HolidayYear)) == 0


def test_2027_is_provisional_then_official_load_replans_and_tells_assigned_volunteers(engine: Engine) -> None:
    today = date(2026, 12, 28)
    with session_scope(engine) as session:
        f.org(session)
        svc = f.service(session, slug="ketang", holiday_policy="workdays", start_date=date(2026, 12, 1))
        always = f.service(session, slug="kaifang", rrule="FREQ=DAILY", start_date=date(2026, 12, 1))
        result = planning.plan(session, today, 8, now=NOW)
        assert result.provisional > 0 and date(2027, 1, 1) in result.provisional_dates
        assert all(d.year == 2027 for d in result.provisional_dates)
        by_day = {o.start_at.astimezone(planning.ZoneInfo("Asia/Shanghai")).date(): o
                  for o in session.scalars(select(Occurrence).where(Occurrence.service_id == svc.id))}
        new_year = by_day[date(2027, 1, 1)]
        assert new_year.provisional and not by_day[date(2026, 12, 31)].provisional
        assert not any(o.provisional for o in session.scalars(
            select(Occurrence).where(Occurrence.service_id == always.id)))
        volunteer = f.volunteer(session)
        assignment = Assignment(occurrence_id=new_year.id, role_id=svc.roles[0].id, volunteer_id=volunteer.id,
                                status="confirmed", seat_no=1, sequence=0, forced=False)
        session.add(assignment)
        session.flush()
        untouched_rest = by_day[date(2027, 2, 8)].id
        status = holiday_status(session, today, 12)
        assert status["provisional_dates"] == [{"from": "2027-01-01", "to": "2027-03-21"}]
        assert status["provisional_occurrences"] == result.provisional
        ids = (new_year.id, assignment.id, untouched_rest)
    with session_scope(engine) as session:
        loaded = load_year(session, OFFICIAL_2027, "2027.txt", today=today, horizon_weeks=8, now=NOW)
        assert loaded.plan.cancelled == 1 and loaded.plan.notified == 1
        assert loaded.plan.removed == 5  # the Spring Festival weekdays 02-08..02-12, nobody assigned
        assert loaded.plan.created == 2  # make-up Saturdays 01-09 and 02-20
    with session_scope(engine) as session:
        cancelled = session.get(Occurrence, ids[0])
        assert cancelled is not None and cancelled.status == "cancelled"
        assert session.get(Occurrence, ids[2]) is None
        notices = [r.kind for r in session.scalars(select(Reminder).where(Reminder.assignment_id == ids[1]))]
        assert any(k.startswith("cancelled:") for k in notices)
        assert not session.scalar(select(func.count()).select_from(Occurrence).where(
            Occurrence.provisional.is_(True), Occurrence.status == "scheduled"))
        assert session.scalar(select(func.count()).select_from(Event).where(Event.kind == "holidays.loaded")) == 1
        status = holiday_status(session, today, 12)
        assert status["provisional_dates"] == [] and status["provisional_occurrences"] == 0
        assert {"year": 2027, "source": "loaded"}.items() <= next(
            y for y in status["years"] if y["year"] == 2027).items()
        # Loading again changes nothing.
        again = load_year(session, OFFICIAL_2027, "2027.txt", today=today, horizon_weeks=8, now=NOW)
        assert again.replaced and again.plan.rows_written == 0


# --------------------------------------------------------------------------- property: equals dateutil

_DAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]


@st.composite
def rrules(draw: st.DrawFn) -> str:
    freq = draw(st.sampled_from(["DAILY", "WEEKLY", "MONTHLY", "YEARLY"]))
    parts = [f"FREQ={freq}"]
    interval = draw(st.integers(1, 3))
    if interval > 1:
        parts.append(f"INTERVAL={interval}")
    if freq == "WEEKLY":
        days = draw(st.lists(st.sampled_from(_DAYS), min_size=1, max_size=4, unique=True))
        parts.append("BYDAY=" + ",".join(days))
    elif freq == "MONTHLY":
        if draw(st.booleans()):
            nth = draw(st.sampled_from([1, 2, 3, 4, -1]))
            parts.append(f"BYDAY={nth}{draw(st.sampled_from(_DAYS))}")
        else:
            parts.append(f"BYMONTHDAY={draw(st.integers(1, 28))}")
    elif freq == "DAILY" and draw(st.booleans()):
        parts.append("BYDAY=" + ",".join(draw(st.lists(st.sampled_from(_DAYS), min_size=1, max_size=3,
                                                         unique=True))))
    if draw(st.booleans()):
        parts.append(f"COUNT={draw(st.integers(1, 40))}")
    return ";".join(parts)


@pytest.fixture
def calm_year(sqlite_engine: Engine) -> Engine:
    """2031 loaded as an official year without a single holiday: no date is skipped or provisional."""
    with session_scope(sqlite_engine) as session:
        f.org(session)
        session.add(HolidayYear(year=2031, source="test: no holidays"))
    return sqlite_engine


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rule=rrules(),
    start_offset=st.integers(0, 120),
    plan_offset=st.integers(0, 60),
    weeks=st.integers(1, 8),
    start_time=st.sampled_from(["07:30", "09:00", "14:15", "16:30", "20:45"]),
    zone=st.sampled_from(["Asia/Shanghai", "Europe/Berlin", "America/New_York"]),
    policy=st.sampled_from(["always", "skip_holidays", "workdays"]),
)
def test_occurrences_equal_dateutil_expansion_on_dates_without_holidays(
        calm_year: Engine, rule: str, start_offset: int, plan_offset: int, weeks: int, start_time: str, zone: str,
        policy: str) -> None:
    start = date(2031, 1, 1) + timedelta(days=start_offset)  # the window stays inside 2031
    today = start + timedelta(days=plan_offset)
    last = today + timedelta(weeks=weeks) - timedelta(days=1)
    if policy == "workdays":
        # Without holidays, a workdays service is its rule on Monday-Friday.
        rule = "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR" + (";COUNT=30" if "COUNT" in rule else "")
    hour, minute = (int(x) for x in start_time.split(":"))
    expanded = rrulestr(rule, dtstart=datetime.combine(start, time(hour, minute)))
    expected = [d for d in expanded.between(datetime.combine(today, time(0)),  # type: ignore[union-attr]
                                            datetime.combine(last, time(23, 59)), inc=True)]
    with session_scope(calm_year) as session:
        svc = f.service(session, rrule=rule, start_date=start, start_time=start_time, timezone=zone,
                        holiday_policy=policy)
        planning.plan(session, today, weeks, [svc.id], now=NOW)
        got = [o.original_start.astimezone(planning.ZoneInfo(zone)).replace(tzinfo=None)
               for o in session.scalars(select(Occurrence).where(Occurrence.service_id == svc.id)
                                        .order_by(Occurrence.original_start))]
        assert got == expected
        assert not any(o.provisional for o in session.scalars(
            select(Occurrence).where(Occurrence.service_id == svc.id)))


def test_docs_example_file_loads(tmp_path: Path) -> None:
    doc = Path(__file__).resolve().parents[2] / "docs" / "holidays.md"
    block = doc.read_text(encoding="utf-8").split("```\n# 2027", 1)[1].split("```", 1)[0]
    parsed = parse_schedule("# 2027" + block)
    assert parsed.year == 2027 and date(2027, 10, 7) in parsed.rest and date(2027, 9, 26) in parsed.workdays
