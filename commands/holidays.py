"""roster holidays: China's holiday calendar, its coverage and the years a coordinator loads."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import click

from cli import AppContext, group, pass_app
from commands.options import date_option_callback
from commands.planning import DRY_RUN_HELP, replan_line, run_or_rehearse, with_changes, with_dry_run
from scheduler.i18n import N_, _, format_date, ngettext, translate

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

#: Kinds of holiday dates as people read them (stored and in JSON: English).
DAY_KINDS = {"rest": N_("rest day"), "workday": N_("make-up workday")}


@group()
def holidays() -> None:
    """China's holiday calendar: coverage, provisional dates, loading a year."""


@holidays.command("status")
@click.option("--today", callback=date_option_callback, help="Pretend today is this date.")
@pass_app
def holidays_status(app: AppContext, today: date | None) -> None:
    """Show which years have official data and what is provisional."""
    from scheduler.planning import local_today
    from scheduler.planning.holiday_years import holiday_status

    day = today or local_today(app.settings.timezone)
    data = app.read(lambda s: holiday_status(s, day, app.settings.horizon_weeks))
    low, high = data["covered_by_package"]
    app.out.result(data, _("chinese_calendar covers {low}-{high}; horizon {first}..{last}").format(
        low=low, high=high, first=format_date(date.fromisoformat(data["today"]), with_year=True),
        last=format_date(date.fromisoformat(data["horizon_end"]), with_year=True)))
    app.out.table((_("year"), _("source"), _("rest days"), _("make-up workdays")),
                  [(y["year"], y["source"] or _("PROVISIONAL (weekday rule)"), y.get("rest_days", ""),
                    _(", ").join(format_date(date.fromisoformat(d)) for d in y.get("makeup_workdays", [])))
                   for y in data["years"]])
    for span in data["provisional_dates"]:
        count = data["provisional_occurrences"]
        app.out.note(ngettext("provisional: {first}..{last} (no official schedule; {count} occurrence marked 待定)",
                              "provisional: {first}..{last} (no official schedule; {count} occurrences marked 待定)",
                              count).format(first=span["from"], last=span["to"], count=count))
    if not data["provisional_dates"]:
        app.out.note(_("no provisional dates within the horizon"))


@holidays.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--today", callback=date_option_callback, help="Re-plan from this date (default: today).")
@click.option("--dry-run", is_flag=True, help=DRY_RUN_HELP)
@pass_app
def holidays_load(app: AppContext, file: str, today: date | None, dry_run: bool) -> None:
    """Load a year's official schedule (format: docs/holidays.md) and re-plan.

    \b
    Example: roster holidays load 2027.txt
             roster holidays load 2027.txt --dry-run   (the dates and occurrences it would change)
    """
    from pathlib import Path

    from scheduler.errors import InvalidInput
    from scheduler.planning import local_today
    from scheduler.planning.holiday_years import load_year

    try:
        text = Path(file).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("file", "is not UTF-8 text") from None
    day = today or local_today(app.settings.timezone)

    def work(s: Session) -> dict[str, Any]:
        result = load_year(s, text, Path(file).name, day, app.settings.horizon_weeks, policy=app.policy)
        return {"year": result.year, "rest_days": result.rest_days, "makeup_workdays": result.makeup_workdays,
                "replaced": result.replaced, "plan": result.plan.as_dict(), "days_changed": result.days_changed}

    data = run_or_rehearse(app, with_changes(work, dry_run), dry_run)
    text = (_("replaced {year}: {rest} rest days, {work} make-up workdays") if data["replaced"]
            else _("loaded {year}: {rest} rest days, {work} make-up workdays")).format(
        year=data["year"], rest=data["rest_days"], work=data["makeup_workdays"])
    lines = [text]
    if data.get("dry_run"):
        lines.append(_("holiday dates that would change ({count}):").format(count=len(data["days_changed"])))
        lines += [f"  {_day_change(d)}" for d in data["days_changed"]]
    lines.append(replan_line(data["plan"]))
    app.out.result(data, with_dry_run("\n".join(lines), data))


def _day_change(change: dict[str, Any]) -> str:
    day = format_date(date.fromisoformat(change["date"]), with_year=True)
    now = (_("{kind} {name}").format(kind=translate(DAY_KINDS[change["kind"]]), name=change["name"]).strip()
           if change["kind"] else _("an ordinary day"))
    if change["was"] is None:
        return _("{day}: {now} (added)").format(day=day, now=now)
    was = _("{kind} {name}").format(kind=translate(DAY_KINDS[change["was"]["kind"]]), name=change["was"]["name"]).strip()
    return _("{day}: {now} (was {was})").format(day=day, now=now, was=was)
