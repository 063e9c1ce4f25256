"""roster reminders: send due reminders, list them, retry failed ones (提醒)."""

from __future__ import annotations

from datetime import date

import click

from cli import AppContext, group, pass_app
from commands.options import RECORD_ID, date_option_callback


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
    app.out.result(result, f"recorded {result['recorded']}, claimed {result['claimed']}, sent {result['sent']}, stale {result['stale']}, "
                           f"cancelled {result['cancelled']}, deferred {result['deferred']}, "
                           f"retrying {result['retried']}, failed {result['failed']}")
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
    ahead); change notices when the change is made. The due time is local to the reminder's service (its zone is named unless Asia/Shanghai);
    --json gives it in UTC.
    """
    from scheduler.reminders import list_reminders, reminder_view

    views = app.read(lambda s: [reminder_view(r) for r in list_reminders(s, status, failed_only, limit)])
    app.out.records([r.as_json() for r in views],
                    ("id", "status", "kind", "channel", "due (local)", "service", "volunteer", "tries", "error"),
                    [(r.id, r.status, r.kind, r.channel,
                      f"{r.local_due:%Y-%m-%d %H:%M}{'' if r.timezone == 'Asia/Shanghai' else ' ' + r.timezone}",
                      r.service, r.volunteer_id, r.attempts, r.last_error or "") for r in views])


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
    from datetime import UTC, datetime, timedelta

    from scheduler.db import utcnow
    from scheduler.reminders.scan import upcoming

    now = utcnow() if first is None else datetime.combine(first, datetime.min.time(), app.settings.tz).astimezone(UTC)
    views = app.read(lambda s: upcoming(s, now, now + timedelta(days=days), policy=app.policy, limit=limit))
    app.out.records([r.as_json() for r in views],
                    ("due (local)", "kind", "channel", "service", "shift (local)", "volunteer", "assignment"),
                    [(f"{r.local_due:%Y-%m-%d %H:%M}{'' if r.timezone == 'Asia/Shanghai' else ' ' + r.timezone}",
                      r.kind, r.channel, r.service, f"{r.local_start:%m-%d %H:%M}", r.volunteer_id,
                      r.assignment_id) for r in views])


@reminders.command("retry")
@click.argument("reminder_id", type=RECORD_ID)
@pass_app
def reminders_retry(app: AppContext, reminder_id: int) -> None:
    """Send a failed or stale reminder again at the next dispatch."""
    from scheduler.reminders import retry_reminder

    rid = app.run(lambda s: retry_reminder(s, reminder_id).id)
    app.out.message(f"reminder #{rid} will be sent at the next dispatch")
