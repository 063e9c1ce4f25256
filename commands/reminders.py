"""roster reminders: send due reminders, list them, retry failed ones (提醒)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import click

from cli import AppContext, group, pass_app
from commands.options import RECORD_ID, date_option_callback
from scheduler.i18n import _, format_datetime


def _local(moment: datetime, timezone: str, home: str) -> str:
    """``12月7日（周一）16:30`` in the service's zone; the zone's name when it is not the configured one."""
    text = format_datetime(moment.astimezone(ZoneInfo(timezone)))
    return text if timezone == home else f"{text} {timezone}"


@group()
def reminders() -> None:
    """Send due reminders, list them, retry failed ones (提醒)."""


@reminders.command("send-due")
@click.option("--batch-size", type=click.IntRange(1, 5000), default=200, show_default=True,
              help="Reminders claimed per transaction.")
@click.option("--max-batches", type=click.IntRange(1, 100000), default=1000, show_default=True,
              help="Stop after this many batches.")
@pass_app
def reminders_send_due(app: AppContext, batch_size: int, max_batches: int) -> None:
    """Run one dispatch cycle without Celery (for cron).

    \b
    Example crontab line (every minute):
      * * * * *  cd /srv/roster && .venv/bin/roster reminders send-due
    """
    from scheduler.reminders.dispatch import dispatch_due

    result = dispatch_due(app.engine, app.settings, batch_size=batch_size, max_batches=max_batches,
                          policy=app.policy).as_dict()
    app.out.result(result, _("recorded {recorded}, claimed {claimed}, sent {sent}, stale {stale}, cancelled "
                             "{cancelled}, deferred {deferred}, retrying {retried}, failed {failed}").format(
        **{key: result[key] for key in ("recorded", "claimed", "sent", "stale", "cancelled", "deferred",
                                        "retried", "failed")}))
    for line in result["errors"]:
        app.out.note(f"  {line}", err=True)


@reminders.command("list")
@click.option("--failed", "failed_only", is_flag=True, help="Only permanent failures.")
@click.option("--status", type=click.Choice(["pending", "claimed", "sent", "cancelled", "failed", "stale"]),
              help="Only this status.")
@click.option("--limit", type=click.IntRange(1, 100000), default=200, show_default=True)
@pass_app
def reminders_list(app: AppContext, failed_only: bool, status: str | None, limit: int) -> None:
    """List the reminder ledger, most recently due first (--failed: permanent failures).

    Before-shift reminders enter it when they come due (`reminders upcoming` shows those still
    ahead); change notices when the change is made. The due time is local to the reminder's
    service (its zone is named when it is not ROSTER_TIMEZONE's); --json gives it in UTC.
    """
    from commands import fields
    from scheduler.reminders import list_reminders, reminder_view, status_word

    views = app.read(lambda s: [reminder_view(r) for r in list_reminders(s, status, failed_only, limit)])
    home = app.settings.timezone
    app.out.records([r.as_json() for r in views],
                    (_("id"), _("status"), _("kind"), _("channel"), _("due (local)"), _("service"), _("volunteer"),
                     _("tries"), _("error")),
                    [(r.id, status_word(r.status), fields.reminder_kind(r.kind),
                      fields.value("channel", r.channel),
                      _local(r.due_at, r.timezone, home), r.service, r.volunteer_id, r.attempts, r.last_error or "")
                     for r in views])


@reminders.command("upcoming")
@click.option("--days", type=click.IntRange(1, 92), default=7, show_default=True,
              help="Look this many days ahead.")
@click.option("--from", "first", callback=date_option_callback,
              help="From the start of this local date (YYYY-MM-DD; default: now).")
@click.option("--limit", type=click.IntRange(1, 100000), default=200, show_default=True)
@pass_app
def reminders_upcoming(app: AppContext, days: int, first: date | None, limit: int) -> None:
    """List the before-shift reminders the roster owes in the coming days, soonest first.

    They are derived from the seats: the dispatcher records each when it comes due (and
    `reminders list` shows it from then on). Times are local to the service; --json gives UTC.
    """
    from datetime import UTC, timedelta

    from commands import fields
    from scheduler.db import utcnow
    from scheduler.reminders.scan import upcoming

    now = utcnow() if first is None else datetime.combine(first, datetime.min.time(), app.settings.tz).astimezone(UTC)
    views = app.read(lambda s: upcoming(s, now, now + timedelta(days=days), policy=app.policy, limit=limit))
    home = app.settings.timezone
    app.out.records([r.as_json() for r in views],
                    (_("due (local)"), _("kind"), _("channel"), _("service"), _("shift (local)"), _("volunteer"),
                     _("assignment")),
                    [(_local(r.due_at, r.timezone, home), fields.reminder_kind(r.kind), fields.value("channel", r.channel),
                      r.service,
                      _local(r.shift_start, r.timezone, home), r.volunteer_id, r.assignment_id) for r in views])


@reminders.command("retry")
@click.argument("reminder_id", type=RECORD_ID)
@pass_app
def reminders_retry(app: AppContext, reminder_id: int) -> None:
    """Send a failed or stale reminder again at the next dispatch."""
    from scheduler.reminders import retry_reminder

    rid = app.run(lambda s: retry_reminder(s, reminder_id).id)
    app.out.message(_("reminder #{id} will be sent at the next dispatch").format(id=rid))
