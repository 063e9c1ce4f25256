"""roster plan: materialise occurrences; the plan summary other commands print after a re-plan;
``--dry-run``: the real operation in a transaction that is rolled back, reporting what it did."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import click

from cli import AppContext, command, pass_app
from commands.options import date_option_callback
from scheduler.i18n import N_, _, format_datetime, ngettext, translate

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

T = TypeVar("T")

#: Rows of each kind a dry run prints for people (JSON holds up to the report's own limit).
ROWS_SHOWN = 20

DRY_RUN_HELP = N_("Show what would change and change nothing (no rows, no notices, no feed republished).")

#: Notice kinds (the ledger's) as people read them.
NOTICES = {"cancelled": N_("cancelled"), "moved": N_("moved"), "reinstated": N_("reinstated")}


class _RolledBack(Exception):
    """Carries a dry run's result out of its transaction (which the raise rolls back)."""

    def __init__(self, result: Any) -> None:
        super().__init__("dry run")
        self.result = result


def run_or_rehearse(app: AppContext, work: Callable[[Session], T], dry_run: bool) -> T:
    """``work`` in one transaction: committed, or (``dry_run``) rolled back after it ran in full, so that
    it validates and reports exactly as the real run would and leaves nothing behind (the operations
    enqueue nothing themselves: only a commit would let anything out)."""
    if not dry_run:
        return app.run(work)

    def rehearse(session: Session) -> T:
        raise _RolledBack(work(session))

    try:
        app.run(rehearse)
    except _RolledBack as done:
        return done.result  # type: ignore[no-any-return]
    raise AssertionError("unreachable: the rehearsal always raises")


def with_changes(work: Callable[[Session], dict[str, Any]], dry_run: bool) -> Callable[[Session], dict[str, Any]]:
    """``work``, with the rows a dry run changed (``changes``) and ``dry_run`` added to its result."""
    if not dry_run:
        return work

    def traced(session: Session) -> dict[str, Any]:
        from scheduler.planning.changes import changes_since, mark

        before = mark(session)
        data = work(session)
        return dict(data, dry_run=True, changes=changes_since(session, before))

    return traced


def dry_run_title() -> str:
    return _("DRY RUN: nothing was changed; the real run would do this:")


def _moment(text: str) -> str:
    return format_datetime(datetime.fromisoformat(text))


def _rows(lines: list[str], total: int) -> list[str]:
    shown = [f"  {line}" for line in lines[:ROWS_SHOWN]]
    if total > len(shown):
        shown.append("  " + _("... and {count} more").format(count=total - len(shown)))
    return shown


def changes_lines(changes: dict[str, Any]) -> list[str]:
    """A dry run's rows for people: occurrences created, cancelled, re-planned, volunteers told."""
    lines: list[str] = []
    if changes["created_total"]:
        lines.append(_("occurrences that would be created ({count}):").format(count=changes["created_total"]))
        lines += _rows([f"{r['service']} {_moment(r['start'])}" + (" " + _("(provisional)") if r["provisional"] else "")
                        for r in changes["created"]], changes["created_total"])
    if changes["cancelled_total"]:
        lines.append(_("occurrences that would be cancelled ({count}):").format(count=changes["cancelled_total"]))
        lines += _rows([f"{r['service']} {_moment(r['start'])}" + (f" ({r['reason']})" if r["reason"] else "")
                        for r in changes["cancelled"]], changes["cancelled_total"])
    if changes["replanned_total"]:
        lines.append(_("occurrences that would be re-planned ({count}):").format(count=changes["replanned_total"]))
        lines += _rows([f"{r['service']} {_moment(r['start'])}" for r in changes["replanned"]],
                       changes["replanned_total"])
    if changes["notified_total"]:
        lines.append(_("volunteers who would be told ({count}):").format(count=changes["notified_total"]))
        lines += _rows([_("volunteer #{id} {name}: {notice}, {service} {start}").format(
                            id=r["volunteer_id"], name=r["name"], notice=translate(NOTICES.get(r["notice"], r["notice"])),
                            service=r["service"], start=_moment(r["start"]))
                        for r in changes["notified"]], changes["notified_total"])
    return lines


def provisional_note(count: int, dates: list[str]) -> str:
    span = f"{dates[0]}..{dates[-1]}" if dates else ""
    return ngettext("warning: {count} occurrence on {span} is PROVISIONAL (待定): no official holiday schedule "
                    "for that year yet; load it with `roster holidays load FILE`",
                    "warning: {count} occurrences on {span} are PROVISIONAL (待定): no official holiday schedule "
                    "for that year yet; load it with `roster holidays load FILE`", count).format(count=count, span=span)


def _span(data: dict[str, Any]) -> str:
    # A range stays ISO (2026-09-01..2026-11-23): short, and read the same in both languages.
    return f"{data['first']}..{data['last']}"


def _counts(data: dict[str, Any]) -> str:
    return _("{span}: {created} created, {updated} updated, {removed} removed, {cancelled} cancelled, "
             "{reinstated} reinstated, {unchanged} unchanged, {pinned} pinned").format(
        span=_span(data), created=data["created"], updated=data["updated"], removed=data["removed"],
        cancelled=data["cancelled"], reinstated=data.get("reinstated", 0), unchanged=data["unchanged"],
        pinned=data["pinned"])


def _skipped(data: dict[str, Any]) -> str:
    # A service whose stored row cannot be planned is named; the others were planned.
    return "".join("\n" + _("warning: service {service} skipped (not planned): {problem}").format(
        service=skip["service"], problem=skip["problem"]) for skip in data.get("skipped", []))


def plan_line(data: dict[str, Any]) -> str:
    """What a plan did, in one line (and one warning line per service it skipped)."""
    return ngettext("planned {count} service for {counts}", "planned {count} services for {counts}",
                    data["services"]).format(count=data["services"], counts=_counts(data)) + _skipped(data)


def replan_line(data: dict[str, Any]) -> str:
    """A re-plan after a change, with how many volunteers were told."""
    return ngettext("re-planned {counts}; {count} volunteer notified", "re-planned {counts}; {count} volunteers notified",
                    data["notified"]).format(counts=_counts(data), count=data["notified"]) + _skipped(data)


def lifted_line(data: dict[str, Any]) -> str:
    """A re-plan after a closure was lifted."""
    return _("re-planned {counts}").format(counts=_counts(data)) + _skipped(data)


def with_dry_run(text: str, data: dict[str, Any]) -> str:
    """``text`` (a command's summary), under the dry-run banner and over its rows when ``data`` is a dry run's."""
    if not data.get("dry_run"):
        return text
    return "\n".join([dry_run_title(), text, *changes_lines(data["changes"])])


@command("plan")
@click.option("--today", callback=date_option_callback, help="Plan from this date (default: today).")
@click.option("--weeks", type=click.IntRange(1, 104), help="Horizon in weeks (default ROSTER_HORIZON_WEEKS, 12).")
@click.option("--service", "service_slugs", multiple=True, help="Only this service (repeatable).")
@click.option("--dry-run", is_flag=True, help=DRY_RUN_HELP)
@pass_app
def plan_command(app: AppContext, today: date | None, weeks: int | None, service_slugs: tuple[str, ...],
                 dry_run: bool) -> None:
    """Materialise occurrences for the rolling horizon (idempotent).

    \b
    Example: roster plan --weeks 12
             roster plan --dry-run    (what it would create, change nothing)
    """
    from scheduler.planning import local_today, plan
    from scheduler.services import get_service

    horizon = weeks or app.settings.horizon_weeks
    day = today or local_today(app.settings.timezone)

    def work(s: Session) -> dict[str, Any]:
        ids = [get_service(s, slug).id for slug in service_slugs] if service_slugs else None
        return plan(s, day, horizon, ids, policy=app.policy).as_dict()

    data = run_or_rehearse(app, with_changes(work, dry_run), dry_run)
    app.out.result(data, with_dry_run(plan_line(data), data))
    if data["provisional"]:
        app.out.note(provisional_note(data["provisional"], data["provisional_dates"]))
