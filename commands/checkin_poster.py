"""roster checkin-poster: the venue's check-in QR code (扫码签到), printed or on a screen."""

from __future__ import annotations

from datetime import datetime

import click

from cli import AppContext, pass_app
from commands.options import RECORD_ID
from scheduler.i18n import _


@click.command("checkin-poster")
@click.argument("occurrence_id", metavar="OCCURRENCE", type=RECORD_ID)
@click.option("--out", "out_file", type=click.Path(dir_okay=False, writable=True),
              help="Write the poster to this HTML file (default: standard output).")
@click.option("--display", is_flag=True,
              help="Print the address of the venue display instead: a page whose code changes every 30 s.")
@pass_app
def checkin_poster(app: AppContext, occurrence_id: int, out_file: str | None, display: bool) -> None:
    """Print an occurrence's check-in QR poster (扫码签到), or its venue display's address.

    The poster is an A4 HTML page (print it from a browser): the service, venue, time and a QR code
    that volunteers scan to check in and out, valid from ROSTER_EARLY_CHECKIN_MINUTES before the
    shift to ROSTER_OVERTIME_MINUTES after it. --display prints the address of a page for a screen
    at the venue whose code changes every 30 seconds, so a photo of it shared elsewhere soon stops
    working; keep that address to yourself. Scans reach the pages `roster web` serves at
    ROSTER_WEB_BASE_URL.

    \b
    Example: roster checkin-poster 42 --out 签到-42.html
             roster checkin-poster 42 --display
    """
    from scheduler.db import utcnow
    from web.checkin import display_url, poster_facts, poster_html

    now: datetime = utcnow()
    facts = app.read(lambda s: poster_facts(s, occurrence_id, app.policy, now))
    if display:
        app.out.result({"occurrence_id": occurrence_id, "display_url": display_url(app.settings, occurrence_id)},
                       display_url(app.settings, occurrence_id))
        return
    page = poster_html(app.settings, facts)
    if out_file is None:
        click.echo(page, nl=False)
        return
    from pathlib import Path

    from calendars.publish import write_atomic

    write_atomic(Path(out_file), page.encode("utf-8"))
    app.out.message(_("wrote the check-in poster for occurrence #{id} ({title}, {when}) to {file}; "
                      "the code works {opens}-{closes}").format(
                        id=occurrence_id, title=facts["title"], when=facts["when"], file=out_file,
                        opens=facts["opens"], closes=facts["closes"]))
