"""The confirmation deadline (--confirm-by): unconfirmed seats go to the waitlist at the deadline,
on SQLite and PostgreSQL, with an injected clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler import rosters
from scheduler.models import Assignment, Event, Reminder
from scheduler.policy import DEFAULT_POLICY
from scheduler.rosters.deadline import REASON, release_unconfirmed
from tests import factories as f

NOW = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
# Monday 2026-12-07 16:30 in Shanghai; with --confirm-by 24 the deadline is Sunday 16:30.
MONDAY = datetime(2026, 12, 7, 8, 30, tzinfo=UTC)
DEADLINE = MONDAY - timedelta(hours=24)


@pytest.fixture
def world(session: Session) -> dict[str, Any]:
    f.org(session)
    strict = f.service(session, slug="clinic", title="义诊", roles=["看护:1", "辅导员:2:tutor"], confirm_hours=24)
    lax = f.service(session, slug="reading", title="亲子阅读", roles=["看护:1"])
    occ, other = f.occurrence(session, strict, start=MONDAY), f.occurrence(session, lax, start=MONDAY)
    late, waiting, sure, free = (f.volunteer(session, name=n) for n in ("王芳", "李明", "赵丽", "孙强"))
    ids = {
        "late": rosters.assign(session, str(late.id), occ.id, "看护", now=NOW).id,
        "waiting": rosters.assign(session, str(waiting.id), occ.id, "看护", waitlist=True, now=NOW).id,
        "sure": rosters.assign(session, str(sure.id), occ.id, "辅导员", now=NOW).id,
        "free": rosters.assign(session, str(free.id), other.id, "看护", now=NOW).id,
    }
    rosters.confirm(session, ids["sure"], now=NOW)
    session.flush()
    return ids


def _status(session: Session, assignment_id: int) -> tuple[str, str | None]:
    row = session.get(Assignment, assignment_id)
    assert row is not None
    session.refresh(row)
    return row.status, row.reason


def test_an_unconfirmed_seat_is_released_at_the_deadline_and_the_waitlist_moves_up(
        session: Session, world: dict[str, int]) -> None:
    assert release_unconfirmed(session, DEADLINE - timedelta(minutes=1), DEFAULT_POLICY).released == []
    result = release_unconfirmed(session, DEADLINE, DEFAULT_POLICY)
    assert (result.released, result.promoted) == ([world["late"]], [world["waiting"]])
    assert _status(session, world["late"]) == ("declined", REASON)
    assert _status(session, world["waiting"])[0] == "invited"
    told = {r.assignment_id: (r.kind.split(":")[0], r.payload) for r in session.scalars(select(Reminder))}
    assert told[world["waiting"]][0] == "promoted"
    assert told[world["late"]] == ("unassigned", {"change": "unassigned", "reason": REASON, "deadline": True})
    # The same events as a decline typed at the CLI.
    kinds = [e.kind for e in session.scalars(select(Event).order_by(Event.id))][-2:]
    assert kinds == ["assignment.changed", "waitlist.promoted"]


def test_confirmed_seats_and_services_without_a_deadline_are_untouched(
        session: Session, world: dict[str, int]) -> None:
    release_unconfirmed(session, DEADLINE + timedelta(hours=1), DEFAULT_POLICY)
    assert _status(session, world["sure"]) == ("confirmed", None)
    assert _status(session, world["free"]) == ("invited", None)  # 亲子阅读 has no --confirm-by


def test_running_twice_changes_nothing_more_and_the_promoted_volunteer_keeps_the_seat(
        session: Session, world: dict[str, int]) -> None:
    release_unconfirmed(session, DEADLINE + timedelta(minutes=3), DEFAULT_POLICY)
    before = (session.scalars(select(Reminder.id)).all(), session.scalars(select(Event.id)).all())
    # The next tick, and one long after (a worker that was down): the one promoted after the deadline
    # was invited after it, so keeps the seat until the shift.
    for later in (DEADLINE + timedelta(minutes=8), MONDAY - timedelta(minutes=1)):
        again = release_unconfirmed(session, later, DEFAULT_POLICY)
        assert again.as_dict() == {"released": [], "promoted": []}
    assert (session.scalars(select(Reminder.id)).all(), session.scalars(select(Event.id)).all()) == before
    assert _status(session, world["waiting"])[0] == "invited"


def test_a_worker_down_past_the_deadline_releases_on_its_next_run_but_not_after_the_start(
        session: Session, world: dict[str, int]) -> None:
    assert release_unconfirmed(session, MONDAY, DEFAULT_POLICY).released == []  # the shift has begun
    assert release_unconfirmed(session, MONDAY - timedelta(hours=3), DEFAULT_POLICY).released == [world["late"]]


def test_the_released_volunteer_is_told_why_in_a_personal_message_and_the_group_learns_no_name() -> None:
    from scheduler.messages import ShiftFacts, group_message, personal_message

    facts = ShiftFacts("义诊", MONDAY, MONDAY + timedelta(hours=2), "Asia/Shanghai", "党群服务中心", "看护",
                       reason=REASON)
    assert f"原因：{REASON}" in personal_message("unassigned:0:2", facts).body
    assert REASON not in group_message("unassigned:0:2", facts)


def test_beat_runs_the_release_every_five_minutes() -> None:
    from tasks.beat import beat_schedule

    entry = beat_schedule()["release-unconfirmed"]
    assert entry["task"] == "roster.release_unconfirmed" and entry["schedule"] == timedelta(minutes=5)


def test_confirm_by_is_set_shown_and_removed_from_the_cli(invoke: Any) -> None:
    assert invoke("community", "add", "ailian", "--name", "爱联社区").exit_code == 0
    assert invoke("branch", "add", "shunjing", "--name", "顺景花园党支部", "--community", "ailian").exit_code == 0
    added = invoke("service", "add", "clinic", "--title", "义诊", "--branch", "shunjing", "--every", "saturday",
                   "--start-date", "2026-12-05", "--time", "09:00", "--duration", "2h", "--role", "医生:1",
                   "--confirm-by", "24")
    assert added.exit_code == 0, added.output
    assert json.loads(invoke("service", "show", "clinic", "--json").output)["confirm_hours"] == 24
    assert invoke("service", "edit", "clinic", "--confirm-by", "0").exit_code == 0
    assert json.loads(invoke("service", "show", "clinic", "--json").output)["confirm_hours"] is None
    refused = invoke("service", "edit", "clinic", "--confirm-by", "400")
    assert refused.exit_code == 2 and "--confirm-by" in refused.output
