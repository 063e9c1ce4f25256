"""roster branch: estate branches (花园小区党支部)."""

from __future__ import annotations

import click

from cli import AppContext, group, pass_app
from scheduler.i18n import _


@group()
def branch() -> None:
    """Add, list and show estate branches (花园小区党支部)."""


@branch.command("add")
@click.argument("slug")
@click.option("--name", required=True, help="Chinese name, e.g. 顺景花园党支部.")
@click.option("--community", "community_slug", required=True, help="Slug of the community it belongs to.")
@click.option("--secretary-title", default="", help="Public contact role (default 第一书记).")
@pass_app
def branch_add(app: AppContext, slug: str, name: str, community_slug: str, secretary_title: str) -> None:
    """Add an estate branch to a community."""
    from scheduler.organisations import add_branch, branch_as_dict

    data = app.run(lambda s: branch_as_dict(add_branch(s, slug, name, community_slug, secretary_title)))
    app.out.result(data, _("added branch {slug} {name}").format(slug=data["slug"], name=data["name"]))


@branch.command("list")
@click.option("--community", "community_slug", help="Only this community's branches.")
@pass_app
def branch_list(app: AppContext, community_slug: str | None) -> None:
    """List estate branches."""
    from scheduler.organisations import branch_as_dict, list_branches

    data = app.read(lambda s: [branch_as_dict(b) for b in list_branches(s, community_slug)])
    app.out.records(data, (_("slug"), _("name"), _("community")), [(d["slug"], d["name"], d["community"]) for d in data])


@branch.command("show")
@click.argument("slug")
@pass_app
def branch_show(app: AppContext, slug: str) -> None:
    """Show a branch with its services and volunteer count."""
    from scheduler.organisations import branch_summary

    app.out.record(app.read(lambda s: branch_summary(s, slug)))
