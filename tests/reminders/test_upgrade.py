"""The upgrade to derived reminders (migration 0002) on a database written by revision 0001's code.

``tests/fixtures/roster-0001.db`` was made by the code of commit 4aee01f
(``tests/fixtures/make_0001_db.py``): the Longcheng demo, two days of hourly dispatches (reminders
sent), one failed, one claimed by a worker that died, a shift moved after its rows were written.
On PostgreSQL the same rows are loaded into a database migrated to 0001. After the upgrade no
unsent reminder is lost and none is sent twice.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, MetaData, create_engine, select, text

from scheduler.db import make_engine, session_scope
from scheduler.messages.channels import ChannelSet, NullChannel, Outgoing
from scheduler.migrate import current_revision, upgrade
from scheduler.models import Assignment, Occurrence, Reminder
from scheduler.planning.occurrences import move_occurrence
from scheduler.policy import DEFAULT_POLICY
from scheduler.reminders.dispatch import dispatch_due
from scheduler.reminders.scan import scan_due
from tests.workers_support import settings_for

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
MADE = json.loads((FIXTURES / "roster-0001.json").read_text())
#: The instant the fixture's dispatches stopped: the upgraded dispatcher takes over from here.
TAKEOVER = datetime.fromisoformat(MADE["sent_at"])


def _load_into_postgres(source: Engine, url: str) -> None:
    """Every row of the 0001 SQLite database into a PostgreSQL database migrated to 0001."""
    target = make_engine(url)
    upgrade(target, "0001")
    tables = MetaData()
    tables.reflect(source)
    with source.connect() as read, target.begin() as write:
        for table in tables.sorted_tables:
            if table.name == "alembic_version":
                continue
            rows = [dict(row._mapping) for row in read.execute(table.select())]
            if rows:
                write.execute(table.insert(), rows)
                write.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                                   f"(SELECT max(id) FROM {table.name}))")
                              if "id" in table.c and table.name != "feed_state" else text("SELECT 1"))
    target.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def old_database(request: pytest.FixtureRequest, tmp_path: Path, pg_available: bool) -> Iterator[str]:
    copy = tmp_path / "roster.db"
    shutil.copy(FIXTURES / "roster-0001.db", copy)
    if request.param == "sqlite":
        yield f"sqlite:///{copy}"
        return
    from tests.conftest import _fresh_pg_database

    source = create_engine(f"sqlite:///{copy}")
    for url in _fresh_pg_database(pg_available):
        _load_into_postgres(source, url)
        source.dispose()
        yield url


class Recording(NullChannel):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[int] = []

    def send(self, out: Outgoing) -> None:
        self.sent.append(out.reminder_id)


def _ledger(engine: Engine) -> dict[int, tuple[int, str, str]]:
    with session_scope(engine) as session:
        return {r.id: (r.assignment_id, r.kind, r.status) for r in session.scalars(select(Reminder))}


def test_upgrade_keeps_every_unsent_reminder_and_sends_none_twice(old_database: str) -> None:
    engine = make_engine(old_database)
    assert current_revision(engine) == "0001"
    with engine.connect() as conn:
        before = {row.id: (row.assignment_id, row.kind, row.status)
                  for row in conn.execute(text("SELECT id, assignment_id, kind, status FROM reminder"))}
        due = {row.id: row.due_at for row in conn.execute(select(Reminder.__table__.c.id, Reminder.__table__.c.due_at))}
    assert Counter(status for _, _, status in before.values()) >= Counter(
        {"sent": 100, "pending": 100, "claimed": 1, "failed": 1})

    upgrade(engine)
    assert current_revision(engine) == "0005"
    assert _ledger(engine) == before  # every row kept as it was
    with session_scope(engine) as session:
        starts = {r.id: (r.shift_start, r.assignment.occurrence.start_at) for r in session.scalars(select(Reminder))}
        assert all(kept == current for kept, current in starts.values())
        # The first scan finds every owed reminder already in the ledger: nothing is owed twice.
        assert scan_due(session, TAKEOVER, policy=DEFAULT_POLICY).recorded == 0

    # A coordinator moves a shift whose 24 h reminder went out before the upgrade: a new one is owed.
    with session_scope(engine) as session:
        moved = session.scalars(
            select(Occurrence).join(Assignment).join(Reminder)
            .where(Reminder.kind == "before:1440", Reminder.status == "sent",
                   Occurrence.start_at > TAKEOVER + timedelta(hours=3))
            .order_by(Occurrence.start_at)).first()
        assert moved is not None
        new_start = moved.start_at + timedelta(days=1)
        moved_seats = set(session.scalars(select(Assignment.id).where(Assignment.occurrence_id == moved.id)))
        local = new_start.astimezone(ZoneInfo(moved.service.timezone))
        move_occurrence(session, moved.id, f"{local:%Y-%m-%d %H:%M}", now=TAKEOVER, policy=DEFAULT_POLICY)

    channel = Recording()
    channels = ChannelSet({name: (lambda: channel) for name in ("console", "email", "sms", "wecom", "dingtalk")})
    settings = settings_for(old_database)
    for hour in range(24 * 8):
        dispatch_due(engine, settings, now=TAKEOVER + timedelta(hours=hour), batch_size=500, max_batches=20,
                     policy=DEFAULT_POLICY, channels=channels)
    after = _ledger(engine)
    assert len(channel.sent) == len(set(channel.sent))  # no reminder went out twice
    sent_before = {(aid, kind) for aid, kind, status in before.values() if status == "sent"}
    resent = [after[rid][:2] for rid in channel.sent if after[rid][:2] in sent_before]
    assert {aid for aid, _ in resent} <= moved_seats  # nothing sent before went again, but for the new time
    end = TAKEOVER + timedelta(days=7)
    unsent = [rid for rid, (_, _, status) in before.items() if status in ("pending", "claimed")]
    came = [rid for rid in unsent if due[rid] < end and before[rid][0] not in moved_seats]
    assert len(came) >= 50 and {after[rid][2] for rid in came} == {"sent"}  # none lost: each went out, once
    assert set(came) <= set(channel.sent)
    assert {after[rid][2] for rid in unsent if due[rid] >= end + timedelta(days=1)} == {"pending"}  # still owed
    # The moved shift's rows for its old start were dropped at the claim, for new ones.
    assert {after[rid][2] for rid in unsent if before[rid][0] in moved_seats} <= {"cancelled"}
    # And the seats went on being reminded: rows the scan derived after the upgrade went out too.
    derived = [rid for rid in after if rid not in before and after[rid][1].startswith("before:")]
    assert derived and {after[rid][2] for rid in derived} == {"sent"}
    with session_scope(engine) as session:
        fresh = session.scalars(select(Reminder).where(Reminder.id.in_(derived))).all()
        assert {r.shift_start for r in fresh} == {new_start}
        assert {r.kind for r in fresh} == {"before:1440", "before:120"}
    engine.dispose()
