"""The ``roster`` command line: coordinators manage services, volunteers and rosters.

Thin by design: each command parses its input, opens one transaction, calls one function in
``scheduler/`` and renders the result. Heavy imports happen inside commands so that
``roster --help`` builds no engine and imports no Celery.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

    from scheduler.settings import Settings

T = TypeVar("T")

EXIT_CODES_HELP = """\b
Exit codes:
  0 ok            1 generic failure      2 usage error
  3 not found     4 invalid input (the message names the field)
  5 conflict      6 capacity full        7 a check refused (--force overrides)
  8 database busy (another writer holds the lock; try again)
\b
Configuration comes from ROSTER_* environment variables (see README).
"""


@dataclass
class AppContext:
    """What every command needs, built lazily: settings, then an engine on first use."""

    json_output: bool = False
    _settings: Settings | None = None
    _engine: Engine | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from scheduler.settings import Settings

            self._settings = Settings.from_env()
        return self._settings

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            from scheduler.db import engine_for

            self.settings.ensure_dirs()
            self._engine = engine_for(self.settings.database_url)
        return self._engine

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        from scheduler.db import session_scope

        with session_scope(self.engine) as session:
            yield session

    def run(self, work: Callable[[Session], T]) -> T:
        """One transaction; retried if SQLite stays locked past its busy timeout."""
        from scheduler.db import run_in_transaction

        return run_in_transaction(self.engine, work)


pass_app = click.make_pass_decorator(AppContext, ensure=True)


def json_option(func: Callable[..., Any]) -> Callable[..., Any]:
    def callback(ctx: click.Context, param: click.Parameter, value: bool) -> None:
        if value:
            ctx.ensure_object(AppContext).json_output = True

    return click.option(
        "--json", "json_flag", is_flag=True, expose_value=False, callback=callback,
        help="Print stable, sorted JSON instead of a table.",
    )(func)


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, sort_keys=True, indent=2, default=str))


def emit_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None) -> None:
    """A table that aligns Chinese text (rich measures East Asian wide characters as two cells)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_edge=False, header_style="bold", pad_edge=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    console = Console(width=None if sys.stdout.isatty() else 200, soft_wrap=False, highlight=False)
    console.print(table)


def emit(app: AppContext, data: Any, columns: Sequence[str], rows: Sequence[Sequence[Any]],
         title: str | None = None) -> None:
    if app.json_output:
        emit_json(data)
    elif not rows:
        click.echo("(nothing to show)")
    else:
        emit_table(columns, rows, title)


def emit_record(app: AppContext, data: dict[str, Any]) -> None:
    """One record: JSON, or aligned ``key  value`` lines."""
    if app.json_output:
        emit_json(data)
        return
    rows = []
    for key, value in data.items():
        if isinstance(value, list):
            value = ", ".join(json.dumps(x, ensure_ascii=False) if isinstance(x, dict) else str(x) for x in value)
        rows.append((key, "" if value is None else value))
    emit_table(("field", "value"), rows)


class RosterGroup(click.Group):
    """Lists commands in the order they were added (the order of a coordinator's day)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)


class RootGroup(RosterGroup):
    """The one place that turns a domain error into a message on stderr and its exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        from scheduler.errors import RosterError

        try:
            return super().invoke(ctx)
        except RosterError as exc:
            click.echo(f"error: {exc.message}", err=True)
            ctx.exit(exc.exit_code)


RosterGroup.group_class = RosterGroup


@click.group(cls=RootGroup, epilog=EXIT_CODES_HELP)
@click.version_option("0.1.0", prog_name="roster")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Roster: schedule community volunteer services, rosters and reminders."""
    ctx.ensure_object(AppContext)


def main() -> None:
    """Console entry point: one place turns domain errors into a message and an exit code."""
    from scheduler.errors import RosterError

    try:
        code = cli.main(standalone_mode=False, prog_name="roster")
        if isinstance(code, int) and code:
            sys.exit(code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except RosterError as exc:  # raised outside a command's invoke (e.g. in a callback)
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)


# --------------------------------------------------------------------------- option helpers


def date_option_callback(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    from datetime import date

    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2026-03-01") from None


# --------------------------------------------------------------------------- foundation


@cli.command()
@pass_app
def init(app: AppContext) -> None:
    """Create or upgrade the database schema (runs the migrations)."""
    from scheduler.migrate import current_revision, upgrade

    upgrade(app.engine)
    click.echo(f"database ready at revision {current_revision(app.engine)}: {_safe_url(app.settings.database_url)}")


def _safe_url(url: str) -> str:
    """The database URL without its password (never print credentials)."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(database)"


@cli.group()
def community() -> None:
    """Add and list communities (社区)."""


@community.command("add")
@click.argument("slug")
@click.option("--name", required=True, help="Chinese name, e.g. 爱联社区.")
@click.option("--centre", "centre_name", default="", help="Service centre name (default: NAME党群服务中心).")
@click.option("--address", default="", help="Service centre address (public).")
@json_option
@pass_app
def community_add(app: AppContext, slug: str, name: str, centre_name: str, address: str) -> None:
    """Add a community. Example: roster community add ailian --name 爱联社区"""
    from scheduler.organisations import add_community, community_as_dict

    data = app.run(lambda s: community_as_dict(add_community(s, slug, name, centre_name, address)))
    emit_record(app, data) if app.json_output else click.echo(f"added community {data['slug']} {data['name']}")


@community.command("list")
@json_option
@pass_app
def community_list(app: AppContext) -> None:
    """List communities."""
    from scheduler.organisations import community_as_dict, list_communities

    def work(s: Session) -> list[dict[str, Any]]:
        return [dict(community_as_dict(c), branches=len(c.branches)) for c in list_communities(s)]

    data = app.run(work)
    emit(app, data, ("slug", "name", "centre", "branches"),
         [(d["slug"], d["name"], d["centre_name"], d["branches"]) for d in data])


@cli.group()
def branch() -> None:
    """Add, list and show estate branches (花园小区党支部)."""


@branch.command("add")
@click.argument("slug")
@click.option("--name", required=True, help="Chinese name, e.g. 顺景花园党支部.")
@click.option("--community", "community_slug", required=True, help="Slug of the community it belongs to.")
@click.option("--secretary-title", default="", help="Public contact role (default 第一书记).")
@json_option
@pass_app
def branch_add(app: AppContext, slug: str, name: str, community_slug: str, secretary_title: str) -> None:
    """Add an estate branch to a community."""
    from scheduler.organisations import add_branch, branch_as_dict

    data = app.run(lambda s: branch_as_dict(add_branch(s, slug, name, community_slug, secretary_title)))
    emit_record(app, data) if app.json_output else click.echo(f"added branch {data['slug']} {data['name']}")


@branch.command("list")
@click.option("--community", "community_slug", help="Only this community's branches.")
@json_option
@pass_app
def branch_list(app: AppContext, community_slug: str | None) -> None:
    """List estate branches."""
    from scheduler.organisations import branch_as_dict, list_branches

    data = app.run(lambda s: [branch_as_dict(b) for b in list_branches(s, community_slug)])
    emit(app, data, ("slug", "name", "community"), [(d["slug"], d["name"], d["community"]) for d in data])


@branch.command("show")
@click.argument("slug")
@json_option
@pass_app
def branch_show(app: AppContext, slug: str) -> None:
    """Show a branch with its services and volunteer count."""
    from sqlalchemy import func, select

    from scheduler.models import Volunteer
    from scheduler.organisations import branch_as_dict, get_branch
    from scheduler.services import list_services

    def work(s: Session) -> dict[str, Any]:
        b = get_branch(s, slug)
        data = branch_as_dict(b)
        data["services"] = [svc.slug for svc in list_services(s, branch=slug)]
        data["volunteers"] = s.scalar(
            select(func.count()).select_from(Volunteer).where(Volunteer.home_branch_id == b.id, Volunteer.active)
        )
        return data

    emit_record(app, app.run(work))


# services ------------------------------------------------------------------


def _service_options(required: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        options = [
            click.option("--title", help="Chinese title, e.g. 四点半课堂."),
            click.option("--kind", help="clinic, classroom, elderly_care, reading, centre_opening, culture, "
                                        "legal, community or other."),
            click.option("--branch", "branch_slug", help="Owning branch slug."),
            click.option("--community", "community_slug", help="Owning community (its Party committee)."),
            click.option("--venue", help="Public venue (never a private home address for public services)."),
            click.option("--rrule", help="RFC 5545 RRULE, e.g. 'FREQ=WEEKLY;BYDAY=SA'."),
            click.option("--every", help="Shorthand: weekday, saturday, 'mon,wed', '2nd saturday', "
                                         "'2 weeks on sunday'."),
            click.option("--start-date", callback=date_option_callback, help="First date (YYYY-MM-DD)."),
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
            click.option("--role", "roles", multiple=True, help="NAME:COUNT[:SKILL], repeatable, "
                                                                "e.g. --role 医生:2:doctor."),
        ]
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


def _spec_from_options(kw: dict[str, Any]) -> Any:
    from scheduler.services import ServiceSpec

    reminders = kw.get("reminders")
    offsets = None
    if reminders:
        try:
            offsets = [int(x) for x in reminders.split(",") if x.strip()]
        except ValueError:
            raise click.BadParameter("give minutes, comma separated, e.g. 1440,120", param_hint="--reminders") from None
    return ServiceSpec(
        title=kw.get("title"), kind=kw.get("kind"), branch=kw.get("branch_slug"),
        community=kw.get("community_slug"), venue=kw.get("venue"), rrule=kw.get("rrule"), every=kw.get("every"),
        start_date=kw.get("start_date"), start_time=kw.get("start_time"), duration=kw.get("duration"),
        timezone=kw.get("timezone"), holiday_policy=kw.get("holiday_policy"), visibility=kw.get("visibility"),
        contact_role=kw.get("contact_role"), description=kw.get("description"), reminder_offsets=offsets,
        roles=list(kw.get("roles") or []),
    )


@cli.group()
def service() -> None:
    """Add, list, show and edit volunteer services (志愿服务项目)."""


@service.command("add")
@click.argument("slug")
@_service_options(required=True)
@json_option
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
    if app.json_output:
        emit_json(data)
    else:
        click.echo(f"added service {data['slug']} {data['title']}: RRULE:{data['rrule']} ({data['recurrence']}) "
                   f"at {data['start_time']} {data['timezone']}")


@service.command("list")
@click.option("--branch", "branch_slug", help="Only this branch's services.")
@click.option("--community", "community_slug", help="Only this community's services.")
@json_option
@pass_app
def service_list(app: AppContext, branch_slug: str | None, community_slug: str | None) -> None:
    """List services."""
    from scheduler.services import list_services, service_as_dict

    data = app.run(lambda s: [service_as_dict(x) for x in list_services(s, branch_slug, community_slug)])
    emit(app, data, ("slug", "title", "owner", "when", "time", "policy", "visibility"),
         [(d["slug"], d["title"], d["branch"] or d["community"], d["recurrence"], d["start_time"],
           d["holiday_policy"], d["visibility"]) for d in data])


@service.command("show")
@click.argument("slug")
@json_option
@pass_app
def service_show(app: AppContext, slug: str) -> None:
    """Show one service with its roles."""
    from scheduler.services import get_service, service_as_dict

    emit_record(app, app.run(lambda s: service_as_dict(get_service(s, slug))))


@service.command("edit")
@click.argument("slug")
@_service_options(required=False)
@json_option
@pass_app
def service_edit(app: AppContext, slug: str, **kw: Any) -> None:
    """Change a service; changes to when it runs re-plan its occurrences."""
    from scheduler.services import edit_service, service_as_dict

    spec = _spec_from_options(kw)

    def work(s: Session) -> tuple[dict[str, Any], list[str]]:
        svc, changed = edit_service(s, slug, spec)
        replan = getattr(sys.modules.get("scheduler.planning"), "replan_after_edit", None)
        if changed and replan is not None:
            replan(s, svc, changed)
        return service_as_dict(svc), sorted(changed)

    data, changed = app.run(work)
    if app.json_output:
        emit_json(dict(data, changed=changed))
    else:
        click.echo(f"service {slug}: " + (f"changed {', '.join(changed)}" if changed else "nothing changed"))


# volunteers -----------------------------------------------------------------


def _volunteer_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--name", help="Name (Chinese)."),
        click.option("--phone", help="Mainland mobile number."),
        click.option("--email", help="Email for reminders."),
        click.option("--chat-id", help="WeCom/DingTalk user id."),
        click.option("--id-number", help="Citizen ID (only ever exported masked)."),
        click.option("--branch", "branch_slug", help="Home branch slug."),
        click.option("--skill", "skills", multiple=True, help="Skill or qualification, repeatable (doctor, "
                                                              "nurse, tutor...)."),
        click.option("--availability", help="Weekly windows, e.g. 'mon-fri 16:00-19:00; sat 09:00-12:00'."),
        click.option("--blackout", multiple=True, help="Unavailable date or range (2026-10-01..2026-10-07), "
                                                       "repeatable."),
        click.option("--monthly-cap", type=int, help="Most hours a month (0: no cap)."),
        click.option("--channel", type=click.Choice(["console", "email", "wecom", "dingtalk", "sms"]),
                     help="Preferred reminder channel."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _volunteer_spec(kw: dict[str, Any], editing: bool) -> Any:
    from scheduler.volunteers import VolunteerSpec

    return VolunteerSpec(
        name=kw.get("name"), phone=kw.get("phone"), email=kw.get("email"), chat_id=kw.get("chat_id"),
        id_number=kw.get("id_number"), branch=kw.get("branch_slug"),
        skills=list(kw["skills"]) if kw.get("skills") else (None if editing else []),
        availability=kw.get("availability"),
        blackout=list(kw["blackout"]) if kw.get("blackout") else None,
        monthly_cap=kw.get("monthly_cap"), channel=kw.get("channel"),
    )


@cli.group()
def volunteer() -> None:
    """Add, list, show, edit and deactivate volunteers (志愿者)."""


@volunteer.command("add")
@_volunteer_options
@json_option
@pass_app
def volunteer_add(app: AppContext, **kw: Any) -> None:
    """Add a volunteer. Example: roster volunteer add --name 王芳 --phone 13800138000 --skill tutor"""
    from scheduler.volunteers import add_volunteer, volunteer_as_dict

    spec = _volunteer_spec(kw, editing=False)
    data = app.run(lambda s: volunteer_as_dict(add_volunteer(s, spec)))
    emit_record(app, data) if app.json_output else click.echo(f"added volunteer #{data['id']} {data['name']}")


@volunteer.command("list")
@click.option("--branch", "branch_slug", help="Only this home branch.")
@click.option("--skill", help="Only volunteers with this skill.")
@click.option("--search", help="Part of a name or phone number.")
@click.option("--all", "include_inactive", is_flag=True, help="Include deactivated volunteers.")
@json_option
@pass_app
def volunteer_list(app: AppContext, branch_slug: str | None, skill: str | None, search: str | None,
                   include_inactive: bool) -> None:
    """List volunteers (phone numbers masked)."""
    from scheduler.volunteers import list_volunteers, volunteer_as_dict

    data = app.run(lambda s: [volunteer_as_dict(x) for x in list_volunteers(s, branch_slug, skill,
                                                                             include_inactive, search)])
    emit(app, data, ("id", "name", "phone", "branch", "skills", "active"),
         [(d["id"], d["name"], d["phone"], d["branch"], ",".join(d["skills"]), "yes" if d["active"] else "no")
          for d in data])


@volunteer.command("show")
@click.argument("ref")
@json_option
@pass_app
def volunteer_show(app: AppContext, ref: str) -> None:
    """Show a volunteer by id or phone number."""
    from scheduler.volunteers import get_volunteer, volunteer_as_dict

    emit_record(app, app.run(lambda s: volunteer_as_dict(get_volunteer(s, ref))))


@volunteer.command("edit")
@click.argument("ref")
@_volunteer_options
@json_option
@pass_app
def volunteer_edit(app: AppContext, ref: str, **kw: Any) -> None:
    """Change a volunteer (by id or phone number)."""
    from scheduler.volunteers import edit_volunteer, volunteer_as_dict

    spec = _volunteer_spec(kw, editing=True)

    def work(s: Session) -> tuple[dict[str, Any], list[str]]:
        vol, changed = edit_volunteer(s, ref, spec)
        return volunteer_as_dict(vol), sorted(changed)

    data, changed = app.run(work)
    if app.json_output:
        emit_json(dict(data, changed=changed))
    else:
        click.echo(f"volunteer #{data['id']}: " + (f"changed {', '.join(changed)}" if changed else "nothing changed"))


@volunteer.command("deactivate")
@click.argument("ref")
@pass_app
def volunteer_deactivate(app: AppContext, ref: str) -> None:
    """Deactivate a volunteer: no new shifts; the record and hours stay."""
    from scheduler.volunteers import deactivate_volunteer

    vid = app.run(lambda s: deactivate_volunteer(s, ref).id)
    click.echo(f"volunteer #{vid} deactivated")


@volunteer.command("rotate-token")
@click.argument("ref")
@pass_app
def volunteer_rotate_token(app: AppContext, ref: str) -> None:
    """Give a volunteer a new private feed URL; the old one stops working at the next publish."""
    from scheduler.volunteers import rotate_feed_token

    def work(s: Session) -> tuple[int, str]:
        vol = rotate_feed_token(s, ref)
        return vol.id, vol.feed_token

    vid, token = app.run(work)
    base = app.settings.public_base_url
    click.echo(f"volunteer #{vid}: new private feed {base}/volunteers/{token}.ics")


# --------------------------------------------------------------------------- demo


@cli.command()
@click.option("--today", callback=date_option_callback, help="Pretend today is this date (YYYY-MM-DD).")
@pass_app
def demo(app: AppContext, today: Any) -> None:
    """Load the Longcheng demo and run one cycle (plan, fill, publish, remind)."""
    from scheduler.demo import run_demo

    for line in run_demo(app.engine, app.settings, today=today):
        click.echo(line)


# --------------------------------------------------------------------------- planning (issue 3)
# --------------------------------------------------------------------------- rosters (issue 4)
# --------------------------------------------------------------------------- feeds (issue 5)
# --------------------------------------------------------------------------- workers (issue 6)
# --------------------------------------------------------------------------- attendance (issue 7)


if __name__ == "__main__":
    main()
