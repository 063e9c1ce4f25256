"""Change notices: volunteers are told what changed and why (privately), and told once of new shifts.

Real dispatcher runs: the console channel writes to a buffer, a local HTTP server stands in for a
WeCom group robot (SQLite and PostgreSQL).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from scheduler import rosters
from scheduler.db import session_scope
from scheduler.messages.channels import channels_from_settings
from scheduler.models import Occurrence, Reminder
from scheduler.planning.closures import add_closure
from scheduler.planning.occurrences import cancel_occurrence, move_occurrence, move_warnings
from scheduler.reminders.dispatch import dispatch_due
from scheduler.rosters.fill import fill
from tests import factories as f
from tests.workers_support import WebhookSink, settings_for

#: Monday 2026-12-07 10:00 in Shenzhen: outside quiet hours.
NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
#: Monday 2026-12-14 16:30 in Shenzhen, a day the factory service's rule runs.
NEXT_MONDAY = datetime(2026, 12, 14, 8, 30, tzinfo=UTC)


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    with WebhookSink() as server:
        yield server


def _dispatch(engine: Engine, sink: WebhookSink, now: datetime = NOW) -> str:
    """One dispatcher cycle; what the console channel printed."""
    stream = io.StringIO()
    settings = settings_for(str(engine.url), wecom_webhook=sink.url)
    dispatch_due(engine, settings, now=now, channels=channels_from_settings(settings, stream=stream),
                 max_batches=5, policy=settings.policy())
    return stream.getvalue()


def _group_texts(sink: WebhookSink) -> list[str]:
    return [entry["body"]["text"]["content"] for entry in sink.requests]


def _shift(engine: Engine, seats: int = 2) -> tuple[int, list[int]]:
    """An occurrence next Monday with a console volunteer and a WeCom-robot volunteer assigned."""
    with session_scope(engine) as s:
        f.org(s)
        svc = f.service(s, slug="classroom", roles=[f"辅导员:{seats}:tutor"])
        occ = f.occurrence(s, svc, start=NEXT_MONDAY)
        private = f.volunteer(s, name="王芳")
        group = f.volunteer(s, name="李明", channel="wecom")
        ids = [rosters.assign(s, str(v.id), occ.id, now=NOW).id for v in (private, group)]
        return occ.id, ids


def test_cancel_notice_tells_the_reason_in_the_private_message_never_to_the_group(
        engine: Engine, sink: WebhookSink) -> None:
    occ_id, _ = _shift(engine)
    _dispatch(engine, sink)  # the "assigned" notices
    sink.requests.clear()
    with session_scope(engine) as s:
        cancel_occurrence(s, occ_id, "台风停课，王老师另行通知", now=NOW)
    printed = _dispatch(engine, sink, NOW + timedelta(minutes=1))
    assert "【排班变更·已取消】四点半课堂" in printed
    assert "原因：台风停课，王老师另行通知" in printed
    (group,) = _group_texts(sink)
    assert "已取消" in group
    assert "台风" not in group and "王" not in group and "李明" not in group


def test_move_notice_tells_the_reason_and_the_old_time(engine: Engine, sink: WebhookSink) -> None:
    occ_id, _ = _shift(engine)
    _dispatch(engine, sink)
    sink.requests.clear()
    with session_scope(engine) as s:
        move_occurrence(s, occ_id, "2026-12-15 16:30", now=NOW, reason="场地改造")
    printed = _dispatch(engine, sink, NOW + timedelta(minutes=1))
    assert "时间已调整，原定 12月14日（周一）16:30，现改为：" in printed
    assert "时间：12月15日（周二）16:30-18:30" in printed and "原因：场地改造" in printed
    (group,) = _group_texts(sink)
    assert "场地改造" not in group


def test_closure_cancellation_tells_volunteers_the_closures_reason(engine: Engine, sink: WebhookSink) -> None:
    occ_id, _ = _shift(engine)
    _dispatch(engine, sink)
    with session_scope(engine) as s:
        add_closure(s, "branch", "shunjing", date(2026, 12, 14), date(2026, 12, 14), "党群之家装修",
                    today=date(2026, 12, 7), horizon_weeks=2, now=NOW)
        occurrence = s.get(Occurrence, occ_id)
        assert occurrence is not None and occurrence.status == "cancelled"
    printed = _dispatch(engine, sink, NOW + timedelta(minutes=1))
    assert "本场已取消" in printed and "原因：停课/闭馆：党群之家装修" in printed
    assert all("装修" not in text for text in _group_texts(sink))


def test_assign_by_hand_owes_one_assigned_notice(engine: Engine, sink: WebhookSink) -> None:
    _shift(engine)
    printed = _dispatch(engine, sink)
    assert printed.count("【排班通知·新排班】四点半课堂") == 1
    assert "您已被安排参加志愿服务「四点半课堂」" in printed and "时间：12月14日（周一）16:30-18:30" in printed
    (group,) = _group_texts(sink)  # the robot only learns that the roster changed, not whose
    assert "李明" not in group and "【排班变更】" in group


def test_assigned_notice_is_dropped_when_the_shift_was_taken_away_first(engine: Engine, sink: WebhookSink) -> None:
    _, (first, _) = _shift(engine)
    with session_scope(engine) as s:
        rosters.unassign(s, str(first), now=NOW)
    _dispatch(engine, sink)
    with session_scope(engine) as s:
        kinds = {r.kind.split(":")[0]: r.status for r in s.scalars(select(Reminder).where(
            Reminder.assignment_id == first))}
    assert kinds["assigned"] == "cancelled" and kinds["unassigned"] == "sent"


def test_fill_tells_each_volunteer_once_listing_all_their_new_shifts(engine: Engine, sink: WebhookSink) -> None:
    with session_scope(engine) as s:
        f.org(s)
        svc = f.service(s, slug="classroom", roles=["辅导员:1:tutor"])
        for day in range(3):
            f.occurrence(s, svc, start=NEXT_MONDAY + timedelta(days=day))
        only = f.volunteer(s, name="王芳")
        result = fill(s, date(2026, 12, 14), date(2026, 12, 20), now=NOW)
        assert result.filled == 3 and result.notified == 1
        ids = sorted(p.assignment_id or 0 for p in result.placements)
    with session_scope(engine) as s:
        (notice,) = s.scalars(select(Reminder).where(Reminder.kind.startswith("assigned")))
        assert (notice.assignment_id, notice.payload["assignment_ids"], notice.due_at) == (ids[0], ids, NOW)
    printed = _dispatch(engine, sink)
    assert printed.count("【排班通知·新排班】共3场") == 1 and f"志愿者#{only.id}" in printed
    for day in ("12月14日（周一）", "12月15日（周二）", "12月16日（周三）"):
        assert f"时间：{day}16:30-18:30" in printed


def test_move_outside_a_volunteers_availability_warns_and_names_them(session) -> None:  # type: ignore[no-untyped-def]
    f.org(session)
    svc = f.service(session, roles=["辅导员:2:tutor"])
    occ = f.occurrence(session, svc, start=NEXT_MONDAY)
    free_any_time = f.volunteer(session, name="王芳")
    weekday_afternoons = f.volunteer(session, name="李明", availability="mon 16:00-19:00")
    for v in (free_any_time, weekday_afternoons):
        rosters.assign(session, str(v.id), occ.id, now=NOW)
    moved = move_occurrence(session, occ.id, "2026-12-15 09:00", now=NOW)
    assert moved.start_at == datetime(2026, 12, 15, 1, 0, tzinfo=UTC)  # the move still happens
    (warning,) = move_warnings(session, moved)
    assert (warning["volunteer_id"], warning["volunteer"]) == (weekday_afternoons.id, "李明")
    assert warning["reasons"][0].startswith("availability:")
