"""roster community: the subdistrict's communities (社区)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from cli import AppContext, group, pass_app
from scheduler.i18n import _

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


@group()
def community() -> None:
    """Add and list communities (社区)."""


@community.command("add")
@click.argument("slug")
@click.option("--name", required=True, help="Chinese name, e.g. 爱联社区.")
@click.option("--centre", "centre_name", default="", help="Service centre name (default: NAME党群服务中心).")
@click.option("--address", default="", help="Service centre address (public).")
@pass_app
def community_add(app: AppContext, slug: str, name: str, centre_name: str, address: str) -> None:
    """Add a community. Example: roster community add ailian --name 爱联社区"""
    from scheduler.organisations import add_community, community_as_dict

    data = app.run(lambda s: community_as_dict(add_community(s, slug, name, centre_name, address)))
    app.out.result(data, _("added community {slug} {name}").format(slug=data["slug"], name=data["name"]))


@community.command("list")
@pass_app
def community_list(app: AppContext) -> None:
    """List communities."""
    from scheduler.organisations import community_as_dict, list_communities

    def work(s: Session) -> list[dict[str, Any]]:
        return [dict(community_as_dict(c), branches=len(c.branches)) for c in list_communities(s)]

    data = app.read(work)
    app.out.records(data, (_("slug"), _("name"), _("service centre"), _("branches")),
                    [(d["slug"], d["name"], d["centre_name"], d["branches"]) for d in data])
