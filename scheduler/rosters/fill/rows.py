"""The rows a fill writes, whatever the backend: their columns, and the "assigned" notices.

A fill writes no before-shift reminder: those are derived from the seats by the dispatcher's scan
(``scheduler.reminders.scan``), which finds this fill's seats through its events.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from scheduler.models import ReminderStatus
from scheduler.policy import OperationPolicy
from scheduler.rosters.fill.ranking import Candidate
from scheduler.rosters.fill.results import Placement

SEAT_COLUMNS = ("occurrence_id", "role_id", "volunteer_id", "status", "seat_no", "forced", "explanation",
                "sequence", "created_at", "updated_at")
NOTICE_COLUMNS = ("assignment_id", "kind", "channel", "shift_start", "due_at", "status", "attempts", "payload",
                  "created_at", "updated_at")


class Routing:
    """Which channel a volunteer's notice goes on (``reminders.channel_for``), and each filled
    occurrence's start (a notice's ledger key names its first shift's start)."""

    def __init__(self, occurrences: list[tuple[Any, ...]], vols: dict[int, Candidate],
                 policy: OperationPolicy) -> None:
        self.channel = policy.default_channel
        #: Volunteers with a channel of their own; the rest get ``channel``.
        self.preferred = {vid: vol.channel for vid, vol in vols.items() if vol.channel}
        self.starts: dict[int, datetime] = {occ[0]: occ[2] for occ in occurrences}


def assigned_notices(kept: Sequence[Placement], routing: Routing, stamp: Any,
                     storage: Callable[[datetime], Any]) -> list[tuple[Any, ...]]:
    """One "assigned" notice row per volunteer, naming all their new shifts (not one per seat) in
    the order of their starts, anchored on the first of them; due now (the dispatcher keeps quiet
    hours). ``kept`` is in plan order (occurrences by start, then id), which is that order: the
    ids need not be (SQLite inserts the seats in key order). ``storage`` turns a start into the
    backend's form of a naive UTC time."""
    shifts: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for p in kept:
        shifts[p.volunteer_id].append((p.assignment_id, p.occurrence_id))  # type: ignore[arg-type]
    preferred, channel = routing.preferred, routing.channel
    rows = []
    for vid, held in shifts.items():
        ids = [aid for aid, _ in held]
        start = storage(routing.starts[held[0][1]].astimezone(UTC).replace(tzinfo=None))
        payload = '{"assignment_ids":[' + ",".join(map(str, ids)) + '],"change":"assigned"}'
        rows.append((ids[0], "assigned:fill", preferred.get(vid, channel), start, stamp,
                     ReminderStatus.PENDING.value, 0, payload, stamp, stamp))
    return rows
