"""Rosters: assign/unassign/confirm/decline/swap, the checks, the waitlist (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler import rosters
from scheduler.errors import CapacityFull, CheckRefused, Conflict, InvalidInput, NotFound
from scheduler.models import Assignment, Event, Reminder
from scheduler.volunteers import deactivate_volunteer
from tests import factories as f

NOW = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
# Monday 2026-12-07 16:30 in Shanghai.
MONDAY = datetime(2026, 12, 7, 8, 30, tzinfo=UTC)


@pytest.fixture
def world(session: Session) -> dict[str, object]:
    f.org(session)
    svc = f.service(session, roles=["辅导员:2:tutor", "看护:1"])
    occ = f.occurrence(session, svc, start=MONDAY)
    return {"service": svc, "occurrence": occ}


def _events(session: Session, kind: str) -> list[Event]:
    session.flush()
    return list(session.scalars(select(Event).where(Event.kind == kind).order_by(Event.id)))


def _reminders(session: Session, assignment: Assignment, scanned_at: datetime | None = None) -> dict[str, str]:
    """The assignment's ledger rows (after the dispatcher's scans at a day and at 2 h before
    ``scanned_at``, when given)."""
    from scheduler.policy import DEFAULT_POLICY
    from scheduler.reminders.scan import scan_due

    session.flush()
    if scanned_at is not None:
        for before in (timedelta(days=1), timedelta(hours=2)):
            scan_due(session, scanned_at - before, policy=DEFAULT_POLICY)
    return {r.kind: r.status for r in session.scalars(select(Reminder).where(Reminder.assignment_id == assignment.id))}


def test_assign_takes_lowest_free_seat_writes_event_and_reminders(session: Session, world: dict) -> None:
    occ = world["occurrence"]
    first, second = f.volunteer(session), f.volunteer(session)
    a = rosters.assign(session, str(first.id), occ.id, "辅导员", now=NOW)
    b = rosters.assign(session, str(second.id), str(occ.id), "辅导员", now=NOW)
    assert (a.status, a.seat_no, b.seat_no) == ("invited", 1, 2)
    created = _events(session, "assignment.created")
    assert [e.payload["assignment_id"] for e in created] == [a.id, b.id]
    assert set(created[0].payload) == {"assignment_id", "occurrence_id", "volunteer_id", "role_id", "status",
                                       "forced"}
    assert _reminders(session, a) == {"assigned:0:0": "pending"}  # the notice; the seat owes the rest
    assert _reminders(session, a, MONDAY) == {"before:1440": "pending", "before:120": "pending",
                                              "assigned:0:0": "pending"}


def test_volunteer_found_by_phone_and_single_role_needs_no_name(session: Session) -> None:
    f.org(session)
    occ = f.occurrence(session, f.service(session), start=MONDAY)
    vol = f.volunteer(session, phone="13912345678")
    a = rosters.assign(session, "139 1234 5678", occ.id, None, now=NOW)
    assert a.volunteer_id == vol.id and a.role.name == "辅导员"


def test_full_role_refuses_with_capacity_full_even_forced(session: Session, world: dict) -> None:
    occ = world["occurrence"]
    rosters.assign(session, str(f.volunteer(session).id), occ.id, "看护", now=NOW)
    late = f.volunteer(session)
    with pytest.raises(CapacityFull, match="看护 .* is full"):
        rosters.assign(session, str(late.id), occ.id, "看护", force=True, now=NOW)
    assert session.scalar(select(Assignment).where(Assignment.volunteer_id == late.id)) is None


def test_waitlist_is_promoted_in_order_when_a_seat_frees(session: Session, world: dict) -> None:
    occ = world["occurrence"]
    holder = rosters.assign(session, str(f.volunteer(session).id), occ.id, "看护", now=NOW)
    w1 = rosters.assign(session, str(f.volunteer(session).id), occ.id, "看护", waitlist=True, now=NOW)
    w2 = rosters.assign(session, str(f.volunteer(session).id), occ.id, "看护", waitlist=True, now=NOW)
    assert (w1.status, w1.waitlist_pos, w1.seat_no, w2.waitlist_pos) == ("waitlisted", 1, None, 2)
    assert _reminders(session, w1) == {}

    rosters.unassign(session, str(holder.id), now=NOW)
    assert (holder.status, holder.seat_no) == ("cancelled", None)
    assert (w1.status, w1.seat_no, w1.waitlist_pos) == ("invited", 1, None)
    assert w2.status == "waitlisted"
    promoted = _events(session, "waitlist.promoted")
    assert [e.payload["assignment_id"] for e in promoted] == [w1.id]
    owed = _reminders(session, w1, MONDAY)
    assert (owed["promoted"], owed["before:120"]) == ("pending", "pending")
    assert not any(k.startswith("before:") for k in _reminders(session, holder))
    assert any(k.startswith("unassigned:") for k in _reminders(session, holder))

    rosters.decline(session, str(w1.id), "生病了", now=NOW)
    assert (w1.status, w1.reason, w2.status, w2.seat_no) == ("declined", "生病了", "invited", 1)


def test_assignment_view_holds_utc_and_its_json_is_the_stable_shape(session: Session, world: dict) -> None:
    occ = world["occurrence"]
    holder = rosters.assign(session, str(f.volunteer(session, name="王芳").id), occ.id, "看护", now=NOW)
    waiting = rosters.assign(session, str(f.volunteer(session, name="李明").id), occ.id, "看护", waitlist=True,
                             now=NOW)
    view = rosters.assignment_view(holder)
    assert view.start_at == MONDAY and view.start_at.utcoffset() == timedelta(0)
    assert f"{view.local_start:%Y-%m-%d %H:%M}" == "2026-12-07 16:30"
    assert view.as_json() == {
        "id": holder.id, "occurrence_id": occ.id, "service": occ.service.slug, "start": "2026-12-07T16:30:00+08:00",
        "role": "看护", "volunteer_id": holder.volunteer_id, "status": "invited", "seat_no": 1, "waitlist_pos": None,
        "forced": False, "force_note": None, "reason": None,
    }
    assert rosters.assignment_view(holder, with_name=True).as_json()["volunteer"] == "王芳"
    declined = rosters.declined_view(rosters.decline_shift(session, str(holder.id), "生病了", now=NOW)).as_json()
    assert (declined["status"], declined["reason"], declined["freed_seat"]) == ("declined", "生病了", 1)
    [promoted] = declined["promoted"]
    assert (promoted["id"], promoted["volunteer"], promoted["seat_no"], promoted["from_waitlist_pos"]) == \
        (waiting.id, "李明", 1, 1)


def _breaking_every_soft_rule(session: Session, world: dict) -> CheckRefused:
    """The refusal of a volunteer who breaks every soft rule at the world's occurrence."""
    occ = world["occurrence"]
    other = f.occurrence(session, f.service(session, start_time="17:00"), start=MONDAY + timedelta(minutes=30))
    vol = f.volunteer(session, skills=["cooking"], availability="sat 09:00-12:00", blackout=["2026-12-07"],
                      monthly_cap=2)
    rosters.assign(session, str(vol.id), other.id, None, force=True, now=NOW)
    with pytest.raises(CheckRefused) as refused:
        rosters.assign(session, str(vol.id), occ.id, "辅导员", now=NOW)
    return refused.value


def test_soft_checks_list_every_reason(session: Session, world: dict) -> None:
    refused = _breaking_every_soft_rule(session, world)
    kinds = [r.split(":")[0] for r in refused.reasons]
    assert kinds == ["skill", "availability", "blackout", "overlap", "monthly cap"]
    assert "mon 16:30-18:30" in refused.message and "--force" in refused.message


def test_soft_checks_read_in_chinese_for_a_chinese_coordinator(session: Session, world: dict) -> None:
    from scheduler.i18n import using

    with using("zh_CN"):
        refused = _breaking_every_soft_rule(session, world)
    kinds = [r.split("：")[0] for r in refused.reasons]
    assert kinds == ["技能", "可服务时间", "请假日期", "时间冲突", "每月上限"]
    assert not any(word in refused.message for word in ("needs", "not available", "away on", "already serves"))
    assert "周一 16:30-18:30" in refused.message and "mon 16:30" not in refused.message


def test_availability_is_in_the_services_local_time(session: Session, world: dict) -> None:
    occ = world["occurrence"]  # 08:30 UTC is 16:30 in Shanghai
    fits = f.volunteer(session, availability="mon-fri 16:00-19:00")
    utc_reader = f.volunteer(session, availability="mon 08:00-11:00")
    assert rosters.assign(session, str(fits.id), occ.id, "辅导员", now=NOW).seat_no == 1
    with pytest.raises(CheckRefused, match="availability"):
        rosters.assign(session, str(utc_reader.id), occ.id, "辅导员", now=NOW)


def test_monthly_cap_counts_the_calendar_month_including_this_shift(session: Session) -> None:
    f.org(session)
    svc = f.service(session)
    occs = [f.occurrence(session, svc, start=MONDAY + timedelta(days=d)) for d in (0, 1, 24)]  # Dec 7, 8, 31
    vol = f.volunteer(session, monthly_cap=4)
    rosters.assign(session, str(vol.id), occs[0].id, None, now=NOW)
    rosters.assign(session, str(vol.id), occs[1].id, None, now=NOW)  # 4 h: exactly the cap
    with pytest.raises(CheckRefused, match="6 h in 2026-12, over the cap of 4 h"):
        rosters.assign(session, str(vol.id), occs[2].id, None, now=NOW)


def test_force_overrides_soft_checks_and_is_recorded(session: Session, world: dict) -> None:
    occ = world["occurrence"]
    vol = f.volunteer(session, skills=[])
    a = rosters.assign(session, str(vol.id), occ.id, "辅导员", force=True, note="持教师资格证", now=NOW)
    assert (a.forced, a.force_note) == (True, "持教师资格证")
    assert a.explanation is not None and a.explanation["overridden"][0].startswith("skill:")
    assert _events(session, "assignment.created")[-1].payload["forced"] is True


def test_deactivated_volunteer_is_refused_even_forced(session: Session, world: dict) -> None:
    vol = f.volunteer(session)
    deactivate_volunteer(session, str(vol.id))
    with pytest.raises(Conflict, match="deactivated"):
        rosters.assign(session, str(vol.id), world["occurrence"].id, "辅导员", force=True, now=NOW)


def test_cancelled_or_past_occurrence_and_bad_refs_are_refused(session: Session, world: dict) -> None:
    cancelled = f.occurrence(session, world["service"], start=MONDAY + timedelta(days=1), status="cancelled")
    vol = f.volunteer(session)
    with pytest.raises(Conflict, match="cancelled"):
        rosters.assign(session, str(vol.id), cancelled.id, "辅导员", now=NOW)
    with pytest.raises(Conflict, match="already over"):
        rosters.assign(session, str(vol.id), world["occurrence"].id, "辅导员", now=MONDAY + timedelta(days=1))
    with pytest.raises(NotFound, match="role not found: 医生"):
        rosters.assign(session, str(vol.id), world["occurrence"].id, "医生", now=NOW)
    with pytest.raises(InvalidInput, match="occurrence"):
        rosters.assign(session, str(vol.id), "abc", "辅导员", now=NOW)
    with pytest.raises(NotFound, match="occurrence not found"):
        rosters.assign(session, str(vol.id), 99999, "辅导员", now=NOW)


def test_double_assign_is_a_conflict_and_assign_to_other_role_moves(session: Session, world: dict) -> None:
    occ = world["occurrence"]
    vol = f.volunteer(session)
    a = rosters.assign(session, str(vol.id), occ.id, "辅导员", now=NOW)
    with pytest.raises(Conflict, match="already invited"):
        rosters.assign(session, str(vol.id), occ.id, "辅导员", now=NOW)
    waiting = rosters.assign(session, str(f.volunteer(session).id), occ.id, "辅导员", now=NOW)
    full = rosters.assign(session, str(f.volunteer(session).id), occ.id, "辅导员", waitlist=True, now=NOW)
    moved = rosters.assign(session, str(vol.id), occ.id, "看护", now=NOW)
    assert moved.id == a.id and (moved.role.name, moved.seat_no) == ("看护", 1)
    assert any(k.startswith("role_changed:") for k in _reminders(session, moved))
    assert (full.status, full.seat_no) == ("invited", 1)  # promoted into the seat the move freed
    assert waiting.seat_no == 2


def test_confirm_then_decline_without_a_reason(session: Session, world: dict) -> None:
    occ = world["occurrence"]
    vol = f.volunteer(session)
    a = rosters.assign(session, str(vol.id), occ.id, "辅导员", now=NOW)
    assert rosters.confirm(session, str(vol.id), occ.id, now=NOW).status == "confirmed"
    with pytest.raises(Conflict, match="already confirmed"):
        rosters.confirm(session, str(a.id), now=NOW)
    declined = rosters.decline(session, str(a.id), "  ", now=NOW)  # the reason is optional
    assert (declined.status, declined.seat_no, declined.reason) == ("declined", None, None)
    assert [e.payload["status"] for e in _events(session, "assignment.changed")] == ["confirmed", "declined"]
    again = rosters.assign(session, str(vol.id), occ.id, "辅导员", now=NOW)  # reuses the declined row
    assert (again.id, again.status, again.reason) == (a.id, "invited", None)


def test_swap_trades_shifts_between_occurrences_keeping_seats(session: Session, world: dict) -> None:
    occ = world["occurrence"]
    tuesday = f.occurrence(session, world["service"], start=MONDAY + timedelta(days=1))
    x, y = f.volunteer(session), f.volunteer(session)
    rosters.assign(session, str(f.volunteer(session).id), occ.id, "辅导员", now=NOW)
    a = rosters.assign(session, str(x.id), occ.id, "辅导员", now=NOW)  # seat 2
    b = rosters.assign(session, str(y.id), tuesday.id, "辅导员", now=NOW)  # seat 1
    y_at_monday, x_at_tuesday = rosters.swap(session, str(a.id), str(b.id), now=NOW)
    assert (y_at_monday.volunteer_id, y_at_monday.occurrence_id, y_at_monday.seat_no) == (y.id, occ.id, 2)
    assert (x_at_tuesday.volunteer_id, x_at_tuesday.occurrence_id, x_at_tuesday.seat_no) == (x.id, tuesday.id, 1)
    assert (a.status, b.status) == ("cancelled", "cancelled")
    assert _reminders(session, x_at_tuesday, MONDAY + timedelta(days=1))["before:120"] == "pending"
    assert not any(k.startswith("before:") for k in _reminders(session, a))


def test_swap_hands_a_shift_to_another_volunteer_with_checks(session: Session, world: dict) -> None:
    occ = world["occurrence"]
    a = rosters.assign(session, str(f.volunteer(session).id), occ.id, "辅导员", now=NOW)
    untrained = f.volunteer(session, skills=[])
    with pytest.raises(CheckRefused, match="skill"):
        rosters.swap(session, str(a.id), to_volunteer=str(untrained.id), now=NOW)
    taker = f.volunteer(session)
    (row,) = rosters.swap(session, str(a.id), to_volunteer=str(taker.id), now=NOW)
    assert (row.volunteer_id, row.seat_no, row.status, a.status) == (taker.id, 1, "invited", "cancelled")


def test_swap_roles_within_one_occurrence(session: Session, world: dict) -> None:
    occ = world["occurrence"]
    x, y = f.volunteer(session), f.volunteer(session)
    a = rosters.assign(session, str(x.id), occ.id, "辅导员", now=NOW)
    b = rosters.assign(session, str(y.id), occ.id, "看护", now=NOW)
    rosters.swap(session, str(a.id), str(b.id), now=NOW)
    assert (a.role.name, a.seat_no, b.role.name, b.seat_no) == ("看护", 1, "辅导员", 1)
    assert any(k.startswith("role_changed:") for k in _reminders(session, a))


def test_unassign_attended_is_refused(session: Session, world: dict) -> None:
    a = rosters.assign(session, str(f.volunteer(session).id), world["occurrence"].id, "辅导员", now=NOW)
    a.status = "attended"
    session.flush()
    with pytest.raises(Conflict, match="attended"):
        rosters.unassign(session, str(a.id), now=NOW)
