"""roster feedback: satisfaction ratings (满意度) from the QR code at each service's venue."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import click

from cli import AppContext, group, pass_app
from commands.options import date_option_callback
from scheduler.i18n import _, format_date, format_datetime

#: The period a report or a comment listing covers when --from is not given (the --from help
#: says 30: a help text is a literal message id).
DEFAULT_DAYS = 30


def _period(app: AppContext, first: date | None, last: date | None) -> tuple[date, date]:
    from scheduler.planning import local_today

    last = last or local_today(app.settings.timezone)
    first = first or last - timedelta(days=DEFAULT_DAYS - 1)
    if last < first:
        raise click.BadParameter(_("{to} is before --from {start}").format(to=last, start=first),
                                 param_hint="--to")
    return first, last


def _period_options(func: Any) -> Any:
    func = click.option("--to", "last", callback=date_option_callback,
                        help="Last day, inclusive (YYYY-MM-DD; default today).")(func)
    return click.option("--from", "first", callback=date_option_callback,
                        help="First day (YYYY-MM-DD; default 30 days up to --to).")(func)


@group()
def feedback() -> None:
    """Satisfaction ratings (满意度): the venue's QR poster, the report, the comments.

    People who used a service rate it 1-5 from a QR code at the venue, anonymously; the report
    gives per service, branch or community the count, the mean and the share of 4-5 ratings.
    """


@feedback.command("poster")
@click.argument("service_slug", metavar="SERVICE")
@click.option("--out", "out_file", type=click.Path(dir_okay=False, writable=True),
              help="Write the poster to this HTML file (default: standard output).")
@pass_app
def poster(app: AppContext, service_slug: str, out_file: str | None) -> None:
    """Print a service's rating QR poster (扫码评价), an A4 HTML page.

    The code opens ROSTER_WEB_BASE_URL/r/<key>, the key being the service signed with the web
    secret (ROSTER_WEB_SECRET): it works as long as that secret is kept, at every shift.

    \b
    Example: roster feedback poster ailian-clinic --out 评价-义诊.html
    """
    from scheduler.feedback import poster_facts
    from web.feedback import poster_html

    service_id, title, venue = app.read(lambda s: poster_facts(s, service_slug))
    page = poster_html(app.settings, service_id, title, venue)
    if out_file is None:
        click.echo(page, nl=False)
        return
    from pathlib import Path

    from calendars.publish import write_atomic

    write_atomic(Path(out_file), page.encode("utf-8"))
    app.out.message(_("wrote the rating poster of {service} ({title}) to {file}").format(
        service=service_slug, title=title, file=out_file))


@feedback.command("report")
@_period_options
@click.option("--by", type=click.Choice(["service", "branch", "community"]), default="service",
              show_default=True, help="Group the ratings by service, branch or community.")
@pass_app
def report(app: AppContext, first: date | None, last: date | None, by: str) -> None:
    """Count, mean and share of 4-5 star ratings per service, branch or community.

    \b
    Example: roster feedback report --from 2026-11-01 --to 2026-11-30 --by community
    """
    from scheduler.feedback import satisfaction_report

    first, last = _period(app, first, last)
    rows = app.read(lambda s: satisfaction_report(s, first, last, by, app.settings.timezone))
    total = sum(r.count for r in rows)
    satisfied = sum(r.satisfied * r.count for r in rows) / total if total else 0.0
    data = {"from": first.isoformat(), "to": last.isoformat(), "by": by, "rows": [r.as_json() for r in rows],
            "count": total, "satisfied": round(satisfied, 4)}
    span = {"first": format_date(first, with_year=True), "last": format_date(last, with_year=True)}
    if total:
        text = _("ratings {first} to {last}: {count}, {share} rated 4-5").format(
            count=total, share=f"{satisfied:.0%}", **span)
    else:
        text = _("ratings {first} to {last}: none").format(**span)
    app.out.result(data, text)
    if rows:
        grouping = {"service": _("service"), "branch": _("branch"), "community": _("community")}[by]
        app.out.table((grouping, _("name"), _("ratings"), _("mean"), _("4-5 stars")),
                      [(r.key, r.label, r.count, f"{r.mean:.2f}", f"{r.satisfied:.0%}") for r in rows])


@feedback.command("comments")
@click.argument("service_slug", metavar="SERVICE")
@_period_options
@pass_app
def comments(app: AppContext, service_slug: str, first: date | None, last: date | None) -> None:
    """List the comments left with a service's ratings, newest first (coordinators only).

    Comments are anonymous and never shown on a public page, a feed or a group message.
    """
    from zoneinfo import ZoneInfo

    from scheduler.feedback import rating_comments

    first, last = _period(app, first, last)
    found = app.read(lambda s: rating_comments(s, service_slug, first, last, app.settings.timezone))
    tz = ZoneInfo(app.settings.timezone)
    # A comment is typed by anyone: the table prints its cells as plain text, never as markup.
    app.out.records([c.as_json() for c in found], (_("when (local)"), _("stars"), _("comment")),
                    [(format_datetime(c.created_at, tz, with_year=True), c.stars, c.comment) for c in found])
