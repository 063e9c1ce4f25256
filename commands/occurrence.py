"""roster occurrence: single dated occurrences (场次): list, cancel, move."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import click

from cli import AppContext, group, pass_app
from commands.options import RECORD_ID, date_option_callback

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scheduler.planning.occurrences import OccurrenceView


def end_text(occurrence: OccurrenceView) -> str:
    """The local end time; with its date when the occurrence ends on a later day than it starts."""
    end = occurrence.local_end
    return f"{end:%H:%M}" if end.date() == occurrence.local_start.date() else f"{end:%Y-%m-%d %H:%M}"


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
    rows = []
    for o in views:
        state = o.status if o.status != "scheduled" else ("moved" if o.moved else "")
        if o.provisional:
            state = (state + " 待定/provisional").strip()
        rows.append((o.id, o.service, o.title, f"{o.local_start:%Y-%m-%d %H:%M}", end_text(o),
                     o.timezone if o.timezone != "Asia/Shanghai" else "", o.open_seats, state))
    app.out.records([o.as_json() for o in views], ("id", "service", "title", "start", "end", "zone", "open", "state"),
                    rows)
    if any(o.provisional for o in views):
        app.out.note("provisional: planned without an official holiday schedule; dates may change")


@occurrence.command("cancel")
@click.argument("occurrence_id", type=RECORD_ID)
@click.option("--reason", required=True, help="Told to assigned volunteers (private message), e.g. 台风停课.")
@pass_app
def occurrence_cancel(app: AppContext, occurrence_id: int, reason: str) -> None:
    """Cancel one occurrence; assigned volunteers are told."""
    from scheduler.planning.occurrences import cancel_occurrence, occurrence_view

    o = app.run(lambda s: occurrence_view(cancel_occurrence(s, occurrence_id, reason, policy=app.policy)))
    app.out.result(o.as_json(), f"occurrence #{o.id} {o.title} {o.local_start:%Y-%m-%d %H:%M} cancelled: {reason}")


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
                   f"occurrence #{o.id} {o.title} moved to {o.local_start:%Y-%m-%d %H:%M}-{end_text(o)} {o.timezone}")
    for w in warnings:
        app.out.note(f"warning: the new time does not suit {w['volunteer']} (volunteer #{w['volunteer_id']}, "
                     f"assignment #{w['assignment_id']}): {'; '.join(w['reasons'])}", err=True)
