"""Rosters: assign, unassign, confirm, decline, swap, fill, why, schedule."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from cli import AppContext, command, pass_app
from commands.options import RECORD_ID, RECORD_REF, date_option_callback
from scheduler.i18n import _, format_date, format_datetime, ngettext

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scheduler.rosters import AssignmentView
    from scheduler.rosters.printable import PrintableWeek

#: Days ``fill`` covers when --from/--to are left out: the coming four weeks, today included.
FILL_DEFAULT_DAYS = 28


def assignment_line(a: AssignmentView) -> str:
    from scheduler.rosters.schedule import status_label

    if a.seat_no:
        where = _(", seat {seat}").format(seat=a.seat_no)
    elif a.waitlist_pos:
        where = _(", waitlist position {position}").format(position=a.waitlist_pos)
    else:  # declined or cancelled: no seat and no place in line
        where = ""
    forced = _(" (forced)") if a.forced else ""
    return _("assignment #{id}: volunteer #{volunteer} as {role} at occurrence #{occurrence} "
             "({service} {start}), {status}{where}{forced}").format(
        id=a.id, volunteer=a.volunteer_id, role=a.role, occurrence=a.occurrence_id, service=a.service,
        start=format_datetime(a.local_start, with_year=True), status=status_label(a.status), where=where,
        forced=forced)


def _start_text(start: str) -> str:
    """A fill's ``YYYY-MM-DD HH:MM`` (already in the service's zone) as a person reads it."""
    from datetime import datetime

    return format_datetime(datetime.strptime(start, "%Y-%m-%d %H:%M"))


def _tier_label(tier: str) -> str:
    return _("own branch") if tier == "branch" else _("community")


def _show_assignments(app: AppContext, views: list[AssignmentView]) -> None:
    data = [a.as_json() for a in views]
    app.out.result(data if len(data) != 1 else data[0], "\n".join(assignment_line(a) for a in views))


@command()
@click.argument("volunteer_ref", metavar="VOLUNTEER", type=RECORD_REF)
@click.argument("occurrence_id", metavar="OCCURRENCE", type=RECORD_ID)
@click.option("--role", "role_name", help="Role name (may be left out when the service has one role).")
@click.option("--force", is_flag=True, help="Override the soft checks (recorded); never the capacity.")
@click.option("--note", help="Why the checks were overridden (kept with the assignment).")
@click.option("--waitlist", is_flag=True, help="When the role is full, put the volunteer on its waitlist.")
@pass_app
def assign(app: AppContext, volunteer_ref: str, occurrence_id: int, role_name: str | None, force: bool,
           note: str | None, waitlist: bool) -> None:
    """Assign a volunteer (id or phone) to an occurrence.

    \b
    Example:
      roster assign 13800138000 412 --role 医生
      roster assign 17 412 --role 医生 --force --note "持证护士可顶岗"
    """
    from scheduler.rosters import assign as do_assign
    from scheduler.rosters import assignment_view

    _show_assignments(app, [app.run(lambda s: assignment_view(do_assign(
        s, volunteer_ref, occurrence_id, role_name, force=force, note=note, waitlist=waitlist, policy=app.policy)))])


@command()
@click.argument("ref", metavar="ASSIGNMENT|VOLUNTEER", type=RECORD_REF)
@click.argument("occurrence_id", metavar="[OCCURRENCE]", required=False, type=RECORD_ID)
@click.option("--reason", help="Why (kept with the assignment).")
@pass_app
def unassign(app: AppContext, ref: str, occurrence_id: int | None, reason: str | None) -> None:
    """Take a volunteer off a shift; the first waitlisted volunteer moves up.

    Give an assignment id, or a volunteer (id or phone) and an occurrence id.
    """
    from scheduler.rosters import assignment_view
    from scheduler.rosters import unassign as do_unassign

    _show_assignments(app, [app.run(lambda s: assignment_view(do_unassign(s, ref, occurrence_id,
                                                                          reason=reason, policy=app.policy)))])


@command()
@click.argument("ref", metavar="ASSIGNMENT|VOLUNTEER", type=RECORD_REF)
@click.argument("occurrence_id", metavar="[OCCURRENCE]", required=False, type=RECORD_ID)
@pass_app
def confirm(app: AppContext, ref: str, occurrence_id: int | None) -> None:
    """Record that the volunteer confirmed an invited shift."""
    from scheduler.rosters import assignment_view
    from scheduler.rosters import confirm as do_confirm

    _show_assignments(app, [app.run(lambda s: assignment_view(do_confirm(s, ref, occurrence_id, policy=app.policy)))])


@command()
@click.argument("ref", metavar="ASSIGNMENT|VOLUNTEER", type=RECORD_REF)
@click.argument("occurrence_id", metavar="[OCCURRENCE]", required=False, type=RECORD_ID)
@click.option("--reason", help="Why the volunteer cannot come (optional; kept with the assignment).")
@pass_app
def decline(app: AppContext, ref: str, occurrence_id: int | None, reason: str | None) -> None:
    """Record that the volunteer declined a shift; the seat goes to the waitlist.

    The output names who moved up from the waitlist into the freed seat.
    """
    from scheduler.rosters import decline_shift, declined_view

    result = app.run(lambda s: declined_view(decline_shift(s, ref, reason, occurrence_id, policy=app.policy)))
    app.out.result(result.as_json(), assignment_line(result.declined))
    for p, position in result.promoted:
        app.out.note(_("moved up from waitlist position {position}: {name} (volunteer #{volunteer}), "
                       "now seat {seat} (assignment #{id})").format(
            position=position, name=p.volunteer, volunteer=p.volunteer_id, seat=p.seat_no, id=p.id))
    if result.freed_seat and not result.promoted:
        app.out.note(_("seat {seat} is open again (nobody on the waitlist could take it)").format(
            seat=result.freed_seat))


@command()
@click.argument("ref", metavar="ASSIGNMENT", type=RECORD_ID)
@click.argument("other", metavar="[OTHER_ASSIGNMENT]", required=False, type=RECORD_ID)
@click.option("--to", "to_volunteer", type=RECORD_REF, help="Hand the shift to this volunteer (id or phone) instead.")
@click.option("--force", is_flag=True, help="Override the soft checks (recorded).")
@click.option("--note", help="Why the checks were overridden.")
@pass_app
def swap(app: AppContext, ref: int, other: int | None, to_volunteer: str | None, force: bool,
         note: str | None) -> None:
    """Two volunteers trade shifts, or one hands a shift to another.

    \b
    Example:
      roster swap 501 502          # the holders of 501 and 502 trade
      roster swap 501 --to 17      # volunteer #17 takes over 501
    """
    from scheduler.rosters import assignment_view
    from scheduler.rosters import swap as do_swap

    _show_assignments(app, app.run(lambda s: [assignment_view(a) for a in do_swap(
        s, ref, other, to_volunteer, force=force, note=note, policy=app.policy)]))


@command()
@click.option("--from", "first", callback=date_option_callback,
              help="First date (YYYY-MM-DD; default today).")
@click.option("--to", "last", callback=date_option_callback,
              help="Last date, inclusive (default: four weeks from the first date, 27 days after it).")
@click.option("--today", callback=date_option_callback, help="Pretend today is this date (default: today).")
@click.option("--branch", "branch_slug", help="Only this branch's services.")
@click.option("--community", "community_slug", help="Only this community's services.")
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing.")
@pass_app
def fill(app: AppContext, first: date | None, last: date | None, today: date | None, branch_slug: str | None,
         community_slug: str | None, dry_run: bool) -> None:
    """Fill open seats fairly: own branch first, then the community, least loaded first.

    Without --from/--to it fills the coming four weeks (today and the 27 days after).

    \b
    Example:
      roster fill --dry-run
      roster fill --from 2026-03-02 --to 2026-03-29 --community ailian --dry-run
    """
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from scheduler.planning import local_today
    from scheduler.rosters.fill import fill as do_fill

    if branch_slug and community_slug:
        raise click.BadParameter(_("give --branch or --community, not both"), param_hint="--branch")
    if first is None:
        first = today or local_today(app.settings.timezone)
    if last is None:
        last = first + timedelta(days=FILL_DEFAULT_DAYS - 1)
    # --today pretends the clock too (fill skips what has started): that day's local midnight.
    now = None if today is None else datetime.combine(today, datetime.min.time(), ZoneInfo(app.settings.timezone))
    start, end = first, last
    result = app.run(lambda s: do_fill(s, start, end, branch=branch_slug, community=community_slug,
                                       dry_run=dry_run, now=now, policy=app.policy))
    data = result.as_dict()
    app.out.result(data)
    if dry_run and data["placements"]:
        app.out.table((_("occurrence"), _("service"), _("start"), _("role"), _("seat"), _("volunteer"), _("from")),
                      [(p["occurrence_id"], p["service"], _start_text(p["start"]), p["role"], p["seat_no"],
                        f"#{p['volunteer_id']} {p['volunteer']}", _tier_label(p["tier"]))
                       for p in data["placements"]],
                      title=_("plan (dry run: nothing written)"))
    if data["open_seats"]:
        app.out.table((_("occurrence"), _("service"), _("start"), _("role"), _("open"), _("reason")),
                      [(o["occurrence_id"], o["service"], _start_text(o["start"]), o["role"], o["open"],
                        seats.reason_text) for o, seats in zip(data["open_seats"], result.open_seats, strict=True)],
                      title=_("seats left open"))
    span = _("{first} to {last}").format(first=format_date(first, with_year=True),
                                         last=format_date(last, with_year=last.year != first.year))
    seats = data["filled"]
    if dry_run:
        summary = ngettext("would fill {n} seat in {occurrences} occurrences ({span}); {open} left open",
                           "would fill {n} seats in {occurrences} occurrences ({span}); {open} left open", seats)
    else:
        summary = ngettext("filled {n} seat in {occurrences} occurrences ({span}); {open} left open",
                           "filled {n} seats in {occurrences} occurrences ({span}); {open} left open", seats)
    app.out.note(summary.format(n=seats, occurrences=data["occurrences"], span=span, open=data["left_open"]))
    if data["notified"]:
        app.out.note(ngettext("{n} volunteer will be told of their new shifts (one message each)",
                              "{n} volunteers will be told of their new shifts (one message each)",
                              data["notified"]).format(n=data["notified"]))


@command()
@click.argument("assignment_id", metavar="ASSIGNMENT", type=RECORD_ID)
@pass_app
def why(app: AppContext, assignment_id: int) -> None:
    """Explain how an assignment was chosen: the candidates and why this one won."""
    from scheduler.rosters.fill import why as do_why

    data = app.read(lambda s: do_why(s, assignment_id))
    app.out.result(data, "\n".join(data["lines"]))


@command()
@click.option("--week", callback=date_option_callback, help="Any date in the week (default: this week).")
@click.option("--branch", "branch_slug", help="Only this branch's services.")
@click.option("--community", "community_slug", help="Only this community's services.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the printable files (default: print/ in the data folder, see roster where).")
@click.option("--no-files", is_flag=True, help="Only print the table; write no Excel or HTML file.")
@pass_app
def schedule(app: AppContext, week: date | None, branch_slug: str | None, community_slug: str | None,
             out_dir: Path | None, no_files: bool) -> None:
    """Print a week's roster and write it as Excel and A4 HTML files.

    Per occurrence: the roles, who is on, seats open. Each person shows their assignment id (#501),
    which unassign, confirm, decline and swap take; a cancelled occurrence lists nobody.

    Beside the table it writes roster-YYYY-Www.xlsx (a sheet per branch) and roster-YYYY-Www.html
    (A4, a branch a page, to print from a browser) with names only, in the language of ROSTER_LANG.
    A week with nothing scheduled (this week on a Saturday, once its weekday services are over)
    names the next week with shifts and the command that prints it.

    \b
    Example:
      roster schedule --week 2026-12-07
      roster schedule --week 2026-12-07 --branch shunjing --out ~/打印
    """
    from scheduler.errors import RosterError
    from scheduler.planning import local_today
    from scheduler.rosters.printable import printable_week, write_printouts
    from scheduler.rosters.schedule import status_label, week_schedule

    day = week or local_today(app.settings.timezone)

    def read(session: Session) -> tuple[dict[str, Any], PrintableWeek | None]:
        data = week_schedule(session, day, branch=branch_slug, community=community_slug)
        printable = None if no_files else printable_week(session, day, branch_slug, community_slug, data=data)
        return data, printable

    data, printable = app.read(read)
    app.out.result(data)
    rows = []
    for occ in data["occurrences"]:
        for role in occ["roles"]:
            on = _(", ").join(
                f"#{p['assignment_id']} {p['name']}" if p["status"] == "confirmed"
                else f"#{p['assignment_id']} " + _("{name}({status})").format(
                    name=p["name"], status=status_label(p["status"]))
                for p in role["on"])
            waiting = _(", ").join(f"#{p['assignment_id']} {p['name']}" for p in role["waitlist"])
            cancelled = occ["status"] == "cancelled"
            rows.append((occ["id"], format_date(date.fromisoformat(occ["date"])), occ["time"],
                         occ["title"] + (_(" (cancelled)") if cancelled else ""), role["name"],
                         _("(cancelled)") if cancelled else on, role["open"], waiting))
    title = _("week {first} to {last}").format(first=format_date(date.fromisoformat(data["first"]), with_year=True),
                                               last=format_date(date.fromisoformat(data["last"])))
    if not rows:
        app.out.note(_("{week}: nothing scheduled").format(week=title))
        if data["next_week"]:
            following = date.fromisoformat(data["next_week"])
            app.out.note(_("the next shifts are in the week of {day}: roster schedule --week {iso}").format(
                day=format_date(following, with_year=True), iso=following.isoformat()))
        return
    app.out.table((_("occ"), _("date"), _("time"), _("service"), _("role"), _("on"), _("open"), _("waitlist")),
                  rows, title=title)
    if printable is not None and printable.pages:
        folder = out_dir if out_dir is not None else app.settings.home / "print"
        try:
            written = write_printouts(printable, folder.expanduser())
        except OSError as error:
            raise RosterError(_("cannot write the printable roster to {folder}: {error}").format(
                folder=folder, error=error.strerror or error)) from error
        app.out.note(_("printable roster written: {files}").format(files=", ".join(str(p) for p in written)))
