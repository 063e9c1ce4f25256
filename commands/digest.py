"""roster digest: the weekly digest coordinators get, previewed without sending (排班周报)."""

from __future__ import annotations

from datetime import date, timedelta

import click

from cli import AppContext, group, pass_app
from commands.options import date_option_callback


@group()
def digest() -> None:
    """Preview the weekly digest of unfilled seats coordinators get (排班周报)."""


@digest.command("preview")
@click.option("--community", help="Only the coordinators of this community and of its branches (slug).")
@click.option("--week", callback=date_option_callback,
              help="The week that contains this date (YYYY-MM-DD; default: next week).")
@pass_app
def digest_preview(app: AppContext, community: str | None, week: date | None) -> None:
    """Print the coming weekly digest without sending it.

    For each coordinator, the exact text they would get (their scope's unfilled seats, the past
    week's ratings), in the language messages go out in (ROSTER_MESSAGE_LANG, default Chinese).
    Nothing is written or sent;
    --json gives the structured data. Example: roster digest preview --community ailian
    """
    from commands import fields
    from commands.coordinator import scope_text
    from scheduler.i18n import _
    from scheduler.planning import local_today
    from scheduler.reminders.digest import weekly_digests

    timezone = app.settings.timezone
    # The digest sent on a day tells the week after that day's: a day of the week before.
    today = local_today(timezone) if week is None else week - timedelta(days=7)
    drafts = app.read(lambda s: weekly_digests(s, today, timezone, community=community))
    if app.json_output:
        app.out.result([d.as_json() for d in drafts])
        return
    if not drafts:
        app.out.message(_("no coordinator would get a digest (roster coordinator add adds one)"))
        return
    for number, draft in enumerate(drafts):
        if number:
            click.echo()
        head = _("── to coordinator #{id} {name} ({scope}, by {channel}), week {week}").format(
            id=draft.coordinator_id, name=draft.coordinator, scope=scope_text(draft.scope),
            channel=fields.value("channel", draft.channel), week=draft.period)
        click.echo(head)
        if draft.already_sent:
            click.echo(_("(already sent for this week: the digest task will not send it again)"))
        click.echo(draft.subject)
        click.echo(draft.body)
