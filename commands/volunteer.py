"""roster volunteer: volunteers (志愿者), their CSV and their private feed links."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from cli import AppContext, group, pass_app
from commands.options import RECORD_REF
from commands.planning import DRY_RUN_HELP, dry_run_title, run_or_rehearse
from scheduler.i18n import N_, _, format_date, translate

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scheduler.volunteers import VolunteerSpec


def _volunteer_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--name", help="Name (Chinese)."),
        click.option("--phone", help="Mainland mobile number."),
        click.option("--email", help="Email for reminders."),
        click.option("--chat-id", help="WeCom/DingTalk user id."),
        click.option("--id-number", help="Citizen ID (only ever exported masked)."),
        click.option("--branch", "branch_slug", help="Home branch slug."),
        click.option("--skill", "skills", multiple=True, help="Skill or qualification in Chinese or English, "
                                                              "repeatable (医生/doctor, 护士/nurse, 辅导员/tutor; "
                                                              "`roster skills` lists them)."),
        click.option("--availability", help="Weekly windows, as in the CSV: '周一至周五 16:00-19:00' or "
                                            "'mon-fri 16:00-19:00; sat 09:00-12:00'. None: any time."),
        click.option("--blackout", multiple=True, help="Unavailable date or range (2026-10-01..2026-10-07), "
                                                       "repeatable."),
        click.option("--monthly-cap", type=int, help="Most hours a month (0: no cap)."),
        click.option("--channel", type=click.Choice(["console", "email", "wecom", "dingtalk", "sms"]),
                     help="Preferred reminder channel."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _volunteer_spec(kw: dict[str, Any], editing: bool) -> VolunteerSpec:
    from scheduler.volunteers import VolunteerSpec

    return VolunteerSpec(
        name=kw.get("name"), phone=kw.get("phone"), email=kw.get("email"), chat_id=kw.get("chat_id"),
        id_number=kw.get("id_number"), branch=kw.get("branch_slug"),
        skills=list(kw["skills"]) if kw.get("skills") else (None if editing else []),
        availability=kw.get("availability"),
        blackout=list(kw["blackout"]) if kw.get("blackout") else None,
        monthly_cap=kw.get("monthly_cap"), channel=kw.get("channel"),
    )


@group()
def volunteer() -> None:
    """Add, list, show, edit and deactivate volunteers (志愿者).

    A VOLUNTEER is named by id (12 or #12), phone number, or name where the name is unique;
    a name several volunteers share is refused (exit 4) with their ids.
    """


@volunteer.command("add")
@_volunteer_options
@pass_app
def volunteer_add(app: AppContext, **kw: Any) -> None:
    """Add a volunteer. Example: roster volunteer add --name 王芳 --phone 13800138000 --skill tutor"""
    from scheduler.volunteers import add_volunteer, volunteer_as_dict

    spec = _volunteer_spec(kw, editing=False)
    data = app.run(lambda s: volunteer_as_dict(add_volunteer(s, spec)))
    app.out.result(data, _("added volunteer #{id} {name}").format(id=data["id"], name=data["name"]))


@volunteer.command("list")
@click.option("--branch", "branch_slug", help="Only this home branch.")
@click.option("--skill", help="Only volunteers with this skill.")
@click.option("--search", help="Part of a name or phone number.")
@click.option("--all", "include_inactive", is_flag=True, help="Include deactivated volunteers.")
@pass_app
def volunteer_list(app: AppContext, branch_slug: str | None, skill: str | None, search: str | None,
                   include_inactive: bool) -> None:
    """List volunteers (phone numbers masked)."""
    from scheduler.volunteers import list_volunteers, volunteer_as_dict

    data = app.read(lambda s: [volunteer_as_dict(x) for x in list_volunteers(s, branch_slug, skill,
                                                                             include_inactive, search)])
    from scheduler.volunteers.skills import skill_label

    app.out.records(data, (_("id"), _("full name"), _("phone"), _("branch"), _("skills"), _("active")),
                    [(d["id"], d["name"], d["phone"], d["branch"], ",".join(skill_label(x) for x in d["skills"]),
                      _("yes") if d["active"] else _("no")) for d in data])


@volunteer.command("show")
@click.argument("ref", type=RECORD_REF)
@click.option("--full", is_flag=True, help="Show certificate numbers, the birth date and the guardian in full "
                                           "(coordinators only).")
@pass_app
def volunteer_show(app: AppContext, ref: str, full: bool) -> None:
    """Show a volunteer (id, phone or unique name): their record, qualifications, a minor's guardian,
    and their coming shifts with assignment ids. Certificate numbers, the birth date and the guardian's
    name and phone are masked unless --full."""
    from datetime import date

    from commands.qualifications import _COLUMNS, _rows
    from scheduler.ages import age_on, effective_birth_date
    from scheduler.planning import local_today
    from scheduler.rosters.schedule import status_label
    from scheduler.volunteers import coming_shifts, get_volunteer, volunteer_as_dict
    from scheduler.volunteers.minors import consent_as_dict, consent_in_force
    from scheduler.volunteers.qualifications import list_qualifications, qualification_dicts

    today = local_today(app.settings.timezone)

    def work(s: Session) -> dict[str, Any]:
        vol = get_volunteer(s, ref)
        born = effective_birth_date(vol.birth_date, vol.id_number)
        consent = consent_in_force(s, vol.id)
        return dict(volunteer_as_dict(vol), shifts=coming_shifts(s, vol),
                    age=age_on(born, today) if born else None,
                    birth_date=born.isoformat() if born and full else None,
                    party_member=vol.party_member, work_unit=vol.work_unit,
                    qualifications=qualification_dicts(s, list_qualifications(s, str(vol.id)), full),
                    guardian=consent_as_dict(consent, full) if consent is not None else None)

    data = app.read(work)
    app.out.record(data, omit=("shifts", "qualifications", "guardian", *(() if full else ("birth_date",))),
                   labels={"name": N_("full name")})
    if data["qualifications"]:
        app.out.table(tuple(translate(c) for c in _COLUMNS), _rows(data["qualifications"]),
                      title=_("qualifications"))
    guardian = data["guardian"]
    if guardian is not None:
        app.out.note(_("guardian's consent: {guardian} ({relation}), {phone}, signed {date}{copy}").format(
            guardian=guardian["guardian"], relation=guardian["relation"], phone=guardian["phone"],
            date=format_date(date.fromisoformat(str(guardian["given_on"])), with_year=True),
            copy=_("; reminders copied by SMS") if guardian["copy_reminders"] else ""))
    shifts = data["shifts"]
    if not shifts:
        app.out.note(_("no coming shifts"))
        return
    app.out.table((_("assignment"), _("occ"), _("date"), _("time"), _("service"), _("role"), _("status")),
                  [(f"#{d['assignment_id']}", d["occurrence_id"], format_date(date.fromisoformat(d["date"])), d["time"],
                    d["title"], d["role"],
                    status_label(d["status"]) if d["status"] != "waitlisted"
                    else _("waitlist {position}").format(position=d["waitlist_pos"]))
                   for d in shifts], title=_("coming shifts"))


@volunteer.command("edit")
@click.argument("ref", type=RECORD_REF)
@_volunteer_options
@click.option("--party-member/--no-party-member", "party_member", default=None,
              help="A serving Party member reporting to the community (在职党员), or no longer.")
@click.option("--work-unit", help="The Party member's work unit (工作单位); empty to clear.")
@pass_app
def volunteer_edit(app: AppContext, ref: str, **kw: Any) -> None:
    """Change a volunteer (by id, phone number or unique name)."""
    from scheduler.party import set_party_member
    from scheduler.volunteers import edit_volunteer, volunteer_as_dict

    party_member, work_unit = kw.pop("party_member"), kw.pop("work_unit")
    spec = _volunteer_spec(kw, editing=True)

    def work(s: Session) -> tuple[dict[str, Any], list[str]]:
        vol, changed = edit_volunteer(s, ref, spec)
        changed = set(changed) | set_party_member(s, vol, party_member, work_unit)
        return volunteer_as_dict(vol), sorted(changed)

    data, changed = app.run(work)
    text = (_("volunteer #{id}: changed {fields}").format(id=data["id"], fields=", ".join(changed)) if changed
            else _("volunteer #{id}: nothing changed").format(id=data["id"]))
    app.out.result(dict(data, changed=changed), text)


@volunteer.command("deactivate")
@click.argument("ref", type=RECORD_REF)
@pass_app
def volunteer_deactivate(app: AppContext, ref: str) -> None:
    """Deactivate a volunteer: no new shifts; the record and hours stay."""
    from scheduler.volunteers import deactivate_volunteer

    vid = app.run(lambda s: deactivate_volunteer(s, ref).id)
    app.out.message(_("volunteer #{id} deactivated").format(id=vid))


@volunteer.command("rotate-token")
@click.argument("ref", type=RECORD_REF)
@pass_app
def volunteer_rotate_token(app: AppContext, ref: str) -> None:
    """Give a volunteer a new private feed URL; the old one stops working at the next publish."""
    from calendars.urls import volunteer_feed_url
    from scheduler.volunteers import rotate_feed_token

    def work(s: Session) -> tuple[int, str]:
        vol = rotate_feed_token(s, ref)
        return vol.id, vol.feed_token

    vid, token = app.run(work)
    app.out.message(_("volunteer #{id}: new private feed {url}").format(
        id=vid, url=volunteer_feed_url(app.settings.public_base_url, vid, token)))


@volunteer.command("feed-url")
@click.argument("ref", metavar="VOLUNTEER", type=RECORD_REF)
@pass_app
def volunteer_feed_url_command(app: AppContext, ref: str) -> None:
    """Print a volunteer's current private feed link, without rotating it.

    The link is private (anyone holding it sees the shifts): send it to the volunteer only.
    `roster volunteer rotate-token` replaces it when it has leaked.
    """
    from calendars.urls import volunteer_feed_url, webcal_url
    from scheduler.volunteers import get_volunteer

    def work(s: Session) -> tuple[int, str, str]:
        vol = get_volunteer(s, ref)
        return vol.id, vol.name, vol.feed_token

    vid, name, token = app.read(work)
    url = volunteer_feed_url(app.settings.public_base_url, vid, token)
    app.out.result({"volunteer_id": vid, "name": name, "https": url, "webcal": webcal_url(url)},
                   _("volunteer #{id} {name}: {url}").format(id=vid, name=name, url=url) + "\n  "
                   + _("subscribe: {url}").format(url=webcal_url(url)))


@volunteer.command("web-link")
@click.argument("ref", metavar="VOLUNTEER", type=RECORD_REF)
@click.option("--rotate", is_flag=True, help="Make a new link; the old one stops working at once.")
@pass_app
def volunteer_web_link(app: AppContext, ref: str, rotate: bool) -> None:
    """Print a volunteer's personal link to their pages (我的排班: confirm, decline, claim seats).

    The link is private: send it to the volunteer only. Reminders carry it too. --rotate replaces
    it when it has leaked (the old one then answers "链接无效"); the calendar feed's link is separate.
    """
    from scheduler.volunteers import web_token_of

    def work(s: Session) -> tuple[int, str, str]:
        vol = web_token_of(s, ref, rotate=rotate)
        return vol.id, vol.name, vol.web_token or ""

    vid, name, token = app.run(work)
    url = f"{app.settings.web_base_url}/v/{token}"
    app.out.result({"volunteer_id": vid, "name": name, "url": url, "rotated": rotate},
                   _("volunteer #{id} {name}: {url}").format(id=vid, name=name, url=url))


@volunteer.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help=DRY_RUN_HELP)
@pass_app
def volunteer_import(app: AppContext, path: str, dry_run: bool) -> None:
    """Import volunteers from a CSV file (Excel: UTF-8 with BOM or GBK).

    \b
    Headers in Chinese or English: 姓名/name, 手机/phone, 邮箱/email, 支部/branch, 技能/skills,
    可服务时间/availability, 不可服务日期/blackout, 每月上限/monthly_cap, 身份证号/id_number,
    提醒方式/channel, 资质证书/qualifications, 出生日期/birth_date, 在职党员/party_member,
    工作单位/work_unit. Other columns are ignored, with a warning naming them.
    \b
    A known phone number updates that volunteer; a blank cell leaves the stored value alone.
    资质证书 lists all the volunteer's certificates as kind|issuer|number|issued|expires,
    joined by ; (one left out is removed; a masked number from an export keeps the one on
    record). 在职党员 is 是/否 (yes/no, 1/0); a serving member needs a 工作单位. 出生日期 is
    checked against the ID number. A lone - clears 资质证书, 出生日期 or 工作单位.
    A blank 可服务时间 means no weekly windows: a new volunteer is available at any time
    (blackout dates, the monthly cap and overlaps still apply). Windows look like
    周一至周五 16:00-19:00 or mon-fri 16:00-19:00; sat 09:00-12:00.
    Skills in Chinese or English (医生 = doctor; `roster skills` lists them); an unknown one
    is an error. Any bad row rejects the whole file (exit 4), listing every problem.
    --dry-run checks the file the same way and lists what it would add and update, changing nothing.
    """
    from pathlib import Path

    from scheduler.planning import local_today
    from scheduler.volunteers.csv_io import import_volunteers

    raw = Path(path).read_bytes()
    today = local_today(app.settings.timezone)

    def work(s: Session) -> dict[str, Any]:
        summary = import_volunteers(s, raw, today)
        if dry_run:
            # A new volunteer's id is a sequence's value (PostgreSQL's do not roll back): not the real run's.
            summary = dict(summary, dry_run=True,
                           rows=[dict(row, id=None) if row["action"] == "created" else row for row in summary["rows"]])
        return summary

    summary = run_or_rehearse(app, work, dry_run)
    for warning in summary["warnings"]:
        # In both modes: stderr never mixes into the JSON.
        click.echo(_("warning: {warning}").format(warning=warning), err=True)
    actions = {"created": _("line {line}: created volunteer #{id} {name}"),
               "updated": _("line {line}: updated volunteer #{id} {name}"),
               "unchanged": _("line {line}: unchanged volunteer #{id} {name}")}
    if dry_run:
        actions = {"created": _("line {line}: would add volunteer {name}"),
                   "updated": _("line {line}: would update volunteer #{id} {name}"),
                   "unchanged": _("line {line}: unchanged volunteer #{id} {name}")}
    lines = [dry_run_title()] if dry_run else []
    lines += [actions[row["action"]].format(line=row["line"], id=row["id"], name=row["name"]) for row in summary["rows"]]
    lines.append(_("{created} created, {updated} updated, {unchanged} unchanged").format(
        created=summary["created"], updated=summary["updated"], unchanged=summary["unchanged"]))
    app.out.result(summary, "\n".join(lines))


@volunteer.command("export")
@click.argument("path", required=False, type=click.Path(dir_okay=False, writable=True))
@click.option("--branch", "branch_slug", help="Only this home branch.")
@click.option("--all", "include_inactive", is_flag=True, help="Include deactivated volunteers.")
@click.option("--full", is_flag=True, help="Write certificate numbers in full (coordinators only); ID numbers "
                                           "stay masked.")
@pass_app
def volunteer_export(app: AppContext, path: str | None, branch_slug: str | None, include_inactive: bool,
                     full: bool) -> None:
    """Export volunteers as CSV for Excel (UTF-8 with BOM; ID and certificate numbers masked)."""
    from scheduler.volunteers.csv_io import export_volunteers

    data = app.read(lambda s: export_volunteers(s, branch=branch_slug, include_inactive=include_inactive,
                                                full=full))
    if path:
        from pathlib import Path

        from calendars.publish import write_atomic

        write_atomic(Path(path), data)
        click.echo(_("wrote {path}").format(path=path), err=True)
    else:
        click.echo(data, nl=False)  # bytes go to the binary stream untouched (BOM included)
