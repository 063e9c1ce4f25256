"""The reminder scan: before-shift reminders derived from the seats, recorded in the ledger.

A seat says who is owed what: a volunteer invited or confirmed for a scheduled occurrence is owed a
``before:<minutes>`` reminder for each of the service's offsets, at the shift's start minus the
offset, until the shift starts. Nothing writes those rows when the roster changes; the dispatcher's
scan (:func:`scan_due`, the first step of every dispatch) finds the seats whose reminder instant
has come and records one ledger row each, insert-if-absent on (assignment, kind, channel, shift
start). The dispatcher then claims, re-checks, sends and marks them (``dispatch``).

Its cost follows what came due, not the size of the roster. Two sources, one transaction:

1. **Time.** ``reminder_scan.scanned_to`` is how far instants have been looked at. Each scan takes,
   per distinct offset, the occurrences starting in ``(scanned_to + offset, now + lookahead +
   offset]`` (the ``ix_occurrence_start`` index), and moves ``scanned_to`` on. A dispatcher that was
   down for a day finds that day's instants on its first scan, for the shifts not yet begun. On
   PostgreSQL each offset's window is one ``INSERT ... SELECT`` on the server (``record_window``).
2. **Changes.** Seats that changed after their instant had passed (assigned or promoted late,
   moved, reinstated, offsets edited) are named by the outbox events their change wrote in its
   own transaction (``event.reminders_scanned_at`` still empty): their occurrences, or for a
   service's edit and a re-plan the service's coming shifts, are checked in full.

Of a seat's reminders whose moment had already passed when it was found (taken late, moved close,
a dispatcher that was down), only the nearest is recorded: one message, not a 24 h and a 2 h at once.

``lookahead`` is the length of the quiet hours: a reminder that falls inside them is timed to just
before they start (``quiet_adjusted``), so its row is written that much ahead; the claim keeps
``due_at``. A row written for a seat that has since changed is re-checked at claim time and
cancelled (moved: its ``shift_start`` no longer matches; an offset removed; the seat given up).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import String, case, cast, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from scheduler.models import (
    Assignment,
    AssignmentStatus,
    Event,
    Occurrence,
    OccurrenceStatus,
    Reminder,
    ReminderScan,
    ReminderStatus,
    Service,
    Volunteer,
)
from scheduler.policy import OperationPolicy, QuietHours

#: Seat statuses owed before-shift reminders (the volunteer still expects the shift).
EXPECTING = (AssignmentStatus.INVITED, AssignmentStatus.CONFIRMED)
#: Event kinds that name no seat (bookkeeping, people, hours): the scan only stamps them.
_SEATLESS = ("volunteer.", "attendance.", "digest.", "horizon.", "holidays.")
#: Event kinds after which a service's coming shifts are checked in full.
_SERVICE_WIDE = ("service.changed", "service.created", "occurrence.planned")
#: Events read per query (a city-wide fill writes one per 500 seats).
EVENT_BATCH = 2000
#: Ids per IN list.
_CHUNK = 5000
_SCAN_ROW = 1
#: PostgreSQL records each time window on the server (``_Scan.record_window``); False: the portable
#: path (rows built in Python, ``record``), which the tests compare it with.
SERVER_WINDOWS = True
#: pg_try_advisory_xact_lock key: one scan at a time on PostgreSQL (SQLite's BEGIN IMMEDIATE serialises).
SCAN_LOCK_KEY = 0x524F5354_02


@dataclass
class ScanResult:
    #: Ledger rows written (before-shift reminders now owed).
    recorded: int = 0
    #: Seats looked at (on PostgreSQL the time windows' seats are matched on the server: there,
    #: the rows they recorded).
    seats: int = 0
    events: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"recorded": self.recorded, "seats": self.seats, "events": self.events}


def lookahead(quiet: QuietHours | None) -> timedelta:
    """How far ahead of its instant a row is written: the quiet window's length and a minute (a
    reminder inside it is timed to the minute before it starts), else nothing."""
    if quiet is None:
        return timedelta(0)
    start = quiet.start.hour * 60 + quiet.start.minute
    end = quiet.end.hour * 60 + quiet.end.minute
    return timedelta(minutes=(end - start) % (24 * 60) + 1)


def owed_at(start: datetime, offset: int, timezone: str, quiet: QuietHours | None, now: datetime) -> datetime:
    """When a ``before:<offset>`` reminder of a shift at ``start`` goes out: out of quiet hours, and
    not before now (a seat taken after its moment is reminded at once, while the shift is ahead)."""
    from scheduler.reminders import quiet_adjusted

    return max(quiet_adjusted(start - timedelta(minutes=offset), start, timezone, quiet), now)


def _offsets(value: Any) -> tuple[int, ...]:
    return tuple(int(o) for o in value or ())


class _Scan:
    def __init__(self, session: Session, now: datetime, policy: OperationPolicy) -> None:
        self.session = session
        self.now = now
        self.quiet = policy.quiet_hours
        self.ahead = lookahead(self.quiet)
        self.default_channel = policy.default_channel
        self.server_windows = SERVER_WINDOWS and session.get_bind().dialect.name == "postgresql"
        self.services: dict[int, tuple[tuple[int, ...], str]] = {}
        self.seen: set[tuple[int, int]] = set()
        self.rows: list[_Owed] = []
        self._owed: dict[tuple[datetime, int, str], datetime] = {}
        #: The widest offset of any service (set by ``by_time``, which runs first).
        self.widest = 0
        self.result = ScanResult()

    def service(self, service_id: int) -> tuple[tuple[int, ...], str]:
        found = self.services.get(service_id)
        if found is None:
            self.load_services([service_id])
            found = self.services.get(service_id, ((), "UTC"))
        return found

    def owed_at(self, start: datetime, offset: int, timezone: str) -> datetime:
        """``owed_at``, once per (start, offset, zone): a city has few distinct start times."""
        key = (start, offset, timezone)
        found = self._owed.get(key)
        if found is None:
            found = self._owed[key] = owed_at(start, offset, timezone, self.quiet, self.now)
        return found

    def load_services(self, ids: Iterable[int]) -> None:
        wanted = sorted(set(ids) - self.services.keys())
        for i in range(0, len(wanted), _CHUNK):
            for sid, offsets, tz in self.session.execute(
                    select(Service.id, Service.reminder_offsets, Service.timezone)
                    .where(Service.id.in_(wanted[i:i + _CHUNK]))):
                self.services[sid] = (_offsets(offsets), tz)

    def seats(self, *where: Any) -> Sequence[Any]:
        """(assignment id, preferred channel, start, service id, offsets as text, zone) of the
        expecting seats of scheduled occurrences not yet begun that match ``where``. Through the
        Core connection: the ORM's row handling cost as much as the query (12 µs a row)."""
        return self.session.connection().execute(
            select(Assignment.id, Volunteer.preferred_channel, Occurrence.start_at, Occurrence.service_id,
                   OFFSETS_TEXT, Service.timezone)
            .join(Assignment, Assignment.occurrence_id == Occurrence.id)
            .join(Volunteer, Assignment.volunteer_id == Volunteer.id)
            .join(Service, Service.id == Occurrence.service_id)
            .where(Occurrence.status == OccurrenceStatus.SCHEDULED, Occurrence.start_at > self.now,
                   Assignment.status.in_(EXPECTING), *where)).all()

    def owe(self, rows: Sequence[Any], only: int | None = None) -> None:
        """Ledger rows for these seats' offsets whose instant has come (``only``: that offset alone)."""
        horizon = self.now + self.ahead
        parsed: dict[str | None, tuple[int, ...]] = {}
        seen, out, default = self.seen, self.rows, self.default_channel
        for aid, preferred, start, service_id, offsets_text, tz in rows:
            self.result.seats += 1
            offsets = parsed.get(offsets_text)
            if offsets is None:
                offsets = parsed[offsets_text] = _offsets_text(offsets_text)
                self.services.setdefault(service_id, (offsets, tz))
            for offset in offsets:
                if (only is not None and offset != only) or start - timedelta(minutes=offset) > horizon:
                    continue
                if (aid, offset) in seen:
                    continue
                seen.add((aid, offset))
                out.append(_Owed(aid, offset, preferred or default, start, self.owed_at(start, offset, tz)))

    def by_time(self) -> None:
        state = self.session.get(ReminderScan, _SCAN_ROW)
        since = state.scanned_to if state is not None else None
        horizon = self.now + self.ahead
        every = offsets_in_use(self.session)
        self.widest = every[-1] if every else 0
        for offset in every:
            delta = timedelta(minutes=offset)
            low = self.now if since is None else max(self.now, since + delta)
            high = horizon + delta
            if low < high and self.server_windows:
                self.record_window(offset, low, high)
            elif low < high:
                self.owe(self.seats(Occurrence.start_at > low, Occurrence.start_at <= high), only=offset)
        self._advance(state, horizon)

    def record_window(self, offset: int, low: datetime, high: datetime) -> None:
        """PostgreSQL: record the ``before:<offset>`` rows of the seats starting in ``(low, high]``
        on the server, in one ``INSERT ... SELECT`` (no seat row travels to Python). The due
        instants are Python's (quiet hours, per zone): computed once per distinct (start, zone,
        offsets) of the window's occurrences and passed as a short list; the seats are joined to
        it. The same rows ``owe`` and ``record`` would write: a seat whose nearer offset's moment
        has also passed is owed that one only (``_drop_superseded``: within a time window every
        offset of the seat whose moment has passed is in its own window, so the rule is decided
        per start and offsets here)."""
        from datetime import UTC

        keys = self.session.connection().execute(
            select(Occurrence.start_at, Service.timezone, OFFSETS_TEXT).distinct()
            .join(Service, Service.id == Occurrence.service_id)
            .where(Occurrence.status == OccurrenceStatus.SCHEDULED, Occurrence.start_at > self.now,
                   Occurrence.start_at > low, Occurrence.start_at <= high)).all()
        starts, zones, texts, dues = [], [], [], []
        parsed: dict[str | None, tuple[int, ...]] = {}
        for start, tz, offsets_text in keys:
            offsets = parsed.get(offsets_text)
            if offsets is None:
                offsets = parsed[offsets_text] = _offsets_text(offsets_text)
            if offset not in offsets:
                continue
            if start - timedelta(minutes=offset) <= self.now and any(
                    other < offset and start - timedelta(minutes=other) <= self.now for other in offsets):
                continue  # superseded: the nearer reminder, also passed, is the one owed
            starts.append(start.astimezone(UTC).replace(tzinfo=None))
            zones.append(tz)
            texts.append(offsets_text)
            dues.append(self.owed_at(start, offset, tz).astimezone(UTC).replace(tzinfo=None))
        if not starts:
            return
        stamp = self.now.astimezone(UTC).replace(tzinfo=None)
        sql = (_INSERT + " SELECT a.id, %(kind)s, COALESCE(NULLIF(v.preferred_channel, ''), %(channel)s), o.start_at, m.d, "
               "%(status)s, 0, '{}', %(stamp)s, %(stamp)s "
               "FROM unnest(%(s)s::timestamp[], %(z)s::varchar[], %(f)s::varchar[], %(d)s::timestamp[]) "
               "AS m(s, z, f, d) "
               "JOIN occurrence o ON o.start_at = m.s "
               "JOIN service s ON s.id = o.service_id AND s.timezone = m.z "
               "AND CAST(s.reminder_offsets AS VARCHAR) = m.f "
               "JOIN assignment a ON a.occurrence_id = o.id "
               "JOIN volunteer v ON v.id = a.volunteer_id "
               f"WHERE o.status = '{OccurrenceStatus.SCHEDULED}' AND a.status IN "
               f"({', '.join(repr(str(status)) for status in EXPECTING)}) "
               "ORDER BY a.id "  # key order, as ``record`` sorts: two scans lock in the same order
               f"{_UPSERT}")
        cursor = self.session.connection().connection.cursor()
        try:
            cursor.execute(sql, {"kind": f"before:{offset}", "channel": self.default_channel,
                                 "status": str(ReminderStatus.PENDING), "stamp": stamp,
                                 "s": starts, "z": zones, "f": texts, "d": dues})
            count = max(cursor.rowcount, 0)
        finally:
            cursor.close()
        self.result.recorded += count
        self.result.seats += count

    def _advance(self, state: ReminderScan | None, horizon: datetime) -> None:
        if state is None:
            statement = _insert(self.session, ReminderScan).values(id=_SCAN_ROW, scanned_to=horizon)
            self.session.execute(statement.on_conflict_do_update(
                index_elements=["id"],
                set_={"scanned_to": case((ReminderScan.scanned_to < horizon, horizon),
                                         else_=ReminderScan.scanned_to)}))
        else:
            self.session.execute(update(ReminderScan).where(ReminderScan.id == _SCAN_ROW,
                                                            ReminderScan.scanned_to < horizon)
                                 .values(scanned_to=horizon))

    def by_change(self) -> None:
        """Seats named by events the scan has not yet looked at, checked against every offset."""
        while True:
            events = self.session.execute(
                select(Event.id, Event.kind, Event.payload).where(Event.reminders_scanned_at.is_(None))
                .order_by(Event.id).limit(EVENT_BATCH)).all()
            if not events:
                return
            occurrences: set[int] = set()
            services: set[int] = set()
            for _, kind, payload in events:
                if kind.startswith(_SEATLESS) or not isinstance(payload, dict):
                    continue
                if kind in _SERVICE_WIDE and payload.get("service_id") is not None:
                    services.add(int(payload["service_id"]))
                if payload.get("occurrence_id") is not None:
                    occurrences.add(int(payload["occurrence_id"]))
                occurrences.update(int(o) for o in payload.get("occurrence_ids") or ())
            self.result.events += len(events)
            self.load_services(services)
            if occurrences:
                # Only those whose shift is ahead and within reach of the widest offset.
                near = self.now + self.ahead + timedelta(minutes=self.widest)
                wanted = sorted(occurrences)
                for i in range(0, len(wanted), _CHUNK):
                    self.owe(self.seats(Occurrence.id.in_(wanted[i:i + _CHUNK]), Occurrence.start_at <= near))
            for sid in sorted(services):
                offsets = self.service(sid)[0]
                if offsets:
                    near = self.now + self.ahead + timedelta(minutes=max(offsets))
                    self.owe(self.seats(Occurrence.service_id == sid, Occurrence.start_at <= near))
            self.session.execute(update(Event).where(Event.id.in_([e[0] for e in events]))
                                 .values(reminders_scanned_at=self.now))
            if len(events) < EVENT_BATCH:
                return

    def record(self) -> None:
        """Insert the owed rows that are not in the ledger; bring back a cancelled one (a seat given
        up, then taken again for the same start)."""
        if not self.rows:
            return
        self._drop_superseded()
        # In key order: two scans' inserts take the unique index's locks in the same order.
        self.rows.sort(key=lambda row: (row.assignment_id, row.kind, row.channel))
        if self.session.get_bind().dialect.name == "postgresql":
            self._record_postgresql()
            return
        for i in range(0, len(self.rows), _CHUNK):
            chunk = [{"assignment_id": row.assignment_id, "kind": row.kind, "channel": row.channel,
                      "shift_start": row.shift_start, "due_at": row.due_at, "status": ReminderStatus.PENDING,
                      "attempts": 0, "payload": {}, "created_at": self.now, "updated_at": self.now}
                     for row in self.rows[i:i + _CHUNK]]
            insert = _insert(self.session, Reminder)
            insert = insert.on_conflict_do_update(
                index_elements=["assignment_id", "kind", "channel", "shift_start"],
                set_={"status": ReminderStatus.PENDING, "due_at": insert.excluded.due_at, "attempts": 0,
                      "claimed_by": None, "lease_until": None, "last_error": None, "updated_at": self.now},
                where=Reminder.status == ReminderStatus.CANCELLED).returning(Reminder.id)
            self.result.recorded += len(self.session.execute(insert, chunk).all())

    def _record_postgresql(self) -> None:
        """The same upsert through the driver, one array per column (unnest) per page of rows:
        through SQLAlchemy (ORM or Core) this INSERT ... ON CONFLICT DO UPDATE ... RETURNING went
        to the server one row per statement (100,000 due: 100,000 round trips, 30 s), and a VALUES
        list costs a quoting call per row. Times are naive UTC, as UTCDateTime stores them; every
        row's created_at and updated_at is ``now``, its payload empty."""
        from datetime import UTC

        stamp = self.now.astimezone(UTC).replace(tzinfo=None)
        sql = (_INSERT + " SELECT a, k, c, s, d, %(status)s, 0, '{}', %(stamp)s, %(stamp)s "
               "FROM unnest(%(a)s::integer[], %(k)s::varchar[], %(c)s::varchar[], %(s)s::timestamp[], "
               "%(d)s::timestamp[]) AS r(a, k, c, s, d) "
               f"{_UPSERT}")
        naive: dict[datetime, datetime] = {}

        def utc(value: datetime) -> datetime:
            found = naive.get(value)
            if found is None:
                found = naive[value] = value.astimezone(UTC).replace(tzinfo=None)
            return found

        cursor = self.session.connection().connection.cursor()
        try:
            for i in range(0, len(self.rows), _CHUNK):
                page = self.rows[i:i + _CHUNK]
                cursor.execute(sql, {
                    "status": str(ReminderStatus.PENDING), "stamp": stamp,
                    "a": [row.assignment_id for row in page], "k": [row.kind for row in page],
                    "c": [row.channel for row in page], "s": [utc(row.shift_start) for row in page],
                    "d": [utc(row.due_at) for row in page]})
                self.result.recorded += max(cursor.rowcount, 0)
        finally:
            cursor.close()

    def _drop_superseded(self) -> None:
        """Of a seat's reminders whose moment has already passed (taken late, moved close, or a
        dispatcher that was down), only the nearest goes: one message, not a 24 h and a 2 h at once."""
        passed: dict[tuple[int, datetime], int] = {}
        for row in self.rows:
            if row.passed(self.now):
                key = (row.assignment_id, row.shift_start)
                passed[key] = min(row.offset, passed.get(key, row.offset))
        if passed:
            self.rows = [row for row in self.rows
                         if (nearest := passed.get((row.assignment_id, row.shift_start))) is None
                         or row.offset <= nearest or not row.passed(self.now)]


class _Owed(NamedTuple):
    """A before-shift reminder the scan found owed: one ledger row to insert if absent."""

    assignment_id: int
    offset: int
    channel: str
    shift_start: datetime
    due_at: datetime

    @property
    def kind(self) -> str:
        return f"before:{self.offset}"

    def passed(self, now: datetime) -> bool:
        """Whether the reminder's moment (start - offset) is already behind ``now``."""
        return self.shift_start - timedelta(minutes=self.offset) <= now


#: The ledger row's columns as the PostgreSQL paths fill them (``record_window``, ``_record_postgresql``).
_INSERT = ("INSERT INTO reminder (assignment_id, kind, channel, shift_start, due_at, status, attempts, payload, "
           "created_at, updated_at)")
#: The ledger's insert-if-absent on PostgreSQL: a row already there is left as it is, unless it was
#: cancelled (a seat given up, then taken again for the same start): then it is owed again.
_UPSERT = ("ON CONFLICT (assignment_id, kind, channel, shift_start) "
           f"DO UPDATE SET status = '{ReminderStatus.PENDING}', due_at = EXCLUDED.due_at, attempts = 0, "
           "claimed_by = NULL, lease_until = NULL, last_error = NULL, updated_at = EXCLUDED.updated_at "
           f"WHERE reminder.status = '{ReminderStatus.CANCELLED}'")

#: A service's offsets as text: what ``ix_service_offsets`` indexes (the same expression).
OFFSETS_TEXT = cast(Service.reminder_offsets, String)


def offsets_in_use(session: Session) -> list[int]:
    """Every reminder offset some service has, ascending. The distinct offset lists are few: a
    loose index scan over ``ix_service_offsets`` (one probe per distinct list, each the smallest
    above the last) finds them without reading every service."""
    found: set[int] = set()
    for (value,) in session.execute(text(
            "WITH RECURSIVE t(v) AS ("
            " SELECT min(CAST(reminder_offsets AS VARCHAR)) FROM service"
            " UNION ALL SELECT (SELECT min(CAST(reminder_offsets AS VARCHAR)) FROM service"
            "   WHERE CAST(reminder_offsets AS VARCHAR) > t.v) FROM t WHERE t.v IS NOT NULL)"
            " SELECT v FROM t WHERE v IS NOT NULL")):
        found.update(_offsets_text(value))
    return sorted(found)


def _offsets_text(text: str | None) -> tuple[int, ...]:
    import json

    if not text:
        return ()
    try:
        return _offsets(json.loads(text))
    except (ValueError, TypeError):
        return ()


def _insert(session: Session, table: Any) -> Any:
    """The dialect's INSERT, which has ON CONFLICT (PostgreSQL and SQLite alike)."""
    module: Any = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return module.insert(table)


def scan_due(session: Session, now: datetime, *, policy: OperationPolicy) -> ScanResult:
    """Record in the ledger every before-shift reminder that has come due since the last scan, or
    that a change made owed (in the caller's transaction). Safe to run twice, or in two
    dispatchers at once: a row already recorded is left as it is."""
    scan = _Scan(session, now, policy)
    if session.get_bind().dialect.name == "postgresql" and not session.scalar(
            text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": SCAN_LOCK_KEY}):
        return scan.result  # another dispatcher is scanning: it records what is due; this one claims
    scan.by_time()
    scan.by_change()
    scan.record()
    return scan.result


def upcoming(session: Session, now: datetime, until: datetime, *, policy: OperationPolicy,
             limit: int = 500) -> list[Any]:
    """The before-shift reminders the seats owe between now and ``until`` that the scan has not
    recorded yet (what ``roster reminders upcoming`` lists), soonest first: derived, not stored."""
    from scheduler.reminders import ReminderView

    scan = _Scan(session, now, policy)
    widest = max(offsets_in_use(session), default=0)
    rows = session.execute(
        select(Assignment.id, Assignment.volunteer_id, Volunteer.preferred_channel, Occurrence.start_at,
               Occurrence.service_id)
        .join(Assignment, Assignment.occurrence_id == Occurrence.id)
        .join(Volunteer, Assignment.volunteer_id == Volunteer.id)
        .where(Occurrence.status == OccurrenceStatus.SCHEDULED, Occurrence.start_at > now,
               Occurrence.start_at <= until + timedelta(minutes=widest), Assignment.status.in_(EXPECTING))
        .order_by(Occurrence.start_at, Assignment.id)).all()
    scan.load_services(row[4] for row in rows)
    recorded: set[tuple[int, str, str, datetime]] = set()
    ids = sorted({row[0] for row in rows})
    for i in range(0, len(ids), _CHUNK):
        recorded.update((aid, kind, channel, start) for aid, kind, channel, start in session.execute(
            select(Reminder.assignment_id, Reminder.kind, Reminder.channel, Reminder.shift_start)
            .where(Reminder.assignment_id.in_(ids[i:i + _CHUNK]), Reminder.kind.like("before:%"))))
    slugs = {sid: slug for sid, slug in session.execute(
        select(Service.id, Service.slug).where(Service.id.in_(sorted(scan.services))))}
    owed = []
    for aid, vid, preferred, start, service_id in rows:
        offsets, tz = scan.service(service_id)
        channel = preferred or scan.default_channel
        for offset in offsets:
            kind = f"before:{offset}"
            due = owed_at(start, offset, tz, scan.quiet, now)
            if due > until or (aid, kind, channel, start) in recorded:
                continue
            owed.append(ReminderView(
                id=None, kind=kind, channel=channel, status="upcoming", due_at=due, attempts=0, last_error=None,
                sent_at=None, assignment_id=aid, volunteer_id=vid, service=slugs.get(service_id, str(service_id)),
                shift_start=start, timezone=tz))
    owed.sort(key=lambda view: (view.due_at, view.assignment_id, view.kind))
    return owed[:limit]
