"""Communities and estate branches."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from scheduler import validation as v
from scheduler.errors import Conflict, NotFound
from scheduler.i18n import _
from scheduler.models import Branch, Community, Service, Volunteer


def add_community(
    session: Session, slug: str, name: str, centre_name: str = "", centre_address: str = ""
) -> Community:
    slug = v.slug(slug)
    if session.scalar(select(Community.id).where(Community.slug == slug)) is not None:
        raise Conflict(_("slug: a community with slug {slug} already exists").format(slug=repr(slug)))
    community = Community(
        slug=slug,
        name=v.text(name, "name", 120),
        centre_name=v.text(centre_name or f"{name.strip()}党群服务中心", "centre_name", 200),
        centre_address=v.text(centre_address, "centre_address", 300, required=False),
    )
    session.add(community)
    session.flush()
    return community


def get_community(session: Session, slug: str) -> Community:
    community = session.scalar(select(Community).where(Community.slug == slug))
    if community is None:
        raise NotFound("community", slug)
    return community


def list_communities(session: Session) -> list[Community]:
    return list(session.scalars(select(Community).order_by(Community.slug)))


def add_branch(session: Session, slug: str, name: str, community_slug: str, secretary_title: str = "") -> Branch:
    slug = v.slug(slug)
    community = get_community(session, community_slug)
    if session.scalar(select(Branch.id).where(Branch.slug == slug)) is not None:
        raise Conflict(_("slug: a branch with slug {slug} already exists").format(slug=repr(slug)))
    branch = Branch(
        slug=slug,
        name=v.text(name, "name", 120),
        community_id=community.id,
        secretary_title=v.text(secretary_title or "第一书记", "secretary_title", 120),
    )
    session.add(branch)
    session.flush()
    return branch


def get_branch(session: Session, slug: str) -> Branch:
    branch = session.scalar(select(Branch).where(Branch.slug == slug))
    if branch is None:
        raise NotFound("branch", slug)
    return branch


def list_branches(session: Session, community_slug: str | None = None) -> list[Branch]:
    query = select(Branch).order_by(Branch.slug)
    if community_slug:
        query = query.where(Branch.community_id == get_community(session, community_slug).id)
    return list(session.scalars(query))


def community_as_dict(community: Community) -> dict[str, object]:
    return {
        "slug": community.slug,
        "name": community.name,
        "centre_name": community.centre_name,
        "centre_address": community.centre_address,
    }


def branch_as_dict(branch: Branch) -> dict[str, object]:
    return {
        "slug": branch.slug,
        "name": branch.name,
        "community": branch.community.slug,
        "secretary_title": branch.secretary_title,
    }


def branch_summary(session: Session, slug: str) -> dict[str, object]:
    """A branch with the slugs of the services it runs and how many active volunteers call it home."""
    branch = get_branch(session, slug)
    services = session.scalars(select(Service.slug).where(Service.branch_id == branch.id).order_by(Service.slug))
    volunteers = session.scalar(
        select(func.count()).select_from(Volunteer).where(Volunteer.home_branch_id == branch.id, Volunteer.active)
    )
    return dict(branch_as_dict(branch), services=list(services), volunteers=volunteers)
