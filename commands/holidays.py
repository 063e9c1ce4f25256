"""roster holidays: China's holiday calendar, its coverage and the years a coordinator loads."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import click

from cli import AppContext, group, pass_app
from commands.options import date_option_callback
from commands.planning import replan_line

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


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
    app.out.result(data, f"chinese_calendar covers {low}-{high}; horizon {data['today']}..{data['horizon_end']}")
    app.out.table(("year", "source", "rest days", "make-up workdays"),
                  [(y["year"], y["source"] or "PROVISIONAL (weekday rule)", y.get("rest_days", ""),
                    " ".join(y.get("makeup_workdays", []))) for y in data["years"]])
    for span in data["provisional_dates"]:
        app.out.note(f"provisional: {span['from']}..{span['to']} (no official schedule; "
                     f"{data['provisional_occurrences']} occurrence(s) marked 待定)")
    if not data["provisional_dates"]:
        app.out.note("no provisional dates within the horizon")


@holidays.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--today", callback=date_option_callback, help="Re-plan from this date (default: today).")
@pass_app
def holidays_load(app: AppContext, file: str, today: date | None) -> None:
    """Load a year's official schedule (format: docs/holidays.md) and re-plan.

    \b
    Example: roster holidays load 2027.txt
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
                "replaced": result.replaced, "plan": result.plan.as_dict()}

    data = app.run(work)
    verb = "replaced" if data["replaced"] else "loaded"
    app.out.result(data, f"{verb} {data['year']}: {data['rest_days']} rest days, "
                         f"{data['makeup_workdays']} make-up workdays\n{replan_line(data['plan'])}")
