"""roster hours: approved hours with star levels, and the export for the national system."""

from __future__ import annotations

import sys
from datetime import date
from typing import Any

import click

from cli import AppContext, group, pass_app
from commands.options import date_option_callback


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
        columns: tuple[str, ...] = ("id", "volunteer", "home branch", "records", "hours", "all-time hours", "star",
                                    "to next star")
        rows: list[tuple[Any, ...]] = [
            (d["volunteer_id"], d["name"], d["home_branch"], d["records"], d["hours"], d["total_hours"], d["star"],
             f"{d['hours_to_next_star']} h → {d['next_star']}" if d["next_star"] else "") for d in data]
    elif dimension == "branch":
        columns = ("organiser", "community", "records", "volunteers", "hours")
        rows = [(d["organiser"], d["community"], d["records"], d["volunteers"], d["hours"]) for d in data]
    elif dimension == "community":
        columns = ("community", "records", "volunteers", "hours")
        rows = [(d["community"], d["records"], d["volunteers"], d["hours"]) for d in data]
    else:
        columns = ("month", "records", "volunteers", "hours")
        rows = [(d["month"], d["records"], d["volunteers"], d["hours"]) for d in data]
    app.out.records(data, columns, rows, title=f"approved hours by {dimension}")


@hours.command("export")
@click.argument("file", default="-", metavar="[FILE]")
@click.option("--from", "date_from", callback=date_option_callback, help="From this local date (YYYY-MM-DD).")
@click.option("--to", "date_to", callback=date_option_callback, help="To this local date, inclusive.")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]),
              help="csv (UTF-8 with BOM, default) or xlsx; a FILE ending .xlsx implies xlsx.")
@click.option("--all", "include_unapproved", is_flag=True, help="Also pending and rejected records.")
@pass_app
def hours_export(app: AppContext, file: str, date_from: date | None, date_to: date | None, fmt: str | None,
                 include_unapproved: bool) -> None:
    """Export records for the national volunteer system (not a certificate).

    \b
    Fields of the national record (志愿服务记录与证明出具办法): name, ID number (masked),
    project, role, place, start, end, hours (2 decimals), organiser, contact, status.
    Example: roster hours export 2026-12.csv --from 2026-12-01 --to 2026-12-31
    """
    from scheduler.attendance.hours import export_csv, export_rows, export_xlsx

    fmt = fmt or ("xlsx" if file.lower().endswith(".xlsx") else "csv")
    if fmt == "xlsx" and file == "-":
        raise click.UsageError("an xlsx export needs a FILE name", ctx=click.get_current_context())
    rows = app.read(lambda s: export_rows(s, date_from, date_to, app.settings.tz, include_unapproved))
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
    click.echo(f"wrote {len(rows) - 1} records to {file} ({fmt}; ID numbers masked; 本导出不是志愿服务证明)")
