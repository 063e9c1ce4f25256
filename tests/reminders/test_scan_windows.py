"""The scan's server-side time windows (PostgreSQL, ``_Scan.record_window``) record exactly the
ledger rows the portable path (rows built in Python, ``record``) records, on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select, text, update
from sqlalchemy.orm import Session

from scheduler.models import Assignment, Event, Reminder, ReminderScan
from scheduler.policy import OperationPolicy
from scheduler.reminders import scan as scan_module
from tests.workers_support import make_shift

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def _roster(session: Session) -> None:
    """Shifts whose reminders come due at many moments around NOW: with two offsets and with one,
    an email volunteer beside console ones, an invited seat, a declined one (owed nothing), and a
    zone other than Shanghai's; the scan last looked two days ago (a dispatcher that was down)."""
    for hours, offsets, channel in ((0.5, [1440, 120], "console"), (1.5, [1440, 120], "email"),
                                    (3, [1440, 120], "console"), (13, [1440, 120], "console"),
                                    (20, [1440, 120], "console"), (30, [1440, 120], "email"),
                                    (0.75, [60], "console"), (14, [600, 60], "console")):
        make_shift(session, NOW + timedelta(hours=hours), volunteers=3, channel=channel, offsets=offsets)
    session.flush()
    seats = list(session.scalars(select(Assignment).order_by(Assignment.id)))
    seats[0].status, seats[1].status, seats[1].seat_no = "invited", "declined", None
    session.execute(update(Event).values(reminders_scanned_at=NOW - timedelta(days=2)))  # the time path alone
    session.add(ReminderScan(id=1, scanned_to=NOW - timedelta(days=2)))
    session.execute(text("UPDATE service SET timezone = 'Asia/Urumqi' WHERE id = (SELECT min(id) FROM service)"))


def _ledger(engine: Engine, server: bool, monkeypatch: pytest.MonkeyPatch, quiet: str) -> tuple[int, set[Any]]:
    """The scan at NOW in a transaction rolled back: (recorded, the ledger rows it wrote)."""
    monkeypatch.setattr(scan_module, "SERVER_WINDOWS", server)
    with engine.connect() as conn:
        conn.begin()
        session = Session(bind=conn)
        _roster(session)
        session.flush()
        recorded = scan_module.scan_due(session, NOW, policy=OperationPolicy.from_text(quiet, "console")).recorded
        session.flush()
        rows = {(r.assignment_id - _first(session), r.kind, r.channel, r.shift_start, r.due_at, r.status)
                for r in session.scalars(select(Reminder))}
        session.close()
        conn.rollback()
    return recorded, rows


def _first(session: Session) -> int:
    return int(session.scalar(select(Assignment.id).order_by(Assignment.id).limit(1)) or 0)


@pytest.mark.postgres
@pytest.mark.parametrize("quiet", ["off", "22:00-07:30"])
def test_server_windows_record_what_the_portable_path_records(pg_engine: Engine, monkeypatch: pytest.MonkeyPatch,
                                                              quiet: str) -> None:
    portable = _ledger(pg_engine, False, monkeypatch, quiet)
    server = _ledger(pg_engine, True, monkeypatch, quiet)
    assert server == portable
    recorded, rows = server
    assert recorded == len(rows) > 10
    # The declined seat is owed nothing; a seat whose 24 h and 2 h moments both passed while the
    # dispatcher was down is owed the 2 h one only; the email volunteers' rows go by email.
    assert not any(offset == 1 for offset, *_ in rows)
    near = {(aid, kind) for aid, kind, *_ in rows if aid in (0, 2)}  # the shift 30 minutes ahead
    assert near == {(0, "before:120"), (2, "before:120")}
    assert {channel for _aid, _kind, channel, *_ in rows} == {"console", "email"}
