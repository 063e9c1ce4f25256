"""A plain `roster feeds publish` relays the outbox first: a change made with no worker running shows at once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest
from sqlalchemy import select

from scheduler.db import engine_for, session_scope
from scheduler.models import Event
from tests import factories as f

Invoke = Callable[..., Any]
SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass
class Roster:
    occurrences: list[int]
    volunteer: int
    token: str
    first_start: datetime
    feed_dir: Path


@pytest.fixture
def roster(invoke: Invoke, roster_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Roster:
    """One branch's classroom, three occurrences days ahead, one seated volunteer; every feed published."""
    monkeypatch.setenv("ROSTER_DOMAIN", "feeds.test")
    # The CLI publishes on the real clock: the data sits whole days ahead of it, so the window holds it.
    first = datetime.now(UTC).replace(hour=8, minute=30, second=0, microsecond=0) + timedelta(days=3)
    engine = engine_for(roster_env["ROSTER_DATABASE_URL"])
    with session_scope(engine) as s:
        f.org(s)
        svc = f.service(s, "classroom", roles=["辅导员:2"])
        occs = [f.occurrence(s, svc, first + timedelta(days=i)) for i in range(3)]
        vol = f.volunteer(s, "李晓")
        s.flush()
        ids, vid, token = [o.id for o in occs], vol.id, vol.feed_token
    engine.dispose()
    assert invoke("assign", str(vid), str(ids[0]), "--force").exit_code == 0
    published = invoke("feeds", "publish", "--all")
    assert published.exit_code == 0, published.output
    return Roster(ids, vid, token, first, Path(roster_env["ROSTER_FEED_DIR"]))


def events(path: Path) -> dict[str, icalendar.Event]:
    cal = icalendar.Calendar.from_ical(path.read_bytes())
    return {str(e["UID"]): e for e in cal.walk("VEVENT")}


def publish_plain(invoke: Invoke) -> str:
    result = invoke("feeds", "publish")
    assert result.exit_code == 0, result.output
    assert " 0 written" not in result.output, result.output
    return str(result.output)


def test_plain_publish_after_cancel_shows_it_cancelled(invoke: Invoke, roster: Roster) -> None:
    occ = roster.occurrences[0]
    assert invoke("occurrence", "cancel", str(occ), "--reason", "台风停课").exit_code == 0
    publish_plain(invoke)
    for path in (roster.feed_dir / "branches/shunjing.ics", roster.feed_dir / "communities/ailian.ics",
                 roster.feed_dir / "district.ics"):
        event = events(path)[f"occ-{occ}@feeds.test"]
        assert str(event["STATUS"]) == "CANCELLED" and str(event["SUMMARY"]).startswith("【已取消】")
    shifts = list(events(roster.feed_dir / f"volunteers/{roster.token}.ics").values())
    assert [str(e["STATUS"]) for e in shifts] == ["CANCELLED"]


def test_plain_publish_after_move_shows_the_new_time(invoke: Invoke, roster: Roster) -> None:
    occ = roster.occurrences[0]
    new_start = roster.first_start + timedelta(days=1, hours=2)
    local = new_start.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    moved = invoke("occurrence", "move", str(occ), "--to", local)
    assert moved.exit_code == 0, moved.output
    publish_plain(invoke)
    event = events(roster.feed_dir / "branches/shunjing.ics")[f"occ-{occ}@feeds.test"]
    assert event.decoded("DTSTART") == new_start
    shift = next(iter(events(roster.feed_dir / f"volunteers/{roster.token}.ics").values()))
    assert shift.decoded("DTSTART") == new_start


def test_plain_publish_after_assign_shows_the_new_shift_and_seats(invoke: Invoke, roster: Roster) -> None:
    occ = roster.occurrences[1]
    before = str(events(roster.feed_dir / "branches/shunjing.ics")[f"occ-{occ}@feeds.test"]["DESCRIPTION"])
    assert "还缺 2 名辅导员" in before
    assigned = invoke("assign", str(roster.volunteer), str(occ), "--force")
    assert assigned.exit_code == 0, assigned.output
    publish_plain(invoke)
    after = str(events(roster.feed_dir / "branches/shunjing.ics")[f"occ-{occ}@feeds.test"]["DESCRIPTION"])
    assert "还缺 1 名辅导员" in after
    assert len(events(roster.feed_dir / f"volunteers/{roster.token}.ics")) == 2


def test_plain_publish_after_unassign_drops_the_shift(invoke: Invoke, roster: Roster) -> None:
    assert invoke("unassign", str(roster.volunteer), str(roster.occurrences[0])).exit_code == 0
    publish_plain(invoke)
    assert events(roster.feed_dir / f"volunteers/{roster.token}.ics") == {}


def test_plain_publish_after_service_edit_shows_the_new_venue(invoke: Invoke, roster: Roster) -> None:
    edited = invoke("service", "edit", "classroom", "--venue", "顺景花园二楼活动室")
    assert edited.exit_code == 0, edited.output
    publish_plain(invoke)
    for event in events(roster.feed_dir / "branches/shunjing.ics").values():
        assert str(event["LOCATION"]) == "顺景花园二楼活动室"


def test_plain_publish_after_closure_shows_it_and_relays_everything(
    invoke: Invoke, roster: Roster, roster_env: dict[str, str]
) -> None:
    day = roster.first_start.astimezone(SHANGHAI).date() + timedelta(days=2)
    closed = invoke("closure", "add", "--scope", "branch:shunjing", "--from", day.isoformat(),
                    "--to", day.isoformat(), "--reason", "装修", "--today", roster.first_start.date().isoformat())
    assert closed.exit_code == 0, closed.output
    output = publish_plain(invoke)
    assert "relayed" in output
    summaries = {str(e["SUMMARY"]) for e in events(roster.feed_dir / "branches/shunjing.ics").values()}
    assert "【暂停】顺景花园党支部：装修" in summaries
    with session_scope(engine_for(roster_env["ROSTER_DATABASE_URL"])) as s:
        assert s.scalars(select(Event.id).where(Event.relayed_at.is_(None))).first() is None
