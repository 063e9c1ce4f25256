"""Rosters: assign, unassign, confirm, decline, swap, fill, why, schedule."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import click

from cli import AppContext, command, pass_app
from commands.options import RECORD_ID, RECORD_REF, date_option_callback

if TYPE_CHECKING:
    from scheduler.rosters import AssignmentView

#: Days ``fill`` covers when --from/--to are left out: the coming four weeks, today included.
FILL_DEFAULT_DAYS = 28


def assignment_line(a: AssignmentView) -> str:
    if a.seat_no:
        where = f", seat {a.seat_no}"
    elif a.waitlist_pos:
        where = f", waitlist position {a.waitlist_pos}"
    else:  # declined or cancelled: no seat and no place in line
        where = ""
    forced = " (forced)" if a.forced else ""
    return (f"assignment #{a.id}: volunteer #{a.volunteer_id} as {a.role} at occurrence "
            f"#{a.occurrence_id} ({a.service} {a.local_start:%Y-%m-%d %H:%M}), {a.status}{where}{forced}")


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
        app.out.note(f"moved up from waitlist position {position}: {p.volunteer} "
                     f"(volunteer #{p.volunteer_id}), now seat {p.seat_no} (assignment #{p.id})")
    if result.freed_seat and not result.promoted:
        app.out.note(f"seat {result.freed_seat} is open again (nobody on the waitlist could take it)")


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
        raise click.BadParameter("give --branch or --community, not both", param_hint="--branch")
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
        app.out.table(("occurrence", "service", "start", "role", "seat", "volunteer", "from"),
                      [(p["occurrence_id"], p["service"], p["start"], p["role"], p["seat_no"],
                        f"#{p['volunteer_id']} {p['volunteer']}", p["tier"]) for p in data["placements"]],
                      title="plan (dry run: nothing written)")
    if data["open_seats"]:
        app.out.table(("occurrence", "service", "start", "role", "open", "reason"),
                      [(o["occurrence_id"], o["service"], o["start"], o["role"], o["open"], o["reason"])
                       for o in data["open_seats"]], title="seats left open")
    verb = "would fill" if dry_run else "filled"
    app.out.note(f"{verb} {data['filled']} seats in {data['occurrences']} occurrences "
                 f"({first} to {last}); {data['left_open']} left open")
    if data["notified"]:
        app.out.note(f"{data['notified']} volunteer(s) will be told of their new shifts (one message each)")


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
@pass_app
def schedule(app: AppContext, week: date | None, branch_slug: str | None, community_slug: str | None) -> None:
    """Print a week's roster: per occurrence, the roles, who is on, seats open.

    Each person shows their assignment id (#501), which unassign, confirm, decline and swap take;
    a cancelled occurrence lists nobody.
    """
    from scheduler.rosters.schedule import week_schedule

    data = app.read(lambda s: week_schedule(s, week, branch=branch_slug, community=community_slug))
    app.out.result(data)
    rows = []
    for occ in data["occurrences"]:
        for role in occ["roles"]:
            on = ", ".join(f"#{p['assignment_id']} {p['name']}"
                           f"{'' if p['status'] == 'confirmed' else '(' + p['status'] + ')'}" for p in role["on"])
            waiting = ", ".join(f"#{p['assignment_id']} {p['name']}" for p in role["waitlist"])
            cancelled = occ["status"] == "cancelled"
            rows.append((occ["id"], f"{occ['date']} {occ['weekday']}", occ["time"],
                         occ["title"] + ("【已取消】" if cancelled else ""), role["name"],
                         "(cancelled)" if cancelled else on, role["open"], waiting))
    title = f"week {data['first']} to {data['last']}"
    if not rows:
        app.out.note(f"{title}: nothing scheduled")
        return
    app.out.table(("occ", "date", "time", "service", "role", "on", "open", "waitlist"), rows, title=title)
