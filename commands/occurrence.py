"""roster occurrence: single dated occurrences (场次): list, cancel, move."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import click

from cli import AppContext, group, pass_app
from commands.options import RECORD_ID, date_option_callback

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


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
    from scheduler.planning.occurrences import list_occurrences, occurrences_as_dicts

    def work(s: Session) -> list[dict[str, Any]]:
        found = list_occurrences(s, service_slug, branch_slug, community_slug, start, end, open_only, limit=limit)
        return occurrences_as_dicts(s, found)

    data = app.read(work)
    rows = []
    for d in data:
        state = d["status"] if d["status"] != "scheduled" else ("moved" if d["moved"] else "")
        if d["provisional"]:
            state = (state + " 待定/provisional").strip()
        rows.append((d["id"], d["service"], d["title"], d["start"].replace("T", " "), d["end"][11:],
                     d["timezone"] if d["timezone"] != "Asia/Shanghai" else "", d["open_seats"], state))
    app.out.records(data, ("id", "service", "title", "start", "end", "zone", "open", "state"), rows)
    if any(d["provisional"] for d in data):
        app.out.note("provisional: planned without an official holiday schedule; dates may change")


@occurrence.command("cancel")
@click.argument("occurrence_id", type=RECORD_ID)
@click.option("--reason", required=True, help="Told to assigned volunteers (private message), e.g. 台风停课.")
@pass_app
def occurrence_cancel(app: AppContext, occurrence_id: int, reason: str) -> None:
    """Cancel one occurrence; assigned volunteers are told."""
    from scheduler.planning.occurrences import cancel_occurrence, occurrence_as_dict

    data = app.run(lambda s: occurrence_as_dict(cancel_occurrence(s, occurrence_id, reason, policy=app.policy)))
    app.out.result(data, f"occurrence #{data['id']} {data['title']} {data['start'].replace('T', ' ')} "
                         f"cancelled: {reason}")


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
    from scheduler.planning.occurrences import move_occurrence, move_warnings, occurrence_as_dict

    def work(s: Session) -> dict[str, Any]:
        moved = move_occurrence(s, occurrence_id, new_start, duration, reason=reason, policy=app.policy)
        return dict(occurrence_as_dict(moved), warnings=move_warnings(s, moved))

    data = app.run(work)
    app.out.result(data, f"occurrence #{data['id']} {data['title']} moved to {data['start'].replace('T', ' ')}"
                         f"-{data['end'][11:]} {data['timezone']}")
    for w in data["warnings"]:
        app.out.note(f"warning: the new time does not suit {w['volunteer']} (volunteer #{w['volunteer_id']}, "
                     f"assignment #{w['assignment_id']}): {'; '.join(w['reasons'])}", err=True)
