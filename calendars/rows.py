"""Load the builder's plain rows from the database: a few column queries, no ORM objects.

Loading is the only part of a warm publish that cannot be cached, so each loader is a handful of
``SELECT``s of plain columns whose cost follows the feeds asked for, not the size of the city.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from calendars.build import DAYS_BACK, ClosureRow, PublicEventRow, ShiftRow
from scheduler.models import (
    SEATED_STATUSES,
    Assignment,
    Branch,
    Closure,
    Community,
    Occurrence,
    Role,
    Service,
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


def load_public_events(
    session: Session, window: FeedWindow, branch_ids: Iterable[int] | None = None,
    community_ids: Iterable[int] | None = None,
) -> list[PlacedEvent]:
    """Occurrences of public services in the window; all of them when no ids are given.

    With ids, only the services of those branches or communities (a community's feed holds its own
    services and its branches', whose ``community_id`` is the community's too).
    """
    where: list[ColumnElement[bool]] = [
        Service.visibility == "public",
        Occurrence.end_at > window.start,
        Occurrence.start_at < window.end,
    ]
    if branch_ids is not None or community_ids is not None:
        # Resolve the services first, so that the occurrence and assignment lookups go through
        # their service and occurrence indexes instead of scanning the city.
        scope: list[ColumnElement[bool]] = []
        if branch_ids:
            scope.append(Service.branch_id.in_(sorted(set(branch_ids))))
        if community_ids:
            scope.append(Service.community_id.in_(sorted(set(community_ids))))
        if not scope:
            return []
        in_scope = list(session.connection().execute(
            select(Service.id).where(Service.visibility == "public", or_(*scope))).scalars())
        if not in_scope:
            return []
        where.append(Occurrence.service_id.in_(sorted(in_scope)))
    # Core rows, not ORM rows: this is the hot path of an incremental publish.
    conn = session.connection()
    occurrences = conn.execute(
        select(
            Occurrence.id, Occurrence.service_id, Occurrence.start_at, Occurrence.end_at, Occurrence.status,
            Occurrence.provisional, Occurrence.sequence, Occurrence.updated_at,
        ).join(Service, Service.id == Occurrence.service_id).where(*where)
    ).all()
    if not occurrences:
        return []
    service_ids = sorted({o[1] for o in occurrences})
    services = {
        s[0]: s for s in conn.execute(
            select(
                Service.id, Service.title, Service.kind, Service.venue, Service.contact_role, Service.timezone,
                Service.updated_at, Service.branch_id, Service.community_id,
            ).where(Service.id.in_(service_ids))
        )
    }
    roles: dict[int, list[tuple[int, str, int]]] = defaultdict(list)
    for role_id, service_id, name, count in conn.execute(
        select(Role.id, Role.service_id, Role.name, Role.count).where(Role.service_id.in_(service_ids))
        .order_by(Role.id)
    ):
        roles[service_id].append((role_id, name, count))
    seated: dict[tuple[int, int], int] = {}
    touched: dict[int, datetime] = {}
    seat_count = func.count().filter(Assignment.status.in_(SEATED_STATUSES))
    for occ_id, role_id, count, latest in conn.execute(
        select(Assignment.occurrence_id, Assignment.role_id, seat_count, func.max(Assignment.updated_at))
        .join(Occurrence, Occurrence.id == Assignment.occurrence_id)
        .join(Service, Service.id == Occurrence.service_id)
        .where(*where)
        .group_by(Assignment.occurrence_id, Assignment.role_id)
    ):
        seated[(occ_id, role_id)] = count
        if latest is not None and (occ_id not in touched or latest > touched[occ_id]):
            touched[occ_id] = latest
    placed: list[PlacedEvent] = []
    append = placed.append
    for occ_id, service_id, start_at, end_at, status, provisional, sequence, updated_at in occurrences:
        (_, title, kind, venue, contact_role, timezone, service_updated_at, branch_id,
         community_id) = services[service_id]
        stamp = max(updated_at, service_updated_at, touched.get(occ_id, updated_at))
        open_seats = tuple([(name, count - seated.get((occ_id, role_id), 0))
                            for role_id, name, count in roles[service_id]])
        row = PublicEventRow(
            occ_id, service_id, title, kind, venue, contact_role, timezone, start_at, end_at, status,
            provisional, sequence, stamp, open_seats,
        )
        append(PlacedEvent(row, branch_id, community_id))
    return placed


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
        if c.scope == "district":
            label, branch_id, community_id = "全部服务", None, None
        elif c.scope == "community":
            label, branch_id, community_id = c.community_name or "", None, c.community_id
        elif c.scope == "branch":
            label, branch_id, community_id = c.branch_name or "", c.branch_id, c.branch_community_id
        else:
            if c.visibility != "public":
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
