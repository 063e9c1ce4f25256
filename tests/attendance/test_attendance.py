"""Check-in/out, approval rules, corrections with a trail, no-shows: on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from scheduler import attendance as att
from scheduler.db import make_engine, session_scope
from scheduler.errors import Conflict, InvalidInput, NotFound
from scheduler.i18n import using
from scheduler.migrate import upgrade
from scheduler.models import Assignment, Attendance, AttendanceCorrection, Event
from tests import factories

# The factory's occurrence: 2026-12-07 16:30-18:30 in Shanghai (08:30-10:30 UTC).
START = datetime(2026, 12, 7, 8, 30, tzinfo=UTC)
EVENING = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)  # 20:00 local, after the occurrence


@dataclass
class World:
    service_id: int
    occurrence_id: int
    volunteer_id: int
    walk_in_id: int
    assignment_id: int


def _assign(session: Session, occurrence_id: int, role_id: int, volunteer_id: int, status: str = "confirmed",
            seat_no: int | None = 1) -> Assignment:
    assignment = Assignment(occurrence_id=occurrence_id, role_id=role_id, volunteer_id=volunteer_id, status=status,
                            seat_no=seat_no)
    session.add(assignment)
    session.flush()
    return assignment


@pytest.fixture
def world(engine: Engine) -> World:
    with session_scope(engine) as s:
        factories.org(s)
        svc = factories.service(s)
        occ = factories.occurrence(s, svc)
        vol = factories.volunteer(s, "王芳")
        walk_in = factories.volunteer(s, "李明")
        assignment = _assign(s, occ.id, svc.roles[0].id, vol.id)
        return World(svc.id, occ.id, vol.id, walk_in.id, assignment.id)


def _record(engine: Engine, record_id: int) -> Attendance:
    with session_scope(engine) as s:
        record = s.get(Attendance, record_id)
        assert record is not None
        return record


def _count(engine: Engine, model: type) -> int:
    with session_scope(engine) as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def _refused(engine: Engine, error: type[Exception], work: object) -> Exception:
    """Run work in its own transaction, expect ``error``, and check nothing was written."""
    before = (_count(engine, Attendance), _count(engine, AttendanceCorrection), _count(engine, Event))
    with pytest.raises(error) as info, session_scope(engine) as s:
        work(s)  # type: ignore[operator]
    assert (_count(engine, Attendance), _count(engine, AttendanceCorrection), _count(engine, Event)) == before
    return info.value


def test_checkin_and_checkout_count_whole_minutes_and_mark_assignment_attended(engine: Engine, world: World) -> None:
    with session_scope(engine) as s:
        record = att.checkin(s, str(world.volunteer_id), world.occurrence_id, at="2026-12-07 16:30:59",
                             by="李书记", now=EVENING)
        assert record.status == "open" and record.assignment_id == world.assignment_id
        record_id = record.id
    with session_scope(engine) as s:
        record = att.checkout(s, str(world.volunteer_id), world.occurrence_id, at="18:45:30", now=EVENING)
        assert s.get(Assignment, world.assignment_id).status == "attended"  # type: ignore[union-attr]
    record = _record(engine, record_id)
    assert record.check_in == START  # seconds dropped, stored UTC
    assert record.check_out == datetime(2026, 12, 7, 10, 45, tzinfo=UTC)
    assert record.minutes == 135
    assert (record.status, record.approved_by, record.recorded_by) == ("approved", att.AUTO_APPROVER, "李书记")


def test_default_time_is_now_truncated_to_the_minute(engine: Engine, world: World) -> None:
    with session_scope(engine) as s:
        record = att.checkin(s, str(world.volunteer_id), world.occurrence_id,
                             now=datetime(2026, 12, 7, 8, 31, 45, 123, tzinfo=UTC))
        assert record.check_in == datetime(2026, 12, 7, 8, 31, tzinfo=UTC)


def test_walk_in_without_assignment_is_recorded_and_approved(engine: Engine, world: World) -> None:
    with session_scope(engine) as s:
        att.checkin(s, str(world.walk_in_id), world.occurrence_id, at="16:40", now=EVENING)
        record = att.checkout(s, str(world.walk_in_id), world.occurrence_id, at="18:30", now=EVENING)
        assert (record.assignment_id, record.minutes, record.status) == (None, 110, "approved")
        assert s.scalar(select(func.count()).select_from(Assignment)) == 1


def test_checkout_before_checkin_is_refused_naming_the_field(engine: Engine, world: World) -> None:
    with session_scope(engine) as s:
        record_id = att.checkin(s, str(world.volunteer_id), world.occurrence_id, at="16:30", now=EVENING).id
    error = _refused(engine, InvalidInput, lambda s: att.checkout(
        s, str(world.volunteer_id), world.occurrence_id, at="16:30", now=EVENING))
    assert isinstance(error, InvalidInput) and error.field == "check_out"
    assert "not after the check-in at 2026-12-07 16:30" in str(error)
    assert _record(engine, record_id).status == "open"


def test_a_future_time_is_refused(engine: Engine, world: World) -> None:
    now = datetime(2026, 12, 7, 8, 40, tzinfo=UTC)  # 16:40 local
    error = _refused(engine, InvalidInput, lambda s: att.checkin(
        s, str(world.volunteer_id), world.occurrence_id, at="2026-12-07 16:41", now=now))
    assert "check_in" in str(error) and "future" in str(error)


def test_a_date_far_from_the_occurrence_is_refused(engine: Engine, world: World) -> None:
    error = _refused(engine, InvalidInput, lambda s: att.checkin(
        s, str(world.volunteer_id), world.occurrence_id, at="2026-12-05 16:30", now=EVENING))
    assert "too far from occurrence" in str(error)


def test_unreadable_time_names_the_field(engine: Engine, world: World) -> None:
    error = _refused(engine, InvalidInput, lambda s: att.checkin(
        s, str(world.volunteer_id), world.occurrence_id, at="half past four", now=EVENING))
    assert str(error).startswith("check_in: ")


def test_checkout_without_checkin_is_a_conflict(engine: Engine, world: World) -> None:
    error = _refused(engine, Conflict, lambda s: att.checkout(
        s, str(world.volunteer_id), world.occurrence_id, at="18:30", now=EVENING))
    assert str(error).startswith("check_out: ") and "has not checked in" in str(error)


def test_checkin_twice_is_a_conflict_here_and_at_another_occurrence(engine: Engine, world: World) -> None:
    with session_scope(engine) as s:
        att.checkin(s, str(world.volunteer_id), world.occurrence_id, at="16:30", now=EVENING)
        svc = factories.service(s)
        other = factories.occurrence(s, svc, start=START + timedelta(hours=1)).id
    error = _refused(engine, Conflict, lambda s: att.checkin(
        s, str(world.volunteer_id), world.occurrence_id, at="16:35", now=EVENING))
    assert "already checked in at this occurrence since 2026-12-07 16:30" in str(error)
    error = _refused(engine, Conflict, lambda s: att.checkin(
        s, str(world.volunteer_id), other, at="17:35", now=EVENING))
    assert f"already checked in at occurrence #{world.occurrence_id}" in str(error)


def test_overlapping_records_of_one_volunteer_are_refused(engine: Engine, world: World) -> None:
    with session_scope(engine) as s:
        att.checkin(s, str(world.volunteer_id), world.occurrence_id, at="16:30", now=EVENING)
        att.checkout(s, str(world.volunteer_id), world.occurrence_id, at="17:30", now=EVENING)
    error = _refused(engine, InvalidInput, lambda s: att.checkin(
        s, str(world.volunteer_id), world.occurrence_id, at="17:00", now=EVENING))
    assert "check_in: overlaps record" in str(error)
    # A backfilled record that starts earlier and runs into the first one.
    with session_scope(engine) as s:
        att.checkin(s, str(world.volunteer_id), world.occurrence_id, at="15:00", now=EVENING)
    error = _refused(engine, InvalidInput, lambda s: att.checkout(
        s, str(world.volunteer_id), world.occurrence_id, at="16:31", now=EVENING))
    assert "check_out: overlaps record" in str(error)
    with session_scope(engine) as s:  # touching end to start is not an overlap
        assert att.checkout(s, str(world.volunteer_id), world.occurrence_id, at="16:30", now=EVENING).minutes == 90


def test_cancelled_occurrence_takes_no_checkin(engine: Engine, world: World) -> None:
    with session_scope(engine) as s:
        occ = factories.occurrence(s, factories.service(s), status="cancelled").id
    _refused(engine, Conflict, lambda s: att.checkin(s, str(world.volunteer_id), occ, at="16:30", now=EVENING))
    _refused(engine, NotFound, lambda s: att.checkin(s, str(world.volunteer_id), 999, at="16:30", now=EVENING))


def test_more_than_eight_hours_in_a_day_waits_for_approval(engine: Engine, world: World) -> None:
    with session_scope(engine) as s:
        svc = factories.service(s)
        # 08:00-17:30 local on the same day as the factory's occurrence.
        long_day = factories.occurrence(s, svc, start=datetime(2026, 12, 7, 0, 0, tzinfo=UTC), minutes=570).id
        first = att.checkin(s, str(world.volunteer_id), long_day, at="08:00", now=EVENING)
        first = att.checkout(s, str(world.volunteer_id), long_day, at="13:01", now=EVENING)
        assert first.status == "approved"
        att.checkin(s, str(world.volunteer_id), world.occurrence_id, at="16:30", now=EVENING)
        # 3 h for a 2 h shift: within the shift plus the hour's margin, so only the day rule applies.
        second = att.checkout(s, str(world.volunteer_id), world.occurrence_id, at="19:30", now=EVENING)
        assert second.status == "pending_approval" and second.approved_by is None
        assert att.review_reasons(s, second) == ["8 h 1 min on 2026-12-07 (more than 8 h in a day)"]
        with using("zh_CN"):
            assert att.review_reasons(s, second) == ["2026-12-07 共 8 小时 1 分钟（一天超过 8 小时）"]
        assert s.get(Attendance, first.id).status == "approved"  # type: ignore[union-attr]


def test_checkin_more_than_an_hour_before_the_shift_waits_for_approval_with_the_reason(
        engine: Engine, world: World) -> None:
    with session_scope(engine) as s:
        att.checkin(s, str(world.volunteer_id), world.occurrence_id, at="15:29", now=EVENING)
        early = att.checkout(s, str(world.volunteer_id), world.occurrence_id, at="17:00", now=EVENING)
        assert early.status == "pending_approval" and early.approved_by is None
        assert att.review_reasons(s, early) == [
            "checked in 1 h 1 min before the shift starts at 2026-12-07 16:30 (more than 60 min early)"]
        with using("zh_CN"):  # a coordinator reading Chinese reads why in Chinese
            assert att.review_reasons(s, early) == ["在 2026-12-07 16:30 开始的班次前 1 小时 1 分钟 签到（提前超过 60 分钟）"]
        shown = att.attendance_as_dict(s, early)
        assert (shown["status_label"], shown["review_reasons"]) == ("待审核", att.review_reasons(s, early))
        att.checkin(s, str(world.walk_in_id), world.occurrence_id, at="15:30", now=EVENING)  # exactly an hour
        assert att.checkout(s, str(world.walk_in_id), world.occurrence_id, at="17:00", now=EVENING).status == "approved"


def test_record_longer_than_the_shift_plus_a_margin_waits_for_approval(engine: Engine, world: World) -> None:
    with session_scope(engine) as s:
        att.checkin(s, str(world.volunteer_id), world.occurrence_id, at="16:30", now=EVENING)
        long = att.checkout(s, str(world.volunteer_id), world.occurrence_id, at="19:31", now=EVENING)
        assert long.status == "pending_approval"
        assert att.review_reasons(s, long) == ["3 h 1 min recorded for a 2 h 0 min shift (more than 60 min over its length)"]
        att.checkin(s, str(world.walk_in_id), world.occurrence_id, at="16:30", now=EVENING)
        assert att.checkout(s, str(world.walk_in_id), world.occurrence_id, at="19:30", now=EVENING).status == "approved"


def test_attendance_margins_are_settings(engine: Engine, world: World) -> None:
    from scheduler.settings import Settings

    policy = Settings.from_env({"ROSTER_EARLY_CHECKIN_MINUTES": "120", "ROSTER_OVERTIME_MINUTES": "0"}).policy()
    with pytest.raises(InvalidInput, match="ROSTER_OVERTIME_MINUTES"):
        Settings.from_env({"ROSTER_OVERTIME_MINUTES": "-5"})
    with session_scope(engine) as s:
        att.checkin(s, str(world.volunteer_id), world.occurrence_id, at="15:00", now=EVENING)  # 90 min early: fine
        record = att.checkout(s, str(world.volunteer_id), world.occurrence_id, at="17:00", now=EVENING,
                              policy=policy)
        assert record.status == "approved"
        att.checkin(s, str(world.walk_in_id), world.occurrence_id, at="16:30", now=EVENING)
        over = att.checkout(s, str(world.walk_in_id), world.occurrence_id, at="18:31", now=EVENING, policy=policy)
        assert over.status == "pending_approval"  # no margin at all: a minute over the shift is reviewed


def test_exactly_eight_hours_is_approved(engine: Engine, world: World) -> None:
    with session_scope(engine) as s:
        svc = factories.service(s)
        day = factories.occurrence(s, svc, start=datetime(2026, 12, 7, 0, 0, tzinfo=UTC), minutes=480).id
        att.checkin(s, str(world.walk_in_id), day, at="08:00", now=EVENING)
        assert att.checkout(s, str(world.walk_in_id), day, at="16:00", now=EVENING).status == "approved"


def test_fourth_pair_at_one_activity_in_a_day_waits_for_approval(engine: Engine, world: World) -> None:
    statuses = []
    with session_scope(engine) as s:
        for start, end in (("16:30", "16:50"), ("17:00", "17:20"), ("17:30", "17:50"), ("18:00", "18:20")):
            att.checkin(s, str(world.volunteer_id), world.occurrence_id, at=start, now=EVENING)
            statuses.append(att.checkout(s, str(world.volunteer_id), world.occurrence_id, at=end, now=EVENING).status)
    assert statuses == ["approved", "approved", "approved", "pending_approval"]


def test_correction_keeps_the_trail_and_reapplies_the_rules(engine: Engine, world: World) -> None:
    with session_scope(engine) as s:
        att.checkin(s, str(world.volunteer_id), world.occurrence_id, at="16:30", now=EVENING)
        record_id = att.checkout(s, str(world.volunteer_id), world.occurrence_id, at="18:30", now=EVENING).id
    later = EVENING + timedelta(hours=1)
    with session_scope(engine) as s:
        record = att.correct(s, record_id, "check_in", "2026-12-07 08:00", by="李书记", reason="早到布置场地",
                             now=later)
        assert (record.minutes, record.status) == (630, "pending_approval")
    with session_scope(engine) as s:
        trail = [(c.field, c.old_value, c.new_value, c.corrected_by, c.reason, c.corrected_at)
                 for c in att.corrections(s, record_id)]
    assert trail == [
        ("check_in", "2026-12-07T08:30+00:00", "2026-12-07T00:00+00:00", "李书记", "早到布置场地", later),
        ("status", "approved", "pending_approval", att.AUTO_APPROVER, "approval rules applied after correction",
         later),
    ]
    with session_scope(engine) as s:
        shown = att.attendance_as_dict(s, s.get(Attendance, record_id), with_trail=True)  # type: ignore[arg-type]
    assert shown["check_in"] == "2026-12-07 08:00" and shown["trail"][0]["old"] == "2026-12-07 16:30"


def test_correction_refuses_bad_values_and_writes_nothing(engine: Engine, world: World) -> None:
    with session_scope(engine) as s:
        att.checkin(s, str(world.volunteer_id), world.occurrence_id, at="16:30", now=EVENING)
        record_id = att.checkout(s, str(world.volunteer_id), world.occurrence_id, at="18:30", now=EVENING).id
        att.checkin(s, str(world.volunteer_id), world.occurrence_id, at="18:40", now=EVENING)
        att.checkout(s, str(world.volunteer_id), world.occurrence_id, at="19:00", now=EVENING)

    def fix(field: str, value: str, reason: str = "typo") -> object:
        return lambda s: att.correct(s, record_id, field, value, by="李书记", reason=reason, now=EVENING)

    assert "check_out" in str(_refused(engine, InvalidInput, fix("check_out", "16:00")))
    assert "overlaps record" in str(_refused(engine, InvalidInput, fix("check_out", "18:50")))
    assert "future" in str(_refused(engine, InvalidInput, fix("check_out", "2026-12-07 20:01")))
    assert _refused(engine, InvalidInput, fix("check_out", "18:40", reason=" ")).field == "reason"  # type: ignore
    assert _refused(engine, InvalidInput, fix("minutes", "90")).field == "field"  # type: ignore[attr-defined]
    assert _refused(engine, InvalidInput, fix("check_out", "18:30")).field == "value"  # type: ignore


def test_approve_and_reject_are_recorded_in_the_trail(engine: Engine, world: World) -> None:
    with session_scope(engine) as s:
        svc = factories.service(s)
        day = factories.occurrence(s, svc, start=datetime(2026, 12, 7, 0, 0, tzinfo=UTC), minutes=600).id
        att.checkin(s, str(world.walk_in_id), day, at="08:00", now=EVENING)
        record_id = att.checkout(s, str(world.walk_in_id), day, at="17:00", now=EVENING).id
        assert [r.id for r in att.list_attendance(s, pending=True)] == [record_id]
    _refused(engine, InvalidInput, lambda s: att.approve(s, record_id, by=" ", now=EVENING))
    with session_scope(engine) as s:
        record = att.approve(s, record_id, by="张主任", now=EVENING)
        assert (record.status, record.approved_by, record.approved_at) == ("approved", "张主任", EVENING)
    _refused(engine, Conflict, lambda s: att.approve(s, record_id, by="张主任", now=EVENING))
    _refused(engine, InvalidInput, lambda s: att.reject(s, record_id, by="张主任", reason="", now=EVENING))
    with session_scope(engine) as s:
        assert att.reject(s, record_id, by="张主任", reason="时长不实", now=EVENING).status == "rejected"
        trail = [(c.old_value, c.new_value, c.corrected_by, c.reason) for c in att.corrections(s, record_id)]
    assert trail == [("pending_approval", "approved", "张主任", "approved"),
                     ("approved", "rejected", "张主任", "时长不实")]


def test_rejecting_an_open_record_undoes_a_mistaken_checkin(engine: Engine, world: World) -> None:
    with session_scope(engine) as s:
        wrong = att.checkin(s, str(world.walk_in_id), world.occurrence_id, at="16:30", now=EVENING).id
    _refused(engine, Conflict, lambda s: att.approve(s, wrong, by="李书记", now=EVENING))
    with session_scope(engine) as s:
        att.reject(s, wrong, by="李书记", reason="签错人", now=EVENING)
        again = att.checkin(s, str(world.walk_in_id), world.occurrence_id, at="16:30", now=EVENING)
        assert again.id != wrong


def test_no_show_marks_the_assignment_for_autofill_history(engine: Engine, world: World) -> None:
    _refused(engine, Conflict, lambda s: att.mark_no_show(
        s, str(world.volunteer_id), world.occurrence_id, by="李书记", now=START - timedelta(minutes=1)))
    _refused(engine, NotFound, lambda s: att.mark_no_show(
        s, str(world.walk_in_id), world.occurrence_id, by="李书记", now=EVENING))
    with session_scope(engine) as s:
        assignment = att.mark_no_show(s, str(world.volunteer_id), world.occurrence_id, by="李书记", now=EVENING)
        assert (assignment.status, assignment.seat_no) == ("no_show", 1)
        no_shows = s.scalar(select(func.count()).select_from(Assignment).where(
            Assignment.volunteer_id == world.volunteer_id, Assignment.status == "no_show"))
        assert no_shows == 1
    _refused(engine, Conflict, lambda s: att.mark_no_show(
        s, str(world.volunteer_id), world.occurrence_id, by="李书记", now=EVENING))
    # The volunteer did come after all: recording the hours turns the no-show into attended.
    with session_scope(engine) as s:
        att.checkin(s, str(world.volunteer_id), world.occurrence_id, at="17:00", now=EVENING)
        att.checkout(s, str(world.volunteer_id), world.occurrence_id, at="18:30", now=EVENING)
        assert s.get(Assignment, world.assignment_id).status == "attended"  # type: ignore[union-attr]


def test_no_show_is_refused_for_a_volunteer_who_checked_in(engine: Engine, world: World) -> None:
    with session_scope(engine) as s:
        att.checkin(s, str(world.volunteer_id), world.occurrence_id, at="16:30", now=EVENING)
    error = _refused(engine, Conflict, lambda s: att.mark_no_show(
        s, str(world.volunteer_id), world.occurrence_id, by="李书记", now=EVENING))
    assert "checked in at this occurrence" in str(error)


def test_declined_volunteer_who_turns_up_is_a_walk_in(engine: Engine, world: World) -> None:
    with session_scope(engine) as s:
        svc = s.get(Assignment, world.assignment_id).role  # type: ignore[union-attr]
        _assign(s, world.occurrence_id, svc.id, world.walk_in_id, status="declined", seat_no=None)
        record = att.checkin(s, str(world.walk_in_id), world.occurrence_id, at="16:30", now=EVENING)
        assert record.assignment_id is None


def test_times_are_typed_and_shown_in_the_service_zone(engine: Engine, world: World) -> None:
    with session_scope(engine) as s:
        svc = factories.service(s, timezone="Asia/Urumqi")
        occ = factories.occurrence(s, svc).id  # 08:30 UTC is 14:30 in Urumqi (UTC+6)
        record = att.checkin(s, str(world.walk_in_id), occ, at="14:30", now=EVENING)
        assert record.check_in == START
        assert att.attendance_as_dict(s, record)["check_in"] == "2026-12-07 14:30"


def test_concurrent_checkins_of_one_volunteer_on_postgresql_only_one_wins(pg_url: str) -> None:
    engine = make_engine(pg_url)
    upgrade(engine)
    try:
        with session_scope(engine) as s:
            factories.org(s)
            occ = factories.occurrence(s, factories.service(s)).id
            vid = factories.volunteer(s).id
        outcome: list[object] = []

        def second_coordinator() -> None:
            try:
                with session_scope(engine) as s:
                    att.checkin(s, str(vid), occ, at="16:31", now=EVENING)
                outcome.append("checked in")
            except Conflict as exc:
                outcome.append(exc)

        with session_scope(engine) as first:
            att.checkin(first, str(vid), occ, at="16:30", now=EVENING)
            thread = threading.Thread(target=second_coordinator)
            thread.start()
            # Wait (bounded) until the second writer is blocked on the volunteer's row lock.
            for _ in range(200):
                with engine.connect() as probe:
                    waiting = probe.scalar(text(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND datname = current_database()"))
                if waiting:
                    break
                threading.Event().wait(0.02)
            assert waiting, "the second check-in never waited for the lock"
        thread.join(timeout=30)
        assert len(outcome) == 1 and isinstance(outcome[0], Conflict)
        with session_scope(engine) as s:
            assert s.scalar(select(func.count()).select_from(Attendance)) == 1
    finally:
        engine.dispose()


def test_no_show_cancels_before_shift_reminders_still_pending(engine: Engine, world: World) -> None:
    from scheduler.models import Reminder
    from scheduler.policy import DEFAULT_POLICY
    from scheduler.reminders.dispatch import dispatch_due
    from scheduler.reminders.scan import scan_due
    from tests.workers_support import null_channels, settings_for

    with session_scope(engine) as s:
        assert scan_due(s, START - timedelta(hours=3), policy=DEFAULT_POLICY).recorded == 2  # both (the 2 h one a quiet window ahead)
        assert {r.status for r in s.scalars(select(Reminder))} == {"pending"}
    with session_scope(engine) as s:
        att.mark_no_show(s, str(world.volunteer_id), world.occurrence_id, by="李书记", now=EVENING)
    result = dispatch_due(engine, settings_for(str(engine.url)), now=EVENING, policy=DEFAULT_POLICY,
                          channels=null_channels())
    assert (result.sent, result.cancelled) == (0, 2)
    with session_scope(engine) as s:
        assert {r.status for r in s.scalars(select(Reminder))} == {"cancelled"}


def test_parse_local_reads_typed_times_in_the_given_zone() -> None:
    from zoneinfo import ZoneInfo

    shanghai = ZoneInfo("Asia/Shanghai")
    expected = datetime(2026, 12, 7, 8, 30, tzinfo=UTC)
    assert att.parse_local("2026-12-07 16:30", shanghai, "at") == expected
    assert att.parse_local("2026-12-07T16:30:59", shanghai, "at") == expected
    assert att.parse_local("2026/12/07 16:30", shanghai, "at") == expected
    assert att.parse_local("2026-12-07T08:30+00:00", shanghai, "at") == expected
    assert att.parse_local("16:30", shanghai, "at", on=expected.date()) == expected
    with pytest.raises(InvalidInput, match="^at: .*not a time of day"):
        att.parse_local("25:00", shanghai, "at", on=expected.date())
    with pytest.raises(InvalidInput, match="does not exist in America/New_York"):
        att.parse_local("2026-03-08 02:30", ZoneInfo("America/New_York"), "at")


def test_a_no_show_refused_for_its_status_names_the_status_in_the_coordinators_language(
        engine: Engine, world: World) -> None:
    with session_scope(engine) as s:
        s.execute(text("UPDATE assignment SET status = 'declined', seat_no = NULL WHERE id = :id"),
                  {"id": world.assignment_id})
    with using("zh_CN"):
        error = _refused(engine, Conflict, lambda s: att.mark_no_show(
            s, str(world.volunteer_id), world.occurrence_id, by="李书记", now=EVENING))
    assert "已请假" in str(error) and "declined" not in str(error)
