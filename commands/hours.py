"""roster hours: approved hours with star levels, and the export for the national system."""

from __future__ import annotations

import sys
from datetime import date
from typing import Any

import click

from cli import AppContext, group, pass_app
from commands.options import date_option_callback
from scheduler.i18n import N_, _, translate

#: Table titles of ``hours report`` (message ids, translated when shown).
REPORT_TITLES = {"volunteer": N_("approved hours by volunteer"), "branch": N_("approved hours by branch"),
                 "community": N_("approved hours by community"), "month": N_("approved hours by month")}


@group()
def hours() -> None:
    """Volunteer hours: reports with star levels, and the export for the national system."""


@hours.command("report")
@click.option("--by", "dimension", type=click.Choice(["volunteer", "branch", "community", "month"]),
              default="volunteer", show_default=True, help="Group by.")
@click.option("--from", "date_from", callback=date_option_callback, help="From this local date (YYYY-MM-DD).")
@click.option("--to", "date_to", callback=date_option_callback, help="To this local date, inclusive.")
@pass_app
def hours_report_command(app: AppContext, dimension: str, date_from: date | None, date_to: date | None) -> None:
    """Approved hours by volunteer, branch, community or month.

    Volunteer rows show all-time hours and the star level (一星 100 h, 二星 300 h, 三星 600 h,
    四星 1000 h, 五星 1500 h). Example: roster hours report --by month --from 2026-01-01
    """
    from scheduler.attendance.hours import hours_report

    data = app.read(lambda s: hours_report(s, dimension, date_from, date_to, app.settings.tz))
    if dimension == "volunteer":
        columns: tuple[str, ...] = (_("id"), _("volunteer"), _("home branch"), _("records"), _("hours"),
                                    _("all-time hours"), _("star"), _("to next star"))
        rows: list[tuple[Any, ...]] = [
            (d["volunteer_id"], d["name"], d["home_branch"], d["records"], d["hours"], d["total_hours"], d["star"],
             f"{d['hours_to_next_star']} h → {d['next_star']}" if d["next_star"] else "") for d in data]
    elif dimension == "branch":
        columns = (_("organiser"), _("community"), _("records"), _("volunteers"), _("hours"))
        rows = [(d["organiser"], d["community"], d["records"], d["volunteers"], d["hours"]) for d in data]
    elif dimension == "community":
        columns = (_("community"), _("records"), _("volunteers"), _("hours"))
        rows = [(d["community"], d["records"], d["volunteers"], d["hours"]) for d in data]
    else:
        columns = (_("month"), _("records"), _("volunteers"), _("hours"))
        rows = [(d["month"], d["records"], d["volunteers"], d["hours"]) for d in data]
    app.out.records(data, columns, rows, title=translate(REPORT_TITLES[dimension]))


@hours.command("export")
@click.argument("file", default="-", metavar="[FILE]")
@click.option("--from", "date_from", callback=date_option_callback, help="From this local date (YYYY-MM-DD).")
@click.option("--to", "date_to", callback=date_option_callback, help="To this local date, inclusive.")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]),
              help="csv (UTF-8 with BOM, default) or xlsx; a FILE ending .xlsx implies xlsx.")
@click.option("--all", "include_unapproved", is_flag=True, help="Also pending and rejected records.")
@click.option("--recognition", is_flag=True,
              help="Also the points each record earned and the serving Party member's work unit "
                   "(获得积分, 在职党员, 工作单位), after the national fields.")
@pass_app
def hours_export(app: AppContext, file: str, date_from: date | None, date_to: date | None, fmt: str | None,
                 include_unapproved: bool, recognition: bool) -> None:
    """Export records for the national volunteer system (not a certificate).

    \b
    Fields of the national record (志愿服务记录与证明出具办法): name, ID number (masked),
    project, role, place, start, end, hours (2 decimals), organiser, contact, status.
    --recognition appends 获得积分, 在职党员, 工作单位 for the subdistrict's own use.
    Example: roster hours export 2026-12.csv --from 2026-12-01 --to 2026-12-31
    """
    from scheduler.attendance.hours import export_csv, export_rows, export_xlsx

    fmt = fmt or ("xlsx" if file.lower().endswith(".xlsx") else "csv")
    if fmt == "xlsx" and file == "-":
        raise click.UsageError(_("an xlsx export needs a FILE name"), ctx=click.get_current_context())
    rows = app.read(lambda s: export_rows(s, date_from, date_to, app.settings.tz, include_unapproved, recognition))
    payload = export_xlsx(rows) if fmt == "xlsx" else export_csv(rows)
    if file == "-":
        # click.get_binary_stream is deprecated (Click 9 drops it); the text stream's buffer is the same.
        sys.stdout.flush()
        sys.stdout.buffer.write(payload)
        sys.stdout.buffer.flush()
        return
    from pathlib import Path

    from calendars.publish import write_atomic

    write_atomic(Path(file), payload)  # a reader never sees half a file
    click.echo(_("wrote {count} records to {file} ({format}; ID numbers masked; 本导出不是志愿服务证明)").format(
        count=len(rows) - 1, file=file, format=fmt))


@hours.command("short")
@click.option("--below", type=click.FloatRange(0, 100000, min_open=True), required=True,
              help="The threshold in hours (decimals allowed, e.g. 12.5).")
@click.option("--period", help="A year (2026), a quarter (2026-Q4) or a month (2026-11), local dates.")
@click.option("--from", "date_from", callback=date_option_callback,
              help="From this local date (YYYY-MM-DD), instead of --period.")
@click.option("--to", "date_to", callback=date_option_callback,
              help="To this local date, inclusive, instead of --period.")
@click.option("--community", help="Only volunteers whose home branch is in this community (slug).")
@click.option("--branch", help="Only volunteers of this home branch (slug).")
@pass_app
def hours_short_command(app: AppContext, below: float, period: str | None, date_from: date | None,
                        date_to: date | None, community: str | None, branch: str | None) -> None:
    """List active volunteers with fewer approved hours than --below in a period.

    Largest shortfall first: hours in the period and hours still needed (for the yearly 50 h
    commitment of serving Party members, or any threshold a community sets). Volunteers with no
    record in the period count 0 h. Example: roster hours short --below 10 --period 2026-Q4
    """
    from decimal import ROUND_HALF_UP, Decimal

    from scheduler.attendance.hours import hours_short, parse_period

    ctx = click.get_current_context()
    if period is not None and (date_from is not None or date_to is not None):
        raise click.UsageError(_("give --period or --from/--to, not both"), ctx=ctx)
    if period is None and (date_from is None or date_to is None):
        raise click.UsageError(_("give --period (2026-Q4, 2026, 2026-11) or both --from and --to"), ctx=ctx)
    if period is not None:
        date_from, date_to = parse_period(period)
    assert date_from is not None and date_to is not None
    first, last = date_from, date_to
    below_minutes = int((Decimal(str(below)) * 60).quantize(Decimal("1"), rounding=ROUND_HALF_UP))
    data = app.read(lambda s: hours_short(s, below_minutes, first, last, app.settings.tz, community, branch))
    columns = (_("id"), _("volunteer"), _("home branch"), _("community"), _("hours in period"),
               _("hours needed"))
    rows = [(d["volunteer_id"], d["name"], d["branch"], d["community"], d["hours"], d["hours_needed"])
            for d in data]
    title = _("under {hours} h from {first} to {last}: {count}").format(
        hours=f"{below:g}", first=first.isoformat(), last=last.isoformat(), count=len(data))
    app.out.records(data, columns, rows, title=title)
