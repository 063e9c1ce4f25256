"""Coordinators find and name things: volunteers by name, coming shifts with assignment ids, the
private feed link without rotating it, and fill's default window."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler import rosters
from scheduler.db import make_engine, session_scope, utcnow
from scheduler.errors import InvalidInput, NotFound
from scheduler.models import Service, Volunteer
from scheduler.planning.occurrences import cancel_occurrence
from scheduler.volunteers import coming_shifts, deactivate_volunteer, get_volunteer
from tests import factories as f

NOW = datetime(2026, 12, 1, tzinfo=UTC)
WEDNESDAY = datetime(2026, 12, 9, 8, 30, tzinfo=UTC)  # 周三 16:30 in Shanghai


def test_volunteer_is_found_by_a_unique_name(session: Session) -> None:
    f.org(session)
    wang = f.volunteer(session, name="王芳")
    f.volunteer(session, name="李娜")
    assert get_volunteer(session, "王芳") is wang
    assert get_volunteer(session, " 王芳 ") is wang
    with pytest.raises(NotFound):
        get_volunteer(session, "张伟")


def test_a_shared_name_is_refused_listing_the_ids(session: Session) -> None:
    f.org(session)
    first, second = f.volunteer(session, name="王芳"), f.volunteer(session, name="王芳")
    with pytest.raises(InvalidInput) as refused:
        get_volunteer(session, "王芳")
    assert refused.value.exit_code == InvalidInput.exit_code
    assert refused.value.message == (f"volunteer: 2 volunteers named 王芳: ids {first.id}, {second.id}; "
                                     "give an id or a phone number")
    deactivate_volunteer(session, str(first.id))
    assert get_volunteer(session, "王芳") is second  # an active volunteer wins over a deactivated namesake


def test_coming_shifts_list_assignment_ids_and_skip_past_and_cancelled(session: Session) -> None:
    f.org(session)
    svc = f.service(session, roles=["辅导员:1:tutor"])
    past = f.occurrence(session, svc, start=NOW - timedelta(days=2))
    wednesday = f.occurrence(session, svc, start=WEDNESDAY)
    later = f.occurrence(session, svc, start=WEDNESDAY + timedelta(days=7))
    called_off = f.occurrence(session, svc, start=WEDNESDAY + timedelta(days=1))
    wang, li = f.volunteer(session, name="王芳"), f.volunteer(session, name="李娜")
    rosters.assign(session, str(wang.id), past.id, force=True, note="test", now=NOW - timedelta(days=3))
    seat = rosters.assign(session, str(wang.id), wednesday.id, now=NOW)
    rosters.assign(session, str(li.id), later.id, now=NOW)
    waiting = rosters.assign(session, str(wang.id), later.id, waitlist=True, now=NOW)
    rosters.assign(session, str(wang.id), called_off.id, now=NOW)
    cancel_occurrence(session, called_off.id, "台风停课", now=NOW)

    shifts = coming_shifts(session, wang, now=NOW)
    assert [(s["assignment_id"], s["status"]) for s in shifts] == [(seat.id, "invited"), (waiting.id, "waitlisted")]
    assert (shifts[0]["date"], shifts[0]["weekday"], shifts[0]["time"]) == ("2026-12-09", "周三", "16:30-18:30")
    assert shifts[1]["waitlist_pos"] == 1


@pytest.fixture
def town(invoke, roster_env) -> Iterator[dict]:  # type: ignore[no-untyped-def]
    """Two volunteers named 王芳 and one 李娜, a weekday classroom with one occurrence 30 days ahead."""
    engine = make_engine(roster_env["ROSTER_DATABASE_URL"])
    start = (utcnow() + timedelta(days=30)).replace(hour=8, minute=30, second=0, microsecond=0)
    with session_scope(engine) as s:
        f.org(s)
        svc = f.service(s, slug="ketang", roles=["辅导员:1:tutor"])
        occ = f.occurrence(s, svc, start=start)
        ids = [f.volunteer(s, name=n, phone=p).id
               for n, p in (("王芳", "13800000001"), ("王芳", "13800000002"), ("李娜", "13800000003"))]
        assignment = rosters.assign(s, str(ids[2]), occ.id)
        data = {"invoke": invoke, "ids": ids, "occ": occ.id, "assignment": assignment.id, "start": start,
                "url": roster_env["ROSTER_DATABASE_URL"]}
    engine.dispose()
    yield data


def test_cli_takes_a_unique_name_and_refuses_a_shared_one(town: dict) -> None:
    invoke, (wang1, wang2, li) = town["invoke"], town["ids"]
    shown = invoke("volunteer", "show", "李娜", "--json")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["id"] == li
    refused = invoke("volunteer", "show", "王芳")
    assert refused.exit_code == InvalidInput.exit_code
    assert f"error: volunteer: 2 volunteers named 王芳: ids {wang1}, {wang2}" in refused.stderr
    assert invoke("volunteer", "edit", "李娜", "--monthly-cap", "10").exit_code == 0


def test_volunteer_show_lists_coming_shifts_with_assignment_ids(town: dict) -> None:
    invoke = town["invoke"]
    shown = invoke("volunteer", "show", "李娜")
    assert shown.exit_code == 0, shown.output
    assert "coming shifts" in shown.output and f"#{town['assignment']}" in shown.output
    data = json.loads(invoke("volunteer", "show", "李娜", "--json").output)
    assert [s["assignment_id"] for s in data["shifts"]] == [town["assignment"]]
    assert data["shifts"][0]["weekday"].startswith("周")
    assert "no coming shifts" in invoke("volunteer", "show", "13800000001").output


def test_feed_url_prints_the_current_private_link_without_rotating_it(town: dict, roster_env: dict) -> None:
    invoke, li = town["invoke"], town["ids"][2]
    engine = make_engine(town["url"])
    with session_scope(engine) as s:
        token = s.scalar(select(Volunteer.feed_token).where(Volunteer.id == li))
    printed = invoke("volunteer", "feed-url", "李娜")
    assert printed.exit_code == 0, printed.output
    assert f"http://localhost:8080/volunteers/{token}.ics" in printed.output
    assert f"webcal://localhost:8080/volunteers/{token}.ics" in printed.output
    data = json.loads(invoke("volunteer", "feed-url", str(li), "--json").output)
    assert data["https"] == f"http://localhost:8080/volunteers/{token}.ics"
    with session_scope(engine) as s:
        vol = s.get(Volunteer, li)
        assert vol is not None and vol.feed_token == token and vol.retired_feed_token is None
    engine.dispose()


def test_fill_without_dates_fills_the_coming_four_weeks(invoke, roster_env) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(roster_env["ROSTER_DATABASE_URL"])
    today = datetime(2026, 12, 7, tzinfo=UTC)  # a Monday; occurrences at 16:30 Shanghai time
    with session_scope(engine) as s:
        f.org(s)
        svc = f.service(s, slug="ketang", roles=["辅导员:1:tutor"])
        for days in (0, 27, 28):
            f.occurrence(s, svc, start=today + timedelta(days=days, hours=8, minutes=30))
        for n in range(3):
            f.volunteer(s, name=f"志愿者{n}")
        assert s.scalar(select(Service.id).where(Service.slug == "ketang"))
    engine.dispose()
    result = invoke("fill", "--today", "2026-12-07", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "would fill 2 seats in 2 occurrences (Mon 7 Dec 2026 to Sun 3 Jan 2027)" in result.output
    only_from = invoke("fill", "--from", "2026-12-08", "--today", "2026-12-07", "--dry-run", "--json")
    assert json.loads(only_from.output)["occurrences"] == 2  # 2026-12-08 .. 2027-01-04
