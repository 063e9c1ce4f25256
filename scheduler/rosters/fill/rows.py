"""The rows a fill writes, whatever the backend: their columns, the before-shift reminders each
filled occurrence owes (timed as a coordinator's ``assign`` times them) and the "assigned" notices."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from scheduler.models import ReminderStatus
from scheduler.policy import OperationPolicy
from scheduler.reminders import quiet_adjusted
from scheduler.rosters.fill.ranking import Candidate
from scheduler.rosters.fill.results import Placement

SEAT_COLUMNS = ("occurrence_id", "role_id", "volunteer_id", "status", "seat_no", "forced", "explanation",
                "sequence", "created_at", "updated_at")
REMINDER_COLUMNS = ("assignment_id", "kind", "channel", "due_at", "status", "attempts", "payload", "created_at",
                    "updated_at")


class Dues:
    """The before-shift rows a filled occurrence owes: (kind, due as naive UTC), timed as
    ``reminders.sync_assignment_reminders`` times them (out of quiet hours; a moment past goes out now)."""

    def __init__(self, session: Session, services: dict[int, Any], occurrences: list[tuple[Any, ...]],
                 vols: dict[int, Candidate], now: datetime, policy: OperationPolicy) -> None:
        self.quiet = policy.quiet_hours
        self.services = services
        self.occurrences = {occ[0]: (occ[1], occ[2]) for occ in occurrences}
        self.now = now
        self.channel = policy.default_channel
        #: Volunteers with a channel of their own (``reminders.channel_for``); the rest get ``channel``.
        self.preferred = {vid: vol.channel for vid, vol in vols.items() if vol.channel}
        # A city has few distinct start times per zone: time each (start, offset, zone) once.
        self._timed: dict[tuple[datetime, int, str], datetime] = {}

    def of(self, occurrence_id: int) -> list[tuple[str, datetime]]:
        service_id, start = self.occurrences[occurrence_id]
        service = self.services[service_id]
        tz_name = service[4]
        owed = []
        for offset in service[5] or ():
            offset = int(offset)
            due = self._timed.get((start, offset, tz_name))
            if due is None:
                due = quiet_adjusted(start - timedelta(minutes=offset), start, tz_name, self.quiet)
                due = max(due, self.now).astimezone(UTC).replace(tzinfo=None)
                self._timed[(start, offset, tz_name)] = due
            owed.append((f"before:{offset}", due))
        return owed


def assigned_notices(kept: Sequence[Placement], dues: Dues, stamp: Any) -> list[tuple[Any, ...]]:
    """One "assigned" notice row per volunteer, naming all their new shifts (not one per seat),
    anchored on their first new assignment; due now (the dispatcher keeps quiet hours)."""
    shifts: dict[int, list[int]] = defaultdict(list)
    for p in kept:
        shifts[p.volunteer_id].append(p.assignment_id)  # type: ignore[arg-type]
    preferred, channel = dues.preferred, dues.channel
    rows = []
    for vid, ids in shifts.items():
        ids.sort()
        payload = '{"assignment_ids":[' + ",".join(map(str, ids)) + '],"change":"assigned"}'
        rows.append((ids[0], "assigned:fill", preferred.get(vid, channel), stamp, ReminderStatus.PENDING.value, 0, payload, stamp,
                     stamp))
    return rows

