"""Reminder rows: created and cancelled with the roster change; quiet hours; re-timing on a move."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import Engine

from scheduler.db import session_scope
from scheduler.errors import InvalidInput
from scheduler.models import Reminder
from scheduler.reminders import QuietHours, parse_quiet_hours, quiet_adjusted
from tests.workers_support import NOW, cancel_assignment, create_shift, move_occurrence, reminders_of


def test_quiet_hours_parse_and_span_midnight() -> None:
    quiet = parse_quiet_hours("22:00-07:30")
    assert quiet == QuietHours(time(22), time(7, 30))
    assert quiet.contains(time(23)) and quiet.contains(time(3)) and not quiet.contains(time(7, 30))
    assert parse_quiet_hours("off") is None and parse_quiet_hours("12:00-12:00") is None
    assert parse_quiet_hours("12:00-14:00") == QuietHours(time(12), time(14))


def test_bad_quiet_hours_name_the_variable() -> None:
    with pytest.raises(InvalidInput, match="ROSTER_QUIET_HOURS"):
        parse_quiet_hours("late")


def test_quiet_adjusted_leaves_daytime_alone() -> None:
    due = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # 10:00 in Shenzhen
    assert quiet_adjusted(due, due + timedelta(hours=2), "Asia/Shanghai", parse_quiet_hours(None)) == due


def test_assignment_creates_one_row_per_offset_with_stable_keys(engine: Engine) -> None:
    shift = create_shift(engine, NOW + timedelta(days=3), offsets=[1440, 120])
    rows = reminders_of(engine, shift)
    assert sorted(r.kind for r in rows) == ["before:120", "before:1440"]
    assert {r.due_at for r in rows} == {NOW + timedelta(days=2), NOW + timedelta(days=3, hours=-2)}
    assert len({r.idempotency_key for r in rows}) == 2


def test_cancelled_assignment_cancels_its_pending_and_claimed_reminders(engine: Engine) -> None:
    shift = create_shift(engine, NOW + timedelta(days=3), offsets=[1440, 120])
    with session_scope(engine) as session:
        first = session.get(Reminder, reminders_of(engine, shift)[0].id)
        assert first is not None
        first.status, first.claimed_by = "claimed", "some-worker"
    cancel_assignment(engine, shift.assignment_ids[0], NOW)
    assert {r.status for r in reminders_of(engine, shift)} == {"cancelled"}


def test_shift_moved_later_after_a_reminder_went_stale_owes_it_again(engine: Engine) -> None:
    shift = create_shift(engine, NOW + timedelta(hours=3), offsets=[120])
    with session_scope(engine) as session:
        row = session.get(Reminder, reminders_of(engine, shift)[0].id)
        assert row is not None
        row.status = "stale"
    move_occurrence(engine, shift.occurrence_id, NOW + timedelta(days=1), now=NOW)
    rows = {r.kind.split(":")[0]: r for r in reminders_of(engine, shift)}
    assert rows["before"].status == "pending" and rows["before"].due_at == NOW + timedelta(hours=22)
    assert rows["moved"].status == "pending" and rows["moved"].due_at == NOW
    assert rows["moved"].payload["old_start"] == (NOW + timedelta(hours=3)).isoformat()


def test_sent_reminder_is_not_owed_again_when_the_shift_moves(engine: Engine) -> None:
    shift = create_shift(engine, NOW + timedelta(hours=20), offsets=[1440, 120])
    with session_scope(engine) as session:
        for row in reminders_of(engine, shift):
            if row.kind == "before:1440":
                live = session.get(Reminder, row.id)
                assert live is not None
                live.status = "sent"
    move_occurrence(engine, shift.occurrence_id, NOW + timedelta(hours=10), now=NOW)
    kinds = {r.kind: (r.status, r.due_at) for r in reminders_of(engine, shift)}
    assert kinds["before:1440"][0] == "sent"
    assert kinds["before:120"] == ("pending", NOW + timedelta(hours=8))
    assert [k for k in kinds if k.startswith("moved:")] == ["moved:1:0"]


def test_the_policy_passed_in_times_and_routes_the_reminder_rows(engine: Engine) -> None:
    """Quiet hours and the default channel come from the caller's policy, not from the session."""
    from scheduler.models import Assignment
    from scheduler.policy import OperationPolicy
    from scheduler.reminders import sync_assignment_reminders

    nine = datetime(2026, 12, 8, 1, 0, tzinfo=UTC)  # 09:00 in Shenzhen: the 2 h reminder falls at 07:00
    shift = create_shift(engine, nine, offsets=[120], quiet="off")
    with session_scope(engine) as s:
        assignment = s.get(Assignment, shift.assignment_ids[0])
        assert assignment is not None
        assignment.volunteer.preferred_channel = None
        sync_assignment_reminders(s, assignment, now=NOW, policy=OperationPolicy.from_text("22:00-07:30", "email"))
    due = {(r.channel, r.kind): r.due_at for r in reminders_of(engine, shift)}
    assert due[("console", "before:120")] == nine - timedelta(hours=2)  # made with quiet hours off
    assert due[("email", "before:120")] == nine - timedelta(hours=1, minutes=30)  # after they end, 07:30


def test_settings_build_the_policy_the_entry_points_pass() -> None:
    from scheduler.policy import DEFAULT_POLICY, OperationPolicy
    from scheduler.settings import Settings

    policy = Settings.from_env({"ROSTER_QUIET_HOURS": "off", "ROSTER_REMINDER_CHANNEL": "email",
                                "ROSTER_OVERTIME_MINUTES": "5"}).policy()
    assert policy == OperationPolicy(None, "email", 60, 5)
    assert Settings.from_env({}).policy() == DEFAULT_POLICY
    with pytest.raises(InvalidInput, match="ROSTER_QUIET_HOURS"):
        Settings.from_env({"ROSTER_QUIET_HOURS": "late"}).policy()


# --------------------------------------------------------------------------- CLI


def test_reminders_list_shows_due_times_in_the_services_zone_and_json_in_utc(  # type: ignore[no-untyped-def]
        invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    monkeypatch.setenv("ROSTER_QUIET_HOURS", "22:00-07:30")
    for args in (
        ("community", "add", "ailian", "--name", "爱联社区"),
        ("branch", "add", "shunjing", "--name", "顺景花园党支部", "--community", "ailian"),
        ("service", "add", "yizhen", "--title", "义诊", "--branch", "shunjing", "--every", "saturday",
         "--start-date", "2030-03-02", "--time", "09:00", "--duration", "2h", "--role", "引导员:2",
         "--reminders", "120"),
        ("service", "add", "ny", "--title", "纽约", "--branch", "shunjing", "--every", "saturday",
         "--start-date", "2030-03-02", "--time", "12:00", "--duration", "1h", "--role", "引导员:2",
         "--reminders", "60", "--timezone", "America/New_York"),
        ("volunteer", "add", "--name", "李引导", "--phone", "13800000002", "--branch", "shunjing"),
        ("plan", "--today", "2030-03-04", "--weeks", "1"),
    ):
        result = invoke(*args)
        assert result.exit_code == 0, result.output
    for slug in ("yizhen", "ny"):
        [occ] = json.loads(invoke("occurrence", "list", "--service", slug, "--json").output)
        assert invoke("assign", "13800000002", str(occ["id"])).exit_code == 0
    listed = {r["kind"]: r for r in json.loads(invoke("reminders", "list", "--json").output)}
    # 07:00 in Shenzhen is quiet: the reminder goes at 07:30, which is 23:30 UTC the day before.
    assert listed["before:120"]["due_at"] == "2030-03-08T23:30:00+00:00"
    assert listed["before:60"]["due_at"] == "2030-03-09T16:00:00+00:00"  # 11:00 in New York
    table = invoke("reminders", "list").output
    assert "due (local)" in table
    assert "2030-03-09 07:30" in table and "2030-03-08 23:30" not in table
    assert "2030-03-09 11:00 America/New_York" in table and "2030-03-09 16:00" not in table
