"""Closures keep the occurrences they cover as cancelled (FEEDS.md rule 9), and lifting one reinstates them."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from scheduler import planning
from scheduler.db import session_scope
from scheduler.models import Assignment, Closure, Event, Occurrence, Reminder, Service
from scheduler.planning import closures
from scheduler.planning.occurrences import cancel_occurrence
from tests import factories as f

Invoke = Callable[..., Any]
SHANGHAI = ZoneInfo("Asia/Shanghai")
TODAY = date(2026, 3, 2)  # a Monday; the service below runs every day at 16:30
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=5)
CLOSED = [date(2026, 3, 4), date(2026, 3, 5)]


def _by_day(session: Session, service: Service) -> dict[date, Occurrence]:
    session.expire_all()
    rows = session.scalars(select(Occurrence).where(Occurrence.service_id == service.id))
    return {o.original_start.astimezone(SHANGHAI).date(): o for o in rows}


def _daily(session: Session) -> Service:
    f.org(session)
    svc = f.service(session, rrule="FREQ=DAILY", start_date=TODAY)
    planning.plan(session, TODAY, 2, now=NOW)
    return svc


def _close(session: Session, reason: str = "装修") -> closures.ClosureChange:
    return closures.add_closure(session, "branch", "shunjing", CLOSED[0], CLOSED[-1], reason, today=TODAY,
                                horizon_weeks=2, now=LATER)


def _service_closure(svc: Service, start: date, end: date, reason: str) -> Closure:
    return Closure(scope="service", service_id=svc.id, community_id=svc.community_id, branch_id=svc.branch_id,
                   start_date=start, end_date=end, reason=reason, created_at=NOW)


def _seat(session: Session, occurrence: Occurrence) -> Assignment:
    volunteer = f.volunteer(session)
    assignment = Assignment(occurrence_id=occurrence.id, role_id=occurrence.service.roles[0].id,
                            volunteer_id=volunteer.id, status="confirmed", seat_no=1, sequence=0, forced=False)
    session.add(assignment)
    session.flush()
    return assignment


def test_closure_cancels_the_occurrences_it_covers_instead_of_deleting_them(engine: Engine) -> None:
    with session_scope(engine) as s:
        svc = _daily(s)
        before = {d: (o.id, o.sequence) for d, o in _by_day(s, svc).items()}
        change = _close(s)
        assert (change.plan.cancelled, change.plan.removed) == (2, 0)
        after = _by_day(s, svc)
        assert {d: o.id for d, o in after.items()} == {d: i for d, (i, _) in before.items()}  # same rows, same UIDs
        for day in CLOSED:
            occ = after[day]
            assert (occ.status, occ.cancel_cause, occ.cancel_reason) == ("cancelled", "closure", "停课/闭馆：装修")
            assert occ.sequence == before[day][1] + 1 and occ.updated_at == LATER
        assert all(o.status == "scheduled" and o.updated_at == NOW for d, o in after.items() if d not in CLOSED)
        planned = s.scalars(select(Event).where(Event.kind == "occurrence.planned").order_by(Event.id.desc())).first()
        assert planned is not None and planned.payload["closed"] == 2 and planned.payload["service_id"] == svc.id
    with session_scope(engine) as s:
        again = planning.plan(s, TODAY, 2, now=LATER + timedelta(hours=1))
        assert again.rows_written == 0 and again.cancelled == 0


def test_plain_plan_cancels_with_the_covering_closures_own_reason(session: Session) -> None:
    svc = _daily(session)
    session.add_all([
        _service_closure(svc, CLOSED[0], CLOSED[0], "台风"),
        _service_closure(svc, CLOSED[1], CLOSED[1], "停电"),
    ])
    session.flush()
    result = planning.plan(session, TODAY, 2, now=LATER)
    assert result.cancelled == 2 and result.removed == 0
    found = _by_day(session, svc)
    assert [found[d].cancel_reason for d in CLOSED] == ["停课/闭馆：台风", "停课/闭馆：停电"]


def test_lifting_a_closure_reinstates_the_occurrences_it_cancelled(engine: Engine) -> None:
    with session_scope(engine) as s:
        svc = _daily(s)
        closure_id = _close(s).closure["id"]
        sequences = {d: o.sequence for d, o in _by_day(s, svc).items()}
    lifted_at = LATER + timedelta(days=1)
    with session_scope(engine) as s:
        lifted = closures.remove_closure(s, closure_id, today=TODAY, horizon_weeks=2, now=lifted_at)
        assert (lifted.plan.reinstated, lifted.plan.created, lifted.plan.cancelled) == (2, 0, 0)
        planned = s.scalars(select(Event).where(Event.kind == "occurrence.planned").order_by(Event.id.desc())).first()
        assert planned is not None and planned.payload["reinstated"] == 2
    with session_scope(engine) as s:
        found = _by_day(s, svc)
        for day in CLOSED:
            occ = found[day]
            assert (occ.status, occ.cancel_cause, occ.cancel_reason) == ("scheduled", None, None)
            assert occ.sequence == sequences[day] + 1 and occ.updated_at == lifted_at
        assert planning.plan(s, TODAY, 2, now=lifted_at).rows_written == 0


def test_hand_cancelled_occurrence_stays_cancelled_when_a_closure_is_lifted(engine: Engine) -> None:
    with session_scope(engine) as s:
        svc = _daily(s)
        by_hand = _by_day(s, svc)[CLOSED[0]]
        cancel_occurrence(s, by_hand.id, "讲师生病", now=NOW)
        closure_id = _close(s).closure["id"]
        hand_id = by_hand.id
    with session_scope(engine) as s:
        closures.remove_closure(s, closure_id, today=TODAY, horizon_weeks=2, now=LATER)
    with session_scope(engine) as s:
        found = _by_day(s, svc)
        kept = found[CLOSED[0]]
        assert kept.id == hand_id
        assert (kept.status, kept.cancel_reason, kept.pinned, kept.cancel_cause) == ("cancelled", "讲师生病", True, None)
        assert found[CLOSED[1]].status == "scheduled"


def test_occurrence_the_schedule_dropped_while_closed_stays_cancelled(session: Session) -> None:
    # A closure-cancelled date the rule no longer has is not brought back by lifting the closure.
    svc = _daily(session)
    closure_id = _close(session).closure["id"]
    svc.rrule = "FREQ=WEEKLY;BYDAY=MO,TU"  # 03-04 and 03-05 are a Wednesday and a Thursday
    session.flush()
    closures.remove_closure(session, closure_id, today=TODAY, horizon_weeks=2, now=LATER)
    found = _by_day(session, svc)
    assert [found[d].status for d in CLOSED] == ["cancelled", "cancelled"]


def test_dates_a_closure_covers_ahead_of_the_horizon_are_not_planned(session: Session) -> None:
    f.org(session)
    svc = f.service(session, rrule="FREQ=DAILY", start_date=TODAY)
    session.add(_service_closure(svc, CLOSED[0], CLOSED[-1], "寒假"))
    session.flush()
    planning.plan(session, TODAY, 2, now=NOW)
    assert not set(CLOSED) & set(_by_day(session, svc))


def test_seated_volunteer_keeps_the_seat_and_is_told_when_a_closure_is_lifted(engine: Engine) -> None:
    with session_scope(engine) as s:
        svc = _daily(s)
        assignment_id = _seat(s, _by_day(s, svc)[CLOSED[0]]).id
        change = _close(s)
        assert change.plan.notified == 1
        cancel_notice = s.scalars(select(Reminder).where(Reminder.assignment_id == assignment_id,
                                                         Reminder.kind.startswith("cancelled:"))).one()
        assert cancel_notice.payload["reason"] == "停课/闭馆：装修"
        assert s.scalar(select(Event.id).where(Event.kind == "occurrence.cancelled")) is not None
        closure_id = change.closure["id"]
    with session_scope(engine) as s:
        lifted = closures.remove_closure(s, closure_id, today=TODAY, horizon_weeks=2, now=LATER)
        assert lifted.plan.notified == 1
    with session_scope(engine) as s:
        from scheduler.policy import DEFAULT_POLICY
        from scheduler.reminders.scan import scan_due

        assignment = s.get(Assignment, assignment_id)
        assert assignment is not None and assignment.status == "confirmed" and assignment.seat_no == 1
        # The dispatcher's scans, a day and two hours before the shift: both reminders are owed again.
        for before in (timedelta(days=1), timedelta(hours=2)):
            assert scan_due(s, assignment.occurrence.start_at - before, policy=DEFAULT_POLICY).recorded == 1
        notices = {r.kind.split(":")[0]: r.status
                   for r in s.scalars(select(Reminder).where(Reminder.assignment_id == assignment_id))}
        # The unsent cancellation is withdrawn, the reinstatement told, the before-shift reminders owed again.
        assert notices == {"cancelled": "cancelled", "reinstated": "pending", "before": "pending"}
        due = s.scalars(select(Reminder).where(Reminder.assignment_id == assignment_id,
                                               Reminder.kind.startswith("before:"))).all()
        assert {r.kind for r in due} == {"before:1440", "before:120"} and all(r.status == "pending" for r in due)


def test_reinstated_notice_says_the_shift_runs_and_the_seat_is_kept() -> None:
    from scheduler.messages import ShiftFacts, group_message, personal_message

    start = datetime(2026, 3, 4, 8, 30, tzinfo=UTC)
    facts = ShiftFacts("四点半课堂", start, start + timedelta(hours=2), "Asia/Shanghai", "顺景花园党群之家", "辅导员")
    text = personal_message("reinstated:3:0", facts)
    assert "恢复开展" in text.subject and "排班保留" in text.body and "3月4日（周三）16:30" in text.body
    assert "恢复开展" in group_message("reinstated:3:0", facts)


# --------------------------------------------------------------------------- through the CLI


def _feed_events(path: Path) -> dict[date, icalendar.Event]:
    cal = icalendar.Calendar.from_ical(path.read_bytes())
    return {e.decoded("DTSTART").astimezone(SHANGHAI).date(): e for e in cal.walk("VEVENT")
            if str(e["UID"]).startswith("occ-")}


@pytest.fixture
def closable(invoke: Invoke, monkeypatch: pytest.MonkeyPatch) -> date:
    """A branch's daily service planned for two weeks from three days ahead (the CLI publishes on the
    real clock, so the data sits days ahead of it); returns the first planned day."""
    monkeypatch.setenv("ROSTER_DOMAIN", "feeds.test")
    first = datetime.now(SHANGHAI).date() + timedelta(days=3)
    assert invoke("community", "add", "ailian", "--name", "爱联社区").exit_code == 0
    assert invoke("branch", "add", "shunjing", "--name", "顺景花园党支部", "--community", "ailian").exit_code == 0
    added = invoke("service", "add", "ketang", "--title", "四点半课堂", "--branch", "shunjing", "--rrule", "FREQ=DAILY",
                   "--start-date", first.isoformat(), "--time", "16:30", "--duration", "2h", "--policy", "always",
                   "--role", "辅导员:2:tutor")
    assert added.exit_code == 0, added.output
    planned = invoke("plan", "--today", first.isoformat(), "--weeks", "2")
    assert planned.exit_code == 0, planned.output
    assert invoke("feeds", "publish").exit_code == 0
    return first


def test_cli_closure_add_then_plain_publish_shows_covered_occurrences_cancelled(
    invoke: Invoke, closable: date, roster_env: dict[str, str]
) -> None:
    closed = [closable + timedelta(days=2), closable + timedelta(days=3)]
    added = invoke("closure", "add", "--scope", "branch:shunjing", "--from", closed[0].isoformat(),
                   "--to", closed[1].isoformat(), "--reason", "党群之家装修", "--today", closable.isoformat(), "--json")
    assert added.exit_code == 0, added.output
    plan = json.loads(added.output)["plan"]
    assert (plan["cancelled"], plan["removed"]) == (2, 0)
    assert invoke("feeds", "publish").exit_code == 0
    feed = _feed_events(Path(roster_env["ROSTER_FEED_DIR"]) / "branches/shunjing.ics")
    for day in closed:
        assert str(feed[day]["STATUS"]) == "CANCELLED"
        assert str(feed[day]["SUMMARY"]) == "【已取消】四点半课堂"
        assert int(feed[day]["SEQUENCE"]) == 1
    assert str(feed[closable]["STATUS"]) == "CONFIRMED"
    assert {closable + timedelta(days=i) for i in range(14)} <= set(feed)  # nothing vanished

    listing = json.loads(invoke("closure", "list", "--json").output)
    removed = invoke("closure", "remove", str(listing[0]["id"]), "--today", closable.isoformat())
    assert removed.exit_code == 0, removed.output
    assert "2 reinstated" in removed.output and "0 created" in removed.output
    assert invoke("feeds", "publish").exit_code == 0
    feed = _feed_events(Path(roster_env["ROSTER_FEED_DIR"]) / "branches/shunjing.ics")
    for day in closed:
        assert str(feed[day]["STATUS"]) == "CONFIRMED" and str(feed[day]["SUMMARY"]) == "四点半课堂"
        assert int(feed[day]["SEQUENCE"]) == 2


def test_cli_hand_cancelled_occurrence_stays_cancelled_after_closure_remove(
    invoke: Invoke, closable: date, roster_env: dict[str, str]
) -> None:
    day = closable + timedelta(days=2)
    listed = json.loads(invoke("occurrence", "list", "--service", "ketang", "--from", day.isoformat(),
                               "--to", day.isoformat(), "--json").output)
    assert invoke("occurrence", "cancel", str(listed[0]["id"]), "--reason", "讲师生病").exit_code == 0
    added = invoke("closure", "add", "--scope", "service:ketang", "--from", day.isoformat(), "--to", day.isoformat(),
                   "--reason", "装修", "--today", closable.isoformat(), "--json")
    assert added.exit_code == 0, added.output
    removed = invoke("closure", "remove", str(json.loads(added.output)["id"]), "--today", closable.isoformat())
    assert removed.exit_code == 0 and "0 reinstated" in removed.output
    replanned = invoke("plan", "--today", closable.isoformat(), "--weeks", "2")
    assert replanned.exit_code == 0, replanned.output
    assert invoke("feeds", "publish").exit_code == 0
    event = _feed_events(Path(roster_env["ROSTER_FEED_DIR"]) / "branches/shunjing.ics")[day]
    assert str(event["STATUS"]) == "CANCELLED" and str(event["SUMMARY"]).startswith("【已取消】")
    shown = json.loads(invoke("occurrence", "list", "--service", "ketang", "--from", day.isoformat(),
                              "--to", day.isoformat(), "--json").output)
    assert (shown[0]["status"], shown[0]["cancel_reason"]) == ("cancelled", "讲师生病")
