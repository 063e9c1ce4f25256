"""Load the builder's plain rows from the database: a few column queries, no ORM objects.

Loading is the only part of a warm publish that cannot be cached, so each loader is a handful of
``SELECT``s of plain columns whose cost follows the feeds asked for, not the size of the city.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, NamedTuple, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, and_, func, or_, select, type_coerce
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import NullType

from calendars.build import DAYS_BACK, ClosureRow, PublicEventRow, ShiftRow
from scheduler.db import UTCDateTime
from scheduler.models import (
    SEATED_STATUSES,
    Assignment,
    Branch,
    Closure,
    ClosureScope,
    Community,
    Occurrence,
    Role,
    Service,
    Visibility,
    Volunteer,
)


@dataclass(frozen=True)
class FeedWindow:
    """[start, end): from 30 days back to the end of the planning horizon (FEEDS.md "Shape")."""

    start: datetime
    end: datetime

    @property
    def first_day(self) -> date:
        return self.start.date()


def feed_window(now: datetime, tz: ZoneInfo, horizon_weeks: int) -> FeedWindow:
    """Whole local days, so the window moves once a day and not with every publish."""
    today = now.astimezone(tz).date()
    start = datetime.combine(today - timedelta(days=DAYS_BACK), time(0), tzinfo=tz)
    end = datetime.combine(today + timedelta(weeks=horizon_weeks, days=1), time(0), tzinfo=tz)
    return FeedWindow(start, end)


class PlacedEvent(NamedTuple):
    """A public event and where it belongs (its service's branch and community)."""

    row: PublicEventRow
    branch_id: int | None
    community_id: int


class PlacedClosure(NamedTuple):
    row: ClosureRow
    scope: str
    branch_id: int | None
    community_id: int | None


class BranchInfo(NamedTuple):
    id: int
    slug: str
    name: str
    community_id: int


class CommunityInfo(NamedTuple):
    id: int
    slug: str
    name: str


class RowMemo:
    """The rows built by :func:`load_public_events`, by occurrence id, with the raw values they came from.

    A memo of a pure function: an entry is reused only when every raw column value the row is built
    from (occurrence, service, roles, seat counts, latest assignment change) is equal to this load's,
    so a reused row is exactly the row a fresh build would give. That lets a warm load skip the
    datetime conversions and the row objects for all but the changed occurrences, and hand back the
    same row objects as before, which the builder's :class:`~calendars.build.EventCache` recognises by
    identity instead of hashing them again. Bounded like the event cache: when full, it starts afresh.
    """

    def __init__(self, max_entries: int = 2_000_000) -> None:
        self.max_entries = max_entries
        self.entries: dict[int, tuple[tuple[object, ...], PlacedEvent]] = {}

    def clear(self) -> None:
        self.entries.clear()


#: Survives between publishes of one process (a worker), like ``calendars.publish.EVENT_CACHE``.
ROW_MEMO = RowMemo()
#: Up to this many occurrences, a scoped load asks for their seats by id (bound parameters).
SEAT_IDS_MAX = 5_000


def _raw(column: Any) -> ColumnElement[Any]:
    """The column as the driver returns it, without the type's result processing (done on a miss)."""
    return type_coerce(column, NullType())


def load_public_events(
    session: Session, window: FeedWindow, branch_ids: Iterable[int] | None = None,
    community_ids: Iterable[int] | None = None, memo: RowMemo | None = None,
) -> list[PlacedEvent]:
    """Occurrences of public services in the window; all of them when no ids are given.

    With ids, only the services of those branches or communities (a community's feed holds its own
    services and its branches', whose ``community_id`` is the community's too).
    """
    memo = ROW_MEMO if memo is None else memo
    where: list[ColumnElement[bool]] = [
        Service.visibility == Visibility.PUBLIC,
        Occurrence.end_at > window.start,
        Occurrence.start_at < window.end,
    ]
    conn = session.connection()
    scoped = branch_ids is not None or community_ids is not None
    if scoped:
        # Resolve the services first, so that the occurrence and assignment lookups go through
        # their service and occurrence indexes instead of scanning the city.
        scope: list[ColumnElement[bool]] = []
        if branch_ids:
            scope.append(Service.branch_id.in_(sorted(set(branch_ids))))
        if community_ids:
            scope.append(Service.community_id.in_(sorted(set(community_ids))))
        if not scope:
            return []
        in_scope = list(conn.execute(
            select(Service.id).where(Service.visibility == Visibility.PUBLIC, or_(*scope))).scalars())
        if not in_scope:
            return []
        # The services are public and in scope already: no join with the service table needed.
        where = [Occurrence.service_id.in_(sorted(in_scope)), Occurrence.end_at > window.start,
                 Occurrence.start_at < window.end]
    # Core rows of raw column values, not ORM rows: this is the hot path of an incremental publish.
    # Datetimes stay raw (a string on SQLite) until a row has to be built.
    occurrence_query = select(
        Occurrence.id, Occurrence.service_id, _raw(Occurrence.start_at), _raw(Occurrence.end_at), Occurrence.status,
        Occurrence.provisional, Occurrence.sequence, _raw(Occurrence.updated_at),
    )
    if not scoped:  # unscoped loads filter on the service's visibility
        occurrence_query = occurrence_query.join(Service, Service.id == Occurrence.service_id)
    occurrences = conn.execute(occurrence_query.where(*where)).all()
    if not occurrences:
        return []
    service_ids = sorted({o[1] for o in occurrences})
    services = {
        s[0]: tuple(s) for s in conn.execute(
            select(
                Service.id, Service.title, Service.kind, Service.venue, Service.contact_role, Service.timezone,
                _raw(Service.updated_at), Service.branch_id, Service.community_id,
            ).where(Service.id.in_(service_ids))
        ).all()
    }
    roles: dict[int, list[tuple[int, str, int]]] = defaultdict(list)
    for role_id, service_id, name, count in conn.execute(
        select(Role.id, Role.service_id, Role.name, Role.count).where(Role.service_id.in_(service_ids))
        .order_by(Role.id)
    ).all():
        roles[service_id].append((role_id, name, count))
    service_roles = {sid: tuple(r) for sid, r in roles.items()}
    # One grouped query over the same occurrences (their service and window): seats taken per role
    # and the latest assignment change, both raw.
    seats: dict[int, list[tuple[int, int, object]]] = defaultdict(list)
    seat_count = func.count().filter(Assignment.status.in_(SEATED_STATUSES))
    seat_query = select(
        Assignment.occurrence_id, Assignment.role_id, seat_count, _raw(func.max(Assignment.updated_at)))
    if scoped and len(occurrences) <= SEAT_IDS_MAX:
        # A feed's own occurrences by id: an index search each. Joining the occurrences again made
        # PostgreSQL plan a parallel hash join over them, 3-4x slower at the full city's size.
        seat_query = seat_query.where(Assignment.occurrence_id.in_([o[0] for o in occurrences]))
    else:
        seat_query = seat_query.join(Occurrence, Occurrence.id == Assignment.occurrence_id).where(*where)
        if not scoped:
            seat_query = seat_query.join(Service, Service.id == Occurrence.service_id)
    for occ_id, role_id, count, latest in conn.execute(
        seat_query.group_by(Assignment.occurrence_id, Assignment.role_id)
    ).all():  # one fetch, not a fetch per row
        seats[occ_id].append((role_id, count, latest))
    entries = memo.entries
    to_datetime = _datetime_processor(conn)
    no_seats: list[tuple[int, int, object]] = []
    placed: list[PlacedEvent] = []
    append = placed.append
    for occurrence in occurrences:
        occ_id = occurrence[0]
        service = services[occurrence[1]]
        service_role = service_roles.get(occurrence[1], ())
        taken = seats.get(occ_id, no_seats)
        taken.sort()
        key = (tuple(occurrence), service, service_role, tuple(taken))
        cached = entries.get(occ_id)
        if cached is not None and cached[0] == key:
            append(cached[1])
            continue
        event = _build_event(occurrence, service, service_role, taken, to_datetime)
        if len(entries) >= memo.max_entries:
            entries.clear()
        entries[occ_id] = (key, event)
        append(event)
    return placed


def _datetime_processor(conn: Connection) -> Callable[[Any], datetime]:
    """What ``UTCDateTime`` does to a raw value read on this connection's dialect (aware UTC)."""
    dialect = conn.dialect
    process = UTCDateTime().dialect_impl(dialect).result_processor(dialect, None)
    if process is None:  # pragma: no cover - UTCDateTime always processes its results
        raise RuntimeError("UTCDateTime has no result processor")
    return cast(Callable[[Any], datetime], process)


def _build_event(
    occurrence: Sequence[Any], service: tuple[Any, ...], roles: tuple[tuple[int, str, int], ...],
    taken: list[tuple[int, int, object]], to_datetime: Callable[[Any], datetime],
) -> PlacedEvent:
    """The row of one occurrence from raw values (a memo miss): the only place datetimes convert."""
    occ_id, service_id, start_at, end_at, status, provisional, sequence, updated_at = occurrence
    (_, title, kind, venue, contact_role, timezone, service_updated_at, branch_id, community_id) = service
    stamp = max(to_datetime(updated_at), to_datetime(service_updated_at))
    seated: dict[int, int] = {}
    for role_id, count, latest in taken:
        seated[role_id] = count
        if latest is not None:
            stamp = max(stamp, to_datetime(latest))
    open_seats = tuple([(name, count - seated.get(role_id, 0)) for role_id, name, count in roles])
    row = PublicEventRow(
        occ_id, service_id, title, kind, venue, contact_role, timezone, to_datetime(start_at),
        to_datetime(end_at), status, provisional, sequence, stamp, open_seats,
    )
    return PlacedEvent(row, branch_id, community_id)


def load_shifts(
    session: Session, window: FeedWindow, volunteer_ids: Iterable[int] | None = None
) -> dict[int, list[ShiftRow]]:
    """Seated assignments in the window, by volunteer (all volunteers when ids is None)."""
    where: list[ColumnElement[bool]] = [
        Assignment.status.in_(SEATED_STATUSES),
        Occurrence.end_at > window.start,
        Occurrence.start_at < window.end,
    ]
    if volunteer_ids is not None:
        ids = sorted(set(volunteer_ids))
        if not ids:
            return {}
        where.append(Assignment.volunteer_id.in_(ids))
    shifts: dict[int, list[ShiftRow]] = defaultdict(list)
    for r in session.execute(
        select(
            Assignment.id, Assignment.volunteer_id, Assignment.status, Assignment.sequence,
            Assignment.updated_at, Role.name.label("role"), Occurrence.id.label("occurrence_id"),
            Occurrence.start_at, Occurrence.end_at, Occurrence.status.label("occurrence_status"),
            Occurrence.provisional, Occurrence.sequence.label("occurrence_sequence"),
            Occurrence.updated_at.label("occurrence_updated_at"), Occurrence.cancel_reason, Service.title,
            Service.kind, Service.venue, Service.contact_role, Service.timezone, Service.description,
            Service.updated_at.label("service_updated_at"),
        )
        .join(Occurrence, Occurrence.id == Assignment.occurrence_id)
        .join(Service, Service.id == Occurrence.service_id)
        .join(Role, Role.id == Assignment.role_id)
        .where(*where)
    ):
        shifts[r.volunteer_id].append(ShiftRow(
            assignment_id=r.id, occurrence_id=r.occurrence_id, title=r.title, kind=r.kind, venue=r.venue,
            contact_role=r.contact_role, timezone=r.timezone, start_at=r.start_at, end_at=r.end_at,
            occurrence_status=r.occurrence_status, assignment_status=r.status, role=r.role,
            provisional=r.provisional, sequence=r.occurrence_sequence + r.sequence,
            stamp=max(r.updated_at, r.occurrence_updated_at, r.service_updated_at),
            service_description=r.description or "", cancel_reason=r.cancel_reason or "",
        ))
    return dict(shifts)


def load_closures(session: Session, window: FeedWindow) -> list[PlacedClosure]:
    """Closures overlapping the window, labelled by what they close (public services only)."""
    last_day = (window.end - timedelta(seconds=1)).date()
    rows = session.execute(
        select(
            Closure.id, Closure.scope, Closure.community_id, Closure.branch_id, Closure.service_id,
            Closure.start_date, Closure.end_date, Closure.reason, Closure.created_at,
            Community.name.label("community_name"), Branch.name.label("branch_name"),
            Branch.community_id.label("branch_community_id"), Service.title.label("service_title"),
            Service.visibility, Service.branch_id.label("service_branch_id"),
            Service.community_id.label("service_community_id"),
        )
        .outerjoin(Community, Community.id == Closure.community_id)
        .outerjoin(Branch, Branch.id == Closure.branch_id)
        .outerjoin(Service, Service.id == Closure.service_id)
        .where(Closure.end_date >= window.first_day, Closure.start_date <= last_day)
    ).all()
    placed: list[PlacedClosure] = []
    for c in rows:
        if c.scope == ClosureScope.DISTRICT:
            label, branch_id, community_id = "全部服务", None, None
        elif c.scope == ClosureScope.COMMUNITY:
            label, branch_id, community_id = c.community_name or "", None, c.community_id
        elif c.scope == ClosureScope.BRANCH:
            label, branch_id, community_id = c.branch_name or "", c.branch_id, c.branch_community_id
        else:
            if c.visibility != Visibility.PUBLIC:
                continue
            label, branch_id, community_id = c.service_title or "", c.service_branch_id, c.service_community_id
        row = ClosureRow(c.id, label, c.reason, c.start_date, c.end_date, c.created_at)
        placed.append(PlacedClosure(row, c.scope, branch_id, community_id))
    return placed


def load_branches(session: Session, slugs: Iterable[str] | None = None) -> list[BranchInfo]:
    query = select(Branch.id, Branch.slug, Branch.name, Branch.community_id).order_by(Branch.slug)
    if slugs is not None:
        wanted = sorted(set(slugs))
        if not wanted:
            return []
        query = query.where(Branch.slug.in_(wanted))
    return [BranchInfo(*r) for r in session.execute(query)]


def load_communities(session: Session, slugs: Iterable[str] | None = None,
                     ids: Iterable[int] | None = None) -> list[CommunityInfo]:
    query = select(Community.id, Community.slug, Community.name).order_by(Community.slug)
    conditions: list[ColumnElement[bool]] = []
    if slugs is not None:
        conditions.append(Community.slug.in_(sorted(set(slugs))))
    if ids is not None:
        conditions.append(Community.id.in_(sorted(set(ids))))
    if conditions:
        query = query.where(or_(*conditions))
    return [CommunityInfo(*r) for r in session.execute(query)]


def load_volunteer_tokens(
    session: Session, ids: Iterable[int] | None = None
) -> dict[int, tuple[str, str | None]]:
    """id -> (feed token, retired token); every volunteer when ids is None.

    Inactive volunteers keep their feed (their past shifts stay visible until they age out).
    """
    query = select(Volunteer.id, Volunteer.feed_token, Volunteer.retired_feed_token)
    if ids is not None:
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        query = query.where(Volunteer.id.in_(wanted))
    return {r.id: (r.feed_token, r.retired_feed_token) for r in session.execute(query)}


def volunteers_with_retired_tokens(session: Session) -> list[int]:
    return list(session.scalars(select(Volunteer.id).where(Volunteer.retired_feed_token.is_not(None))))


def volunteer_ids_at(session: Session, occurrence_ids: Iterable[int] = (),
                     service_ids: Iterable[int] = (), since: datetime | None = None) -> set[int]:
    """Volunteers with any assignment at these occurrences or services (whose private feeds change)."""
    occ, svc = sorted(set(occurrence_ids)), sorted(set(service_ids))
    conditions: list[ColumnElement[bool]] = []
    if occ:
        conditions.append(Assignment.occurrence_id.in_(occ))
    if svc:
        sub = select(Occurrence.id).where(Occurrence.service_id.in_(svc))
        if since is not None:
            sub = sub.where(Occurrence.end_at > since)
        conditions.append(and_(Assignment.occurrence_id.in_(sub), Assignment.status.in_(SEATED_STATUSES)))
    if not conditions:
        return set()
    return set(session.scalars(select(Assignment.volunteer_id).where(or_(*conditions)).distinct()))


#: Longest volunteer name the builder looks for in public text (writers check names of any length).
NAME_MAX = 8
#: Up to this many candidate substrings, the database is asked about them; beyond, every active
#: name of a plausible length is read once and matched here.
NAME_CANDIDATES_MAX = 5_000
#: text -> the active volunteers' names found in it, for the texts a process has looked up already
#: (a worker's incremental publish asks only about new texts). Bounded like the other memos.
NAME_MEMO: dict[str, frozenset[str]] = {}


def volunteer_names_in_texts(session: Session, texts: Iterable[str]) -> frozenset[str]:
    """Active volunteers' full names (2 to ``NAME_MAX`` characters) that appear in these public texts.

    What the builder redacts (FEEDS.md rule 17). The texts are the feed's few distinct titles, venues,
    contact roles, role names and closure reasons, not one per occurrence.
    """
    new = {t for t in texts if t and t not in NAME_MEMO}
    if new:
        from scheduler.privacy import MIN_NAME_LENGTH

        candidates: dict[str, set[str]] = defaultdict(set)  # substring -> texts holding it
        for text in new:
            for size in range(MIN_NAME_LENGTH, NAME_MAX + 1):
                for i in range(len(text) - size + 1):
                    candidates[text[i:i + size]].add(text)
        active = and_(Volunteer.active.is_(True), func.length(Volunteer.name) >= MIN_NAME_LENGTH,
                      func.length(Volunteer.name) <= NAME_MAX)
        found: set[str] = set()
        if len(candidates) <= NAME_CANDIDATES_MAX:
            wanted = sorted(candidates)
            for i in range(0, len(wanted), 500):
                found.update(session.scalars(
                    select(Volunteer.name).where(active, Volunteer.name.in_(wanted[i:i + 500])).distinct()))
        else:
            found.update(name for name in session.scalars(select(Volunteer.name).where(active).distinct())
                         if name in candidates)
        if len(NAME_MEMO) + len(new) > 200_000:
            NAME_MEMO.clear()
        by_text: dict[str, set[str]] = defaultdict(set)
        for name in found:
            for text in candidates[name]:
                by_text[text].add(name)
        for text in new:
            NAME_MEMO[text] = frozenset(by_text.get(text, ()))
    result: set[str] = set()
    for text in texts:
        if text:
            result |= NAME_MEMO.get(text, frozenset())
    return frozenset(result)


def public_texts(events: Iterable[PlacedEvent], closures: Iterable[PlacedClosure]) -> set[str]:
    """The distinct free texts the public rows show (one set per service, not per occurrence)."""
    texts: set[str] = set()
    seen_services: set[int] = set()
    for placed in events:
        row = placed.row
        if row.service_id in seen_services:
            continue
        seen_services.add(row.service_id)
        texts.update((row.title, row.venue, row.contact_role))
        texts.update(role for role, _ in row.open_seats)
    for closure in closures:
        texts.update((closure.row.label, closure.row.reason))
    return texts
