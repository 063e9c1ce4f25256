"""Before-shift reminders derived from the seats by the dispatcher's scan; quiet hours; moves."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import Engine

from scheduler.db import session_scope
from scheduler.errors import InvalidInput
from scheduler.models import Reminder
from scheduler.reminders import QuietHours, parse_quiet_hours, quiet_adjusted
from tests.workers_support import (
    NOW,
    cancel_assignment,
    create_shift,
    move_occurrence,
    null_channels,
    reminders_of,
    scan,
    service_of,
    settings_for,
)


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


def test_no_row_is_written_with_the_seat_and_each_offset_is_recorded_when_it_comes_due(engine: Engine) -> None:
    shift = create_shift(engine, NOW + timedelta(days=3), offsets=[1440, 120])
    assert reminders_of(engine, shift) == []
    assert scan(engine, NOW) == 0
    assert scan(engine, NOW + timedelta(days=2) - timedelta(seconds=1)) == 0
    assert scan(engine, NOW + timedelta(days=2)) == 1
    assert scan(engine, NOW + timedelta(days=2, minutes=1)) == 0  # insert-if-absent: once
    assert scan(engine, NOW + timedelta(days=3, hours=-2)) == 1
    rows = reminders_of(engine, shift)
    assert sorted(r.kind for r in rows) == ["before:120", "before:1440"]
    assert {r.due_at for r in rows} == {NOW + timedelta(days=2), NOW + timedelta(days=3, hours=-2)}
    assert {r.shift_start for r in rows} == {NOW + timedelta(days=3)}
    assert len({r.idempotency_key for r in rows}) == 2


def test_a_scan_after_downtime_records_what_came_due_meanwhile_until_the_shift_starts(engine: Engine) -> None:
    early = create_shift(engine, NOW + timedelta(hours=5), offsets=[1440, 120])
    begun = create_shift(engine, NOW + timedelta(hours=1), offsets=[120])
    assert scan(engine, NOW - timedelta(days=2)) == 0  # the last scan before the dispatcher went down
    # Two days later than that, no scan since: both of the early shift's instants have passed
    # (24 h ago and 3 h from now is not yet); the shift already begun is owed nothing.
    assert scan(engine, NOW + timedelta(hours=2)) == 1
    assert [r.kind for r in reminders_of(engine, early)] == ["before:1440"]
    assert reminders_of(engine, begun) == []


def test_cancelled_assignment_is_owed_nothing_and_its_recorded_rows_are_cancelled_at_claim(engine: Engine) -> None:
    from scheduler.policy import DEFAULT_POLICY
    from scheduler.reminders.dispatch import dispatch_due

    shift = create_shift(engine, NOW + timedelta(hours=3), offsets=[1440, 120])
    assert scan(engine, NOW) == 1  # the 24 h one, due now
    with session_scope(engine) as session:
        first = session.get(Reminder, reminders_of(engine, shift)[0].id)
        assert first is not None
        first.status, first.claimed_by, first.lease_until = "claimed", "a-worker-that-died", NOW
    cancel_assignment(engine, shift.assignment_ids[0], NOW)
    result = dispatch_due(engine, settings_for(str(engine.url)), now=NOW + timedelta(hours=1, minutes=30),
                          policy=DEFAULT_POLICY, channels=null_channels())
    assert result.sent == 0 and result.cancelled == 1 and result.recorded == 0
    assert {r.kind: r.status for r in reminders_of(engine, shift)} == {"before:1440": "cancelled"}


def test_shift_moved_after_its_24h_reminder_was_sent_gets_a_new_one_for_the_new_time(engine: Engine) -> None:
    shift = create_shift(engine, NOW + timedelta(hours=20), offsets=[1440, 120])
    assert scan(engine, NOW) == 1
    with session_scope(engine) as session:
        for row in reminders_of(engine, shift):
            live = session.get(Reminder, row.id)
            assert live is not None
            live.status = "sent"
    move_occurrence(engine, shift.occurrence_id, NOW + timedelta(hours=10), now=NOW + timedelta(minutes=5))
    assert scan(engine, NOW + timedelta(minutes=6)) == 1
    rows = {(r.kind, r.shift_start): (r.status, r.due_at) for r in reminders_of(engine, shift)}
    assert rows[("before:1440", NOW + timedelta(hours=20))] == ("sent", NOW)
    assert rows[("before:1440", NOW + timedelta(hours=10))] == ("pending", NOW + timedelta(minutes=6))
    assert scan(engine, NOW + timedelta(hours=8)) == 1
    assert [k for k, _ in rows if k.startswith("moved:")] == ["moved:1:0"]
    keys = {r.idempotency_key for r in reminders_of(engine, shift) if r.kind == "before:1440"}
    assert len(keys) == 2  # a new message, not a repeat a channel would drop


def test_shift_moved_later_after_a_reminder_went_stale_owes_it_again(engine: Engine) -> None:
    shift = create_shift(engine, NOW + timedelta(hours=3), offsets=[120])
    assert scan(engine, NOW + timedelta(hours=1)) == 1
    with session_scope(engine) as session:
        row = session.get(Reminder, reminders_of(engine, shift)[0].id)
        assert row is not None
        row.status = "stale"
    move_occurrence(engine, shift.occurrence_id, NOW + timedelta(days=1), now=NOW + timedelta(hours=1))
    assert scan(engine, NOW + timedelta(hours=22)) == 1
    rows = {(r.kind.split(":")[0], r.status): r for r in reminders_of(engine, shift)}
    assert rows[("before", "pending")].due_at == NOW + timedelta(hours=22)
    assert rows[("before", "pending")].shift_start == NOW + timedelta(days=1)
    assert rows[("moved", "pending")].due_at == NOW + timedelta(hours=1)
    assert rows[("moved", "pending")].payload["old_start"] == (NOW + timedelta(hours=3)).isoformat()


def test_offsets_edited_after_the_seats_were_filled_apply_to_the_next_scan(engine: Engine) -> None:
    from scheduler.services import ServiceSpec, edit_service

    shift = create_shift(engine, NOW + timedelta(hours=30), offsets=[1440, 120])
    assert scan(engine, NOW) == 0
    with session_scope(engine) as session:
        edit_service(session, service_of(engine, shift).slug, ServiceSpec(reminder_offsets=[2880, 60]))
    # The 48 h instant passed 18 h ago: the next scan owes it at once; 24 h is no longer owed.
    assert scan(engine, NOW + timedelta(minutes=1)) == 1
    assert [(r.kind, r.due_at) for r in reminders_of(engine, shift)] == [("before:2880", NOW + timedelta(minutes=1))]
    assert scan(engine, NOW + timedelta(hours=6)) == 0
    assert scan(engine, NOW + timedelta(hours=29)) == 1
    assert sorted(r.kind for r in reminders_of(engine, shift)) == ["before:2880", "before:60"]


def test_the_policy_passed_in_times_and_routes_the_reminder_rows(engine: Engine) -> None:
    """Quiet hours and the default channel come from the caller's policy, not from the session."""
    from scheduler.models import Assignment

    nine = datetime(2026, 12, 8, 1, 0, tzinfo=UTC)  # 09:00 in Shenzhen: the 2 h reminder falls at 07:00
    shift = create_shift(engine, nine, offsets=[120])
    with session_scope(engine) as s:
        assignment = s.get(Assignment, shift.assignment_ids[0])
        assert assignment is not None
        assignment.volunteer.preferred_channel = None
    # Quiet hours 22:00-07:30: the row is written their length ahead (from 21:29) and timed for
    # 07:30, on the policy's channel.
    assert scan(engine, nine - timedelta(hours=12), quiet="22:00-07:30", channel="email") == 0
    assert scan(engine, nine - timedelta(hours=11), quiet="22:00-07:30", channel="email") == 1
    due = {(r.channel, r.kind): r.due_at for r in reminders_of(engine, shift)}
    assert due == {("email", "before:120"): nine - timedelta(hours=1, minutes=30)}


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
    # The ledger holds the "assigned" notices; no before-shift reminder yet (those shifts are far
    # ahead of the clock)...
    assert sorted(r["kind"].split(":")[0] for r in json.loads(invoke("reminders", "list", "--json").output)) == [
        "assigned", "assigned"]
    # ... but the roster owes them: `upcoming` derives them, as the scan will.
    ahead = invoke("reminders", "upcoming", "--from", "2030-03-04", "--days", "7", "--json")
    assert ahead.exit_code == 0, ahead.output
    listed = {r["kind"]: r for r in json.loads(ahead.output)}
    assert set(listed) == {"before:120", "before:60"} and {r["id"] for r in listed.values()} == {None}
    # 07:00 in Shenzhen is quiet: the reminder goes at 07:30, which is 23:30 UTC the day before.
    assert listed["before:120"]["due_at"] == "2030-03-08T23:30:00+00:00"
    assert listed["before:60"]["due_at"] == "2030-03-09T16:00:00+00:00"  # 11:00 in New York
    table = invoke("reminders", "upcoming", "--from", "2030-03-04").output
    assert "due (local)" in table
    assert "Sat 9 Mar 07:30" in table and "23:30" not in table
    assert "Sat 9 Mar 11:00 America/New_York" in table and "16:00" not in table
    monkeypatch.setenv("ROSTER_LANG", "zh_CN")
    chinese = invoke("reminders", "upcoming", "--from", "2030-03-04").output
    assert "提醒时间（当地）" in chinese and "3月9日（周六）07:30" in chinese
    assert "3月9日（周六）11:00 America/New_York" in chinese
    assert invoke("reminders", "upcoming", "--from", "2030-03-11", "--json").output.strip() == "[]"


def test_a_seat_taken_after_both_moments_passed_gets_only_the_nearest_reminder(engine: Engine) -> None:
    shift = create_shift(engine, NOW + timedelta(minutes=90), offsets=[1440, 120])
    assert scan(engine, NOW) == 1
    assert [r.kind for r in reminders_of(engine, shift)] == ["before:120"]
    assert scan(engine, NOW + timedelta(minutes=30)) == 0
