"""roster report: reports others ask for (serving Party members' hours for their work units)."""

from __future__ import annotations

from pathlib import Path

import click

from cli import AppContext, group, pass_app
from scheduler.i18n import _


@group()
def report() -> None:
    """Reports for others: serving Party members' hours for their work units (在职党员)."""


@report.command("party-members")
@click.option("--quarter", required=True, help="The quarter, e.g. 2026-Q4.")
@click.option("--target", default="50", show_default=True, help="Yearly target in hours.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Also write party-members-QUARTER.xlsx and .csv (UTF-8 with BOM) into this folder.")
@pass_app
def report_party_members(app: AppContext, quarter: str, target: str, out_dir: Path | None) -> None:
    """Serving Party members' approved hours per work unit: the quarter and the year so far.

    \b
    Each member's hours in the quarter and from 1 January to the quarter's end, against
    the yearly target. No ID numbers.
    Example: roster report party-members --quarter 2026-Q4 --out ./reports
    """
    from scheduler.party import parse_quarter, parse_target, party_report, report_csv, report_xlsx

    period = parse_quarter(quarter)
    goal = parse_target(target)
    rows = app.read(lambda s: party_report(s, period, app.settings.tz, goal))
    written: list[str] = []
    if out_dir is not None:
        from calendars.publish import write_atomic

        out_dir.mkdir(parents=True, exist_ok=True)
        for suffix, payload in (("xlsx", report_xlsx(rows, period)), ("csv", report_csv(rows, period))):
            path = out_dir / f"party-members-{period.label}.{suffix}"
            write_atomic(path, payload)
            written.append(str(path))
    if app.json_output:
        app.out.result({"quarter": period.label, "target_hours": str(goal), "members": rows, "files": written})
        return
    app.out.records(
        rows,
        (_("work unit"), _("volunteer"), _("home branch"), _("quarter hours"), _("year to date"), _("target"),
         _("done")),
        [(r["work_unit"] or _("(no work unit recorded)"), r["name"], r["home_branch"], r["quarter_hours"],
          r["year_to_date_hours"], r["target_hours"], f"{r['percent']}%") for r in rows],
        title=_("serving Party members, {quarter}").format(quarter=period.label))
    for written_path in written:
        app.out.note(_("wrote {path}").format(path=written_path))
