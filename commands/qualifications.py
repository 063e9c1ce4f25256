"""roster qualifications: a volunteer's certificates with a validity (资质证书)."""

from __future__ import annotations

from datetime import date

import click

from cli import AppContext, group, pass_app
from commands.options import RECORD_ID, date_option_callback
from scheduler.i18n import N_, _, translate


def _within_days(ctx: click.Context, param: click.Parameter, value: str) -> int:
    """``60d``, ``60`` or ``8w`` as days."""
    raw = value.strip().lower()
    factor = 7 if raw.endswith("w") else 1
    raw = raw.rstrip("dw").strip()
    if not raw.isdigit() or not 0 <= int(raw) * factor <= 3660:
        raise click.BadParameter(_("{value} is not a number of days like 60d (at most 3660)").format(value=repr(value)))
    return int(raw) * factor


@group()
def qualifications() -> None:
    """Record, list and remove volunteers' qualifications (资质证书) and their end dates.

    \b
    Known kinds (either name may be typed): physician 执业医师证, nurse 护士执业证,
    health 健康证, first_aid 急救证, teacher 教师资格证, social_worker 社会工作者职业资格证;
    any other kind is kept as typed. A role can require one (service edit --role-requires).
    Numbers are masked in every listing unless --full is given.
    """


@qualifications.command("add")
@click.argument("volunteer")
@click.option("--kind", required=True, help="Kind: a known kind's code or name, or any other name.")
@click.option("--issuer", default="", help="Who issued it (e.g. 深圳市卫生健康委员会).")
@click.option("--number", default="", help="The certificate number (shown masked).")
@click.option("--issued", help="Issue date, YYYY-MM-DD.")
@click.option("--expires", help="Last day it is valid, YYYY-MM-DD (none: no end).")
@pass_app
def qualifications_add(app: AppContext, volunteer: str, kind: str, issuer: str, number: str, issued: str | None,
                       expires: str | None) -> None:
    """Record a volunteer's qualification (id or phone), e.g. --kind 健康证 --expires 2027-06-30."""
    from scheduler.volunteers.qualifications import (
        QualificationSpec,
        add_qualification,
        kind_label,
        qualification_as_dict,
    )

    spec = QualificationSpec(kind=kind, issuer=issuer, number=number, issued_on=issued, expires_on=expires)
    data = app.run(lambda s: qualification_as_dict(add_qualification(s, volunteer, spec)))
    app.out.result(data, _("recorded qualification #{id}: {kind} of volunteer #{volunteer}, valid until {end}").format(
        id=data["id"], kind=kind_label(data["kind"]), volunteer=data["volunteer_id"],
        end=data["expires_on"] or _("no end date")))


def _rows(data: list[dict[str, object]]) -> list[tuple[object, ...]]:
    from scheduler.volunteers.qualifications import kind_label

    return [(d["id"], d["volunteer_id"], d.get("volunteer", ""), kind_label(str(d["kind"])), d["issuer"], d["number"],
             d["issued_on"] or "", d["expires_on"] or _("no end date")) for d in data]


_COLUMNS = (N_("id"), N_("volunteer id"), N_("full name"), N_("kind"), N_("issuer"), N_("certificate number"), N_("issued"),
            N_("expires"))


@qualifications.command("list")
@click.argument("volunteer", required=False)
@click.option("--full", is_flag=True, help="Show numbers in full (coordinators only).")
@pass_app
def qualifications_list(app: AppContext, volunteer: str | None, full: bool) -> None:
    """List qualifications, of everyone or of one volunteer."""
    from scheduler.volunteers.qualifications import list_qualifications, qualification_dicts

    data = app.read(lambda s: qualification_dicts(s, list_qualifications(s, volunteer), full))
    app.out.records(data, tuple(translate(c) for c in _COLUMNS), _rows(data))


@qualifications.command("remove")
@click.argument("qualification_id", type=RECORD_ID)
@pass_app
def qualifications_remove(app: AppContext, qualification_id: int) -> None:
    """Remove a qualification recorded by mistake (a renewed one: add the new one)."""
    from scheduler.volunteers.qualifications import qualification_as_dict, remove_qualification

    data = app.run(lambda s: qualification_as_dict(remove_qualification(s, qualification_id)))
    app.out.result(data, _("removed qualification #{id}").format(id=data["id"]))


@qualifications.command("expiring")
@click.option("--within", "within", default="60d", show_default=True, callback=_within_days,
              help="How far ahead: days (60d) or weeks (8w).")
@click.option("--today", callback=date_option_callback, help="Count from this date (default: today).")
@click.option("--full", is_flag=True, help="Show numbers in full (coordinators only).")
@pass_app
def qualifications_expiring(app: AppContext, within: int, today: date | None, full: bool) -> None:
    """List qualifications of active volunteers that end within a period, soonest first."""
    from scheduler.planning import local_today
    from scheduler.volunteers.qualifications import expiring, qualification_dicts

    day = today or local_today(app.settings.timezone)
    data = app.read(lambda s: qualification_dicts(s, expiring(s, day, within), full))
    if not data and not app.json_output:
        app.out.message(_("no qualification ends within {days} days of {today}").format(days=within,
                                                                                       today=day.isoformat()))
        return
    app.out.records(data, tuple(translate(c) for c in _COLUMNS), _rows(data))


@qualifications.command("require")
@click.argument("service")
@click.argument("role")
@click.option("--kind", "kind", help="The qualification kind the role requires (\"\" clears it).")
@click.option("--min-age", type=click.IntRange(0, 100), help="The role's minimum age (0 clears it).")
@click.option("--minor-latest-end", help="The service's latest end for minors, HH:MM (\"\" back to the default).")
@pass_app
def qualifications_require(app: AppContext, service: str, role: str, kind: str | None, min_age: int | None,
                           minor_latest_end: str | None) -> None:
    """Set a role's hard rules, e.g. `qualifications require yizhen 医生 --kind 执业医师证 --min-age 18`.

    They apply to new placements (assign, fill, the web claim, hand-overs); --force never overrides them."""
    from scheduler.volunteers.qualifications import kind_label, set_role_rules

    data = app.run(lambda s: set_role_rules(s, service, role, kind, min_age, minor_latest_end))
    app.out.result(data, _("role {role} of {service}: requires {kind}; minimum age {age}; minors end by {end}").format(
        role=data["role"], service=data["service"],
        kind=kind_label(data["requires"]) if data["requires"] else _("no qualification"),
        age=data["min_age"] or _("none"), end=data["minor_latest_end"] or _("the default")))
