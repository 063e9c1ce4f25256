"""`roster hours short`: active volunteers under a threshold of approved hours in a period."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine

from scheduler import attendance as att
from scheduler.attendance import hours
from scheduler.db import session_scope
from scheduler.errors import InvalidInput, NotFound
from scheduler.models import Attendance, Volunteer
from tests import factories
from tests.cli_codes import USAGE

#: The records are made as of this instant (never the wall clock).
NOW = datetime(2026, 12, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def people(engine: Engine) -> dict[str, int]:
    """Wang 4 h and Li 9 h 30 in Q4 2026 (Li's pending 5 h does not count), Zhao none, Qian 1 h in
    September, Sun deactivated; Zhou in another community's branch with 2 h."""
    with session_scope(engine) as s:
        factories.org(s)
        factories.community(s, "xinlian", "新联社区")
        factories.branch(s, "tianan", "天安花园党支部", "xinlian")
        classroom = factories.service(s, title="四点半课堂")
        december = factories.occurrence(s, classroom, start=datetime(2026, 12, 7, 8, 30, tzinfo=UTC), minutes=600)
        september = factories.occurrence(s, classroom, start=datetime(2026, 9, 30, 8, 30, tzinfo=UTC))
        ids = {name: factories.volunteer(s, label, **extra).id for name, label, extra in (
            ("wang", "王芳", {}), ("li", "李明", {}), ("zhao", "赵强", {}), ("qian", "钱丽", {}),
            ("sun", "孙伟", {}), ("zhou", "周敏", {"branch": "tianan"}))}

        def served(who: str, occurrence_id: int, start: str, end: str) -> None:
            att.checkin(s, str(ids[who]), occurrence_id, at=start, now=NOW)
            att.checkout(s, str(ids[who]), occurrence_id, at=end, now=NOW)

        served("wang", december.id, "16:30", "20:30")
        served("qian", september.id, "16:30", "17:30")
        served("sun", december.id, "16:30", "17:00")
        served("zhou", december.id, "16:30", "18:30")
        # Li: 9.5 h approved, written directly (one check-in a shift), and 5 h waiting for approval.
        for minutes, status in ((570, "approved"), (300, "pending_approval")):
            s.add(Attendance(volunteer_id=ids["li"], occurrence_id=december.id, check_in=december.start_at,
                             check_out=december.start_at + timedelta(minutes=minutes), minutes=minutes,
                             status=status))
        s.get_one(Volunteer, ids["sun"]).active = False
    return ids


def test_parse_period_forms() -> None:
    assert hours.parse_period("2026-Q4") == (date(2026, 10, 1), date(2026, 12, 31))
    assert hours.parse_period("2026-q1") == (date(2026, 1, 1), date(2026, 3, 31))
    assert hours.parse_period("2026") == (date(2026, 1, 1), date(2026, 12, 31))
    assert hours.parse_period("2028-02") == (date(2028, 2, 1), date(2028, 2, 29))
    assert hours.parse_period(" 2026-11 ") == (date(2026, 11, 1), date(2026, 11, 30))


@pytest.mark.parametrize("bad", ["2026-Q5", "2026-13", "2026-00", "26", "Q4-2026", "2026/11", "", "3000"])
def test_parse_period_refuses_other_forms_naming_the_field(bad: str) -> None:
    with pytest.raises(InvalidInput, match="^period: "):
        hours.parse_period(bad)


def test_short_lists_active_volunteers_under_the_threshold_largest_shortfall_first(
        engine: Engine, people: dict[str, int]) -> None:
    with session_scope(engine) as s:
        rows = hours.hours_short(s, 10 * 60, date(2026, 10, 1), date(2026, 12, 31))
    assert [(r["name"], r["hours"], r["hours_needed"]) for r in rows] == [
        ("赵强", "0.00", "10.00"), ("钱丽", "0.00", "10.00"), ("周敏", "2.00", "8.00"), ("王芳", "4.00", "6.00"),
        ("李明", "9.50", "0.50")]
    assert rows[0]["branch"] == "顺景花园党支部" and rows[0]["community"] == "爱联社区"
    assert all(r["name"] != "孙伟" for r in rows)  # deactivated


def test_short_filters_by_community_and_branch(engine: Engine, people: dict[str, int]) -> None:
    with session_scope(engine) as s:
        xinlian = hours.hours_short(s, 600, date(2026, 10, 1), date(2026, 12, 31), community="xinlian")
        shunjing = hours.hours_short(s, 300, date(2026, 1, 1), date(2026, 12, 31), branch="shunjing")
        with pytest.raises(NotFound):
            hours.hours_short(s, 600, date(2026, 1, 1), date(2026, 12, 31), community="nowhere")
    assert [r["name"] for r in xinlian] == ["周敏"]
    assert [(r["name"], r["hours"]) for r in shunjing] == [("赵强", "0.00"), ("钱丽", "1.00"), ("王芳", "4.00")]


def test_short_command_json_and_table(roster_on_db, people: dict[str, int]) -> None:  # type: ignore[no-untyped-def]
    result = roster_on_db("hours", "short", "--below", "9.5", "--period", "2026-Q4", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [(d["name"], d["hours"], d["short_minutes"]) for d in data] == [
        ("赵强", "0.00", 570), ("钱丽", "0.00", 570), ("周敏", "2.00", 450), ("王芳", "4.00", 330)]
    result = roster_on_db("hours", "short", "--below", "10", "--from", "2026-12-01", "--to", "2026-12-31",
                    "--branch", "shunjing")
    assert result.exit_code == 0, result.output
    assert "hours needed" in result.output and "under 10 h from 2026-12-01 to 2026-12-31: 4" in result.output
    assert "钱丽" in result.output and "周敏" not in result.output


def test_short_command_speaks_chinese(roster_on_db, people: dict[str, int]) -> None:  # type: ignore[no-untyped-def]
    result = roster_on_db("hours", "short", "--below", "10", "--period", "2026-Q4", "--community", "xinlian", lang="zh_CN")
    assert result.exit_code == 0, result.output
    assert "尚差时长" in result.output and "周敏" in result.output and "8.00" in result.output
    assert "2026-10-01 至 2026-12-31 时长不足 10 小时：1 人" in result.output


@pytest.mark.parametrize(("args", "code", "says"), [
    (("--below", "10", "--period", "2026-Q5"), 4, "period"),
    (("--below", "10", "--period", "2026-13"), 4, "period"),
    (("--below", "10", "--from", "2026-12-31", "--to", "2026-12-01"), 4, "to"),
    (("--below", "10", "--from", "2026-12-01"), USAGE, "--from and --to"),
    (("--below", "10", "--period", "2026", "--from", "2026-12-01"), USAGE, "not both"),
    (("--below", "10",), USAGE, "--period"),
    (("--below", "0", "--period", "2026"), USAGE, "--below"),
    (("--below", "ten", "--period", "2026"), USAGE, "--below"),
    (("--period", "2026",), USAGE, "--below"),
    (("--below", "10", "--from", "2026-02-30", "--to", "2026-03-01"), USAGE, "--from"),
    (("--below", "10", "--period", "2026", "--community", "nowhere"), 3, "nowhere"),
])
def test_short_command_refuses_bad_input_with_the_documented_code(  # type: ignore[no-untyped-def]
        roster_on_db, people: dict[str, int], args: tuple[str, ...], code: int, says: str) -> None:
    result = roster_on_db("hours", "short", *args)
    assert result.exit_code == code, result.output
    assert says in result.output
    assert "Traceback" not in result.output
