"""Publish feeds into ``settings.feed_dir``, atomically, rebuilding only the dirty ones.

Layout: ``branches/<slug>.ics``, ``communities/<slug>.ics``, ``district.ics``,
``volunteers/<token>.ics`` and ``index.html``. A file is written only when its bytes change (cheap
ETags, no spurious client updates) and always through a temporary file renamed over the old one in
the same directory (FEEDS.md rule 19).
"""

from __future__ import annotations

import gc
import hashlib
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, cast

from sqlalchemy import Table, bindparam, case, delete, select, update
from sqlalchemy.orm import Session

from calendars import rows as R
from calendars.build import EventCache, FeedMeta, FeedRow, build_feed
from calendars.dirty import (
    DISTRICT,
    all_public_keys,
    branch_key,
    community_key,
    ensure_feed_states,
    volunteer_key,
)
from calendars.site import index_fingerprint, render_index, site_feeds
from calendars.urls import feed_path
from scheduler.db import UTCDateTime, utcnow
from scheduler.files import write_atomic
from scheduler.models import ClosureScope, FeedState

if TYPE_CHECKING:
    from scheduler.settings import Settings

#: Serialized events survive between publishes of one process (a worker): a warm publish joins bytes.
EVENT_CACHE = EventCache()
#: Size of the caches when they were last frozen (``freeze_grown_caches``).
_FROZEN_AT = 0


def freeze_grown_caches(threshold: int = 50_000) -> bool:
    """Hand the long-lived caches to the garbage collector's permanent generation once they have grown.

    A worker's caches hold millions of objects (a full city's events and rows); every full pass of
    Python's cyclic collector walks all of them, which an incremental publish pays for at random (about 5 ms
    of the median at the full city, more at p90). ``gc.freeze()`` takes what is alive now out of those passes;
    entries dropped later are still freed by reference counting (they hold no cycles). Called by the worker
    after each publish; does something only when the caches grew by ``threshold`` entries since the last time.
    """
    global _FROZEN_AT
    size = len(EVENT_CACHE) + len(R.ROW_MEMO.entries)
    if size - _FROZEN_AT < threshold:
        _FROZEN_AT = min(_FROZEN_AT, size)  # the caches were cleared: count growth from here
        return False
    gc.collect()
    gc.freeze()
    _FROZEN_AT = size
    return True


@dataclass
class PublishResult:
    written: int = 0
    unchanged: int = 0
    deleted: int = 0
    duration: float = 0.0
    #: Keys of the feeds rebuilt (written or unchanged), sorted.
    keys: list[str] = field(default_factory=list, repr=False)
    index_written: bool = False
    #: Outbox events relayed first (``relay_and_publish``).
    relayed: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "relayed": self.relayed, "written": self.written, "unchanged": self.unchanged, "deleted": self.deleted,
            "duration_ms": round(self.duration * 1000, 1), "feeds": len(self.keys),
            "index_written": self.index_written,
        }




def _remove(root: Path, relative: str | None) -> bool:
    if not relative:
        return False
    try:
        (root / relative).unlink()
        return True
    except FileNotFoundError:
        return False


def publish_dirty(
    session: Session, settings: Settings, now: datetime | None = None, include_district: bool = True,
    all_feeds: bool = False, cache: EventCache | None = None,
) -> PublishResult:
    """Rebuild the dirty feeds (or all with ``all_feeds``), write the changed ones, mark them clean.

    ``include_district=False`` leaves the district feed (which grows with the city) dirty for a
    publish on its own slower interval. Retired private-feed tokens lose their file here.
    """
    started = time.perf_counter()
    now = now or utcnow()
    cache = EVENT_CACHE if cache is None else cache
    root = settings.feed_dir
    root.mkdir(parents=True, exist_ok=True)
    window = R.feed_window(now, settings.tz, settings.horizon_weeks)
    result = PublishResult()

    states = {
        r.key: r for r in session.execute(
            select(FeedState.key, FeedState.dirty, FeedState.dirty_since, FeedState.content_hash, FeedState.path)
            .where(FeedState.dirty.is_(True) if not all_feeds else FeedState.key.is_not(None))
        )
    }
    if all_feeds:
        keys = all_public_keys(session) | {k for k in states if k.startswith("volunteer:")}
        tokens = R.load_volunteer_tokens(session)
        keys |= {volunteer_key(i) for i in tokens}
    else:
        keys = set(states)
        keys |= {volunteer_key(i) for i in R.volunteers_with_retired_tokens(session)}
        tokens = {}
    if not include_district:
        keys.discard(DISTRICT)
    if not keys:
        if all_feeds or not (root / "index.html").exists():
            result.index_written = _publish_index(session, settings, root)
        result.duration = time.perf_counter() - started
        return result
    missing_states = keys - set(states)
    if missing_states:
        # Feeds never published before (or the retired-token volunteers): read their state too.
        for r in session.execute(
            select(FeedState.key, FeedState.dirty, FeedState.dirty_since, FeedState.content_hash, FeedState.path)
            .where(FeedState.key.in_(sorted(missing_states)))
        ):
            states[r.key] = r

    branch_slugs = {k.split(":", 1)[1] for k in keys if k.startswith("branch:")}
    community_slugs = {k.split(":", 1)[1] for k in keys if k.startswith("community:")}
    volunteer_ids = {int(k.split(":", 1)[1]) for k in keys if k.startswith("volunteer:")}
    branches = R.load_branches(session, branch_slugs)
    communities = R.load_communities(session, community_slugs)

    outputs: dict[str, tuple[str, bytes]] = {}  # key -> (relative path, bytes)
    public_wanted = bool(branches or communities or DISTRICT in keys)
    if public_wanted:
        if DISTRICT in keys:
            events = R.load_public_events(session, window)
        else:
            events = R.load_public_events(
                session, window, branch_ids=[b.id for b in branches], community_ids=[c.id for c in communities]
            )
        closures = R.load_closures(session, window)
        # Volunteers named in public free text: the builder redacts them (rule 17).
        names = R.volunteer_names_in_texts(session, R.public_texts(events, closures))
        by_branch: dict[int, list[FeedRow]] = defaultdict(list)
        by_community: dict[int, list[FeedRow]] = defaultdict(list)
        everything: list[FeedRow] = []
        for placed in events:
            if placed.branch_id is not None:
                by_branch[placed.branch_id].append(placed.row)
            by_community[placed.community_id].append(placed.row)
            everything.append(placed.row)
        branch_community = {b.id: b.community_id for b in branches}
        for closure in closures:
            everything.append(closure.row)
            if closure.scope == ClosureScope.DISTRICT:
                for b in branches:
                    by_branch[b.id].append(closure.row)
                for c in communities:
                    by_community[c.id].append(closure.row)
                continue
            if closure.branch_id is not None:
                by_branch[closure.branch_id].append(closure.row)
            if closure.community_id is not None:
                by_community[closure.community_id].append(closure.row)
                if closure.scope == ClosureScope.COMMUNITY:
                    for b_id, c_id in branch_community.items():
                        if c_id == closure.community_id:
                            by_branch[b_id].append(closure.row)
        community_names = {c.id: c.name for c in R.load_communities(session, ids={b.community_id for b in branches})}
        community_names.update({c.id: c.name for c in communities})
        for b in branches:
            meta = FeedMeta(
                name=f"{b.name} 志愿服务",
                description=f"{community_names.get(b.community_id, '')}{b.name}的公开志愿服务日程：时间、地点、"
                            "缺员岗位和联系岗位（不含个人信息）",
            )
            key = branch_key(b.slug)
            outputs[key] = (feed_path(key), build_feed(meta, by_branch[b.id], settings.domain, cache, names))
        for c in communities:
            meta = FeedMeta(
                name=f"{c.name} 志愿服务",
                description=f"{c.name}及其各小区党支部的公开志愿服务日程（不含个人信息）",
            )
            key = community_key(c.slug)
            outputs[key] = (feed_path(key), build_feed(meta, by_community[c.id], settings.domain, cache, names))
        if DISTRICT in keys:
            meta = FeedMeta(name="龙城街道 志愿服务", description="全街道的公开志愿服务日程（不含个人信息）")
            outputs[DISTRICT] = (feed_path(DISTRICT), build_feed(meta, everything, settings.domain, cache, names))

    if volunteer_ids:
        if not tokens:
            tokens = R.load_volunteer_tokens(session, volunteer_ids)
        shifts = R.load_shifts(session, window, None if all_feeds else volunteer_ids)
        private_meta = FeedMeta(
            name="我的志愿服务班次",
            description="你的志愿服务排班（私人链接，请勿转发；如链接外泄，请联系协调员更换）",
            private=True,
        )
        for vid in sorted(volunteer_ids):
            if vid not in tokens:
                continue
            token = tokens[vid][0]
            key = volunteer_key(vid)
            outputs[key] = (feed_path(key, token),
                            build_feed(private_meta, shifts.get(vid, []), settings.domain, cache))

    ensure_feed_states(session, set(outputs) - set(states))
    updates: list[dict[str, object]] = []
    feeds_added = False
    for key in sorted(keys):
        state = states.get(key)
        if key not in outputs:
            # A branch, community or volunteer that no longer exists: its file goes.
            if state is not None:
                if _remove(root, state.path):
                    result.deleted += 1
                    feeds_added = True  # well, removed: the index lists one feed fewer
                session.execute(delete(FeedState).where(FeedState.key == key))
            continue
        relative, data = outputs[key]
        digest = hashlib.sha256(data).hexdigest()
        old_path = state.path if state is not None else None
        if old_path and old_path != relative and _remove(root, old_path):
            result.deleted += 1  # a rotated token's old file
        target = root / relative
        if not key.startswith("volunteer:") and (state is None or not state.path):
            feeds_added = True
        published_at = None
        if state is not None and state.content_hash == digest and old_path == relative and target.exists():
            result.unchanged += 1
        else:
            write_atomic(target, data)
            result.written += 1
            published_at = now
        updates.append({
            "b_key": key, "b_seen": state.dirty_since if state is not None else None, "b_hash": digest,
            "b_path": relative, "b_published": published_at,
        })
    retired_ids = [vid for vid, (_, retired) in tokens.items() if retired and volunteer_key(vid) in outputs]
    for vid in retired_ids:
        if _remove(root, feed_path(volunteer_key(vid), tokens[vid][1])):
            result.deleted += 1
    if retired_ids:
        from scheduler.models import Volunteer

        session.execute(update(Volunteer).where(Volunteer.id.in_(retired_ids)).values(retired_feed_token=None))
    if updates:
        _mark_clean(session, updates)
    result.keys = sorted(outputs)
    # The index lists every public feed: check it when the set of feeds may have changed (a full
    # publish also catches renamed branches), not on every incremental publish.
    if all_feeds or feeds_added or not (root / "index.html").exists():
        result.index_written = _publish_index(session, settings, root)
    result.duration = time.perf_counter() - started
    return result


def relay_and_publish(
    session: Session, settings: Settings, now: datetime | None = None, include_district: bool = True,
    all_feeds: bool = False,
) -> PublishResult:
    """Relay the outbox (the relay beat's idempotent work), then publish what is dirty.

    A change made from the CLI waits in the outbox until a relay marks its feeds dirty; with no
    worker running, publishing without relaying first would leave a cancelled or moved shift in
    the volunteers' calendars.
    """
    from calendars.relay import relay_pending

    relayed = relay_pending(session, now=now)
    result = publish_dirty(session, settings, now=now, include_district=include_district, all_feeds=all_feeds)
    result.relayed = relayed
    return result


def _mark_clean(session: Session, updates: list[dict[str, object]]) -> None:
    """Clear ``dirty`` unless someone marked the feed again since we read it (``dirty_since`` moved)."""
    table = cast(Table, FeedState.__table__)
    seen = bindparam("b_seen", type_=UTCDateTime())
    stmt = (
        update(table)
        .where(table.c.key == bindparam("b_key"))
        .values(
            dirty=case((table.c.dirty_since.is_not_distinct_from(seen), False), else_=table.c.dirty),
            content_hash=bindparam("b_hash"),
            path=bindparam("b_path"),
            published_at=case(
                (bindparam("b_published", type_=UTCDateTime()).is_(None), table.c.published_at),
                else_=bindparam("b_published", type_=UTCDateTime()),
            ),
        )
    )
    session.connection().execute(stmt, updates)


def _publish_index(session: Session, settings: Settings, root: Path) -> bool:
    """Write index.html when the list of public feeds (or the base URL) changed, or it is missing."""

    feeds = site_feeds(session, settings)
    fingerprint = index_fingerprint(feeds, settings)
    target = root / "index.html"
    marker = f"<!-- roster-index {fingerprint} -->".encode()
    try:
        with target.open("rb") as handle:
            if handle.readline().strip() == marker:
                return False
    except FileNotFoundError:
        pass
    write_atomic(target, marker + b"\n" + render_index(feeds, settings).encode("utf-8"))
    return True


def published_keys(session: Session) -> list[str]:
    return list(session.scalars(select(FeedState.key).order_by(FeedState.key)))
