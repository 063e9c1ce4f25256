"""Coordinators (a branch's 第一书记, a community's staff): who gets digests and warnings."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler import validation as v
from scheduler.errors import InvalidInput, NotFound
from scheduler.i18n import _
from scheduler.models import Coordinator
from scheduler.organisations import get_branch, get_community
from scheduler.redaction import mask_phone
from scheduler.validation import CHANNELS


def add_coordinator(session: Session, name: str, community: str | None = None, branch: str | None = None,
                    email: str | None = None, phone: str | None = None, channel: str = "console") -> Coordinator:
    """A coordinator of a community or a branch (neither: the whole district)."""
    if channel not in CHANNELS:
        raise InvalidInput("channel", _("{channel} is not one of {choices}").format(
            channel=repr(channel), choices=", ".join(CHANNELS)))
    coordinator = Coordinator(name=v.text(name, "name", 64), channel=channel)
    if branch:
        found = get_branch(session, branch)
        coordinator.branch_id, coordinator.community_id = found.id, found.community_id
    elif community:
        coordinator.community_id = get_community(session, community).id
    if email:
        coordinator.email = v.email(email)
    if phone:
        coordinator.phone = v.phone(phone)
    if channel == "email" and not coordinator.email:
        raise InvalidInput("email", "the email channel needs --email")
    if channel == "sms" and not coordinator.phone:
        raise InvalidInput("phone", "the sms channel needs --phone")
    session.add(coordinator)
    session.flush()
    return coordinator


def list_coordinators(session: Session) -> list[Coordinator]:
    return list(session.scalars(select(Coordinator).order_by(Coordinator.id)))


def remove_coordinator(session: Session, coordinator_id: int) -> Coordinator:
    coordinator = session.get(Coordinator, coordinator_id)
    if coordinator is None:
        raise NotFound("coordinator", coordinator_id)
    session.delete(coordinator)
    return coordinator


def coordinator_as_dict(session: Session, coordinator: Coordinator) -> dict[str, Any]:
    from scheduler.models import Branch, Community

    branch = session.get(Branch, coordinator.branch_id) if coordinator.branch_id else None
    community = session.get(Community, coordinator.community_id) if coordinator.community_id else None
    return {
        "id": coordinator.id,
        "name": coordinator.name,
        "scope": f"branch:{branch.slug}" if branch else f"community:{community.slug}" if community else "district",
        "email": coordinator.email,
        "phone": mask_phone(coordinator.phone) if coordinator.phone else None,
        "channel": coordinator.channel,
    }
