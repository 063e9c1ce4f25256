"""roster coordinator: who gets digests and warnings (协调员)."""

from __future__ import annotations

import click

from cli import AppContext, group, pass_app
from commands.options import RECORD_ID
from scheduler.i18n import _


def scope_text(scope: str) -> str:
    """A coordinator's scope (``branch:SLUG``, ``community:SLUG``, ``district``; JSON keeps it) for people."""
    kind, _sep, slug = scope.partition(":")
    if kind == "branch":
        return _("branch {slug}").format(slug=slug)
    if kind == "community":
        return _("community {slug}").format(slug=slug)
    return _("whole district")


@group()
def coordinator() -> None:
    """Add, list and remove coordinators, who get digests and warnings (协调员)."""


@coordinator.command("add")
@click.option("--name", required=True, help="Name (Chinese).")
@click.option("--community", "community_slug", help="The community they coordinate.")
@click.option("--branch", "branch_slug", help="The branch they coordinate (e.g. its 第一书记).")
@click.option("--email", help="Email address (for the email channel).")
@click.option("--phone", help="Mobile number (for the sms channel).")
@click.option("--channel", type=click.Choice(["console", "email", "wecom", "dingtalk", "sms"]), default="console",
              show_default=True, help="Where their weekly digest and warnings go.")
@pass_app
def coordinator_add(app: AppContext, name: str, community_slug: str | None, branch_slug: str | None,
                    email: str | None, phone: str | None, channel: str) -> None:
    """Add a coordinator of a community or branch (neither: the whole district)."""
    from scheduler.organisations.coordinators import add_coordinator, coordinator_as_dict

    data = app.run(lambda s: coordinator_as_dict(
        s, add_coordinator(s, name, community_slug, branch_slug, email, phone, channel)))
    app.out.result(data, _("added coordinator #{id} {name} ({scope}, {channel})").format(
        id=data["id"], name=data["name"], scope=scope_text(data["scope"]), channel=data["channel"]))


@coordinator.command("list")
@pass_app
def coordinator_list(app: AppContext) -> None:
    """List coordinators."""
    from scheduler.organisations.coordinators import coordinator_as_dict, list_coordinators

    data = app.read(lambda s: [coordinator_as_dict(s, c) for c in list_coordinators(s)])
    app.out.records(data, (_("id"), _("full name"), _("scope"), _("channel"), _("email"), _("phone")),
                    [(d["id"], d["name"], scope_text(d["scope"]), d["channel"], d["email"], d["phone"]) for d in data])


@coordinator.command("remove")
@click.argument("coordinator_id", type=RECORD_ID)
@pass_app
def coordinator_remove(app: AppContext, coordinator_id: int) -> None:
    """Remove a coordinator (they get no more digests)."""
    from scheduler.organisations.coordinators import remove_coordinator

    app.run(lambda s: remove_coordinator(s, coordinator_id))
    app.out.message(_("removed coordinator #{id}").format(id=coordinator_id))
