"""Satisfaction (满意度): anonymous 1-5 ratings of a service, given from the QR code at its venue.

Nobody is asked who they are: a rating holds the service, the shift on at the time (when one is),
the stars, an optional short comment and a keyed hash of the client (``client_hash``: the same
browser at the same address gives the same value, which cannot be turned back into the address).
The comment refuses phone numbers, ID numbers, emails and volunteers' names like every free text
(:func:`scheduler.privacy.refuse_personal_data`), and reaches coordinators only
(:func:`rating_comments`), never a public page, a feed or a group message. The report gives counts,
the mean and the share of 4-5 ratings (the subdistrict reports "满意度 95% 以上" as that share).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from scheduler import privacy
from scheduler import validation as v
from scheduler.errors import InvalidInput, NotFound
from scheduler.i18n import _
from scheduler.models import Branch, Community, Occurrence, OccurrenceStatus, Rating, Service, Visibility

#: A rating given from this long before a shift starts to this long after it ends is about that shift.
BEFORE_START = timedelta(minutes=30)
AFTER_END = timedelta(hours=2)
#: The longest comment.
COMMENT_LENGTH = 200
#: What the report groups by.
GROUPINGS = ("service", "branch", "community")


def client_hash(secret: str, address: str, agent: str) -> str:
    """A keyed hash (HMAC-SHA256) of the client's address and browser: never the address itself."""
    return hmac.new(secret.encode(), f"rating\x1f{address}\x1f{agent}".encode(), hashlib.sha256).hexdigest()[:32]


def rateable_service(session: Session, service_id: int) -> Service:
    """The active service a rating page is for (NotFound otherwise)."""
    service = session.get(Service, service_id)
    if service is None or not service.active:
        raise NotFound("service", service_id)
    return service


def public_venue(service: Service) -> str:
    """The venue a rating page or poster may name: none for a private service (someone's home)."""
    return service.venue if service.visibility == Visibility.PUBLIC else ""


def poster_facts(session: Session, service_slug: str) -> tuple[int, str, str]:
    """(id, title, public venue) of the service a rating poster is for."""
    service = _service(session, service_slug)
    return service.id, service.title, public_venue(service)


def shift_on(session: Session, service_id: int, now: datetime) -> int | None:
    """The scheduled shift of the service under way at ``now`` (or just ended), latest start first."""
    return session.scalar(
        select(Occurrence.id)
        .where(Occurrence.service_id == service_id, Occurrence.status == OccurrenceStatus.SCHEDULED,
               Occurrence.start_at <= now + BEFORE_START, Occurrence.end_at >= now - AFTER_END)
        .order_by(Occurrence.start_at.desc()).limit(1))


def stars_of(value: str | int) -> int:
    """1 to 5 stars, as typed or tapped."""
    text = str(value).strip()
    if text not in {"1", "2", "3", "4", "5"}:
        raise InvalidInput("stars", "choose 1 to 5 stars")
    return int(text)


def record_rating(session: Session, service_id: int, stars: str | int, comment: str | None, client: str,
                  now: datetime) -> Rating:
    """Store one rating of an active service (the shift on now, if any); the comment is checked."""
    service = rateable_service(session, service_id)
    count = stars_of(stars)
    text = v.text(comment or "", "comment", COMMENT_LENGTH, required=False)
    privacy.refuse_personal_data(session, {"comment": text})
    rating = Rating(service_id=service.id, occurrence_id=shift_on(session, service.id, now), stars=count,
                    comment=text, client_hash=client[:64], created_at=now)
    session.add(rating)
    session.flush()
    return rating


@dataclass(frozen=True)
class Satisfaction:
    """The ratings of one service, branch, community or coordinator's scope in a period."""

    key: str
    label: str
    count: int
    mean: float
    #: The share of 4 and 5 star ratings, 0..1.
    satisfied: float

    def as_json(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "count": self.count, "mean": round(self.mean, 2),
                "satisfied": round(self.satisfied, 4)}


def local_bounds(first: date, last: date, timezone: str) -> tuple[datetime, datetime]:
    """[first 00:00, the day after last 00:00) in the zone, as aware datetimes."""
    if last < first:
        raise InvalidInput("to", _("{to} is before --from {start}").format(to=last, start=first))
    tz = ZoneInfo(timezone)
    return (datetime.combine(first, datetime.min.time(), tz),
            datetime.combine(last + timedelta(days=1), datetime.min.time(), tz))


def _aggregates() -> tuple[Any, Any, Any]:
    return (func.count(Rating.id), func.avg(Rating.stars),
            func.sum(case((Rating.stars >= 4, 1), else_=0)))


def _row(key: str, label: str, count: Any, mean: Any, high: Any) -> Satisfaction:
    n = int(count or 0)
    return Satisfaction(key, label, n, float(mean or 0), (int(high or 0) / n) if n else 0.0)


def satisfaction_report(session: Session, first: date, last: date, by: str = "service",
                        timezone: str = "Asia/Shanghai") -> list[Satisfaction]:
    """Ratings given from ``first`` to ``last`` (local dates, inclusive), per service, branch or community.

    A service a community's own Party committee runs counts, by branch, under ``<community>:committee``.
    """
    if by not in GROUPINGS:
        raise InvalidInput("by", _("{value} is not one of {choices}").format(
            value=repr(by), choices=", ".join(GROUPINGS)))
    lo, hi = local_bounds(first, last, timezone)
    count, mean, high = _aggregates()
    base = (select().select_from(Rating).join(Service, Rating.service_id == Service.id)
            .join(Community, Service.community_id == Community.id).outerjoin(Branch, Service.branch_id == Branch.id)
            .where(Rating.created_at >= lo, Rating.created_at < hi))
    if by == "service":
        query = base.add_columns(Service.slug, Service.title, count, mean, high).group_by(Service.slug, Service.title)
        rows = [_row(slug, title, *agg) for slug, title, *agg in session.execute(query)]
    elif by == "community":
        query = base.add_columns(Community.slug, Community.name, count, mean, high).group_by(
            Community.slug, Community.name)
        rows = [_row(slug, name, *agg) for slug, name, *agg in session.execute(query)]
    else:
        query = base.add_columns(Branch.slug, Branch.name, Community.slug, Community.name, count, mean, high) \
            .group_by(Branch.slug, Branch.name, Community.slug, Community.name)
        rows = [_row(b_slug or f"{c_slug}:committee", b_name or f"{c_name}党委", *agg)
                for b_slug, b_name, c_slug, c_name, *agg in session.execute(query)]
    return sorted(rows, key=lambda r: r.key)


def _service(session: Session, slug: str) -> Service:
    """The service by slug (looked up here, not through scheduler.services: the reminders' digest
    imports this module, and scheduler.services imports the reminders)."""
    service = session.scalar(select(Service).where(Service.slug == slug))
    if service is None:
        raise NotFound("service", slug)
    return service


def scope_satisfaction(session: Session, since: datetime, until: datetime, branch_id: int | None = None,
                       community_id: int | None = None) -> Satisfaction:
    """All ratings in [since, until) of one branch's services, one community's, or everyone's."""
    count, mean, high = _aggregates()
    query = (select(count, mean, high).select_from(Rating).join(Service, Rating.service_id == Service.id)
             .where(Rating.created_at >= since, Rating.created_at < until))
    if branch_id is not None:
        query = query.where(Service.branch_id == branch_id)
    elif community_id is not None:
        query = query.where(Service.community_id == community_id)
    found = session.execute(query).one()
    return _row("scope", "", *found)


@dataclass(frozen=True)
class RatingComment:
    """A comment, for coordinators: when, how many stars, the text (no client, no address)."""

    created_at: datetime
    stars: int
    comment: str

    def as_json(self) -> dict[str, Any]:
        return {"created_at": self.created_at.isoformat(), "stars": self.stars, "comment": self.comment}


def rating_comments(session: Session, service_slug: str, first: date, last: date,
                    timezone: str = "Asia/Shanghai") -> list[RatingComment]:
    """The non-empty comments on a service from ``first`` to ``last`` (local dates), newest first."""
    service = _service(session, service_slug)
    lo, hi = local_bounds(first, last, timezone)
    rows = session.execute(
        select(Rating.created_at, Rating.stars, Rating.comment)
        .where(Rating.service_id == service.id, Rating.comment != "", Rating.created_at >= lo,
               Rating.created_at < hi)
        .order_by(Rating.created_at.desc(), Rating.id.desc()))
    return [RatingComment(created, stars, comment) for created, stars, comment in rows]
