"""Materialising occurrences for a rolling horizon: idempotent, fast, and gentle with what people did.

The window is the local dates ``today <= d < today + horizon_weeks`` in each service's zone.
An occurrence's identity is (service, original start), stored in UTC; a service keeps its local
wall-clock time across daylight-saving changes because each date's start is resolved in its zone.

Per service, the wanted dates are the RRULE's dates (RFC 5545 section 3.3.10, expanded by dateutil),
then the holiday policy, then closures (which win over everything). Against what exists:

* new dates are inserted;
* an existing, unpinned, scheduled occurrence whose end or provisional mark changed is updated
  (an end change bumps its SEQUENCE, RFC 5545 section 3.8.7.4, and tells seated volunteers);
* a date a closure covers is cancelled, seated or not, with cause ``closure`` (FEEDS.md rule 9: it
  stays in the feeds as cancelled, never vanishes), and seated volunteers are told;
* a date that vanished for any other reason (a rule, policy or date edit) is deleted when nobody
  holds a seat, else cancelled (cause ``replan``) with an event and a change notice to each seated
  volunteer;
* a date cancelled because of a closure that no closure covers any more is reinstated (scheduled
  again, SEQUENCE bumped); seated volunteers keep their seat, are told, and are owed their
  reminders again;
* pinned occurrences (moved or cancelled by hand) and other cancelled ones are left alone.

Speed: rows are read and written with core statements in bulk (one pass), the holiday calendar is
looked up once per date, RRULE expansions are shared by services with the same rule and first date,
local-to-UTC conversions are cached per (zone, time, date), and each changed service gets one
``occurrence.planned`` event with counts, not one per occurrence.
"""

from __future__ import annotations

import io
import time as _time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr
from sqlalchemy import (
    Boolean,
    DateTime,
    Integer,
    String,
    bindparam,
    column,
    delete,
    insert,
    select,
    table,
    text,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from scheduler import validation
from scheduler.db import analyze_after_bulk_write, utcnow
from scheduler.errors import InvalidInput
from scheduler.events import record_event
from scheduler.i18n import _
from scheduler.models import (
    SEATED_STATUSES,
    Assignment,
    CancelCause,
    Closure,
    ClosureScope,
    Event,
    HolidayPolicy,
    Occurrence,
    OccurrenceStatus,
    Reminder,
    ReminderStatus,
    Service,
)
from scheduler.planning.holidays import HolidayCalendar
from scheduler.policy import DEFAULT_POLICY, OperationPolicy
from scheduler.services import recurrence

DEFAULT_HORIZON_WEEKS = 12
CHUNK = 5000
#: Fields of a service whose change moves its dates or times.
PLANNING_FIELDS = frozenset({"rrule", "start_date", "start_time", "duration_minutes", "timezone",
                             "holiday_policy", "active"})
REPLAN_CANCEL_REASON = "不再排期（计划调整）"
#: What volunteers of an occurrence a closure cancelled are told, before the closure's own reason.
CLOSURE_CANCEL_PREFIX = "停课/闭馆："
#: pg_advisory_xact_lock key serialising planners ("ROST" + 3, the planning issue).
PLANNER_LOCK_KEY = 0x524F5354_03
#: SQLite page cache (KiB) while inserting a large batch of occurrences.
SQLITE_BULK_CACHE_KIB = 131072

# Lightweight views of the tables with plain DateTime columns: values are naive UTC, which is how
# UTCDateTime stores them, without a Python type hook per value on a million rows.
_occ = table(
    "occurrence",
    column("id", Integer), column("service_id", Integer), column("original_start", DateTime),
    column("start_at", DateTime), column("end_at", DateTime), column("status", String),
    column("cancel_reason", String), column("cancel_cause", String), column("pinned", Boolean),
    column("provisional", Boolean), column("sequence", Integer), column("created_at", DateTime),
    column("updated_at", DateTime),
)


@dataclass
class PlanResult:
    """What one planning run did."""

    first: date
    last: date
    services: int = 0
    created: int = 0
    updated: int = 0
    removed: int = 0
    cancelled: int = 0
    #: Occurrences cancelled because of a closure that none covers any more, scheduled again.
    reinstated: int = 0
    unchanged: int = 0
    #: Pinned occurrences (moved or cancelled by hand) left alone.
    pinned: int = 0
    #: Scheduled occurrences in the window planned without official holiday data.
    provisional: int = 0
    provisional_dates: list[date] = field(default_factory=list)
    events: int = 0
    notified: int = 0
    seconds: float = 0.0
    #: Services left unplanned because their stored rule, date, time or zone cannot be planned:
    #: (service id, slug, problem). The rest are planned; these keep their occurrences untouched.
    skipped: list[tuple[int, str, str]] = field(default_factory=list)

    @property
    def rows_written(self) -> int:
        return self.created + self.updated + self.removed + self.cancelled + self.reinstated + self.events

    def as_dict(self) -> dict[str, Any]:
        return {
            "first": self.first.isoformat(), "last": self.last.isoformat(), "services": self.services,
            "created": self.created, "updated": self.updated, "removed": self.removed,
            "cancelled": self.cancelled, "reinstated": self.reinstated, "unchanged": self.unchanged,
            "pinned": self.pinned,
            "provisional": self.provisional,
            "provisional_dates": [d.isoformat() for d in self.provisional_dates],
            "events": self.events, "notified": self.notified,
            "skipped": [{"service_id": sid, "service": slug, "problem": problem}
                        for sid, slug, problem in self.skipped],
        }


@dataclass(frozen=True)
class ServiceRow:
    """The columns planning needs, read with one core query."""

    id: int
    rrule: str
    start_date: date
    start_time: str
    duration_minutes: int
    timezone: str
    holiday_policy: str
    community_id: int
    branch_id: int | None
    active: bool


def utc_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """Aware UTC instants that hold every local time on dates first..last in any zone (UTC-12..+14)."""
    lo = datetime.combine(first, time(0), UTC) - timedelta(hours=14)
    hi = datetime.combine(last + timedelta(days=1), time(0), UTC) + timedelta(hours=12)
    return lo, hi


def window(today: date, horizon_weeks: int) -> tuple[date, date]:
    """The inclusive local dates a run plans: today and the following ``horizon_weeks`` weeks less a day."""
    if not 1 <= horizon_weeks <= 104:
        raise InvalidInput("weeks", "the horizon is 1 to 104 weeks")
    validation.date_in_range(today, "today")
    return today, today + timedelta(weeks=horizon_weeks) - timedelta(days=1)


# --------------------------------------------------------------------------- the pure part


class _Expander:
    """RRULE dates per (rule, first date), shared by every service that has the same pair."""

    def __init__(self, lo: date, hi: date) -> None:
        self.lo = lo
        self.hi = hi
        self._cache: dict[tuple[str, date], frozenset[date]] = {}

    def dates(self, rule: str, start: date, service_id: int) -> frozenset[date]:
        key = (rule, start)
        found = self._cache.get(key)
        if found is None:
            # A row stored before rules were checked (INTERVAL=0 never advances: dateutil would loop
            # forever) is refused here, in bounded time, before dateutil expands it.
            validation.date_in_range(start, "start_date")
            recurrence.check_rule(rule, start)
            try:
                expanded = rrulestr(rule, dtstart=datetime.combine(start, time(0)))
            except (ValueError, TypeError) as exc:
                raise InvalidInput("rrule", _("service #{id} has an unreadable RRULE {rule!r}: {error}").format(
                    id=service_id, rule=rule, error=exc)) from None
            lo = datetime.combine(max(self.lo, start), time(0))
            hi = datetime.combine(self.hi, time(0))
            found = frozenset(d.date() for d in expanded.between(lo, hi, inc=True))  # type: ignore[union-attr]
            self._cache[key] = found
        return found


class _Clock:
    """Local (zone, HH:MM, date) to naive UTC, cached: a city has few zones, times and dates."""

    def __init__(self) -> None:
        self._zones: dict[str, ZoneInfo] = {}
        self._cache: dict[tuple[str, str, date], datetime] = {}

    def zone(self, name: str) -> ZoneInfo:
        zone = self._zones.get(name)
        if zone is None:
            zone = self._zones[name] = ZoneInfo(name)
        return zone

    def utc(self, zone: str, hhmm: str, day: date) -> datetime:
        key = (zone, hhmm, day)
        found = self._cache.get(key)
        if found is None:
            hour, minute = int(hhmm[:2]), int(hhmm[3:5])
            # A wall time skipped by spring-forward resolves (fold=0) to the same instant as the
            # hour after it, so the shift still happens that morning.
            local = datetime.combine(day, time(hour, minute), self.zone(zone))
            found = self._cache[key] = local.astimezone(UTC).replace(tzinfo=None)
        return found

    def local_date(self, zone: str, utc_naive: datetime) -> date:
        return utc_naive.replace(tzinfo=UTC).astimezone(self.zone(zone)).date()


#: A closure as planning sees it: first day, last day (inclusive), reason.
_Span = tuple[date, date, str]


@dataclass
class _Closures:
    district: list[_Span] = field(default_factory=list)
    community: dict[int, list[_Span]] = field(default_factory=lambda: defaultdict(list))
    branch: dict[int, list[_Span]] = field(default_factory=lambda: defaultdict(list))
    service: dict[int, list[_Span]] = field(default_factory=lambda: defaultdict(list))

    def for_service(self, svc: ServiceRow) -> list[_Span]:
        ranges = list(self.district)
        ranges += self.community.get(svc.community_id, [])
        if svc.branch_id is not None:
            ranges += self.branch.get(svc.branch_id, [])
        ranges += self.service.get(svc.id, [])
        return ranges


def _load_closures(session: Session, first: date, last: date) -> _Closures:
    closures = _Closures()
    rows = session.execute(
        select(Closure.scope, Closure.community_id, Closure.branch_id, Closure.service_id,
               Closure.start_date, Closure.end_date, Closure.reason)
        .where(Closure.end_date >= first, Closure.start_date <= last)
        .order_by(Closure.id)
    )
    for scope, community_id, branch_id, service_id, start, end, reason in rows:
        span = (start, end, reason)
        if scope == ClosureScope.DISTRICT:
            closures.district.append(span)
        elif scope == ClosureScope.COMMUNITY and community_id is not None:
            closures.community[community_id].append(span)
        elif scope == ClosureScope.BRANCH and branch_id is not None:
            closures.branch[branch_id].append(span)
        elif scope == ClosureScope.SERVICE and service_id is not None:
            closures.service[service_id].append(span)
    return closures


def _closed_by(day: date, spans: Sequence[_Span]) -> str | None:
    """The reason of the first closure covering ``day``, None when none does."""
    for first, last, reason in spans:
        if first <= day <= last:
            return reason
    return None


@dataclass
class _DayTable:
    """Holiday facts for each date of the (slightly widened) window, looked up once per run."""

    rest: frozenset[date]
    workday: frozenset[date]
    provisional: frozenset[date]
    makeup: tuple[date, ...]


def _day_table(calendar: HolidayCalendar, lo: date, hi: date) -> _DayTable:
    days = [lo + timedelta(days=i) for i in range((hi - lo).days + 1)]
    return _DayTable(
        rest=frozenset(d for d in days if calendar.is_rest(d)),
        workday=frozenset(d for d in days if calendar.is_workday(d)),
        provisional=frozenset(d for d in days if calendar.is_provisional(d)),
        makeup=tuple(d for d in days if calendar.is_makeup_workday(d)),
    )


def wanted_dates(rule_dates: Iterable[date] | frozenset[date], policy: str, days: _DayTable, first: date,
                 last: date, closed: Sequence[tuple[date, date]] = ()) -> list[date]:
    """The local dates a service runs on in [first, last]: rule, then holiday policy, then closures.

    ``workdays`` also runs on a make-up workday (调休上班) when the rule runs on every Monday-Friday
    of that week: the day stands in for a weekday, as schools do.
    """
    rule_set = rule_dates if isinstance(rule_dates, frozenset) else frozenset(rule_dates)
    out: list[date] = []
    for d in rule_set:
        if d < first or d > last:
            continue
        if policy == HolidayPolicy.SKIP_HOLIDAYS and d in days.rest:
            continue
        if policy == HolidayPolicy.WORKDAYS and d not in days.workday:
            continue
        out.append(d)
    if policy == HolidayPolicy.WORKDAYS:
        for d in days.makeup:
            if first <= d <= last and d not in rule_set:
                monday = d - timedelta(days=d.weekday())
                if all(monday + timedelta(days=i) in rule_set for i in range(5)):
                    out.append(d)
    if closed:
        out = [d for d in out if not any(a <= d <= b for a, b in closed)]
    out.sort()
    return out


# --------------------------------------------------------------------------- reading and writing


def _load_services(session: Session, service_ids: list[int] | None) -> list[ServiceRow]:
    query = select(Service.id, Service.rrule, Service.start_date, Service.start_time, Service.duration_minutes,
                   Service.timezone, Service.holiday_policy, Service.community_id, Service.branch_id,
                   Service.active)
    rows: list[ServiceRow] = []
    if service_ids is None:
        rows = [ServiceRow(*r) for r in session.execute(query.order_by(Service.id))]  # type: ignore[call-arg]
    else:
        for chunk in _chunked(sorted(set(service_ids))):
            rows += [ServiceRow(*r) for r in session.execute(query.where(Service.id.in_(chunk)))]  # type: ignore[call-arg]
        rows.sort(key=lambda r: r.id)
    return rows


def _chunked(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


_Existing = tuple[int, int, datetime, datetime, datetime, str, bool, bool, int, str | None]


def _load_existing(session: Session, service_ids: list[int] | None, lo: datetime,
                   hi: datetime) -> Iterator[_Existing]:
    cols = (_occ.c.id, _occ.c.service_id, _occ.c.original_start, _occ.c.start_at, _occ.c.end_at,
            _occ.c.status, _occ.c.pinned, _occ.c.provisional, _occ.c.sequence, _occ.c.cancel_cause)
    in_window = (_occ.c.original_start >= lo) & (_occ.c.original_start < hi)
    if service_ids is None:
        yield from session.execute(select(*cols).where(in_window))  # type: ignore[misc]
        return
    for chunk in _chunked(sorted(set(service_ids))):
        yield from session.execute(select(*cols).where(in_window, _occ.c.service_id.in_(chunk)))  # type: ignore[misc]


def _seated_occurrence_ids(session: Session, occurrence_ids: list[int]) -> set[int]:
    seated: set[int] = set()
    for chunk in _chunked(occurrence_ids):
        seated.update(session.scalars(
            select(Assignment.occurrence_id).distinct()
            .where(Assignment.occurrence_id.in_(chunk), Assignment.status.in_(SEATED_STATUSES))
        ))
    return seated


def plan(session: Session, today: date, horizon_weeks: int = DEFAULT_HORIZON_WEEKS,
         service_ids: list[int] | None = None, now: datetime | None = None,
         cancel_reason: str | None = None, policy: OperationPolicy = DEFAULT_POLICY) -> PlanResult:
    """Materialise occurrences for local dates ``today .. today + horizon_weeks`` (idempotent).

    ``service_ids`` limits the run to those services (None: every service). A second run with
    nothing changed writes no row. ``cancel_reason`` (a closure's) is what volunteers of a
    cancelled occurrence are told, instead of the generic re-planning words or, for an occurrence
    a closure covers, the covering closure's own reason.
    """
    started = _time.perf_counter()
    first, last = window(today, horizon_weeks)
    now_aware = now or datetime.now(UTC)
    now_naive = now_aware.astimezone(UTC).replace(tzinfo=None)
    result = PlanResult(first=first, last=last)
    session.flush()
    if session.get_bind().dialect.name == "postgresql":
        # Two planners (a second beat, a CLI run during a worker's) take turns instead of one failing on
        # the unique (service, original_start); the later one then reads the earlier one's rows.
        # SQLite needs nothing: its transactions begin IMMEDIATE, one writer at a time.
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PLANNER_LOCK_KEY})

    services = _load_services(session, service_ids)
    result.services = len(services)
    if not services:
        result.seconds = _time.perf_counter() - started
        return result
    calendar = HolidayCalendar.from_session(session)
    days = _day_table(calendar, first - timedelta(days=7), last + timedelta(days=7))
    closures = _load_closures(session, first, last)
    expander = _Expander(first - timedelta(days=7), last + timedelta(days=7))
    clock = _Clock()
    lo_aware, hi_aware = utc_bounds(first, last)
    lo, hi = lo_aware.replace(tzinfo=None), hi_aware.replace(tzinfo=None)

    by_id = {svc.id: svc for svc in services}
    existing: dict[int, dict[datetime, _Existing]] = defaultdict(dict)
    for found in _load_existing(session, service_ids, lo, hi):
        if found[1] in by_id:
            existing[found[1]][found[2]] = found

    inserts: list[tuple[int, datetime, datetime, bool]] = []
    updates: list[dict[str, Any]] = []
    reinstates: list[dict[str, Any]] = []
    end_changed: list[int] = []
    vanished: list[int] = []
    closed: dict[str, list[int]] = defaultdict(list)  # closure reason -> occurrences it cancels
    counts: dict[int, list[int]] = {}  # service id -> [created, updated, vanished, closed, reinstated]
    provisional_dates: set[date] = set()
    skipped: list[tuple[int, str]] = []

    for svc in services:
        have = existing.get(svc.id, {})
        wanted: dict[datetime, tuple[datetime, bool]] = {}
        #: Starts the rule and policy want but a closure covers -> the closure's reason.
        closed_starts: dict[datetime, str] = {}
        if svc.active:
            try:
                # Closures are applied here rather than by wanted_dates: a covered date is cancelled,
                # not dropped, so it needs telling apart from a date the rule no longer has.
                dates = wanted_dates(expander.dates(svc.rrule, svc.start_date, svc.id), svc.holiday_policy, days,
                                     first, last)
                spans = closures.for_service(svc)
                length = timedelta(minutes=svc.duration_minutes)
                policy_matters = svc.holiday_policy != HolidayPolicy.ALWAYS
                for d in dates:
                    start = clock.utc(svc.timezone, svc.start_time, d)
                    closure_reason = _closed_by(d, spans) if spans else None
                    if closure_reason is not None:
                        closed_starts[start] = closure_reason
                        continue
                    provisional = policy_matters and d in days.provisional
                    wanted[start] = (start + length, provisional)
            except _UNPLANNABLE as exc:
                # One bad row (stored by older code, or edited by hand) must not stop the city's plan.
                skipped.append((svc.id, _problem(exc)))
                continue
        created = updated = gone = shut = back = 0
        for start, (end, provisional) in wanted.items():
            row = have.get(start)
            if row is None:
                inserts.append((svc.id, start, end, provisional))
                created += 1
                if provisional:
                    result.provisional += 1
                    provisional_dates.add(clock.local_date(svc.timezone, start))
                continue
            start_at, end_at, status, pinned, was_provisional, sequence, cause = row[3:10]
            if not pinned and status == OccurrenceStatus.CANCELLED and cause == CancelCause.CLOSURE:
                # No closure covers it any more: it runs again, at the times the service now has.
                reinstates.append({"oid": row[0], "s": start, "e": end, "p": provisional, "q": sequence + 1,
                                   "u": now_naive})
                back += 1
                if provisional:
                    result.provisional += 1
                    provisional_dates.add(clock.local_date(svc.timezone, start))
                continue
            if pinned or status != OccurrenceStatus.SCHEDULED:
                result.pinned += 1 if pinned else 0
                result.unchanged += 0 if pinned else 1
                continue
            if provisional:
                result.provisional += 1
                provisional_dates.add(clock.local_date(svc.timezone, start))
            moved_end = end_at != end or start_at != start
            if moved_end or bool(was_provisional) != provisional:
                updates.append({"oid": row[0], "s": start, "e": end, "p": provisional,
                                "q": sequence + (1 if moved_end else 0), "u": now_naive})
                if moved_end:
                    end_changed.append(row[0])
                updated += 1
            else:
                result.unchanged += 1
        for start, old in have.items():
            if start in wanted:
                continue
            if old[6]:  # pinned: a coordinator's decision outlives the schedule
                result.pinned += 1
                continue
            if old[5] != OccurrenceStatus.SCHEDULED:
                result.unchanged += 1
                continue
            # Only dates inside the window in the service's own zone are this run's business.
            local = clock.local_date(svc.timezone, start)
            if not first <= local <= last:
                continue
            closure_reason = closed_starts.get(start)
            if closure_reason is not None:
                closed[cancel_reason or CLOSURE_CANCEL_PREFIX + closure_reason].append(old[0])
                shut += 1
                continue
            vanished.append(old[0])
            gone += 1
        if created or updated or gone or shut or back:
            counts[svc.id] = [created, updated, gone, shut, back]

    connection = session.connection()
    _insert_occurrences(connection, inserts, now_naive)
    result.created = len(inserts)
    analyze_after_bulk_write(session, ["occurrence"], len(inserts))
    if updates:
        statement = (
            update(_occ).where(_occ.c.id == bindparam("oid"))
            .values(start_at=bindparam("s"), end_at=bindparam("e"), provisional=bindparam("p"),
                    sequence=bindparam("q"), updated_at=bindparam("u"))
        )
        for batch in _chunked(updates):
            connection.execute(statement, list(batch))
    result.updated = len(updates)
    if reinstates:
        statement = (
            update(_occ).where(_occ.c.id == bindparam("oid"), _occ.c.status == OccurrenceStatus.CANCELLED)
            .values(status=OccurrenceStatus.SCHEDULED, cancel_reason=None, cancel_cause=None, start_at=bindparam("s"),
                    end_at=bindparam("e"), provisional=bindparam("p"), sequence=bindparam("q"),
                    updated_at=bindparam("u"))
        )
        for batch in _chunked(reinstates):
            connection.execute(statement, list(batch))
    result.reinstated = len(reinstates)

    seated = _seated_occurrence_ids(session, vanished) if vanished else set()
    to_delete = [oid for oid in vanished if oid not in seated]
    for batch in _chunked(to_delete):
        connection.execute(delete(_occ).where(_occ.c.id.in_(batch)))
    result.removed = len(to_delete)
    # Cancelled in bulk, seated or not; the loop below tells the few seated volunteers.
    replan_reason = cancel_reason or REPLAN_CANCEL_REASON
    _cancel_in_bulk(connection, sorted(seated), replan_reason, CancelCause.REPLAN, now_naive)
    closed_ids: list[int] = []
    for reason, ids in sorted(closed.items()):
        _cancel_in_bulk(connection, ids, reason, CancelCause.CLOSURE, now_naive)
        closed_ids += ids
    closed_seated = _seated_occurrence_ids(session, closed_ids) if closed_ids else set()

    _forget_stale_occurrences(session)
    from scheduler import reminders

    for oid in sorted(seated | closed_seated):
        occurrence = session.get(Occurrence, oid)
        if occurrence is None:
            continue
        record_event(session, "occurrence.cancelled", occurrence_id=oid, service_id=occurrence.service_id,
                     reason="closure" if oid in closed_seated else "replanned", sequence=occurrence.sequence)
        result.notified += reminders.occurrence_changed(
            session, occurrence, "cancelled", {"reason": occurrence.cancel_reason or replan_reason}, now=now_aware, policy=policy)
        result.events += 1
    result.cancelled = len(seated) + len(closed_ids)
    reinstated_ids = [r["oid"] for r in reinstates]
    reinstated_seated = _seated_occurrence_ids(session, reinstated_ids) if reinstated_ids else set()
    if reinstated_seated:
        _withdraw_unsent_cancel_notices(session, sorted(reinstated_seated), now_aware)
    for oid in sorted(reinstated_seated):
        occurrence = session.get(Occurrence, oid)
        if occurrence is not None:
            # The seat was kept while the occurrence was closed: its holder is told it runs after
            # all and is owed the before-shift reminders again (occurrence_changed re-times them).
            result.notified += reminders.occurrence_changed(session, occurrence, "reinstated", now=now_aware, policy=policy)
    for oid in end_changed:
        occurrence = session.get(Occurrence, oid)
        if occurrence is not None and _has_seated(session, oid):
            result.notified += reminders.occurrence_changed(session, occurrence, "moved",
                                                            {"reason": "service changed"}, now=now_aware, policy=policy)

    if counts:
        event_rows = [
            # Closed dates count as vanished and reinstated ones as updated, so that the feeds of
            # volunteers seated there are marked dirty too (calendars.dirty).
            {"kind": "occurrence.planned", "created_at": now_aware, "relayed_at": None,
             "payload": {"service_id": sid, "created": c, "updated": u + back, "vanished": g + shut,
                         "closed": shut, "reinstated": back, "first": first.isoformat(), "last": last.isoformat()}}
            for sid, (c, u, g, shut, back) in sorted(counts.items())
        ]
        for batch in _chunked(event_rows):
            session.execute(insert(Event), list(batch))
        result.events += len(event_rows)

    result.provisional_dates = sorted(provisional_dates)
    if skipped:
        rows = session.execute(select(Service.id, Service.slug).where(Service.id.in_([i for i, _ in skipped])))
        slugs = {sid: slug for sid, slug in rows}
        result.skipped = [(sid, slugs.get(sid, f"#{sid}"), problem) for sid, problem in skipped]
    result.seconds = _time.perf_counter() - started
    return result


#: What a stored service row can raise while it is planned: a refused rule or date, an unknown zone
#: (ZoneInfoNotFoundError is a KeyError), a malformed time, a date past the calendar's end.
_UNPLANNABLE = (InvalidInput, ValueError, KeyError, OverflowError, OSError, TypeError)


def _problem(exc: BaseException) -> str:
    if isinstance(exc, InvalidInput):
        return exc.message
    return f"{type(exc).__name__}: {exc}"


_INSERT_COLUMNS = ("service_id", "original_start", "start_at", "end_at", "status", "cancel_reason", "pinned",
                   "provisional", "sequence", "created_at", "updated_at")


def _insert_occurrences(connection: Connection, rows: list[tuple[int, datetime, datetime, bool]],
                        now: datetime) -> None:
    """New scheduled, unpinned occurrences in bulk: COPY on PostgreSQL, a driver executemany on SQLite.

    Timestamps go as naive UTC text in the form SQLAlchemy itself stores (``YYYY-MM-DD HH:MM:SS.ffffff``).
    """
    if not rows:
        return
    text_of: dict[datetime, str] = {}

    def fmt(moment: datetime) -> str:
        found = text_of.get(moment)
        if found is None:
            found = text_of[moment] = moment.strftime("%Y-%m-%d %H:%M:%S.%f")
        return found

    stamp = fmt(now)
    dialect = connection.dialect
    if dialect.name == "postgresql" and dialect.driver == "psycopg2":
        for batch in _chunked(rows, 100_000):
            buffer = io.StringIO()
            buffer.writelines(
                f"{sid}\t{fmt(start)}\t{fmt(start)}\t{fmt(end)}\tscheduled\t\\N\tf\t{'t' if prov else 'f'}\t0\t"
                f"{stamp}\t{stamp}\n"
                for sid, start, end, prov in batch
            )
            buffer.seek(0)
            cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                cursor.copy_expert(f"COPY occurrence ({', '.join(_INSERT_COLUMNS)}) FROM STDIN", buffer)
            finally:
                cursor.close()
        return
    if dialect.name == "sqlite":
        sql = f"INSERT INTO occurrence ({', '.join(_INSERT_COLUMNS)}) VALUES ({', '.join('?' * 11)})"
        # The start_at index takes keys in random order; with SQLite's default 2 MiB page cache a large
        # batch spends a third of its time re-reading index pages. Widen the cache for this batch only.
        previous = connection.exec_driver_sql("PRAGMA cache_size").scalar()
        if len(rows) > 20_000:
            connection.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_BULK_CACHE_KIB}")
        try:
            for batch in _chunked(rows, 50_000):
                connection.exec_driver_sql(sql, [
                    (sid, fmt(start), fmt(start), fmt(end), OccurrenceStatus.SCHEDULED, None, 0, 1 if prov else 0, 0, stamp, stamp)
                    for sid, start, end, prov in batch
                ])
        finally:
            connection.exec_driver_sql(f"PRAGMA cache_size = {int(previous or -2000)}")
        return
    for batch in _chunked(rows):
        connection.execute(_occ.insert(), [
            {"service_id": sid, "original_start": start, "start_at": start, "end_at": end, "status": OccurrenceStatus.SCHEDULED,
             "cancel_reason": None, "pinned": False, "provisional": prov, "sequence": 0, "created_at": now,
             "updated_at": now}
            for sid, start, end, prov in batch
        ])


def _cancel_in_bulk(connection: Connection, occurrence_ids: Sequence[int], reason: str, cause: str,
                    now: datetime) -> None:
    """Cancel scheduled occurrences with one statement a chunk: status, reason, cause, SEQUENCE + 1
    (RFC 5545 3.8.7.4: a status change), updated_at (LAST-MODIFIED, FEEDS.md rule 7)."""
    statement = (
        update(_occ).where(_occ.c.id.in_(bindparam("ids", expanding=True)), _occ.c.status == OccurrenceStatus.SCHEDULED)
        .values(status=OccurrenceStatus.CANCELLED, cancel_reason=reason[:200], cancel_cause=cause, sequence=_occ.c.sequence + 1,
                updated_at=now)
    )
    for batch in _chunked(occurrence_ids):
        connection.execute(statement, {"ids": list(batch)})


def _withdraw_unsent_cancel_notices(session: Session, occurrence_ids: list[int], now: datetime) -> None:
    """A cancellation notice not yet sent for a reinstated occurrence would only confuse: withdraw it."""
    for batch in _chunked(occurrence_ids):
        assignment_ids = select(Assignment.id).where(Assignment.occurrence_id.in_(batch)).scalar_subquery()
        session.execute(
            update(Reminder)
            .where(Reminder.assignment_id.in_(assignment_ids), Reminder.kind.startswith("cancelled:"),
                   Reminder.status == ReminderStatus.PENDING)
            .values(status=ReminderStatus.CANCELLED, updated_at=now)
            .execution_options(synchronize_session=False)
        )


def _has_seated(session: Session, occurrence_id: int) -> bool:
    return bool(_seated_occurrence_ids(session, [occurrence_id]))


def _forget_stale_occurrences(session: Session) -> None:
    """Core writes bypass the identity map: expire loaded occurrences so they are read afresh."""
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Occurrence):
            session.expire(obj)


# --------------------------------------------------------------------------- re-planning triggers


def local_today(zone: str = "Asia/Shanghai", now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(ZoneInfo(zone)).date()


#: Service fields a published event shows: changing one bumps the coming occurrences' SEQUENCE.
SHOWN_FIELDS = frozenset({"title", "venue", "kind", "contact_role", "visibility", "description"})


def replan_after_edit(session: Session, service: Service, changed: set[str], today: date | None = None,
                      horizon_weeks: int = DEFAULT_HORIZON_WEEKS, now: datetime | None = None, policy: OperationPolicy = DEFAULT_POLICY) -> PlanResult | None:
    """Re-plan one service after an edit that touches when it runs; None when nothing relevant changed.

    An edit to what a feed shows (title, venue...) bumps SEQUENCE on the coming occurrences instead
    (RFC 5545 3.8.7.4), so subscribed clients take the change.
    """
    if changed & SHOWN_FIELDS:
        stamp = now or utcnow()
        session.execute(
            update(Occurrence)
            .where(Occurrence.service_id == service.id, Occurrence.end_at > stamp)
            .values(sequence=Occurrence.sequence + 1, updated_at=stamp)
        )
    if not changed & PLANNING_FIELDS:
        return None
    session.flush()
    return plan(session, today or local_today(service.timezone, now), horizon_weeks, [service.id], now=now, policy=policy)


def services_in_scope(session: Session, scope: str, community_id: int | None = None,
                      branch_id: int | None = None, service_id: int | None = None) -> list[int] | None:
    """Service ids a closure of this scope touches (None: every service)."""
    if scope == ClosureScope.DISTRICT:
        return None
    if scope == ClosureScope.COMMUNITY:
        return list(session.scalars(select(Service.id).where(Service.community_id == community_id)))
    if scope == ClosureScope.BRANCH:
        return list(session.scalars(select(Service.id).where(Service.branch_id == branch_id)))
    return [service_id] if service_id is not None else []


def policy_service_ids(session: Session) -> list[int]:
    """Services whose dates depend on the holiday calendar."""
    return list(session.scalars(select(Service.id).where(Service.holiday_policy != HolidayPolicy.ALWAYS)))
