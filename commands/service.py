"""roster service: volunteer services (志愿服务项目) and the options that describe one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any

import click

from cli import AppContext, group, pass_app
from commands.options import date_option_callback
from commands.planning import replan_line
from scheduler.i18n import N_, _, translate

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scheduler.services import ServiceSpec


#: Holiday policies and visibilities as a table shows them (JSON keeps the English values).
LABELS = {"always": N_("always"), "skip_holidays": N_("skips holidays"), "workdays": N_("workdays only"),
          "public": N_("public"), "private": N_("private")}


def _label(value: str) -> str:
    return translate(LABELS[value]) if value in LABELS else value


def _service_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--title", help="Chinese title, e.g. 四点半课堂."),
        click.option("--kind", help="clinic, classroom, elderly_care, reading, centre_opening, culture, "
                                    "legal, community or other."),
        click.option("--branch", "branch_slug", help="Owning branch slug."),
        click.option("--community", "community_slug", help="Owning community (its Party committee)."),
        click.option("--venue", help="Public venue (never a private home address for public services)."),
        click.option("--rrule", help="RFC 5545 RRULE, e.g. 'FREQ=WEEKLY;BYDAY=SA'."),
        click.option("--every", help="Shorthand: weekday, saturday, 'mon,wed', '2nd saturday', "
                                     "'2 weeks on sunday', or as listings print it: 每周六, 每个工作日, "
                                     "每周一至周五, 每月第2个周六."),
        click.option("--start-date", callback=date_option_callback, help="First date (YYYY-MM-DD, 1900-2100)."),
        click.option("--time", "start_time", help="Local start time HH:MM."),
        click.option("--duration", help="Minutes, or 2h, 1h30m (over 0, at most 24 h)."),
        click.option("--timezone", help="IANA zone (default Asia/Shanghai)."),
        click.option("--policy", "holiday_policy", type=click.Choice(["always", "skip_holidays", "workdays"]),
                     help="Holiday policy."),
        click.option("--visibility", type=click.Choice(["public", "private"]),
                     help="private: never in a public feed (home visits)."),
        click.option("--contact-role", help="Public contact role, e.g. 支部第一书记."),
        click.option("--description", help="Public description."),
        click.option("--reminders", help="Minutes before the shift, comma separated (default 1440,120)."),
        click.option("--confirm-by", "confirm_hours", type=click.IntRange(0, 14 * 24),
                     help="Invited volunteers must confirm this many hours before the shift, or the seat "
                          "goes to the waitlist; 0 removes the deadline."),
        click.option("--role", "roles", multiple=True, help="NAME:COUNT[:SKILL], repeatable, "
                                                            "e.g. --role 医生:2:doctor (SKILL in Chinese or "
                                                            "English, from `roster skills`)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _spec_from_options(kw: dict[str, Any]) -> ServiceSpec:
    from scheduler.services import ServiceSpec

    reminders = kw.get("reminders")
    offsets = None
    if reminders:
        try:
            offsets = [int(x) for x in reminders.split(",") if x.strip()]
        except ValueError:
            raise click.BadParameter(_("give minutes, comma separated, e.g. 1440,120"), param_hint="--reminders") from None
    return ServiceSpec(
        title=kw.get("title"), kind=kw.get("kind"), branch=kw.get("branch_slug"),
        community=kw.get("community_slug"), venue=kw.get("venue"), rrule=kw.get("rrule"), every=kw.get("every"),
        start_date=kw.get("start_date"), start_time=kw.get("start_time"), duration=kw.get("duration"),
        timezone=kw.get("timezone"), holiday_policy=kw.get("holiday_policy"), visibility=kw.get("visibility"),
        contact_role=kw.get("contact_role"), description=kw.get("description"), reminder_offsets=offsets,
        confirm_hours=kw.get("confirm_hours"), roles=list(kw.get("roles") or []),
    )


@group()
def service() -> None:
    """Add, list, show and edit volunteer services (志愿服务项目)."""


@service.command("add")
@click.argument("slug")
@_service_options
@pass_app
def service_add(app: AppContext, slug: str, **kw: Any) -> None:
    """Add a recurring service.

    \b
    Example:
      roster service add zilu-430 --title 四点半课堂 --kind classroom --branch zilu-garden \\
        --every weekday --start-date 2026-09-01 --time 16:30 --duration 2h \\
        --policy workdays --role 辅导员:3:tutor --venue 紫麓花园党群活动室
    """
    from scheduler.services import add_service, service_as_dict

    spec = _spec_from_options(kw)
    data = app.run(lambda s: service_as_dict(add_service(s, slug, spec)))
    app.out.result(data, _("added service {slug} {title}: RRULE:{rrule} ({recurrence}) at {time} {zone}").format(
        slug=data["slug"], title=data["title"], rrule=data["rrule"], recurrence=data["recurrence"],
        time=data["start_time"], zone=data["timezone"]))


@service.command("list")
@click.option("--branch", "branch_slug", help="Only this branch's services.")
@click.option("--community", "community_slug", help="Only this community's services.")
@pass_app
def service_list(app: AppContext, branch_slug: str | None, community_slug: str | None) -> None:
    """List services."""
    from scheduler.services import list_services, service_as_dict

    data = app.read(lambda s: [service_as_dict(x) for x in list_services(s, branch_slug, community_slug)])
    app.out.records(data, (_("slug"), _("title"), _("owner"), _("when"), _("time"), _("holidays"), _("visibility")),
                    [(d["slug"], d["title"], d["branch"] or d["community"], d["recurrence"], d["start_time"],
                      _label(d["holiday_policy"]), _label(d["visibility"])) for d in data])


@service.command("show")
@click.argument("slug")
@pass_app
def service_show(app: AppContext, slug: str) -> None:
    """Show one service with its roles."""
    from scheduler.services import get_service, service_as_dict

    app.out.record(app.read(lambda s: service_as_dict(get_service(s, slug))))


@service.command("edit")
@click.argument("slug")
@_service_options
@click.option("--today", callback=date_option_callback, help="Re-plan from this date (default: today).")
@pass_app
def service_edit(app: AppContext, slug: str, today: date | None, **kw: Any) -> None:
    """Change a service; changes to when it runs re-plan its occurrences.

    The output names the fields that changed and, after a re-plan, what it did.
    """
    from scheduler.planning import replan_after_edit
    from scheduler.services import edit_service, service_as_dict

    spec = _spec_from_options(kw)

    def work(s: Session) -> tuple[dict[str, Any], list[str], dict[str, Any] | None]:
        svc, changed = edit_service(s, slug, spec)
        replanned = None
        if changed:
            result = replan_after_edit(s, svc, changed, today=today, horizon_weeks=app.settings.horizon_weeks,
                                       policy=app.policy)
            replanned = result.as_dict() if result is not None else None
        return service_as_dict(svc), sorted(changed), replanned

    data, changed, replanned = app.run(work)
    text = (_("service {slug}: changed {fields}").format(slug=slug, fields=", ".join(changed)) if changed
            else _("service {slug}: nothing changed").format(slug=slug))
    if replanned is not None:
        text += "\n" + replan_line(replanned)
    app.out.result(dict(data, changed=changed, plan=replanned), text)


@service.command("role-rules")
@click.argument("slug")
@click.argument("role")
@click.option("--requires", help="A qualification kind the role requires (e.g. 执业医师证); \"\" clears it.")
@click.option("--min-age", type=click.IntRange(0, 100), help="The youngest age allowed in the role; 0 clears it.")
@click.option("--minor-latest-end", help="HH:MM by which a minor's shift at this service must end; \"\" for "
                                         "the default (ROSTER_MINOR_LATEST_END, 21:00).")
@pass_app
def service_role_rules(app: AppContext, slug: str, role: str, requires: str | None, min_age: int | None,
                       minor_latest_end: str | None) -> None:
    """Set a role's required qualification and minimum age (hard checks).

    Example: roster service role-rules yizhen 医生 --requires 执业医师证
    """
    from scheduler.volunteers.qualifications import kind_label, set_role_rules

    data = app.run(lambda s: set_role_rules(s, slug, role, requires, min_age, minor_latest_end))
    app.out.result(data, _("service {service}, role {role}: requires {requires}, minimum age {age}, minors "
                           "end by {latest}").format(
        service=data["service"], role=data["role"],
        requires=kind_label(data["requires"]) if data["requires"] else _("nothing"),
        age=data["min_age"] or _("none"), latest=data["minor_latest_end"] or _("the default")))
