"""Writing a fill's choices: the seats (unless the PostgreSQL writer thread streamed them), the
seats lost to another writer, one event per batch of seats (the reminder scan finds the seats
through them) and the "assigned" notices, through the backend's writer. No before-shift reminder
row: those are derived from the seats when they come due."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from scheduler.i18n import N_, translate
from scheduler.models import AssignmentStatus, Event, Reminder
from scheduler.policy import OperationPolicy
from scheduler.rosters.fill import write_generic, write_postgres
from scheduler.rosters.fill.explain import explanation_json
from scheduler.rosters.fill.ranking import Candidate
from scheduler.rosters.fill.results import FillResult, OpenSeats, Placement, seat_key
from scheduler.rosters.fill.rows import NOTICE_COLUMNS, SEAT_COLUMNS, Routing, assigned_notices

EVENT_BATCH = 500
#: Why a planned seat was given back (JSON keeps it in English; tables show it translated).
LOST_RACE = N_("seat taken by another writer while filling; run fill again")


def write(session: Session, result: FillResult, services: dict[int, Any], occurrences: list[tuple[Any, ...]],
          vols: dict[int, Candidate], now: datetime, inserted: dict[tuple[int, int], int] | None = None, *,
          policy: OperationPolicy) -> None:
    """Insert the chosen seats (unless a streamer did: ``inserted``), their events (one per batch
    of seats, ids only) and one "assigned" notice per volunteer."""
    placements = result.placements
    stamp = now.astimezone(UTC).replace(tzinfo=None)
    stamp_text = write_generic.storage_value(stamp)  # SQLite rows are built in storage form: one conversion, not millions
    dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True).encode
    columns: Sequence[str] = SEAT_COLUMNS
    dialect = session.get_bind().dialect.name
    if inserted is not None:
        pass  # streamed while the plan went on
    elif dialect == "postgresql":
        inserted = write_postgres.copy_assignments(session, columns, write_postgres.seat_copy_lines(placements, stamp),
                                                   [(p.occurrence_id, p.volunteer_id) for p in placements])
    else:
        # In key order, not plan order: the unique (occurrence, role, seat) and (occurrence,
        # volunteer) indexes and the role index then grow at their right edge instead of taking
        # each row at a random page (on the full synthetic city: 19.6 s instead of 35.1 s).
        inserted = write_generic.insert_assignments(session, columns, [
            (p.occurrence_id, p.role_id, p.volunteer_id, AssignmentStatus.INVITED.value, p.seat_no, 0, explanation_json(p.choice),
             0, stamp_text, stamp_text)
            for p in sorted(placements, key=seat_key)], storage_form=True)
    kept: list[Placement] = []
    for p in placements:
        aid = inserted.get((p.occurrence_id, p.volunteer_id))
        if aid is None:
            result.lost_races += 1
            result.open_seats.append(OpenSeats(p.occurrence_id, p.service, p.start, p.role, 1,
                                               LOST_RACE, translate(LOST_RACE)))
            continue
        p.assignment_id = aid
        kept.append(p)
    result.placements = kept

    events = []
    for i in range(0, len(kept), EVENT_BATCH):
        batch = kept[i:i + EVENT_BATCH]
        payload = {"assignment_ids": [p.assignment_id for p in batch],
                   "occurrence_ids": sorted({p.occurrence_id for p in batch}),
                   "volunteer_ids": sorted({p.volunteer_id for p in batch}), "status": AssignmentStatus.INVITED.value, "via": "fill"}
        events.append(("assignment.created", dumps(payload), stamp))
    event_cols = ("kind", "payload", "created_at")
    routing = Routing(occurrences, vols, policy)
    if dialect == "postgresql":
        write_postgres.copy_rows(session, "event", event_cols, events)
        notices = assigned_notices(kept, routing, stamp, lambda start: start)
        write_postgres.copy_rows(session, "reminder", NOTICE_COLUMNS, notices)
    else:
        write_generic.insert_rows(session, Event.__table__, event_cols, events)  # type: ignore[arg-type]
        notices = assigned_notices(kept, routing, stamp_text, write_generic.storage_value)
        write_generic.insert_rows(session, Reminder.__table__, NOTICE_COLUMNS, notices,  # type: ignore[arg-type]
                                  storage_form=True)
    result.notified = len(notices)
