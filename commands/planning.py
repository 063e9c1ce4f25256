"""roster plan: materialise occurrences; the plan summary other commands print after a re-plan."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import click

from cli import AppContext, command, pass_app
from commands.options import date_option_callback

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


def provisional_note(count: int, dates: list[str]) -> str:
    span = f"{dates[0]}..{dates[-1]}" if dates else ""
    return (f"warning: {count} occurrence(s) on {span} are PROVISIONAL (待定): no official holiday schedule "
            "for that year yet; load it with `roster holidays load FILE`")


def plan_line(prefix: str, data: dict[str, Any]) -> str:
    """What a plan or re-plan did, in one line (and one warning line per service it skipped)."""
    line = (f"{prefix}{data['first']}..{data['last']}: {data['created']} created, {data['updated']} updated, "
            f"{data['removed']} removed, {data['cancelled']} cancelled, {data.get('reinstated', 0)} reinstated, "
            f"{data['unchanged']} unchanged, {data['pinned']} pinned")
    for skip in data.get("skipped", []):
        # A service whose stored row cannot be planned is named; the others were planned.
        line += f"\nwarning: service {skip['service']} skipped (not planned): {skip['problem']}"
    return line


def replan_line(data: dict[str, Any]) -> str:
    """A re-plan after a change, with how many volunteers were told."""
    return plan_line("re-planned ", data) + f"; {data['notified']} volunteer(s) notified"


@command("plan")
@click.option("--today", callback=date_option_callback, help="Plan from this date (default: today).")
@click.option("--weeks", type=click.IntRange(1, 104), help="Horizon in weeks (default ROSTER_HORIZON_WEEKS, 12).")
@click.option("--service", "service_slugs", multiple=True, help="Only this service (repeatable).")
@pass_app
def plan_command(app: AppContext, today: date | None, weeks: int | None, service_slugs: tuple[str, ...]) -> None:
    """Materialise occurrences for the rolling horizon (idempotent).

    \b
    Example: roster plan --weeks 12
    """
    from scheduler.planning import local_today, plan
    from scheduler.services import get_service

    horizon = weeks or app.settings.horizon_weeks
    day = today or local_today(app.settings.timezone)

    def work(s: Session) -> dict[str, Any]:
        ids = [get_service(s, slug).id for slug in service_slugs] if service_slugs else None
        return plan(s, day, horizon, ids, policy=app.policy).as_dict()

    data = app.run(work)
    app.out.result(data, plan_line(f"planned {data['services']} service(s) for ", data))
    if data["provisional"]:
        app.out.note(provisional_note(data["provisional"], data["provisional_dates"]))
