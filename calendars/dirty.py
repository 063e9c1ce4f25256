"""Mark the feeds an outbox event affects as dirty, so that the next publish rebuilds only those.

Feed keys: ``branch:<slug>``, ``community:<slug>``, ``district`` and ``volunteer:<id>``. Marking is an
upsert (``INSERT .. ON CONFLICT``) so that two relays marking the same feed cannot collide, and it
refreshes ``dirty_since`` every time: the publisher clears a mark only if ``dirty_since`` is still
the value it read, so a change committed while it was building is never lost.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.db import utcnow
from scheduler.models import (
    Assignment,
    Attendance,
    Branch,
    Closure,
    ClosureScope,
    Community,
    Event,
    FeedState,
    Occurrence,
    Service,
)

DISTRICT = "district"
#: Kinds whose effect on feeds is not told by ids in the payload: every public feed.
_ALL_PUBLIC_KINDS = {"holidays.loaded"}
#: Service fields that move a service between feeds (the old feed must lose it too).
_MOVING_FIELDS = {"branch", "branch_id", "community", "community_id"}


def branch_key(slug: str) -> str:
    return f"branch:{slug}"


def community_key(slug: str) -> str:
    return f"community:{slug}"


def volunteer_key(volunteer_id: int) -> str:
    return f"volunteer:{volunteer_id}"


def _insert_for(session: Session) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


def mark_dirty(session: Session, keys: Iterable[str], now: datetime | None = None) -> set[str]:
    """Upsert FeedState rows as dirty (sorted, so that concurrent markers lock in the same order)."""
    wanted = sorted(set(keys))
    if not wanted:
        return set()
    now = now or utcnow()
    table = FeedState.__table__
    stmt = _insert_for(session)(table).values([{"key": k, "dirty": True, "dirty_since": now} for k in wanted])
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.key],
        set_={"dirty": True, "dirty_since": stmt.excluded.dirty_since},
    )
    session.execute(stmt)
    return set(wanted)


def ensure_feed_states(session: Session, keys: Iterable[str]) -> None:
    """Create clean FeedState rows for keys that have none yet (first publish of a feed)."""
    wanted = sorted(set(keys))
    if not wanted:
        return
    table = FeedState.__table__
    stmt = _insert_for(session)(table).values([{"key": k, "dirty": False} for k in wanted])
    session.execute(stmt.on_conflict_do_nothing(index_elements=[table.c.key]))


def all_public_keys(session: Session) -> set[str]:
    keys = {DISTRICT}
    keys.update(branch_key(s) for s in session.scalars(select(Branch.slug)))
    keys.update(community_key(s) for s in session.scalars(select(Community.slug)))
    return keys


def mark_all_dirty(session: Session, now: datetime | None = None) -> set[str]:
    """Every public feed and every volunteer's private feed (after a holiday load, a config change)."""
    from scheduler.models import Volunteer

    keys = all_public_keys(session)
    keys.update(volunteer_key(i) for i in session.scalars(select(Volunteer.id)))
    return mark_dirty(session, keys, now)


def _ids(payload: dict[str, Any], name: str) -> set[int]:
    """``name`` and ``name + 's'`` from a payload, as ints (ids may arrive as strings)."""
    found: set[int] = set()
    for key in (name, name + "s"):
        value = payload.get(key)
        values = value if isinstance(value, list | tuple) else [value]
        for item in values:
            if isinstance(item, int) and not isinstance(item, bool):
                found.add(item)
            elif isinstance(item, str) and item.isdigit():
                found.add(int(item))
    return found


def public_keys_for_services(session: Session, service_ids: Iterable[int]) -> set[str]:
    """The branch, community and district feeds that show these services (whatever their visibility:
    a service that just became private must leave its public feeds)."""
    ids = sorted(set(service_ids))
    if not ids:
        return set()
    keys: set[str] = set()
    for branch_slug, community_slug in session.execute(
        select(Branch.slug, Community.slug)
        .select_from(Service)
        .join(Community, Community.id == Service.community_id)
        .outerjoin(Branch, Branch.id == Service.branch_id)
        .where(Service.id.in_(ids))
    ):
        keys.update({DISTRICT, community_key(community_slug)})
        if branch_slug:
            keys.add(branch_key(branch_slug))
    return keys


def _reaches_shifts(kind: str, payload: dict[str, Any]) -> bool:
    """Whether a service-wide event can change the shifts volunteers already hold."""
    if kind.startswith("service."):
        return True
    if kind == "occurrence.planned":  # a re-plan that only added dates changes nobody's shift
        return bool(payload.get("updated") or payload.get("vanished"))
    return False


def feeds_for_event(session: Session, event: Event) -> set[str]:
    """The feed keys one outbox event affects (ids in the payload, looked up now)."""
    from calendars.rows import volunteer_ids_at

    payload = event.payload or {}
    if event.kind in _ALL_PUBLIC_KINDS:
        return all_public_keys(session)
    keys: set[str] = set()
    service_ids = _ids(payload, "service_id")
    occurrence_ids = _ids(payload, "occurrence_id")
    assignment_ids = _ids(payload, "assignment_id")
    volunteer_ids = _ids(payload, "volunteer_id")
    unresolved = False

    attendance_ids = _ids(payload, "attendance_id")
    if attendance_ids:
        for assignment_id, occ_id, vol_id in session.execute(
            select(Attendance.assignment_id, Attendance.occurrence_id, Attendance.volunteer_id)
            .where(Attendance.id.in_(sorted(attendance_ids)))
        ):
            if assignment_id is not None:
                assignment_ids.add(assignment_id)
            occurrence_ids.add(occ_id)
            volunteer_ids.add(vol_id)
    if assignment_ids:
        found = session.execute(
            select(Assignment.id, Assignment.occurrence_id, Assignment.volunteer_id)
            .where(Assignment.id.in_(sorted(assignment_ids)))
        ).all()
        unresolved |= len(found) < len(assignment_ids) and not (occurrence_ids or service_ids)
        for _, occ_id, vol_id in found:
            occurrence_ids.add(occ_id)
            volunteer_ids.add(vol_id)
    if occurrence_ids:
        found_occ = session.execute(
            select(Occurrence.id, Occurrence.service_id).where(Occurrence.id.in_(sorted(occurrence_ids)))
        ).all()
        unresolved |= len(found_occ) < len(occurrence_ids) and not service_ids
        service_ids.update(s for _, s in found_occ)
        if not assignment_ids and not attendance_ids:
            # The occurrence itself changed (moved, cancelled): every volunteer there sees it.
            volunteer_ids |= volunteer_ids_at(session, occurrence_ids=occurrence_ids)
    closure_ids = _ids(payload, "closure_id")
    if closure_ids:
        closures = session.execute(
            select(Closure.scope, Closure.community_id, Closure.branch_id, Closure.service_id)
            .where(Closure.id.in_(sorted(closure_ids)))
        ).all()
        unresolved |= len(closures) < len(closure_ids)  # removed: where it was is gone with it
        for scope, community_id, branch_id, service_id in closures:
            if scope == ClosureScope.DISTRICT:
                return keys | all_public_keys(session) | {volunteer_key(v) for v in volunteer_ids}
            if service_id is not None:
                service_ids.add(service_id)
            elif branch_id is not None:
                for slug, c_slug in session.execute(
                    select(Branch.slug, Community.slug).join(Community, Community.id == Branch.community_id)
                    .where(Branch.id == branch_id)
                ):
                    keys.update({DISTRICT, branch_key(slug), community_key(c_slug)})
            elif community_id is not None:
                own_slug = session.scalar(select(Community.slug).where(Community.id == community_id))
                if own_slug:
                    keys.update({DISTRICT, community_key(own_slug)})
                keys.update(branch_key(s) for s in session.scalars(
                    select(Branch.slug).where(Branch.community_id == community_id)))
    elif event.kind.startswith("closure."):
        unresolved = True
    if event.kind == "service.changed" and _MOVING_FIELDS & set(payload.get("fields") or ()):
        unresolved = True  # the service's old branch and community are not in the payload
    if service_ids:
        keys |= public_keys_for_services(session, service_ids)
        if _reaches_shifts(event.kind, payload):
            # Measured from the event, not the wall clock: relaying it late reaches the same feeds.
            since = (event.created_at or utcnow()) - timedelta(days=31)
            volunteer_ids |= volunteer_ids_at(session, service_ids=service_ids, since=since)
    if unresolved:
        keys |= all_public_keys(session)
    keys.update(volunteer_key(v) for v in volunteer_ids)
    return keys


def mark_feeds_for_event(session: Session, event: Event) -> set[str]:
    """Mark the feeds one outbox event affects dirty; returns their keys. Idempotent."""
    return mark_dirty(session, feeds_for_event(session, event))


def dirty_keys(session: Session) -> dict[str, datetime | None]:
    """key -> dirty_since of every dirty feed."""
    return dict(session.execute(select(FeedState.key, FeedState.dirty_since).where(FeedState.dirty.is_(True))).all())

