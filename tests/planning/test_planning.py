"""Planning: recurrence, holiday policy, closures, idempotence, re-planning (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from scheduler import planning
from scheduler.db import session_scope
from scheduler.errors import InvalidInput
from scheduler.models import Assignment, Event, Occurrence, Reminder, Service
from scheduler.planning import closures
from scheduler.planning.occurrences import cancel_occurrence, move_occurrence
from scheduler.services import ServiceSpec, edit_service
from tests import factories as f

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _local_dates(session: Session, service: Service, status: str | None = "scheduled") -> list[date]:
    session.flush()
    query = select(Occurrence).where(Occurrence.service_id == service.id).order_by(Occurrence.start_at)
    if status:
        query = query.where(Occurrence.status == status)
    return [o.start_at.astimezone(ZoneInfo(service.timezone)).date() for o in session.scalars(query)]


def seat(session: Session, occurrence: Occurrence, volunteer_phone: str | None = None) -> Assignment:
    """A confirmed volunteer in the service's first role (rosters are another module's job)."""
    volunteer = f.volunteer(session, phone=volunteer_phone)
    role = occurrence.service.roles[0]
    assignment = Assignment(occurrence_id=occurrence.id, role_id=role.id, volunteer_id=volunteer.id,
                            status="confirmed", seat_no=1, sequence=0, forced=False)
    session.add(assignment)
    session.flush()
    return assignment


def test_workdays_service_runs_on_makeup_workdays_and_skips_statutory_rest(session: Session) -> None:
    f.org(session)
    svc = f.service(session, holiday_policy="workdays", start_date=date(2026, 1, 5))
    planning.plan(session, date(2026, 2, 1), 12, now=NOW)
    planning.plan(session, date(2026, 9, 1), 12, now=NOW)
    days = set(_local_dates(session, svc))
    for makeup in (date(2026, 2, 14), date(2026, 2, 28), date(2026, 9, 20), date(2026, 10, 10)):
        assert makeup in days, makeup
    for rest in [date(2026, 10, 1) + timedelta(days=i) for i in range(7)]:
        assert rest not in days, rest
    for rest in [date(2026, 2, 15) + timedelta(days=i) for i in range(9)]:
        assert rest not in days, rest
    assert date(2026, 2, 13) in days and date(2026, 2, 24) in days and date(2026, 10, 9) in days


def test_skip_holidays_saturday_service_does_not_run_on_national_day_saturday(session: Session) -> None:
    f.org(session)
    svc = f.service(session, rrule="FREQ=WEEKLY;BYDAY=SA", holiday_policy="skip_holidays",
                    start_date=date(2026, 9, 5))
    planning.plan(session, date(2026, 9, 1), 8, now=NOW)
    days = _local_dates(session, svc)
    assert date(2026, 10, 3) not in days
    assert date(2026, 9, 26) not in days  # Mid-Autumn Festival falls on that Saturday in 2026
    assert date(2026, 9, 19) in days and date(2026, 10, 10) in days
    assert all(d.weekday() == 5 for d in days)


def test_always_policy_runs_on_holidays(session: Session) -> None:
    f.org(session)
    svc = f.service(session, rrule="FREQ=WEEKLY;BYDAY=SA", holiday_policy="always", start_date=date(2026, 9, 5))
    planning.plan(session, date(2026, 9, 28), 2, now=NOW)
    assert date(2026, 10, 3) in _local_dates(session, svc)


def test_closures_win_over_makeup_workdays_and_rules(session: Session) -> None:
    f.org(session)
    svc = f.service(session, holiday_policy="workdays", start_date=date(2026, 1, 5))
    planning.plan(session, date(2026, 2, 2), 4, now=NOW)
    assert date(2026, 2, 14) in _local_dates(session, svc)
    change = closures.add_closure(session, "branch", "shunjing", date(2026, 2, 12), date(2026, 2, 14), "寒假",
                                  today=date(2026, 2, 2), horizon_weeks=4, now=NOW)
    # Cancelled, not deleted (FEEDS.md rule 9): the feeds keep them as cancelled.
    assert (change.plan.cancelled, change.plan.removed) == (3, 0)
    days = _local_dates(session, svc)
    assert not {date(2026, 2, 12), date(2026, 2, 13), date(2026, 2, 14)} & set(days)
    assert {date(2026, 2, 12), date(2026, 2, 13), date(2026, 2, 14)} <= set(_local_dates(session, svc, "cancelled"))
    assert date(2026, 2, 11) in days
    # Lifting the closure brings the dates back.
    lifted = closures.remove_closure(session, change.closure["id"], today=date(2026, 2, 2), horizon_weeks=4, now=NOW)
    assert (lifted.plan.reinstated, lifted.plan.created) == (3, 0)
    assert {date(2026, 2, 12), date(2026, 2, 13), date(2026, 2, 14)} <= set(_local_dates(session, svc))


def test_district_and_community_closures_cover_every_service_below(session: Session) -> None:
    f.org(session)
    branch_svc = f.service(session, rrule="FREQ=DAILY", start_date=date(2026, 3, 1))
    community_svc = f.service(session, rrule="FREQ=DAILY", start_date=date(2026, 3, 1), branch=None,
                              community="ailian")
    closures.add_closure(session, "community", "ailian", date(2026, 3, 3), date(2026, 3, 3), "停电",
                         today=date(2026, 3, 1), horizon_weeks=1, now=NOW)
    closures.add_closure(session, "district", None, date(2026, 3, 5), date(2026, 3, 5), "台风",
                         today=date(2026, 3, 1), horizon_weeks=1, now=NOW)
    for svc in (branch_svc, community_svc):
        days = _local_dates(session, svc)
        assert date(2026, 3, 3) not in days and date(2026, 3, 5) not in days and date(2026, 3, 4) in days


def test_second_plan_run_writes_no_row(engine: Engine) -> None:
    with session_scope(engine) as session:
        f.org(session)
        f.service(session, holiday_policy="workdays")
        f.service(session, rrule="FREQ=MONTHLY;BYDAY=2SA", start_time="09:00")
        first = planning.plan(session, date(2026, 3, 2), 12, now=NOW)
        assert first.created == 57 + 3 and first.events == 2  # weekdays less Qingming and May Day, + 2nd Saturdays
    with session_scope(engine) as session:
        before = session.execute(select(Occurrence.id, Occurrence.updated_at, Occurrence.sequence)).all()
        events = session.scalar(select(func.count()).select_from(Event))
        again = planning.plan(session, date(2026, 3, 2), 12, now=NOW + timedelta(hours=1))
        assert again.rows_written == 0
        assert (again.created, again.updated, again.removed, again.cancelled) == (0, 0, 0, 0)
        assert again.unchanged == first.created
        assert not session.dirty and not session.new
    with session_scope(engine) as session:
        assert sorted(session.execute(select(Occurrence.id, Occurrence.updated_at, Occurrence.sequence)).all()) \
            == sorted(before)
        assert session.scalar(select(func.count()).select_from(Event)) == events


def test_one_planned_event_per_service_with_a_count(session: Session) -> None:
    f.org(session)
    svc = f.service(session)
    result = planning.plan(session, date(2026, 3, 2), 2, now=NOW)
    planned = list(session.scalars(select(Event).where(Event.kind == "occurrence.planned")))
    assert len(planned) == 1
    assert planned[0].payload["service_id"] == svc.id and planned[0].payload["created"] == result.created == 10


def test_cancelled_and_moved_occurrences_stay_after_replan(engine: Engine) -> None:
    with session_scope(engine) as session:
        f.org(session)
        svc = f.service(session, slug="ketang", start_date=date(2026, 3, 2))
        planning.plan(session, date(2026, 3, 2), 2, now=NOW)
        occs = list(session.scalars(select(Occurrence).where(Occurrence.service_id == svc.id)
                                    .order_by(Occurrence.start_at)))
        cancel_occurrence(session, occs[0].id, "老师生病", now=NOW)
        move_occurrence(session, occs[1].id, "2026-03-07 10:00", now=NOW)
        cancelled_id, moved_id = occs[0].id, occs[1].id
        # Change the time of day: every unpinned occurrence's identity changes.
        _, changed = edit_service(session, "ketang", ServiceSpec(start_time="17:00"))
        planning.replan_after_edit(session, svc, changed, today=date(2026, 3, 2), horizon_weeks=2, now=NOW)
    with session_scope(engine) as session:
        cancelled = session.get(Occurrence, cancelled_id)
        moved = session.get(Occurrence, moved_id)
        assert cancelled is not None and cancelled.status == "cancelled" and cancelled.cancel_reason == "老师生病"
        assert moved is not None and moved.status == "scheduled"
        assert moved.start_at.astimezone(SHANGHAI) == datetime(2026, 3, 7, 10, 0, tzinfo=SHANGHAI)
        again = planning.plan(session, date(2026, 3, 2), 2, now=NOW)
        assert again.rows_written == 0 and again.pinned == 2
        times = {o.start_at.astimezone(SHANGHAI).strftime("%H:%M")
                 for o in session.scalars(select(Occurrence).where(Occurrence.pinned.is_(False)))}
        assert times == {"17:00"}


def test_vanished_occurrence_is_removed_if_untouched_and_cancelled_with_notice_if_assigned(engine: Engine) -> None:
    with session_scope(engine) as session:
        f.org(session)
        svc = f.service(session, slug="yizhen", rrule="FREQ=WEEKLY;BYDAY=MO,WE", start_date=date(2026, 3, 2))
        planning.plan(session, date(2026, 3, 2), 2, now=NOW)
        occs = list(session.scalars(select(Occurrence).where(Occurrence.service_id == svc.id)
                                    .order_by(Occurrence.start_at)))
        wednesday = next(o for o in occs if o.start_at.astimezone(SHANGHAI).date() == date(2026, 3, 4))
        assignment = seat(session, wednesday)
        kept_monday = occs[0].id
        _, changed = edit_service(session, "yizhen", ServiceSpec(rrule="FREQ=WEEKLY;BYDAY=MO"))
        result = planning.replan_after_edit(session, svc, changed, today=date(2026, 3, 2), horizon_weeks=2,
                                            now=NOW)
        assert result is not None
        assert (result.cancelled, result.removed, result.created) == (1, 1, 0)
        assert result.notified == 1
        wid, aid = wednesday.id, assignment.id
    with session_scope(engine) as session:
        cancelled = session.get(Occurrence, wid)
        assert cancelled is not None and cancelled.status == "cancelled" and cancelled.sequence == 1
        assert session.get(Occurrence, kept_monday) is not None
        kinds = {r.kind: r.status for r in session.scalars(select(Reminder).where(Reminder.assignment_id == aid))}
        assert any(k.startswith("cancelled:") and s == "pending" for k, s in kinds.items())
        assert session.scalar(select(func.count()).select_from(Event).where(
            Event.kind == "occurrence.cancelled", Event.payload["occurrence_id"].as_integer() == wid)) == 1
        assert _local_dates(session, svc) == [date(2026, 3, 2), date(2026, 3, 9)]


def test_duration_change_keeps_ids_and_bumps_sequence(session: Session) -> None:
    f.org(session)
    svc = f.service(session, slug="yuedu", rrule="FREQ=WEEKLY;BYDAY=SA", start_date=date(2026, 3, 7))
    planning.plan(session, date(2026, 3, 2), 3, now=NOW)
    ids = sorted(session.scalars(select(Occurrence.id)))
    _, changed = edit_service(session, "yuedu", ServiceSpec(duration="3h"))
    result = planning.replan_after_edit(session, svc, changed, today=date(2026, 3, 2), horizon_weeks=3, now=NOW)
    assert result is not None and result.updated == 3
    rows = list(session.scalars(select(Occurrence).order_by(Occurrence.id)))
    assert [o.id for o in rows] == ids
    assert all(o.end_at - o.start_at == timedelta(hours=3) and o.sequence == 1 for o in rows)


def test_title_or_venue_edit_bumps_sequence_of_coming_occurrences_only(session: Session) -> None:
    f.org(session)
    svc = f.service(session, slug="yuedu", rrule="FREQ=WEEKLY;BYDAY=SA", start_date=date(2026, 3, 7))
    planning.plan(session, date(2026, 3, 2), 3, now=NOW)
    now = datetime(2026, 3, 10, tzinfo=UTC)  # after the first Saturday
    _, changed = edit_service(session, "yuedu", ServiceSpec(venue="新址：党群服务中心三楼"))
    assert planning.replan_after_edit(session, svc, changed, today=date(2026, 3, 10), horizon_weeks=3,
                                      now=now) is None
    session.expire_all()
    rows = list(session.scalars(select(Occurrence).order_by(Occurrence.start_at)))
    assert [o.sequence for o in rows] == [0, 1, 1]
    assert rows[1].updated_at == now and rows[0].updated_at != now


def test_berlin_service_keeps_local_wall_time_across_dst(session: Session) -> None:
    f.org(session)
    svc = f.service(session, rrule="FREQ=WEEKLY;BYDAY=SU", timezone="Europe/Berlin", start_time="10:00",
                    start_date=date(2026, 3, 1))
    planning.plan(session, date(2026, 3, 20), 3, now=NOW)
    rows = list(session.scalars(select(Occurrence).order_by(Occurrence.start_at)))
    berlin = ZoneInfo("Europe/Berlin")
    assert [o.start_at.astimezone(berlin).strftime("%m-%d %H:%M") for o in rows] == \
        ["03-22 10:00", "03-29 10:00", "04-05 10:00"]
    # The clocks went forward on 2026-03-29: the same wall time is an hour earlier in UTC.
    assert [o.start_at.astimezone(UTC).hour for o in rows] == [9, 8, 8]
    assert svc.timezone == "Europe/Berlin"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"rrule": "FREQ=FORTNIGHTLY"}, "rrule"),
        ({"rrule": "BYDAY=MO"}, "rrule"),
        ({"rrule": "FREQ=WEEKLY;BYDAY=XX"}, "rrule"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"duration": 0}, "duration"),
        ({"duration": "25h"}, "duration"),
    ],
)
def test_bad_service_input_is_refused_and_nothing_is_written(engine: Engine, overrides: dict, field: str) -> None:
    with session_scope(engine) as session:
        f.org(session)
    with pytest.raises(InvalidInput) as caught, session_scope(engine) as session:
        f.service(session, slug="bad", **overrides)
    assert caught.value.field == field
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(Service)) == 0
        assert session.scalar(select(func.count()).select_from(Event)) == 0


def test_bad_edit_leaves_the_service_and_its_occurrences_as_they_were(session: Session) -> None:
    f.org(session)
    svc = f.service(session, slug="edit-me")
    planning.plan(session, date(2026, 3, 2), 1, now=NOW)
    before = sorted(session.scalars(select(Occurrence.id)))
    with pytest.raises(InvalidInput):
        edit_service(session, "edit-me", ServiceSpec(rrule="FREQ=SOMETIMES"))
    assert svc.rrule == "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"
    assert sorted(session.scalars(select(Occurrence.id))) == before


def test_horizon_outside_limits_is_refused(session: Session) -> None:
    with pytest.raises(InvalidInput) as caught:
        planning.plan(session, date(2026, 3, 2), 0)
    assert caught.value.field == "weeks"


def test_deactivated_service_loses_its_untouched_future_occurrences(session: Session) -> None:
    f.org(session)
    svc = f.service(session)
    planning.plan(session, date(2026, 3, 2), 1, now=NOW)
    svc.active = False
    result = planning.replan_after_edit(session, svc, {"active"}, today=date(2026, 3, 2), horizon_weeks=1, now=NOW)
    assert result is not None and result.removed == 5
    assert _local_dates(session, svc) == []


def test_planning_starts_today_and_never_touches_the_past(session: Session) -> None:
    f.org(session)
    svc = f.service(session, rrule="FREQ=DAILY", start_date=date(2026, 3, 1))
    planning.plan(session, date(2026, 3, 1), 1, now=NOW)
    svc.active = False
    planning.replan_after_edit(session, svc, {"active"}, today=date(2026, 3, 4), horizon_weeks=1, now=NOW)
    assert _local_dates(session, svc) == [date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)]


def test_two_planners_at_once_take_turns_and_the_second_writes_nothing(engine: Engine) -> None:
    import threading

    from scheduler.db import run_in_transaction

    with session_scope(engine) as session:
        f.org(session)
        f.service(session)
    outcome: dict[str, object] = {}

    def second_planner() -> None:
        try:
            outcome["second"] = run_in_transaction(
                engine, lambda s: planning.plan(s, date(2026, 3, 2), 2, now=NOW).as_dict())
        except Exception as exc:  # recorded for the assertion below
            outcome["error"] = exc

    with session_scope(engine) as session:
        first = planning.plan(session, date(2026, 3, 2), 2, now=NOW)
        worker = threading.Thread(target=second_planner)
        worker.start()  # it waits for this transaction (advisory lock / SQLite write lock)
        if engine.dialect.name == "postgresql":
            _wait_until_blocked(engine)
    worker.join(timeout=60)
    assert not worker.is_alive()
    assert "error" not in outcome, outcome.get("error")
    second = outcome["second"]
    assert isinstance(second, dict) and first.created == 10
    assert (second["created"], second["unchanged"]) == (0, 10)


def _wait_until_blocked(engine: Engine) -> None:
    """Poll (bounded) until another backend waits on a lock, so the race is real, not a turn-taking by luck."""
    import time

    from sqlalchemy import text

    deadline = time.monotonic() + 20
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            waiting = conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database()")).scalar()
            conn.rollback()
            if waiting:
                return
            time.sleep(0.02)
    raise AssertionError("the second planner never started waiting")



def test_a_bulk_plan_refreshes_the_planner_statistics_on_postgresql(
        session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    """A plan that adds many rows ANALYZEs the table in its transaction (query plans follow the
    statistics, and autovacuum may be off); SQLite, which gathers none, is left alone."""
    from sqlalchemy import text

    from scheduler import db

    postgres = session.get_bind().dialect.name == "postgresql"

    def estimated_rows() -> float:  # -1 until the table is first analysed
        return float(session.scalar(text("SELECT reltuples FROM pg_class WHERE relname = 'occurrence'")))

    f.org(session)
    f.service(session, rrule="FREQ=DAILY", start_date=date(2026, 12, 1))
    monkeypatch.setattr(db, "ANALYZE_AFTER_ROWS", 10)
    if postgres:
        assert estimated_rows() == -1
    result = planning.plan(session, date(2026, 12, 7), 4, now=datetime(2026, 12, 6, tzinfo=UTC))
    assert result.created >= 10
    if postgres:
        assert estimated_rows() == result.created
    assert db.analyze_after_bulk_write(session, ["occurrence"], 9) is False  # below the threshold
    assert db.analyze_after_bulk_write(session, ["occurrence"], 10) is postgres
