"""The week roster: local-time week boundaries, who is on, the waitlist, seats open."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy.orm import Session

from scheduler import rosters
from scheduler.rosters.schedule import week_bounds, week_schedule
from tests import factories as f

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def test_week_is_monday_to_sunday_in_shanghai_time(session: Session) -> None:
    f.org(session)
    svc = f.service(session, roles=["辅导员:2:tutor", "看护:1"])
    sunday_late = f.occurrence(session, svc, start=datetime(2026, 12, 13, 15, 30, tzinfo=UTC))  # Sun 23:30
    f.occurrence(session, svc, start=datetime(2026, 12, 13, 16, 30, tzinfo=UTC))  # Mon 00:30 next week
    f.occurrence(session, svc, start=datetime(2026, 12, 6, 15, 30, tzinfo=UTC))  # Sun 23:30 the week before
    monday = f.occurrence(session, svc, start=datetime(2026, 12, 7, 8, 30, tzinfo=UTC))
    cancelled = f.occurrence(session, svc, start=datetime(2026, 12, 8, 8, 30, tzinfo=UTC), status="cancelled")
    a, b, c = (f.volunteer(session, name=n) for n in ("王芳", "李娜", "张伟"))
    rosters.assign(session, str(a.id), monday.id, "看护", now=NOW)
    rosters.assign(session, str(b.id), monday.id, "看护", waitlist=True, now=NOW)
    rosters.confirm(session, str(rosters.assign(session, str(c.id), monday.id, "辅导员", now=NOW).id), now=NOW)

    data = week_schedule(session, date(2026, 12, 10))
    assert (data["first"], data["last"]) == ("2026-12-07", "2026-12-13")
    assert [o["id"] for o in data["occurrences"]] == [monday.id, cancelled.id, sunday_late.id]
    first = data["occurrences"][0]
    assert (first["date"], first["time"], first["open"]) == ("2026-12-07", "16:30-18:30", 1)
    tutors, carers = first["roles"]
    assert [(p["name"], p["status"]) for p in tutors["on"]] == [("张伟", "confirmed")]
    assert [p["name"] for p in carers["on"]] == ["王芳"] and carers["open"] == 0
    assert [(p["name"], p["position"]) for p in carers["waitlist"]] == [("李娜", 1)]
    assert data["occurrences"][1]["status"] == "cancelled" and data["occurrences"][1]["open"] == 0
    assert data["open"] == 1 + 0 + 3
    assert week_bounds(date(2026, 12, 13)) == (date(2026, 12, 7), date(2026, 12, 13))
    assert week_schedule(session, date(2026, 12, 10), community="ailian")["occurrences"]


def test_schedule_shows_assignment_ids_weekday_and_nobody_on_a_cancelled_occurrence(session: Session) -> None:
    from scheduler.planning.occurrences import cancel_occurrence

    f.org(session)
    svc = f.service(session, roles=["辅导员:2:tutor"])
    wednesday = f.occurrence(session, svc, start=datetime(2026, 12, 9, 8, 30, tzinfo=UTC))
    thursday = f.occurrence(session, svc, start=datetime(2026, 12, 10, 8, 30, tzinfo=UTC))
    wang = f.volunteer(session, name="王芳")
    seat = rosters.assign(session, str(wang.id), wednesday.id, now=NOW)
    rosters.assign(session, str(wang.id), thursday.id, now=NOW)
    cancel_occurrence(session, thursday.id, "台风停课", now=NOW)

    wed, thu = week_schedule(session, date(2026, 12, 9))["occurrences"]
    assert (wed["date"], wed["weekday"], thu["weekday"]) == ("2026-12-09", "周三", "周四")
    assert [(p["assignment_id"], p["name"]) for p in wed["roles"][0]["on"]] == [(seat.id, "王芳")]
    assert thu["status"] == "cancelled" and thu["roles"][0]["on"] == [] and thu["roles"][0]["waitlist"] == []


def test_schedule_command_prints_assignment_ids_weekdays_and_no_invited_on_cancelled(  # type: ignore[no-untyped-def]
        invoke, roster_env) -> None:
    from scheduler.db import make_engine, session_scope
    from scheduler.planning.occurrences import cancel_occurrence

    engine = make_engine(roster_env["ROSTER_DATABASE_URL"])
    with session_scope(engine) as s:
        f.org(s)
        svc = f.service(s, roles=["辅导员:2:tutor"])
        wednesday = f.occurrence(s, svc, start=datetime(2026, 12, 9, 8, 30, tzinfo=UTC))
        thursday = f.occurrence(s, svc, start=datetime(2026, 12, 10, 8, 30, tzinfo=UTC))
        wang = f.volunteer(s, name="王芳")
        seat = rosters.assign(s, str(wang.id), wednesday.id, now=NOW).id
        rosters.assign(s, str(wang.id), thursday.id, now=NOW)
        cancel_occurrence(s, thursday.id, "台风停课", now=NOW)
    engine.dispose()
    out = invoke("schedule", "--week", "2026-12-09").output
    wed_line = next(line for line in out.splitlines() if "Wed 9 Dec" in line)
    thu_line = next(line for line in out.splitlines() if "Thu 10 Dec" in line)
    assert f"#{seat} 王芳(invited)" in wed_line
    assert "(cancelled)" in thu_line
    assert "invited" not in thu_line and "王芳" not in thu_line
