"""Auto-fill: fair, deterministic, every check, never a double booking (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from scheduler import rosters
from scheduler.errors import InvalidInput
from scheduler.models import Assignment, Event, Occurrence, Reminder
from scheduler.rosters.fill import fill, why
from tests import factories as f

NOW = datetime(2026, 12, 1, tzinfo=UTC)
MONDAY = datetime(2026, 12, 7, 8, 30, tzinfo=UTC)  # 16:30 in Shanghai
WEEK = (date(2026, 12, 7), date(2026, 12, 13))


def dispatcher_scans(session: Session, first: datetime, last: datetime, step: timedelta = timedelta(minutes=30)) -> int:
    """The dispatcher's scan every ``step`` from ``first`` to ``last`` (quiet hours 22:00-07:30, as
    DEFAULT_POLICY); returns the rows recorded."""
    from scheduler.policy import DEFAULT_POLICY
    from scheduler.reminders.scan import scan_due

    recorded, moment = 0, first
    while moment <= last:
        recorded += scan_due(session, moment, policy=DEFAULT_POLICY).recorded
        moment += step
    return recorded


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
    assert set(reminders) == {"assigned:fill"}  # the seats owe their reminders; no row is written for them
    assert dispatcher_scans(session, NOW, MONDAY) == 4
    reminders = {r.kind: r for r in session.scalars(select(Reminder).where(Reminder.assignment_id == aid))}
    assert set(reminders) == {"before:1440", "before:120", "assigned:fill"}
    assert reminders["before:120"].due_at == MONDAY - timedelta(minutes=120)
    explained = why(session, aid)
    assert explained["explanation"]["tier"] == "branch"
    text = "\n".join(explained["lines"])
    assert f"winner #{winner.id}: 0 no-shows, 0 min" in text
    assert f"next in line #{runner.id}" in text
    assert "own branch first" in text
    assert busy.id


def test_offsets_edited_after_a_fill_apply_to_the_next_scan(session: Session, town: dict) -> None:
    from scheduler.services import ServiceSpec, edit_service

    svc = f.service(session, roles=["辅导员:2:tutor"])
    f.occurrence(session, svc, start=MONDAY)
    f.volunteer(session), f.volunteer(session)
    assert fill(session, *WEEK, now=NOW).filled == 2
    assert dispatcher_scans(session, NOW, NOW + timedelta(hours=1)) == 0
    edit_service(session, svc.slug, ServiceSpec(reminder_offsets=[10080, 30]))  # a week ahead, and 30 min
    # The week-ahead instant passed a day ago: owed at the next scan, to both; 24 h and 2 h no more.
    assert dispatcher_scans(session, NOW + timedelta(hours=2), NOW + timedelta(hours=2)) == 2
    assert dispatcher_scans(session, NOW + timedelta(hours=2, minutes=30), MONDAY) == 2
    kinds = sorted(r.kind for r in session.scalars(select(Reminder).where(Reminder.kind.startswith("before:"))))
    assert kinds == ["before:10080", "before:10080", "before:30", "before:30"]


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
    from scheduler.rosters.fill import write_generic, write_postgres

    occ = f.occurrence(session, f.service(session, roles=["辅导员:2:tutor"]), start=MONDAY)
    role_id = occ.service.roles[0].id
    coordinator_pick, loser, winner = f.volunteer(session), f.volunteer(session), f.volunteer(session)
    rosters.assign(session, str(coordinator_pick.id), occ.id, None, now=NOW)  # seat 1, "while fill computed"
    stamp = NOW.replace(tzinfo=None)
    columns = ("occurrence_id", "role_id", "volunteer_id", "status", "seat_no", "forced", "explanation",
               "sequence", "created_at", "updated_at")
    rows = [(occ.id, role_id, vid, "invited", seat, False, '{"method":"fill"}', 0, stamp, stamp)
            for vid, seat in ((loser.id, 1), (winner.id, 2))]
    insert = (write_postgres.insert_assignments if session.get_bind().dialect.name == "postgresql"
              else write_generic.insert_assignments)
    inserted = insert(session, columns, rows)
    assert set(inserted) == {(occ.id, winner.id)}
    assert _seated(session) == [(occ.id, coordinator_pick.id, 1), (occ.id, winner.id, 2)]


def test_fill_reminders_are_timed_keyed_and_routed_like_a_coordinators_assignment(
        session: Session, town: dict) -> None:
    """Seats written in bulk (COPY on PostgreSQL) are owed the same reminders as a coordinator's
    assignment: due out of quiet hours, on the volunteer's channel or the default."""
    from scheduler.models import idempotency_key

    early = datetime(2026, 12, 8, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai: 2 h before is in quiet hours
    svc = f.service(session, roles=["辅导员:2:tutor"])
    by_fill = f.occurrence(session, svc, start=early)
    by_hand = f.occurrence(session, f.service(session, roles=["辅导员:1:tutor"]), start=early)
    texter, plain = f.volunteer(session, channel="sms"), f.volunteer(session)
    coordinator_pick = f.volunteer(session, branch="zilu")
    manual = rosters.assign(session, str(coordinator_pick.id), by_hand.id, None, now=NOW)
    result = fill(session, *WEEK, now=NOW)
    assert {p.volunteer_id for p in result.placements if p.occurrence_id == by_fill.id} == {texter.id, plain.id}
    assert dispatcher_scans(session, NOW, early) == 6

    def owed(aid: int) -> dict[str, tuple[str, datetime, str]]:
        return {r.kind: (r.channel, r.due_at, r.idempotency_key)
                for r in session.scalars(select(Reminder).where(Reminder.assignment_id == aid,
                                                                Reminder.kind.startswith("before:")))}

    expected_due = {kind: due for kind, (_, due, _) in owed(manual.id).items()}
    assert expected_due["before:120"] == datetime(2026, 12, 7, 23, 30, tzinfo=UTC)  # 07:30, end of quiet hours
    for p in result.placements:
        if p.occurrence_id != by_fill.id:
            continue
        assert p.assignment_id is not None
        channel = "sms" if p.volunteer_id == texter.id else "console"
        rows = owed(p.assignment_id)
        assert {kind: due for kind, (_, due, _) in rows.items()} == expected_due
        assert {kind: (ch, key) for kind, (ch, _, key) in rows.items()} == {
            kind: (channel, idempotency_key(p.assignment_id, kind, channel, early)) for kind in expected_due}


def test_fill_orders_candidates_exactly_as_a_full_sort_would(session: Session, town: dict) -> None:
    """Candidates are drawn lazily from a heap: the winners, the passed over and the runners-up are
    those of ranking the whole pool."""
    vols = [f.volunteer(session) for _ in range(8)]
    for days, vol in zip((2, 4, 6, 8, 10), vols[3:], strict=True):  # loaded ones rank after the fresh ones
        _past_shift(session, vol.id, days)
    svc = f.service(session, roles=["辅导员:3:tutor"])
    f.occurrence(session, svc, start=MONDAY)
    result = fill(session, *WEEK, now=NOW)
    fresh = [v.id for v in vols[:3]]
    loaded_by_recency = [v.id for v in reversed(vols[3:])]  # served longest ago first
    assert [p.volunteer_id for p in result.placements] == fresh
    last = why(session, result.placements[-1].assignment_id or 0)["explanation"]
    assert [r[0] for r in last["runners_up"]] == loaded_by_recency[:2]


def test_why_never_offers_an_ineligible_candidate_as_next_in_line(session: Session, town: dict) -> None:
    f.occurrence(session, f.service(session, roles=["辅导员:1:tutor"]), start=MONDAY)
    winner = f.volunteer(session)
    away = f.volunteer(session, blackout=["2026-12-07"])  # ranked right after the winner
    capped = f.volunteer(session, monthly_cap=1)  # a 2 h shift is over a 1 h cap
    free = f.volunteer(session)
    result = fill(session, *WEEK, now=NOW)
    assert [p.volunteer_id for p in result.placements] == [winner.id]
    explained = why(session, result.placements[0].assignment_id or 0)
    assert [r[0] for r in explained["explanation"]["runners_up"]] == [free.id]
    assert explained["explanation"]["ineligible_next"] == [[away.id, "blackout"], [capped.id, "monthly cap"]]
    lines = explained["lines"]
    assert f"next in line #{free.id}: 0 no-shows, 0 min served or rostered, last served never" in lines
    assert f"ranked next but not eligible #{away.id}: blackout" in lines
    assert f"ranked next but not eligible #{capped.id}: monthly cap" in lines
    assert not any(line.startswith((f"next in line #{away.id}:", f"next in line #{capped.id}:")) for line in lines)


def test_stored_explanation_text_is_the_json_of_the_explanation() -> None:
    import json

    from scheduler.rosters.fill.explain import explanation_json, explanation_of

    raws = [
        ("branch", (0, 0, 0, 7), 3, {}, (), (), ()),
        ("community", (1, 240, 1_772_000_000, 9), 41, {"monthly cap": 3, "overlap": 1, 'odd "quote"\\': 2},
         ((5, "monthly cap"), (6, "overlap")), ((0, 120, 1_771_000_000, 11), (2, 360, 0, 12)),
         ((13, "blackout"), (14, "monthly cap"))),
    ]
    for raw in raws:
        text = explanation_json(raw)
        assert text == json.dumps(explanation_of(raw), separators=(",", ":"))
        assert json.loads(text) == explanation_of(raw)


def test_seats_streamed_in_many_batches_each_get_their_reminders(
        session: Session, town: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """On PostgreSQL seats go in while the plan goes on, a batch at a time; a batch per occurrence
    here. Every seat is written once and owed its two before-shift reminders; SQLite writes at the end."""
    from scheduler.rosters.fill import write_postgres

    monkeypatch.setattr(write_postgres, "STREAM_BATCH", 1)
    svc = f.service(session, roles=["辅导员:2:tutor"])
    for day in range(4):
        f.occurrence(session, svc, start=MONDAY + timedelta(days=day))
    for _ in range(3):
        f.volunteer(session)
    result = fill(session, *WEEK, now=NOW)
    assert result.filled == 8 and result.lost_races == 0
    ids = sorted(p.assignment_id or 0 for p in result.placements)
    assert ids == sorted(session.scalars(select(Assignment.id).where(Assignment.seat_no.is_not(None))))
    assert dispatcher_scans(session, NOW, MONDAY + timedelta(days=4), step=timedelta(hours=1)) == 16
    per_seat = dict(session.execute(select(Reminder.assignment_id, func.count())
                                    .where(Reminder.kind.startswith("before:")).group_by(Reminder.assignment_id)).all())
    assert per_seat == {aid: 2 for aid in ids}
    notices = session.scalars(select(Reminder).where(Reminder.kind.startswith("assigned"))).all()
    assert len(notices) == 3  # one per volunteer, not one per seat


def test_a_volunteers_notice_names_their_shifts_by_start_whatever_the_row_ids(session: Session, town: dict) -> None:
    """SQLite inserts the seats in key order (occurrence id first), so ids need not follow the
    starts: the "assigned" notice still lists the new shifts by start and is keyed on the first."""
    svc = f.service(session, roles=["辅导员:1:tutor"])
    later = f.occurrence(session, svc, start=MONDAY + timedelta(days=2))  # the lower occurrence id
    sooner = f.occurrence(session, svc, start=MONDAY)
    vol = f.volunteer(session)
    result = fill(session, *WEEK, now=NOW)
    seat = {p.occurrence_id: p.assignment_id for p in result.placements}
    assert set(seat) == {later.id, sooner.id}
    notice = session.scalars(select(Reminder).where(Reminder.kind.startswith("assigned"))).one()
    assert notice.payload["assignment_ids"] == [seat[sooner.id], seat[later.id]]
    assert notice.assignment_id == seat[sooner.id]
    assert notice.shift_start.replace(tzinfo=None) == MONDAY.replace(tzinfo=None)
    assert session.get(Assignment, seat[sooner.id]).volunteer_id == vol.id


def _dispersed_city(session: Session) -> None:
    """Three communities whose occurrences interleave in time: branch-run and community-run
    services, volunteers with monthly caps (so some are passed over and some seats stay open)."""
    f.community(session, "longdong", "龙东社区")
    f.branch(session, "heping", "和平党支部", community_slug="longdong")
    services = [f.service(session, roles=["辅导员:3:tutor"]),
                f.service(session, roles=["帮手:2"], branch="hupan"),
                f.service(session, roles=["辅导员:2:tutor", "帮手:1"], branch=None, community="longxi"),
                f.service(session, roles=["辅导员:2:tutor"], branch="heping")]
    for day in range(5):
        for n, svc in enumerate(services):
            f.occurrence(session, svc, start=MONDAY + timedelta(days=day, minutes=10 * (3 - n)))
    for n, home in enumerate(["shunjing", "zilu", "hupan", "heping"] * 3):
        f.volunteer(session, branch=home, monthly_cap=4 if n % 3 == 0 else None)


def _fields(result: object) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    return ([tuple(getattr(p, name) for name in p.__slots__) for p in result.placements],  # type: ignore[attr-defined]
            [tuple(getattr(o, name) for name in o.__slots__) for o in result.open_seats])  # type: ignore[attr-defined]


def test_planning_community_by_community_makes_the_choices_of_one_pass_in_start_order(
        session: Session, town: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """The pass goes a group of communities at a time (cache-friendly at city scale): the seats,
    their explanations and the open seats are exactly those of one pass over all in start order."""
    from scheduler.rosters.fill import ranking

    _dispersed_city(session)
    grouped_into: list[int] = []
    real = ranking.independent_groups

    def spy(*args: object) -> list[list[int]]:
        groups = real(*args)  # type: ignore[arg-type]
        grouped_into.append(len(groups))
        return groups

    monkeypatch.setattr(ranking, "independent_groups", spy)
    grouped = fill(session, *WEEK, now=NOW, dry_run=True)
    monkeypatch.setattr(ranking, "independent_groups", lambda planner, occurrences, services: [list(range(len(occurrences)))])
    single = fill(session, *WEEK, now=NOW, dry_run=True)
    assert grouped_into == [3]  # ailian, longxi, longdong
    assert grouped.open_seats and any("monthly cap" in str(p.choice) for p in grouped.placements)
    assert _fields(grouped) == _fields(single)
    assert (grouped.seats, grouped.already_taken, grouped.filled) == (single.seats, single.already_taken, single.filled)


def test_seats_planned_by_community_and_streamed_are_written_once_in_start_order(
        session: Session, town: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    from scheduler.rosters.fill import write_postgres

    monkeypatch.setattr(write_postgres, "STREAM_BATCH", 2)
    _dispersed_city(session)
    result = fill(session, *WEEK, now=NOW)
    starts = {occ.id: occ.start_at for occ in session.scalars(select(Occurrence))}
    order = [(starts[p.occurrence_id], p.occurrence_id) for p in result.placements]
    assert order == sorted(order)
    written = {tuple(row) for row in session.execute(select(Assignment.id, Assignment.occurrence_id,
                                                             Assignment.volunteer_id).where(Assignment.seat_no.is_not(None)))}
    assert written == {(p.assignment_id, p.occurrence_id, p.volunteer_id) for p in result.placements}
    assert result.filled == len(written) > 0 and result.lost_races == 0


def test_communities_sharing_a_branchs_volunteers_are_planned_together() -> None:
    from scheduler.rosters.fill.ranking import Candidate, Planner, independent_groups

    def vol(vid: int, branch: int, community: int) -> Candidate:
        return Candidate(id=vid, name="", branch=branch, community=community, skills=frozenset(), availability={},
                         blackout=frozenset(), cap_minutes=0, channel="")

    planner = Planner({1: vol(1, 10, 100), 2: vol(2, 20, 200), 3: vol(3, 30, 300)})
    # service: (id, slug, branch_id, community_id, ...); service 2 is community 300's, run by branch 20 of 200
    services = {1: (1, "a", 10, 100), 2: (2, "b", 20, 300), 3: (3, "c", None, 300), 4: (4, "d", 30, 300),
                5: (5, "e", 40, 500)}
    occurrences = [(n, sid) for n, sid in enumerate([3, 1, 5, 2, 4, 1, 3], start=1)]
    assert independent_groups(planner, occurrences, services) == [[0, 3, 4, 6], [1, 5], [2]]


def test_a_seat_taken_between_plan_and_write_is_reported_lost_never_doubled(
        session: Session, town: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another writer's seat that lands after the plan chose it: the fill skips that seat, keeps the
    rest with their ids, and reports the lost one as open (both backends' conflict paths)."""
    import scheduler.rosters.fill as fill_module

    svc = f.service(session, roles=["辅导员:2:tutor"])
    occ = f.occurrence(session, svc, start=MONDAY)
    later = f.occurrence(session, svc, start=MONDAY + timedelta(days=1))
    chosen = [f.volunteer(session) for _ in range(2)]
    outsider = f.volunteer(session, branch="hupan")
    real_plan = fill_module.plan

    def plan_then_a_rival_takes_seat_1(*args: object, **kwargs: object) -> None:
        real_plan(*args, **kwargs)  # type: ignore[arg-type]
        session.add(Assignment(occurrence_id=occ.id, role_id=svc.roles[0].id, volunteer_id=outsider.id,
                               status="confirmed", seat_no=1, explanation=None))
        session.flush()

    monkeypatch.setattr(fill_module, "plan", plan_then_a_rival_takes_seat_1)
    result = fill(session, *WEEK, now=NOW)
    assert result.lost_races == 1 and result.filled == 3
    assert [(o.occurrence_id, o.open) for o in result.open_seats] == [(occ.id, 1)]
    rows = {(a.occurrence_id, a.seat_no): a for a in session.scalars(select(Assignment))}
    assert rows[(occ.id, 1)].volunteer_id == outsider.id
    assert {rows[(occ.id, 2)].volunteer_id, rows[(later.id, 1)].volunteer_id, rows[(later.id, 2)].volunteer_id} \
        <= {v.id for v in chosen}
    for p in result.placements:
        assert rows[(p.occurrence_id, p.seat_no)].id == p.assignment_id
        assert rows[(p.occurrence_id, p.seat_no)].volunteer_id == p.volunteer_id


def test_fill_reads_what_the_session_changed_but_did_not_flush_yet(session: Session, town: dict) -> None:
    """The bulk reads go through the Core connection (no autoflush): the fill flushes first."""
    f.occurrence(session, f.service(session, roles=["辅导员:2:tutor"]), start=MONDAY)
    away, here = f.volunteer(session), f.volunteer(session)
    session.flush()
    away.active = False  # pending in the session, not yet in the database
    result = fill(session, *WEEK, now=NOW)
    assert [p.volunteer_id for p in result.placements] == [here.id]


def test_a_fill_leaves_no_young_garbage_pass_to_walk_its_objects(session: Session, town: dict) -> None:
    """The cyclic collector is paused during a fill; when it resumes, what the fill made is in the
    oldest generation, not pending for the next young collection (which would walk all of it)."""
    import gc

    f.occurrence(session, f.service(session, roles=["辅导员:2:tutor"]), start=MONDAY)
    for _ in range(3):
        f.volunteer(session)
    session.flush()
    assert gc.isenabled()
    threshold = gc.get_threshold()[0]
    gc.collect()
    allocated_before = gc.get_count()[0]
    result = fill(session, *WEEK, now=NOW)
    assert result.filled == 2
    assert gc.isenabled()
    assert gc.get_count()[0] < max(threshold, allocated_before + 50)
