"""roster closure: dates when a scope does not run (停课/闭馆)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import click

from cli import AppContext, group, pass_app
from commands.options import RECORD_ID, date_option_callback
from commands.planning import (
    DRY_RUN_HELP,
    lifted_line,
    replan_line,
    run_or_rehearse,
    with_changes,
    with_dry_run,
)
from scheduler.i18n import N_, _, format_date, translate

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

#: Closure scopes as people read them (the stored value stays English).
SCOPES = {"district": N_("district"), "community": N_("community"), "branch": N_("branch"), "service": N_("service")}


@group()
def closure() -> None:
    """Closures (停课/闭馆): dates when a scope does not run."""


@closure.command("add")
@click.option("--scope", required=True, help="district, community:SLUG, branch:SLUG or service:SLUG.")
@click.option("--from", "start", required=True, callback=date_option_callback, help="First day (inclusive).")
@click.option("--to", "end", required=True, callback=date_option_callback, help="Last day (inclusive).")
@click.option("--reason", required=True, help="Why, e.g. 暑假 or 装修.")
@click.option("--today", callback=date_option_callback, help="Re-plan from this date (default: today).")
@click.option("--dry-run", is_flag=True, help=DRY_RUN_HELP)
@pass_app
def closure_add(app: AppContext, scope: str, start: date, end: date, reason: str, today: date | None,
                dry_run: bool) -> None:
    """Close a scope for a date range; its occurrences are cancelled.

    \b
    Example: roster closure add --scope branch:shunjing --from 2026-07-01 --to 2026-08-31 --reason 暑假
    --dry-run lists the occurrences it would cancel and the volunteers who would be told.
    """
    from scheduler.planning import local_today
    from scheduler.planning.closures import add_closure, parse_scope

    kind, ref = parse_scope(scope)
    day = today or local_today(app.settings.timezone)

    def work(s: Session) -> dict[str, Any]:
        change = add_closure(s, kind, ref, start, end, reason, day, app.settings.horizon_weeks, policy=app.policy)
        data = dict(change.closure, plan=change.plan.as_dict())
        if dry_run:
            data["id"] = None  # a sequence's value, not the real run's
        return data

    data = run_or_rehearse(app, with_changes(work, dry_run), dry_run)
    target = f" {data['target']}" if data["target"] else ""
    text = _("closure #{id}: {scope}{target} closed {start}..{end} ({reason})").format(
        id=data["id"] or "-", scope=translate(SCOPES.get(data["scope"], data["scope"])), target=target,
        start=data["from"], end=data["to"], reason=data["reason"])
    app.out.result(data, with_dry_run(f"{text}\n{replan_line(data['plan'])}", data))


@closure.command("list")
@click.option("--scope", type=click.Choice(["district", "community", "branch", "service"]), help="Only this scope.")
@pass_app
def closure_list(app: AppContext, scope: str | None) -> None:
    """List closures."""
    from scheduler.planning.closures import closure_as_dict, list_closures

    data = app.read(lambda s: [closure_as_dict(s, c) for c in list_closures(s, scope)])
    app.out.records(data, (_("id"), _("scope"), _("target"), _("from"), _("to"), _("reason")),
                    [(d["id"], translate(SCOPES.get(d["scope"], d["scope"])), d["target"] or "",
                      format_date(date.fromisoformat(d["from"]), with_year=True),
                      format_date(date.fromisoformat(d["to"]), with_year=True), d["reason"]) for d in data])


@closure.command("remove")
@click.argument("closure_id", type=RECORD_ID)
@click.option("--today", callback=date_option_callback, help="Re-plan from this date (default: today).")
@pass_app
def closure_remove(app: AppContext, closure_id: int, today: date | None) -> None:
    """Lift a closure; the occurrences it cancelled are reinstated."""
    from scheduler.planning import local_today
    from scheduler.planning.closures import remove_closure

    day = today or local_today(app.settings.timezone)

    def work(s: Session) -> dict[str, Any]:
        change = remove_closure(s, closure_id, day, app.settings.horizon_weeks, policy=app.policy)
        return dict(change.closure, plan=change.plan.as_dict())

    data = app.run(work)
    app.out.result(data, _("closure #{id} removed").format(id=data["id"]) + "\n" + lifted_line(data["plan"]))
