"""Single occurrences: list filters, open seats, cancel, move; and the planning CLI."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from scheduler import planning
from scheduler.errors import Conflict, InvalidInput, NotFound
from scheduler.models import Assignment, Event, Occurrence, Reminder
from scheduler.planning.occurrences import (
    cancel_occurrence,
    get_occurrence,
    list_occurrences,
    move_occurrence,
    occurrence_view,
)
from tests import factories as f

NOW = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def planned(session: Session) -> dict[str, object]:
    f.org(session)
    f.community(session, "longxi", "龙西社区")
    f.branch(session, "wulian", "五联花园党支部", "longxi")
    ketang = f.service(session, slug="ketang", roles=["辅导员:2:tutor", "看护:1"])
    yizhen = f.service(session, slug="yizhen", title="义诊", branch="wulian", rrule="FREQ=WEEKLY;BYDAY=SA",
                       roles=["医生:1:doctor"])
    planning.plan(session, date(2026, 3, 2), 2, now=NOW)
    return {"ketang": ketang, "yizhen": yizhen}


def _seat(session: Session, occurrence: Occurrence, role_index: int = 0, seat_no: int = 1) -> Assignment:
    volunteer = f.volunteer(session)
    a = Assignment(occurrence_id=occurrence.id, role_id=occurrence.service.roles[role_index].id,
                   volunteer_id=volunteer.id, status="confirmed", seat_no=seat_no, sequence=0, forced=False)
    session.add(a)
    session.flush()
    return a


def test_list_filters_by_service_branch_community_and_local_dates(session: Session, planned: dict) -> None:
    assert len(list_occurrences(session, service="ketang")) == 10
    assert {o.service.slug for o in list_occurrences(session, branch="wulian")} == {"yizhen"}
    assert {o.service.slug for o in list_occurrences(session, community="ailian")} == {"ketang"}
    week = list_occurrences(session, start=date(2026, 3, 3), end=date(2026, 3, 7))
    assert [o.start_at.astimezone(planning.ZoneInfo("Asia/Shanghai")).day for o in week] == [3, 4, 5, 6, 7]
    with pytest.raises(NotFound):
        list_occurrences(session, service="nope")
    with pytest.raises(InvalidInput):
        list_occurrences(session, start=date(2026, 3, 9), end=date(2026, 3, 1))


def test_open_seats_are_role_counts_minus_seated_assignments(session: Session, planned: dict) -> None:
    saturday = list_occurrences(session, service="yizhen")[0]
    _seat(session, saturday)
    monday = list_occurrences(session, service="ketang")[0]
    _seat(session, monday, 0, 1)
    waiting = f.volunteer(session)
    session.add(Assignment(occurrence_id=monday.id, role_id=monday.service.roles[0].id, volunteer_id=waiting.id,
                           status="waitlisted", waitlist_pos=1, sequence=0, forced=False))
    session.flush()
    open_ids = {o.id for o in list_occurrences(session, open_only=True)}
    assert saturday.id not in open_ids and monday.id in open_ids
    data = occurrence_view(monday).as_json()
    assert data["open_seats"] == 2
    assert data["roles"][0] == {"role": "辅导员", "skill": "tutor", "count": 2, "seated": 1, "open": 1}
    assert data["start"] == "2026-03-02T16:30" and data["end"] == "2026-03-02T18:30"
    assert data["timezone"] == "Asia/Shanghai" and data["status"] == "scheduled" and data["provisional"] is False


def test_occurrence_view_holds_utc_instants_and_its_json_is_the_stable_shape(session: Session,
                                                                            planned: dict) -> None:
    monday = list_occurrences(session, service="ketang")[0]
    _seat(session, monday)
    view = occurrence_view(monday)
    assert view.start_at == datetime(2026, 3, 2, 8, 30, tzinfo=UTC) and view.start_at.utcoffset() == timedelta(0)
    assert f"{view.local_start:%Y-%m-%d %H:%M}" == "2026-03-02 16:30"
    assert view.as_json() == {
        "id": monday.id, "service": "ketang", "title": "四点半课堂", "branch": "shunjing",
        "community": "ailian", "venue": "顺景花园党群之家", "timezone": "Asia/Shanghai", "date": "2026-03-02",
        "start": "2026-03-02T16:30", "end": "2026-03-02T18:30", "start_utc": "2026-03-02T08:30:00+00:00",
        "end_utc": "2026-03-02T10:30:00+00:00", "original_start": "2026-03-02T16:30", "moved": False,
        "status": "scheduled", "cancel_reason": None, "pinned": False, "provisional": False, "sequence": 0,
        "roles": [{"role": "辅导员", "skill": "tutor", "count": 2, "seated": 1, "open": 1},
                  {"role": "看护", "skill": None, "count": 1, "seated": 0, "open": 1}],
        "open_seats": 2,
    }


def test_cancel_pins_bumps_sequence_writes_event_and_tells_seated_volunteers(session: Session,
                                                                             planned: dict) -> None:
    occ = list_occurrences(session, service="ketang")[0]
    a = _seat(session, occ)
    cancel_occurrence(session, occ.id, "台风停课", now=NOW)
    assert (occ.status, occ.pinned, occ.sequence, occ.cancel_reason) == ("cancelled", True, 1, "台风停课")
    events = list(session.scalars(select(Event).where(Event.kind == "occurrence.cancelled")))
    assert [e.payload["occurrence_id"] for e in events] == [occ.id]
    kinds = {r.kind: r.status for r in session.scalars(select(Reminder).where(Reminder.assignment_id == a.id))}
    assert kinds.get("cancelled:1:0") == "pending"
    assert all(s == "cancelled" for k, s in kinds.items() if k.startswith("before:"))
    with pytest.raises(Conflict):
        cancel_occurrence(session, occ.id, "again", now=NOW)
    with pytest.raises(Conflict):
        move_occurrence(session, occ.id, "2026-03-03 10:00", now=NOW)


def test_move_keeps_identity_pins_and_tells_seated_volunteers(session: Session, planned: dict) -> None:
    occ = list_occurrences(session, service="ketang")[0]
    original = occ.original_start
    a = _seat(session, occ)
    move_occurrence(session, occ.id, "2026-03-07 09:30", duration="3h", now=NOW)
    data = occurrence_view(occ).as_json()
    assert (data["start"], data["end"], data["moved"], data["pinned"], data["sequence"]) == \
        ("2026-03-07T09:30", "2026-03-07T12:30", True, True, 1)
    assert occ.original_start == original and data["original_start"] == "2026-03-02T16:30"
    assert session.scalar(select(func.count()).select_from(Event).where(Event.kind == "occurrence.moved")) == 1
    from scheduler.policy import DEFAULT_POLICY
    from scheduler.reminders.scan import scan_due

    # 09:30 in Shanghai is 01:30 UTC; the 2-hour reminder follows the new time (the dispatcher's
    # scan two hours before it records it).
    scan_due(session, datetime(2026, 3, 6, 23, 30, tzinfo=UTC), policy=DEFAULT_POLICY)
    reminders = {r.kind: r for r in session.scalars(select(Reminder).where(Reminder.assignment_id == a.id))}
    assert "moved:1:0" in reminders
    assert {r.shift_start for k, r in reminders.items() if k.startswith("before:")} == {
        datetime(2026, 3, 7, 1, 30, tzinfo=UTC)}
    assert reminders["before:120"].due_at == datetime(2026, 3, 6, 23, 30, tzinfo=UTC)


@pytest.mark.parametrize(("to", "duration", "field"), [
    ("next tuesday", None, "to"), ("2026-02-01 10:00", None, "to"), ("2026-03-07 10:00", "0", "duration"),
    ("2026-03-07 10:00", "25h", "duration"), ("2026-03-07 25:00", None, "to"),
])
def test_bad_move_is_refused_naming_the_field(session: Session, planned: dict, to: str, duration: str | None,
                                              field: str) -> None:
    occ = list_occurrences(session, service="ketang")[0]
    with pytest.raises(InvalidInput) as caught:
        move_occurrence(session, occ.id, to, duration=duration, now=NOW)
    assert caught.value.field == field
    assert occ.sequence == 0 and not occ.pinned


def test_unknown_occurrence_is_not_found(session: Session) -> None:
    with pytest.raises(NotFound):
        get_occurrence(session, 999)


# --------------------------------------------------------------------------- CLI


def _setup_cli(invoke) -> None:  # type: ignore[no-untyped-def]
    assert invoke("community", "add", "ailian", "--name", "爱联社区").exit_code == 0
    assert invoke("branch", "add", "shunjing", "--name", "顺景花园党支部", "--community", "ailian").exit_code == 0
    result = invoke("service", "add", "ketang", "--title", "四点半课堂", "--branch", "shunjing", "--every", "weekday",
                    "--start-date", "2026-12-01", "--time", "16:30", "--duration", "2h", "--policy", "workdays",
                    "--role", "辅导员:2:tutor")
    assert result.exit_code == 0, result.output


def test_cli_plan_is_idempotent_and_warns_about_provisional_dates(invoke) -> None:  # type: ignore[no-untyped-def]
    _setup_cli(invoke)
    first = invoke("plan", "--today", "2026-12-21", "--weeks", "4")
    assert first.exit_code == 0, first.output
    assert "created" in first.output and "PROVISIONAL" in first.output and "2027-01-01" in first.output
    again = invoke("plan", "--today", "2026-12-21", "--weeks", "4", "--json")
    data = json.loads(again.output)
    assert (data["created"], data["updated"], data["removed"], data["events"]) == (0, 0, 0, 0)
    listing = invoke("occurrence", "list", "--service", "ketang", "--from", "2026-12-31", "--to", "2027-01-01")
    assert listing.exit_code == 0 and "四点半课堂" in listing.output and "provisional" in listing.output
    status = invoke("holidays", "status", "--today", "2026-12-21")
    assert status.exit_code == 0 and "2027" in status.output and "PROVISIONAL" in status.output


def test_cli_holidays_load_replans_and_reports(invoke, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _setup_cli(invoke)
    invoke("plan", "--today", "2026-12-21", "--weeks", "4")
    good = tmp_path / "2027.txt"
    good.write_text("year 2027\nrest 2027-01-01..2027-01-03 元旦\nwork 2027-01-09 元旦\n", encoding="utf-8")
    result = invoke("holidays", "load", str(good), "--today", "2026-12-21")
    assert result.exit_code == 0, result.output
    assert "loaded 2027: 3 rest days, 1 make-up workdays" in result.output and "1 created" in result.output
    bad = tmp_path / "bad.txt"
    bad.write_text("year 2027\nrest 2027-01-01\nwork 2027-01-04\n", encoding="utf-8")
    refused = invoke("holidays", "load", str(bad))
    assert refused.exit_code == InvalidInput.exit_code and "line 3" in refused.output


def test_cli_closure_add_list_remove(invoke) -> None:  # type: ignore[no-untyped-def]
    _setup_cli(invoke)
    invoke("plan", "--today", "2026-12-01", "--weeks", "2")
    added = invoke("closure", "add", "--scope", "branch:shunjing", "--from", "2026-12-07", "--to", "2026-12-08",
                   "--reason", "装修", "--today", "2026-12-01", "--json")
    assert added.exit_code == 0, added.output
    data = json.loads(added.output)
    assert data["target"] == "shunjing" and (data["plan"]["cancelled"], data["plan"]["removed"]) == (2, 0)
    listing = invoke("closure", "list")
    assert "装修" in listing.output and "shunjing" in listing.output
    removed = invoke("closure", "remove", str(data["id"]), "--today", "2026-12-01")
    assert removed.exit_code == 0 and "2 reinstated" in removed.output
    assert invoke("closure", "remove", "999").exit_code == NotFound.exit_code
    assert invoke("closure", "add", "--scope", "planet", "--from", "2026-12-07", "--to", "2026-12-08",
                  "--reason", "x").exit_code == InvalidInput.exit_code


def test_cli_occurrence_cancel_and_move(invoke) -> None:  # type: ignore[no-untyped-def]
    _setup_cli(invoke)
    invoke("plan", "--today", "2030-03-04", "--weeks", "1")
    listed = json.loads(invoke("occurrence", "list", "--service", "ketang", "--json").output)
    first, second = listed[0]["id"], listed[1]["id"]
    moved = invoke("occurrence", "move", str(first), "--to", "2030-03-09 10:00", "--json")
    assert moved.exit_code == 0, moved.output
    assert json.loads(moved.output)["start"] == "2030-03-09T10:00"
    cancelled = invoke("occurrence", "cancel", str(second), "--reason", "台风")
    assert cancelled.exit_code == 0 and "cancelled: 台风" in cancelled.output
    assert invoke("occurrence", "cancel", str(second), "--reason", "again").exit_code == Conflict.exit_code
    assert invoke("occurrence", "move", str(first), "--to", "tomorrow").exit_code == InvalidInput.exit_code
    edited = invoke("service", "edit", "ketang", "--time", "17:00")
    assert edited.exit_code == 0, edited.output


def test_occurrence_ending_on_a_later_day_shows_its_end_date(invoke) -> None:  # type: ignore[no-untyped-def]
    _setup_cli(invoke)
    invoke("plan", "--today", "2030-03-04", "--weeks", "1")
    first = json.loads(invoke("occurrence", "list", "--service", "ketang", "--json").output)[0]["id"]
    moved = invoke("occurrence", "move", str(first), "--to", "2030-03-09 10:00", "--duration", "24h")
    assert moved.exit_code == 0, moved.output
    assert "moved to Sat 9 Mar 2030 10:00-Sun 10 Mar 10:00 Asia/Shanghai" in moved.output  # not 10:00-10:00
    listing = invoke("occurrence", "list", "--service", "ketang", "--from", "2030-03-09", "--to", "2030-03-09")
    assert "Sat 9 Mar 2030 10:00" in listing.output and "Sun 10 Mar 10:00" in listing.output
    same_day = invoke("occurrence", "list", "--service", "ketang", "--from", "2030-03-05", "--to", "2030-03-05")
    assert "Tue 5 Mar 2030 16:30" in same_day.output and "18:30" in same_day.output
    assert "2030-03-05 18:30" not in same_day.output
