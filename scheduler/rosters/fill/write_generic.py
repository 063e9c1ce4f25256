"""The SQLite (and any other backend's) writer: rows built in storage form and inserted with the
driver's executemany, at the end of the plan. The fill's transaction holds SQLite's write lock
from its first read, so no other writer can take a seat meanwhile."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from scheduler.models import Assignment, Reminder, ReminderStatus
from scheduler.rosters.fill.ranking import Candidate
from scheduler.rosters.fill.results import Placement
from scheduler.rosters.fill.rows import REMINDER_COLUMNS, Dues


def insert_reminders(session: Session, kept: list[Placement], dues: Dues, vols: dict[int, Candidate],
                     stamp_text: str) -> None:
    """SQLite: the rows built in storage form (a due time is formatted once per distinct value)."""
    rows = []
    texts: dict[datetime, str] = {}
    for p in kept:
        aid = p.assignment_id
        assert aid is not None
        channel = vols[p.volunteer_id].channel or dues.channel
        for kind, due in dues.of(p.occurrence_id):
            due_text = texts.get(due)
            if due_text is None:
                due_text = texts[due] = storage_value(due)
            rows.append((aid, kind, channel, due_text, ReminderStatus.PENDING.value, 0, "{}", stamp_text, stamp_text))
    insert_rows(session, Reminder.__table__, REMINDER_COLUMNS, rows,  # type: ignore[arg-type]
                storage_form=True)


def insert_assignments(session: Session, columns: Sequence[str], rows: list[tuple[Any, ...]],
                       storage_form: bool = False) -> dict[tuple[int, int], int]:
    """SQLite: the fill's transaction holds the write lock (BEGIN IMMEDIATE) from its first read,
    so nothing changed since we loaded; ids are allocated above the current maximum."""
    table: Table = Assignment.__table__  # type: ignore[assignment]
    start = (session.scalar(select(func.max(Assignment.id))) or 0) + 1
    rows_with_ids = [(start + i, *row) for i, row in enumerate(rows)]
    insert_rows(session, table, ("id", *columns), rows_with_ids, prefix="OR IGNORE", storage_form=storage_form)
    lo, hi = start, start + len(rows)
    found = session.execute(select(Assignment.id, Assignment.occurrence_id, Assignment.volunteer_id)
                            .where(Assignment.id >= lo, Assignment.id < hi))
    return {(occ, vol): aid for aid, occ, vol in found}


def insert_rows(session: Session, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]],
                prefix: str | None = None, storage_form: bool = False) -> None:
    """Insert through the driver, bypassing SQLAlchemy's type processors. Values are naive UTC
    datetimes, booleans and JSON text, converted here; with ``storage_form`` they are already what
    SQLite stores (datetime text, 0/1), which spares a function call per value (a third of a
    city-sized fill's write on SQLite)."""
    if not rows:
        return
    placeholders = ", ".join("?" for _ in columns)
    verb = f"INSERT {prefix} INTO" if prefix else "INSERT INTO"
    sql = f"{verb} {table.name} ({', '.join(columns)}) VALUES ({placeholders})"
    raw = session.connection().connection.cursor()
    try:
        raw.executemany(sql, rows if storage_form else [tuple(storage_value(x) for x in row) for row in rows])
    finally:
        raw.close()


def storage_value(value: Any) -> Any:
    """A value as SQLite stores it through SQLAlchemy (datetime text, 0/1)."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")  # SQLAlchemy's SQLite storage format
    if isinstance(value, bool):
        return int(value)
    return value
