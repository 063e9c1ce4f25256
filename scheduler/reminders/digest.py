"""Coordinator notices: the weekly digest of next week's unfilled seats here, and the daily warning when
the planning horizon reaches a year without official holiday data (:mod:`scheduler.planning.horizon`,
through the helpers below).

Both are safe to run twice: each records an event (``digest.sent``, ``horizon.warned``) per
coordinator and period in the caller's transaction, under a lock, and skips a coordinator already
served. The caller holds the transaction while sending (a few messages, once a week or day), so a
second beat waits and then finds the record. A crash after a send and before the commit repeats
that one notice: the same window as reminders, with the same idempotency key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from scheduler.db import utcnow
from scheduler.errors import NotFound
from scheduler.events import record_event
from scheduler.feedback import scope_satisfaction
from scheduler.i18n import _, to_people
from scheduler.messages import digest_text, format_day, local_time
from scheduler.messages.channels import ChannelError, ChannelSet, Notice
from scheduler.models import (
    SEATED_STATUSES,
    Assignment,
    Branch,
    Community,
    Coordinator,
    Event,
    Occurrence,
    OccurrenceStatus,
    Role,
    Service,
)

#: Arbitrary constant for PostgreSQL's advisory lock that serializes notice runs.
NOTICE_LOCK = 6_006_006


@dataclass
class NoticeResult:
    sent: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)


def lock_notices(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": NOTICE_LOCK})


def already_notified(session: Session, kind: str, since: datetime) -> set[tuple[int, str]]:
    done: set[tuple[int, str]] = set()
    for payload in session.scalars(select(Event.payload).where(Event.kind == kind, Event.created_at >= since)):
        if isinstance(payload, dict) and "coordinator_id" in payload:
            done.add((int(payload["coordinator_id"]), str(payload.get("period"))))
    return done


@to_people
def notify_coordinator(session: Session, channels: ChannelSet, coordinator: Coordinator, kind: str,
                       period: str, subject: str, body: str, now: datetime, result: NoticeResult) -> None:
    key = f"{kind}:{coordinator.id}:{period}"
    notice = Notice(key=key, subject=subject, body=body, email=coordinator.email, phone=coordinator.phone,
                    recipient=_("coordinator #{id}").format(id=coordinator.id))
    try:
        channels.get(coordinator.channel or "console").send_notice(notice)
    except ChannelError as exc:
        result.failed.append(f"coordinator #{coordinator.id}: {exc}")
        return
    event = record_event(session, kind, coordinator_id=coordinator.id, period=period)
    event.created_at = now
    event.relayed_at = now  # bookkeeping: nothing for the relay to do
    result.sent += 1


def next_week(today: date) -> tuple[date, date]:
    """Monday and Sunday of the week after ``today``'s."""
    monday = today - timedelta(days=today.weekday()) + timedelta(days=7)
    return monday, monday + timedelta(days=6)


@to_people
def unfilled_seats(session: Session, first: date, last: date, timezone: str,
                   coordinator: Coordinator | None = None) -> list[tuple[str, str, str, int]]:
    """(service title, local time, role, open seats) for scheduled occurrences in [first, last]."""
    tz = ZoneInfo(timezone)
    lo = datetime.combine(first, datetime.min.time(), tz)
    hi = datetime.combine(last + timedelta(days=1), datetime.min.time(), tz)
    seated = (
        select(Assignment.occurrence_id, Assignment.role_id, func.count().label("n"))
        .where(Assignment.status.in_(SEATED_STATUSES))
        .group_by(Assignment.occurrence_id, Assignment.role_id)
        .subquery()
    )
    query = (
        select(Service.title, Service.timezone, Occurrence.start_at, Role.name, Role.count,
               func.coalesce(seated.c.n, 0))
        .join(Occurrence, Occurrence.service_id == Service.id)
        .join(Role, Role.service_id == Service.id)
        .outerjoin(seated, (seated.c.occurrence_id == Occurrence.id) & (seated.c.role_id == Role.id))
        .where(Occurrence.status == OccurrenceStatus.SCHEDULED, Occurrence.start_at >= lo, Occurrence.start_at < hi,
               Service.active.is_(True))
        .order_by(Occurrence.start_at, Service.title, Role.name)
    )
    if coordinator is not None and coordinator.branch_id is not None:
        query = query.where(Service.branch_id == coordinator.branch_id)
    elif coordinator is not None and coordinator.community_id is not None:
        query = query.where(Service.community_id == coordinator.community_id)
    rows = []
    for title, zone, start, role, count, filled in session.execute(query):
        if filled < count:
            rows.append((title, local_time(start, zone), role, int(count - filled)))
    return rows


@dataclass(frozen=True)
class DigestDraft:
    """The weekly digest one coordinator gets: their scope, the unfilled seats, the text."""

    coordinator_id: int
    coordinator: str
    channel: str
    scope: str
    period: str
    first: date
    last: date
    rows: list[tuple[str, str, str, int]]
    rated: tuple[int, float, float]
    subject: str
    body: str
    already_sent: bool

    def as_json(self) -> dict[str, Any]:
        """English keys and values: the seats as data, the text as it would be sent."""
        return {
            "coordinator_id": self.coordinator_id, "coordinator": self.coordinator, "channel": self.channel,
            "scope": self.scope, "week": self.period, "first": self.first.isoformat(),
            "last": self.last.isoformat(), "already_sent": self.already_sent,
            "open_seats": sum(r[3] for r in self.rows),
            "unfilled": [{"service": title, "when": when, "role": role, "open": n}
                         for title, when, role, n in self.rows],
            "ratings": {"count": self.rated[0], "mean": round(self.rated[1], 2),
                        "satisfied": round(self.rated[2], 4)},
            "subject": self.subject, "body": self.body,
        }


def digest_week(today: date) -> tuple[date, date, str]:
    """The week a digest sent on ``today`` tells (the next one): Monday, Sunday, ``2026-W50``."""
    first, last = next_week(today)
    return first, last, f"{first.isocalendar().year}-W{first.isocalendar().week:02d}"


def _scope_label(session: Session, coordinator: Coordinator) -> str:
    if coordinator.branch_id is not None:
        branch = session.get(Branch, coordinator.branch_id)
        return f"branch:{branch.slug}" if branch else "branch"
    if coordinator.community_id is not None:
        community = session.get(Community, coordinator.community_id)
        return f"community:{community.slug}" if community else "community"
    return "all"


@to_people
def weekly_digests(session: Session, today: date, timezone: str, now: datetime | None = None,
                   community: str | None = None) -> list[DigestDraft]:
    """The digest each coordinator would get for the week after ``today``'s, in the message
    language (``scheduler.i18n.message_language``); ``community`` (a slug) keeps that community's coordinators and its branches'. Reads only."""
    now = now or utcnow()
    first, last, period = digest_week(today)
    done = already_notified(session, "digest.sent", now - timedelta(days=14))
    query = select(Coordinator).order_by(Coordinator.id)
    if community is not None:
        community_id = session.scalar(select(Community.id).where(Community.slug == community))
        if community_id is None:
            raise NotFound("community", community)
        query = query.where((Coordinator.community_id == community_id) | Coordinator.branch_id.in_(
            select(Branch.id).where(Branch.community_id == community_id)))
    drafts = []
    for coordinator in session.scalars(query):
        rows = unfilled_seats(session, first, last, timezone, coordinator)
        label = _("next week ({first} to {last})").format(first=format_day(first), last=format_day(last))
        rated = scope_satisfaction(session, now - timedelta(days=7), now, coordinator.branch_id,
                                   coordinator.community_id)
        figures = (rated.count, rated.mean, rated.satisfied)
        message = digest_text(label, rows, figures)
        drafts.append(DigestDraft(coordinator.id, coordinator.name, coordinator.channel or "console",
                                  _scope_label(session, coordinator), period, first, last, rows, figures,
                                  message.subject, message.body, (coordinator.id, period) in done))
    return drafts


def send_weekly_digest(session: Session, channels: ChannelSet, today: date, timezone: str,
                       now: datetime | None = None) -> NoticeResult:
    """Tell each coordinator next week's unfilled seats in their scope; once per week each."""
    now = now or utcnow()
    lock_notices(session)
    period = digest_week(today)[2]
    result = NoticeResult(detail={"week": period})
    by_id = {c.id: c for c in session.scalars(select(Coordinator))}
    for draft in weekly_digests(session, today, timezone, now):
        if draft.already_sent:
            result.skipped += 1
            continue
        notify_coordinator(session, channels, by_id[draft.coordinator_id], "digest.sent", period, draft.subject,
                           draft.body, now, result)
    return result
