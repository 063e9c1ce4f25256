"""The week roster: local-time week boundaries, who is on, the waitlist, seats open."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy.orm import Session

from scheduler import rosters
from scheduler.schedule import week_bounds, week_schedule
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
