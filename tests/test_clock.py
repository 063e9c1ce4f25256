"""Time comes from the caller (or the row that records it), never from the wall clock: the outcome of an
operation must not depend on the day the suite runs (`make test-dates` runs it years ahead)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select

from calendars.dirty import feeds_for_event, volunteer_key
from scheduler.db import session_scope
from scheduler.events import record_event
from scheduler.models import Assignment, Reminder, Role
from scheduler.policy import DEFAULT_POLICY
from scheduler.reminders import notify
from tests import factories as f

#: Far from any date the suite may run on, in both directions.
PAST = datetime(2020, 1, 6, 8, 30, tzinfo=UTC)
FUTURE = datetime(2031, 3, 3, 8, 30, tzinfo=UTC)


def _seat(engine: Engine, start: datetime) -> tuple[int, int, int]:
    """A service with a reminder two hours before, one occurrence at ``start``, a confirmed volunteer."""
    with session_scope(engine) as s:
        f.org(s)
        svc = f.service(s, reminder_offsets=[120])
        occ = f.occurrence(s, svc, start)
        vol = f.volunteer(s)
        role = s.scalars(select(Role).where(Role.service_id == svc.id)).one()
        seat = Assignment(occurrence_id=occ.id, role_id=role.id, volunteer_id=vol.id, status="confirmed",
                          seat_no=1)
        s.add(seat)
        s.flush()
        return svc.id, occ.id, seat.id


def test_reminder_rows_are_stamped_with_the_callers_now(engine: Engine) -> None:
    from scheduler.reminders.dispatch import dispatch_due
    from scheduler.reminders.scan import scan_due
    from tests.workers_support import null_channels, settings_for

    _, _, seat_id = _seat(engine, FUTURE)
    now = FUTURE - timedelta(hours=3)
    with session_scope(engine) as s:
        seat = s.get(Assignment, seat_id)
        assert seat is not None
        assert scan_due(s, now, policy=DEFAULT_POLICY).recorded == 1
        notify(s, seat, "moved", now=now, policy=DEFAULT_POLICY)
    with session_scope(engine) as s:
        rows = list(s.scalars(select(Reminder).where(Reminder.assignment_id == seat_id)))
        assert {r.kind.split(":")[0] for r in rows} == {"before", "moved"}
        assert {(r.created_at, r.updated_at) for r in rows} == {(now, now)}
    later = now + timedelta(hours=1, minutes=1)  # the reminder is due: the claim finds the seat given up
    with session_scope(engine) as s:
        seat = s.get(Assignment, seat_id)
        assert seat is not None
        seat.status, seat.seat_no = "cancelled", None
    dispatch_due(engine, settings_for(str(engine.url)), now=later, policy=DEFAULT_POLICY, channels=null_channels())
    with session_scope(engine) as s:
        [before] = s.scalars(select(Reminder).where(Reminder.assignment_id == seat_id,
                                                    Reminder.kind.startswith("before:")))
        assert before.status == "cancelled" and before.updated_at == later


def test_service_event_reaches_the_private_feeds_of_shifts_near_the_event_not_near_today(
        engine: Engine) -> None:
    svc_id, _, seat_id = _seat(engine, PAST)
    with session_scope(engine) as s:
        event = record_event(s, "service.changed", service_id=svc_id, fields=["title"])
        event.created_at = PAST - timedelta(days=2)
        s.flush()
        volunteer_id = s.get(Assignment, seat_id).volunteer_id  # type: ignore[union-attr]
        assert volunteer_key(volunteer_id) in feeds_for_event(s, event)
        event.created_at = PAST + timedelta(days=40)  # the shift ended more than 31 days before
        s.flush()
        assert volunteer_key(volunteer_id) not in feeds_for_event(s, event)


def test_fill_with_today_pretends_the_clock_too(invoke, roster_env: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    from scheduler.db import make_engine

    engine = make_engine(roster_env["ROSTER_DATABASE_URL"])
    try:
        with session_scope(engine) as s:
            f.org(s)
            svc = f.service(s, slug="ketang", roles=["辅导员:1:tutor"])
            f.occurrence(s, svc, PAST)  # 16:30 in Shenzhen, years before any real today
            f.volunteer(s)
    finally:
        engine.dispose()
    result = invoke("fill", "--today", PAST.date().isoformat(), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "would fill 1 seat in 1 occurrences (Mon 6 Jan 2020 to Sun 2 Feb)" in result.output
