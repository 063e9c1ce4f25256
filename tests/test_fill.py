"""Auto-fill: fair, deterministic, every check, never a double booking (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from scheduler import rosters
from scheduler.errors import InvalidInput
from scheduler.fill import fill, why
from scheduler.models import Assignment, Event, Reminder
from tests import factories as f

NOW = datetime(2026, 12, 1, tzinfo=UTC)
MONDAY = datetime(2026, 12, 7, 8, 30, tzinfo=UTC)  # 16:30 in Shanghai
WEEK = (date(2026, 12, 7), date(2026, 12, 13))


@pytest.fixture
def town(session: Session) -> dict[str, object]:
    """Community ailian with branches shunjing (the service's) and zilu; community longxi with hupan."""
    f.org(session)
    f.branch(session, "zilu", "紫麓花园党支部")
    f.community(session, "longxi", "龙西社区")
    f.branch(session, "hupan", "湖畔党支部", community_slug="longxi")
    return {}


def _seated(session: Session) -> list[tuple[int, int, int]]:
    session.flush()
    return [tuple(r) for r in session.execute(select(Assignment.occurrence_id, Assignment.volunteer_id, Assignment.seat_no)
                                .where(Assignment.seat_no.is_not(None)).order_by(Assignment.id))]


def _past_shift(session: Session, vol_id: int, days_before: int, status: str = "attended") -> None:
    svc = f.service(session, roles=["帮手:5"])
    occ = f.occurrence(session, svc, start=MONDAY - timedelta(days=days_before))
    session.add(Assignment(occurrence_id=occ.id, role_id=svc.roles[0].id, volunteer_id=vol_id, status=status,
                           seat_no=1, explanation=None))
    session.flush()


def test_own_branch_first_then_community_never_another_community(session: Session, town: dict) -> None:
    occ = f.occurrence(session, f.service(session, roles=["辅导员:4:tutor"]), start=MONDAY)
    own = f.volunteer(session)
    neighbours = [f.volunteer(session, branch="zilu") for _ in range(5)]
    strangers = [f.volunteer(session, branch="hupan") for _ in range(5)]
    result = fill(session, *WEEK, now=NOW)
    chosen = [vid for _, vid, _ in _seated(session)]
    assert chosen == [own.id, neighbours[0].id, neighbours[1].id, neighbours[2].id]
    assert [p.tier for p in result.placements] == ["branch", "community", "community", "community"]
    assert not set(chosen) & {s.id for s in strangers}
    assert (result.filled, result.left_open, result.occurrences) == (4, 0, 1)
    assert occ.id == result.placements[0].occurrence_id


def test_least_loaded_then_least_recently_served_then_lowest_id(session: Session, town: dict) -> None:
    busy, recent, old, fresh_a, fresh_b = (f.volunteer(session) for _ in range(5))
    _past_shift(session, busy.id, 3)
    _past_shift(session, busy.id, 5)
    _past_shift(session, recent.id, 2)
    _past_shift(session, old.id, 20)
    _past_shift(session, old.id, 60)  # outside the 28-day window: does not count as load
    svc = f.service(session, roles=["辅导员:1:tutor"])
    occs = [f.occurrence(session, svc, start=MONDAY + timedelta(days=d)) for d in range(5)]
    fill(session, *WEEK, now=NOW)
    order = [vid for _, vid, _ in _seated(session)[-5:]]
    # Never served in the window first (by id), then the one who served longest ago, then by load.
    assert order == [fresh_a.id, fresh_b.id, old.id, recent.id, fresh_a.id]
    assert len(occs) == 5


def test_recent_no_shows_rank_lower(session: Session, town: dict) -> None:
    flaky, steady = f.volunteer(session), f.volunteer(session)
    _past_shift(session, flaky.id, 30, status="no_show")
    _past_shift(session, steady.id, 2)
    f.occurrence(session, f.service(session, roles=["辅导员:1:tutor"]), start=MONDAY)
    fill(session, *WEEK, now=NOW)
    assert _seated(session)[-1][1] == steady.id


def test_never_double_books_a_volunteer(session: Session, town: dict) -> None:
    only = f.volunteer(session)
    a = f.occurrence(session, f.service(session, roles=["辅导员:1:tutor"]), start=MONDAY)
    b = f.occurrence(session, f.service(session, roles=["辅导员:1:tutor"]), start=MONDAY + timedelta(minutes=60))
    result = fill(session, *WEEK, now=NOW)
    assert _seated(session) == [(a.id, only.id, 1)]
    (left,) = result.open_seats
    assert left.occurrence_id == b.id and "1 overlap" in left.reason


def test_fill_applies_skill_availability_blackout_cap_and_respects_declines(session: Session, town: dict) -> None:
    occ = f.occurrence(session, f.service(session, roles=["医生:1:doctor"]), start=MONDAY)
    f.volunteer(session, skills=["nurse"])
    f.volunteer(session, skills=["doctor"], availability="sat 09:00-12:00")
    f.volunteer(session, skills=["doctor"], blackout=["2026-12-07"])
    f.volunteer(session, skills=["doctor"], monthly_cap=1)
    declined = f.volunteer(session, skills=["doctor"])
    rosters.assign(session, str(declined.id), occ.id, "医生", now=NOW)
    rosters.decline(session, str(declined.id), "出差", occ.id, now=NOW)
    result = fill(session, *WEEK, dry_run=True, now=NOW)
    assert result.placements == []
    (left,) = result.open_seats
    assert left.open == 1
    for part in ("1 lack skill doctor", "1 not available mon 16:30-18:30", "1 blackout", "1 monthly cap",
                 "1 already on this occurrence"):
        assert part in left.reason, left.reason


def test_dry_run_writes_nothing_and_matches_the_real_run(session: Session, town: dict) -> None:
    svc = f.service(session, roles=["辅导员:2:tutor", "看护:1"])
    for d in range(3):
        f.occurrence(session, svc, start=MONDAY + timedelta(days=d))
    for _ in range(4):
        f.volunteer(session)
    session.flush()
    before = session.scalar(select(func.count()).select_from(Event))
    planned = fill(session, *WEEK, dry_run=True, now=NOW)
    again = fill(session, *WEEK, dry_run=True, now=NOW)
    assert session.scalar(select(func.count()).select_from(Assignment)) == 0
    assert session.scalar(select(func.count()).select_from(Event)) == before
    key = [(p.occurrence_id, p.role, p.seat_no, p.volunteer_id) for p in planned.placements]
    assert key == [(p.occurrence_id, p.role, p.seat_no, p.volunteer_id) for p in again.placements]
    done = fill(session, *WEEK, now=NOW)
    assert key == [(p.occurrence_id, p.role, p.seat_no, p.volunteer_id) for p in done.placements]
    assert done.filled == 9 and all(p.assignment_id for p in done.placements)


def test_fill_writes_events_reminders_and_an_explanation(session: Session, town: dict) -> None:
    f.occurrence(session, f.service(session, roles=["辅导员:1:tutor"]), start=MONDAY)
    winner, runner = f.volunteer(session), f.volunteer(session)
    busy = f.volunteer(session)
    f.occurrence(session, f.service(session, roles=["看护:1"]), start=MONDAY)
    result = fill(session, *WEEK, now=NOW)
    assert result.filled == 2
    aid = result.placements[0].assignment_id
    assert aid is not None
    (event,) = session.scalars(select(Event).where(Event.kind == "assignment.created"))
    assert event.payload["assignment_ids"] == [p.assignment_id for p in result.placements]
    assert event.payload["volunteer_ids"] == sorted([winner.id, runner.id])
    assert set(event.payload) == {"assignment_ids", "occurrence_ids", "volunteer_ids", "status", "via"}
    reminders = {r.kind: r for r in session.scalars(select(Reminder).where(Reminder.assignment_id == aid))}
    assert set(reminders) == {"before:1440", "before:120"}
    assert reminders["before:120"].due_at == MONDAY - timedelta(minutes=120)
    explained = why(session, aid)
    assert explained["explanation"]["tier"] == "branch"
    text = "\n".join(explained["lines"])
    assert f"winner #{winner.id}: 0 no-shows, 0 min" in text
    assert f"next in line #{runner.id}" in text
    assert "own branch first" in text
    assert busy.id


def test_fill_only_takes_free_seats_and_a_second_run_adds_nothing(session: Session, town: dict) -> None:
    occ = f.occurrence(session, f.service(session, roles=["辅导员:3:tutor"]), start=MONDAY)
    held = f.volunteer(session)
    rosters.assign(session, str(held.id), occ.id, None, now=NOW)
    others = [f.volunteer(session) for _ in range(4)]
    first = fill(session, *WEEK, now=NOW)
    assert (first.already_taken, first.filled) == (1, 2)
    assert _seated(session) == [(occ.id, held.id, 1), (occ.id, others[0].id, 2), (occ.id, others[1].id, 3)]
    assert fill(session, *WEEK, now=NOW).filled == 0


def test_fill_scope_and_range_and_past_occurrences(session: Session, town: dict) -> None:
    f.volunteer(session)
    f.volunteer(session, branch="hupan")
    mine = f.occurrence(session, f.service(session, roles=["辅导员:1"]), start=MONDAY)
    theirs = f.occurrence(session, f.service(session, branch="hupan", roles=["辅导员:1"]), start=MONDAY)
    f.occurrence(session, f.service(session, roles=["辅导员:1"]), start=NOW - timedelta(days=1))
    f.occurrence(session, f.service(session, roles=["辅导员:1"]), start=MONDAY + timedelta(days=7))
    result = fill(session, *WEEK, community="longxi", dry_run=True, now=NOW)
    assert [p.occurrence_id for p in result.placements] == [theirs.id]
    result = fill(session, NOW.date() - timedelta(days=3), WEEK[1], branch="shunjing", dry_run=True, now=NOW)
    assert [p.occurrence_id for p in result.placements] == [mine.id]
    with pytest.raises(InvalidInput, match="to"):
        fill(session, WEEK[1], WEEK[0], now=NOW)


def test_bulk_insert_skips_a_seat_another_writer_took_meanwhile(session: Session, town: dict) -> None:
    from scheduler import fill as fill_module

    occ = f.occurrence(session, f.service(session, roles=["辅导员:2:tutor"]), start=MONDAY)
    role_id = occ.service.roles[0].id
    coordinator_pick, loser, winner = f.volunteer(session), f.volunteer(session), f.volunteer(session)
    rosters.assign(session, str(coordinator_pick.id), occ.id, None, now=NOW)  # seat 1, "while fill computed"
    stamp = NOW.replace(tzinfo=None)
    columns = ("occurrence_id", "role_id", "volunteer_id", "status", "seat_no", "forced", "explanation",
               "sequence", "created_at", "updated_at")
    rows = [(occ.id, role_id, vid, "invited", seat, False, '{"method":"fill"}', 0, stamp, stamp)
            for vid, seat in ((loser.id, 1), (winner.id, 2))]
    insert = (fill_module._pg_insert_assignments if session.get_bind().dialect.name == "postgresql"
              else fill_module._generic_insert_assignments)
    inserted = insert(session, columns, rows)
    assert set(inserted) == {(occ.id, winner.id)}
    assert _seated(session) == [(occ.id, coordinator_pick.id, 1), (occ.id, winner.id, 2)]
