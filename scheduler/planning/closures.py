"""Closures (停课/闭馆): inclusive date ranges when a district, community, branch or service does not run.

Closures win over every rule and holiday policy. Adding or removing one re-plans the services it
touches: occurrences inside it are cancelled at once, seated or not, and stay in the feeds as
cancelled (FEEDS.md rule 9), seated volunteers told; lifting it reinstates them (not the ones a
coordinator cancelled by hand), and volunteers who kept their seat are told the shift runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler import privacy
from scheduler import validation as v
from scheduler.db import utcnow
from scheduler.errors import InvalidInput, NotFound
from scheduler.events import record_event
from scheduler.i18n import _, translate
from scheduler.models import CLOSURE_SCOPES, Branch, Closure, ClosureScope, Community, Service
from scheduler.organisations import get_branch, get_community
from scheduler.planning import DEFAULT_HORIZON_WEEKS, PlanResult, local_today, plan, services_in_scope
from scheduler.policy import DEFAULT_POLICY, OperationPolicy

#: Longest closure accepted: a renovation or a school vacation, not a shutdown forever.
MAX_CLOSURE_DAYS = 366


@dataclass
class ClosureChange:
    closure: dict[str, Any]
    plan: PlanResult


def _owner(session: Session, scope: str, ref: str | None) -> dict[str, int | None]:
    if scope not in CLOSURE_SCOPES:
        raise InvalidInput("scope", _("{scope!r} is not one of {choices}").format(
            scope=scope, choices=", ".join(CLOSURE_SCOPES)))
    if scope == ClosureScope.DISTRICT:
        if ref:
            raise InvalidInput("ref", "a district closure covers everything; give no community, branch or service")
        return {"community_id": None, "branch_id": None, "service_id": None}
    if not ref:
        raise InvalidInput("ref", _("a {scope} closure needs the {scope}'s slug").format(scope=translate(scope)))
    if scope == ClosureScope.COMMUNITY:
        return {"community_id": get_community(session, ref).id, "branch_id": None, "service_id": None}
    if scope == ClosureScope.BRANCH:
        branch = get_branch(session, ref)
        return {"community_id": branch.community_id, "branch_id": branch.id, "service_id": None}
    service = session.scalar(select(Service).where(Service.slug == ref))
    if service is None:
        raise NotFound("service", ref)
    return {"community_id": service.community_id, "branch_id": service.branch_id, "service_id": service.id}


def _replan(session: Session, closure: Closure, today: date | None, horizon_weeks: int,
            now: datetime | None, cancel_reason: str | None = None, *, policy: OperationPolicy) -> PlanResult:
    ids = services_in_scope(session, closure.scope, closure.community_id, closure.branch_id, closure.service_id)
    return plan(session, today or local_today(now=now), horizon_weeks, ids, now=now, cancel_reason=cancel_reason, policy=policy)


def add_closure(session: Session, scope: str, ref: str | None, start: date, end: date, reason: str,
                today: date | None = None, horizon_weeks: int = DEFAULT_HORIZON_WEEKS,
                now: datetime | None = None, policy: OperationPolicy = DEFAULT_POLICY) -> ClosureChange:
    """Close a scope from ``start`` to ``end`` (inclusive) and re-plan what it touches."""
    owner = _owner(session, scope, ref)
    privacy.refuse_personal_data(session, {"reason": reason})  # public feeds show it word for word
    if end < start:
        raise InvalidInput("to", _("{end} is before {start}").format(end=end.isoformat(), start=start.isoformat()))
    if (end - start).days >= MAX_CLOSURE_DAYS:
        raise InvalidInput("to", _("a closure is at most {days} days long").format(days=MAX_CLOSURE_DAYS))
    closure = Closure(scope=scope, start_date=start, end_date=end, reason=v.text(reason, "reason", 200),
                      created_at=now or utcnow(), **owner)
    session.add(closure)
    session.flush()
    record_event(session, "closure.added", closure_id=closure.id, scope=scope, start=start.isoformat(),
                 end=end.isoformat())
    # Volunteers of a cancelled occurrence are told the closure's reason (in their private message).
    result = _replan(session, closure, today, horizon_weeks, now, cancel_reason=f"停课/闭馆：{closure.reason}", policy=policy)
    return ClosureChange(closure_as_dict(session, closure), result)


def remove_closure(session: Session, closure_id: int, today: date | None = None,
                   horizon_weeks: int = DEFAULT_HORIZON_WEEKS, now: datetime | None = None, policy: OperationPolicy = DEFAULT_POLICY) -> ClosureChange:
    """Lift a closure and re-plan: the occurrences it cancelled are scheduled again."""
    closure = session.get(Closure, closure_id)
    if closure is None:
        raise NotFound("closure", closure_id)
    data = closure_as_dict(session, closure)
    session.delete(closure)
    session.flush()
    record_event(session, "closure.removed", closure_id=closure_id, scope=closure.scope)
    result = _replan(session, closure, today, horizon_weeks, now, policy=policy)
    return ClosureChange(data, result)


def list_closures(session: Session, scope: str | None = None, current_on: date | None = None) -> list[Closure]:
    """Closures, newest first; ``current_on`` keeps those that end on or after that date."""
    query = select(Closure).order_by(Closure.start_date, Closure.id)
    if scope is not None:
        if scope not in CLOSURE_SCOPES:
            raise InvalidInput("scope", _("{scope!r} is not one of {choices}").format(
            scope=scope, choices=", ".join(CLOSURE_SCOPES)))
        query = query.where(Closure.scope == scope)
    if current_on is not None:
        query = query.where(Closure.end_date >= current_on)
    return list(session.scalars(query))


def closure_as_dict(session: Session, closure: Closure) -> dict[str, Any]:
    target: str | None = None
    if closure.scope == ClosureScope.COMMUNITY and closure.community_id is not None:
        community = session.get(Community, closure.community_id)
        target = community.slug if community else None
    elif closure.scope == ClosureScope.BRANCH and closure.branch_id is not None:
        branch = session.get(Branch, closure.branch_id)
        target = branch.slug if branch else None
    elif closure.scope == ClosureScope.SERVICE and closure.service_id is not None:
        service = session.get(Service, closure.service_id)
        target = service.slug if service else None
    return {
        "id": closure.id,
        "scope": closure.scope,
        "target": target,
        "from": closure.start_date.isoformat(),
        "to": closure.end_date.isoformat(),
        "reason": closure.reason,
    }


def parse_scope(value: str) -> tuple[str, str | None]:
    """``district``, ``community:SLUG``, ``branch:SLUG`` or ``service:SLUG``."""
    scope, _sep, ref = value.strip().partition(":")
    scope = scope.strip().lower()
    if scope not in CLOSURE_SCOPES:
        raise InvalidInput("scope", _("{value!r}: give district, community:SLUG, branch:SLUG or service:SLUG").format(
            value=value))
    return scope, (ref.strip() or None)
