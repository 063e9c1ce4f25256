"""roster occurrence: single dated occurrences (场次): list, cancel, move."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import click

from cli import AppContext, group, pass_app
from commands.options import RECORD_ID, date_option_callback
from scheduler.i18n import N_, _, format_datetime, translate

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scheduler.planning.occurrences import OccurrenceView


def end_text(occurrence: OccurrenceView) -> str:
    """The local end time; with its date when the occurrence ends on a later day than it starts."""
    end = occurrence.local_end
    return f"{end:%H:%M}" if end.date() == occurrence.local_start.date() else format_datetime(end)


#: An occurrence's status as a table shows it (JSON keeps the English value).
STATUS_LABELS = {"scheduled": N_("scheduled"), "cancelled": N_("cancelled"), "moved": N_("moved")}


def state_text(occurrence: OccurrenceView) -> str:
    """The state column: cancelled, moved, provisional (nothing for an ordinary scheduled one)."""
    status = occurrence.status
    words = [] if status == "scheduled" and not occurrence.moved else [
        translate(STATUS_LABELS.get("moved" if status == "scheduled" else status, status))]
    if occurrence.provisional:
        words.append(_("provisional"))
    return " ".join(words)


@group()
def occurrence() -> None:
    """List, cancel and move single occurrences (场次)."""


@occurrence.command("list")
@click.option("--service", "service_slug", help="Only this service.")
@click.option("--branch", "branch_slug", help="Only this branch's services.")
@click.option("--community", "community_slug", help="Only this community's services.")
@click.option("--from", "start", callback=date_option_callback, help="From this local date (inclusive).")
@click.option("--to", "end", callback=date_option_callback, help="To this local date (inclusive).")
@click.option("--open", "open_only", is_flag=True, help="Only scheduled occurrences with open seats.")
@click.option("--limit", type=click.IntRange(1, 100000), default=200, show_default=True)
@pass_app
def occurrence_list(app: AppContext, service_slug: str | None, branch_slug: str | None,
                    community_slug: str | None, start: date | None, end: date | None, open_only: bool,
                    limit: int) -> None:
    """List occurrences. Example: roster occurrence list --branch shunjing --open"""
    from scheduler.planning.occurrences import list_occurrences, occurrence_views

    def work(s: Session) -> list[OccurrenceView]:
        found = list_occurrences(s, service_slug, branch_slug, community_slug, start, end, open_only, limit=limit)
        return occurrence_views(s, found)

    views = app.read(work)
    rows = [(o.id, o.service, o.title, format_datetime(o.local_start, with_year=True), end_text(o),
             o.timezone if o.timezone != "Asia/Shanghai" else "", o.open_seats, state_text(o)) for o in views]
    app.out.records([o.as_json() for o in views],
                    (_("id"), _("service"), _("title"), _("start"), _("end"), _("zone"), _("open"), _("state")),
                    rows)
    if any(o.provisional for o in views):
        app.out.note(_("provisional: planned without an official holiday schedule; dates may change"))


@occurrence.command("cancel")
@click.argument("occurrence_id", type=RECORD_ID)
@click.option("--reason", required=True, help="Told to assigned volunteers (private message), e.g. 台风停课.")
@pass_app
def occurrence_cancel(app: AppContext, occurrence_id: int, reason: str) -> None:
    """Cancel one occurrence; assigned volunteers are told."""
    from scheduler.planning.occurrences import cancel_occurrence, occurrence_view

    o = app.run(lambda s: occurrence_view(cancel_occurrence(s, occurrence_id, reason, policy=app.policy)))
    app.out.result(o.as_json(), _("occurrence #{id} {title} {start} cancelled: {reason}").format(
        id=o.id, title=o.title, start=format_datetime(o.local_start, with_year=True), reason=reason))


@occurrence.command("move")
@click.argument("occurrence_id", type=RECORD_ID)
@click.option("--to", "new_start", required=True, help="New local start 'YYYY-MM-DD HH:MM' (service's zone).")
@click.option("--duration", help="New length: minutes, 2h, 1h30m (default: unchanged).")
@click.option("--reason", help="Told to assigned volunteers (in their private message), e.g. 场地调整.")
@pass_app
def occurrence_move(app: AppContext, occurrence_id: int, new_start: str, duration: str | None,
                    reason: str | None) -> None:
    """Move one occurrence to a new time; assigned volunteers are told.

    Warns (the move still happens) about assigned volunteers the new time does not suit.

    \b
    Example: roster occurrence move 42 --to "2026-10-10 09:30" --reason 场地调整
    """
    from scheduler.planning.occurrences import move_occurrence, move_warnings, occurrence_view

    def work(s: Session) -> tuple[OccurrenceView, list[dict[str, Any]]]:
        moved = move_occurrence(s, occurrence_id, new_start, duration, reason=reason, policy=app.policy)
        return occurrence_view(moved), move_warnings(s, moved)

    o, warnings = app.run(work)
    app.out.result(dict(o.as_json(), warnings=warnings),
                   _("occurrence #{id} {title} moved to {start}-{end} {zone}").format(
                       id=o.id, title=o.title, start=format_datetime(o.local_start, with_year=True), end=end_text(o),
                       zone=o.timezone))
    for w in warnings:
        app.out.note(_("warning: the new time does not suit {volunteer} (volunteer #{volunteer_id}, "
                       "assignment #{assignment_id}): {reasons}").format(
                         volunteer=w["volunteer"], volunteer_id=w["volunteer_id"], assignment_id=w["assignment_id"],
                         reasons="; ".join(w["reasons"])), err=True)
