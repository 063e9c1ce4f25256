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
  0 ok            1 generic failure      2 usage error (also an id out of range)
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
    #: Set by the commands that build the schema themselves (init, demo); others refuse a missing database.
    creates_schema: bool = False
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
            from scheduler.db import engine_for, set_session_defaults

            path = self.settings.sqlite_path()
            if path is not None and not self.creates_schema and not path.exists():
                # Never leave an empty database (and its folder) behind a command that cannot use it.
                raise_not_initialised(self.settings)
            self.settings.ensure_dirs()
            self._engine = engine_for(self.settings.database_url, self.settings.lock_timeout)
            set_session_defaults(self._engine, self.settings.session_info())
        return self._engine

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        from scheduler.db import session_scope

        with session_scope(self.engine) as session:
            yield session

    def run(self, work: Callable[[Session], T]) -> T:
        """One writing transaction; a lock wait ends after ROSTER_LOCK_TIMEOUT (then exit 8)."""
        from scheduler.db import run_in_transaction

        return run_in_transaction(self.engine, work)

    def read(self, work: Callable[[Session], T]) -> T:
        """One read-only transaction: takes no write lock, so it never waits for a writer."""
        from scheduler.db import run_read

        return run_read(self.engine, work)


pass_app = click.make_pass_decorator(AppContext, ensure=True)


def raise_not_initialised(settings: Settings) -> None:
    from scheduler.errors import RosterError
    from scheduler.settings import redacted_url

    raise RosterError(f"the database {redacted_url(settings.database_url)} is not set up: run `roster init` first "
                      "(`roster where` shows which database and folders are in use; ROSTER_HOME moves them)")


def is_missing_schema(exc: BaseException) -> bool:
    """A query on a database that was never migrated (SQLite's "no such table", PostgreSQL's 42P01)."""
    from sqlalchemy.exc import DBAPIError

    if not isinstance(exc, DBAPIError):
        return False
    return "no such table" in str(exc.orig) or getattr(exc.orig, "pgcode", None) == "42P01"


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
            try:
                return super().invoke(ctx)
            except Exception as exc:
                if is_missing_schema(exc):
                    raise_not_initialised(ctx.ensure_object(AppContext).settings)
                raise
        except RosterError as exc:
            click.echo(f"error: {exc.message}", err=True)
            ctx.exit(exc.exit_code)


RosterGroup.group_class = RosterGroup


@click.group(cls=RootGroup, epilog=EXIT_CODES_HELP,
             context_settings={"max_content_width": 120, "terminal_width": 120})
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


#: Dates a command accepts (the domain's validation.FIRST_DATE..LAST_DATE, kept here so that
#: parsing an option imports no SQLAlchemy).
FIRST_YEAR, LAST_YEAR = 1900, 2100
#: The largest row id: a signed 64-bit integer (PostgreSQL bigint, SQLite INTEGER).
MAX_ID = 2**63 - 1


def date_option_callback(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """An ISO date in 1900-2100 (a usage error otherwise: exit 2)."""
    from datetime import date

    if value is None:
        return None
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2026-03-01") from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise click.BadParameter(f"{value} is outside {FIRST_YEAR}-{LAST_YEAR}")
    return day


def _whole_number(value: str) -> int | None:
    """``42`` or ``#42`` (digits of any script) as an int; None when it is not a whole number."""
    raw = value.strip().lstrip("#").strip()
    if not raw or not raw.isdigit():
        return None
    try:
        return int(raw)
    except ValueError:  # str.isdigit() is true for superscripts, which int() refuses
        return None


class RecordIdType(click.ParamType):
    """Every integer id a command takes: 1..2**63-1, ``#`` allowed; anything else is a usage error (exit 2).

    Checked before the database is asked, so that SQLite and PostgreSQL answer alike.
    """

    name = "id"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        number = value if isinstance(value, int) else _whole_number(str(value))
        if number is None:
            self.fail(f"{value!r} is not an id (a whole number such as 42)", param, ctx)
        if not 1 <= number <= MAX_ID:
            self.fail(f"{value} is not an id: ids run from 1 to {MAX_ID}", param, ctx)
        return number


class RecordRefType(click.ParamType):
    """An id or another reference (a volunteer's phone): a bare number beyond the id range is a usage error."""

    name = "ref"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value)
        number = _whole_number(text)
        if number is not None and number > MAX_ID:
            self.fail(f"{text} is neither an id (1 to {MAX_ID}) nor a phone number", param, ctx)
        return text


RECORD_ID = RecordIdType()
RECORD_REF = RecordRefType()


# --------------------------------------------------------------------------- foundation


@cli.command()
@pass_app
def init(app: AppContext) -> None:
    """Create or upgrade the database schema (runs the migrations)."""
    from scheduler.migrate import current_revision, upgrade
    from scheduler.settings import redacted_url

    app.creates_schema = True
    upgrade(app.engine)
    click.echo(f"database ready at revision {current_revision(app.engine)}: {redacted_url(app.settings.database_url)}")


@cli.command()
@json_option
@pass_app
def where(app: AppContext) -> None:
    """Show which database, broker and feed folder this command line uses.

    The embedded default lives in the per-user data folder (on Linux ~/.local/share/roster);
    ROSTER_HOME moves it, ROSTER_DATABASE_URL and ROSTER_FEED_DIR override each part.
    Passwords in URLs are hidden.
    """
    data = app.settings.where()
    path = app.settings.sqlite_path()
    if path is not None:
        data["database_file"] = str(path.resolve()) + ("" if path.exists() else " (missing: run `roster init`)")
    emit_record(app, data)


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

    data = app.read(work)
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

    data = app.read(lambda s: [branch_as_dict(b) for b in list_branches(s, community_slug)])
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

    emit_record(app, app.read(work))


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
            click.option("--role", "roles", multiple=True, help="NAME:COUNT[:SKILL], repeatable, "
                                                                "e.g. --role 医生:2:doctor (SKILL in Chinese or "
                                                                "English, from `roster skills`)."),
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

    data = app.read(lambda s: [service_as_dict(x) for x in list_services(s, branch_slug, community_slug)])
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

    emit_record(app, app.read(lambda s: service_as_dict(get_service(s, slug))))


@service.command("edit")
@click.argument("slug")
@_service_options(required=False)
@click.option("--today", callback=date_option_callback, help="Re-plan from this date (default: today).")
@json_option
@pass_app
def service_edit(app: AppContext, slug: str, today: Any, **kw: Any) -> None:
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
            result = replan_after_edit(s, svc, changed, today=today, horizon_weeks=app.settings.horizon_weeks)
            replanned = result.as_dict() if result is not None else None
        return service_as_dict(svc), sorted(changed), replanned

    data, changed, replanned = app.run(work)
    if app.json_output:
        emit_json(dict(data, changed=changed, plan=replanned))
        return
    click.echo(f"service {slug}: " + (f"changed {', '.join(changed)}" if changed else "nothing changed"))
    if replanned is not None:
        click.echo(_plan_line("re-planned ", replanned) + f"; {replanned['notified']} volunteer(s) notified")


# volunteers -----------------------------------------------------------------


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
    """Add, list, show, edit and deactivate volunteers (志愿者).

    A VOLUNTEER is named by id (12 or #12), phone number, or name where the name is unique;
    a name several volunteers share is refused (exit 4) with their ids.
    """


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

    data = app.read(lambda s: [volunteer_as_dict(x) for x in list_volunteers(s, branch_slug, skill,
                                                                             include_inactive, search)])
    emit(app, data, ("id", "name", "phone", "branch", "skills", "active"),
         [(d["id"], d["name"], d["phone"], d["branch"], ",".join(d["skills"]), "yes" if d["active"] else "no")
          for d in data])


@volunteer.command("show")
@click.argument("ref", type=RECORD_REF)
@json_option
@pass_app
def volunteer_show(app: AppContext, ref: str) -> None:
    """Show a volunteer (id, phone or unique name) and their coming shifts with assignment ids."""
    from scheduler.volunteers import coming_shifts, get_volunteer, volunteer_as_dict

    def work(s: Session) -> dict[str, Any]:
        vol = get_volunteer(s, ref)
        return dict(volunteer_as_dict(vol), shifts=coming_shifts(s, vol))

    data = app.read(work)
    if app.json_output:
        emit_json(data)
        return
    shifts = data.pop("shifts")
    emit_record(app, data)
    if not shifts:
        click.echo("no coming shifts")
        return
    emit_table(("assignment", "occ", "date", "time", "service", "role", "status"),
               [(f"#{d['assignment_id']}", d["occurrence_id"], f"{d['date']} {d['weekday']}", d["time"], d["title"],
                 d["role"], d["status"] if d["status"] != "waitlisted" else f"waitlist {d['waitlist_pos']}")
                for d in shifts], title="coming shifts")


@volunteer.command("edit")
@click.argument("ref", type=RECORD_REF)
@_volunteer_options
@json_option
@pass_app
def volunteer_edit(app: AppContext, ref: str, **kw: Any) -> None:
    """Change a volunteer (by id, phone number or unique name)."""
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
@click.argument("ref", type=RECORD_REF)
@pass_app
def volunteer_deactivate(app: AppContext, ref: str) -> None:
    """Deactivate a volunteer: no new shifts; the record and hours stay."""
    from scheduler.volunteers import deactivate_volunteer

    vid = app.run(lambda s: deactivate_volunteer(s, ref).id)
    click.echo(f"volunteer #{vid} deactivated")


@volunteer.command("rotate-token")
@click.argument("ref", type=RECORD_REF)
@pass_app
def volunteer_rotate_token(app: AppContext, ref: str) -> None:
    """Give a volunteer a new private feed URL; the old one stops working at the next publish."""
    from scheduler.volunteers import rotate_feed_token

    def work(s: Session) -> tuple[int, str]:
        vol = rotate_feed_token(s, ref)
        return vol.id, vol.feed_token

    vid, token = app.run(work)
    click.echo(f"volunteer #{vid}: new private feed {_private_feed_url(app, vid, token)}")


def _private_feed_url(app: AppContext, volunteer_id: int, token: str) -> str:
    """A volunteer's private feed link, laid out by the feeds' own URL helper."""
    from calendars.dirty import volunteer_key
    from calendars.urls import feed_url

    return feed_url(app.settings.public_base_url, volunteer_key(volunteer_id), token)


@volunteer.command("feed-url")
@click.argument("ref", metavar="VOLUNTEER", type=RECORD_REF)
@json_option
@pass_app
def volunteer_feed_url(app: AppContext, ref: str) -> None:
    """Print a volunteer's current private feed link, without rotating it.

    The link is private (anyone holding it sees the shifts): send it to the volunteer only.
    `roster volunteer rotate-token` replaces it when it has leaked.
    """
    from calendars.urls import webcal_url
    from scheduler.volunteers import get_volunteer

    def work(s: Session) -> tuple[int, str, str]:
        vol = get_volunteer(s, ref)
        return vol.id, vol.name, vol.feed_token

    vid, name, token = app.read(work)
    url = _private_feed_url(app, vid, token)
    if app.json_output:
        emit_json({"volunteer_id": vid, "name": name, "https": url, "webcal": webcal_url(url)})
        return
    click.echo(f"volunteer #{vid} {name}: {url}")
    click.echo(f"  subscribe: {webcal_url(url)}")


# coordinators ---------------------------------------------------------------


@cli.group()
def coordinator() -> None:
    """Add, list and remove coordinators, who get digests and warnings (协调员)."""


@coordinator.command("add")
@click.option("--name", required=True, help="Name (Chinese).")
@click.option("--community", "community_slug", help="The community they coordinate.")
@click.option("--branch", "branch_slug", help="The branch they coordinate (e.g. its 第一书记).")
@click.option("--email", help="Email address (for the email channel).")
@click.option("--phone", help="Mobile number (for the sms channel).")
@click.option("--channel", type=click.Choice(["console", "email", "wecom", "dingtalk", "sms"]), default="console",
              show_default=True, help="Where their weekly digest and warnings go.")
@json_option
@pass_app
def coordinator_add(app: AppContext, name: str, community_slug: str | None, branch_slug: str | None,
                    email: str | None, phone: str | None, channel: str) -> None:
    """Add a coordinator of a community or branch (neither: the whole district)."""
    from scheduler.organisations.coordinators import add_coordinator, coordinator_as_dict

    data = app.run(lambda s: coordinator_as_dict(
        s, add_coordinator(s, name, community_slug, branch_slug, email, phone, channel)))
    emit_record(app, data) if app.json_output else click.echo(
        f"added coordinator #{data['id']} {data['name']} ({data['scope']}, {data['channel']})")


@coordinator.command("list")
@json_option
@pass_app
def coordinator_list(app: AppContext) -> None:
    """List coordinators."""
    from scheduler.organisations.coordinators import coordinator_as_dict, list_coordinators

    data = app.read(lambda s: [coordinator_as_dict(s, c) for c in list_coordinators(s)])
    emit(app, data, ("id", "name", "scope", "channel", "email", "phone"),
         [(d["id"], d["name"], d["scope"], d["channel"], d["email"], d["phone"]) for d in data])


@coordinator.command("remove")
@click.argument("coordinator_id", type=RECORD_ID)
@pass_app
def coordinator_remove(app: AppContext, coordinator_id: int) -> None:
    """Remove a coordinator (they get no more digests)."""
    from scheduler.organisations.coordinators import remove_coordinator

    app.run(lambda s: remove_coordinator(s, coordinator_id))
    click.echo(f"removed coordinator #{coordinator_id}")


# --------------------------------------------------------------------------- demo


@cli.command()
@click.option("--today", callback=date_option_callback, help="Pretend today is this date (YYYY-MM-DD).")
@click.option("--no-workers", is_flag=True,
              help="Run the cycle's jobs in this process instead of through a Celery worker (faster).")
@pass_app
def demo(app: AppContext, today: Any, no_workers: bool) -> None:
    """Load the Longcheng demo and run one cycle (plan, fill, publish, remind).

    The cycle runs through a real Celery worker on ROSTER_BROKER_URL (by default the embedded
    SQLite broker, broker.db beside the database; see `roster where`): the demo starts it, sends it each job, and stops it; the
    reminders it sends on the console channel are shown.
    """
    from demo.loader import run_demo

    app.creates_schema = True  # the demo migrates the database itself
    if no_workers:
        for line in run_demo(app.engine, app.settings, today=today):
            click.echo(line)
        return
    from demo.workers import WorkerFailed, WorkerSteps

    try:
        with WorkerSteps(app.settings) as steps:
            for line in run_demo(app.engine, app.settings, today=today, steps=steps):
                click.echo(line)
    except WorkerFailed as exc:
        raise click.ClickException(f"{exc}\n(`roster demo --no-workers` runs the cycle without a worker)") from exc


# --------------------------------------------------------------------------- planning (issue 3)


def _provisional_note(count: int, dates: list[str]) -> str:
    span = f"{dates[0]}..{dates[-1]}" if dates else ""
    return (f"warning: {count} occurrence(s) on {span} are PROVISIONAL (待定): no official holiday schedule "
            "for that year yet; load it with `roster holidays load FILE`")


def _plan_line(prefix: str, data: dict[str, Any]) -> str:
    line = (f"{prefix}{data['first']}..{data['last']}: {data['created']} created, {data['updated']} updated, "
            f"{data['removed']} removed, {data['cancelled']} cancelled, {data.get('reinstated', 0)} reinstated, "
            f"{data['unchanged']} unchanged, {data['pinned']} pinned")
    for skip in data.get("skipped", []):
        # A service whose stored row cannot be planned is named; the others were planned.
        line += f"\nwarning: service {skip['service']} skipped (not planned): {skip['problem']}"
    return line


@cli.command("plan")
@click.option("--today", callback=date_option_callback, help="Plan from this date (default: today).")
@click.option("--weeks", type=click.IntRange(1, 104), help="Horizon in weeks (default ROSTER_HORIZON_WEEKS, 12).")
@click.option("--service", "service_slugs", multiple=True, help="Only this service (repeatable).")
@json_option
@pass_app
def plan_command(app: AppContext, today: Any, weeks: int | None, service_slugs: tuple[str, ...]) -> None:
    """Materialise occurrences for the rolling horizon (idempotent).

    \b
    Example: roster plan --weeks 12
    """
    from scheduler.planning import local_today, plan
    from scheduler.services import get_service

    horizon = weeks or app.settings.horizon_weeks
    day = today or local_today(app.settings.timezone)

    def work(s: Session) -> dict[str, Any]:
        ids = [get_service(s, slug).id for slug in service_slugs] if service_slugs else None
        return plan(s, day, horizon, ids).as_dict()

    data = app.run(work)
    if app.json_output:
        emit_json(data)
        return
    click.echo(_plan_line(f"planned {data['services']} service(s) for ", data))
    if data["provisional"]:
        click.echo(_provisional_note(data["provisional"], data["provisional_dates"]))


@cli.group()
def holidays() -> None:
    """China's holiday calendar: coverage, provisional dates, loading a year."""


@holidays.command("status")
@click.option("--today", callback=date_option_callback, help="Pretend today is this date.")
@json_option
@pass_app
def holidays_status(app: AppContext, today: Any) -> None:
    """Show which years have official data and what is provisional."""
    from scheduler.planning import local_today
    from scheduler.planning.holiday_years import holiday_status

    day = today or local_today(app.settings.timezone)
    data = app.read(lambda s: holiday_status(s, day, app.settings.horizon_weeks))
    if app.json_output:
        emit_json(data)
        return
    low, high = data["covered_by_package"]
    click.echo(f"chinese_calendar covers {low}-{high}; horizon {data['today']}..{data['horizon_end']}")
    emit_table(("year", "source", "rest days", "make-up workdays"),
               [(y["year"], y["source"] or "PROVISIONAL (weekday rule)", y.get("rest_days", ""),
                 " ".join(y.get("makeup_workdays", []))) for y in data["years"]])
    for span in data["provisional_dates"]:
        click.echo(f"provisional: {span['from']}..{span['to']} (no official schedule; "
                   f"{data['provisional_occurrences']} occurrence(s) marked 待定)")
    if not data["provisional_dates"]:
        click.echo("no provisional dates within the horizon")


@holidays.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--today", callback=date_option_callback, help="Re-plan from this date (default: today).")
@json_option
@pass_app
def holidays_load(app: AppContext, file: str, today: Any) -> None:
    """Load a year's official schedule (format: docs/holidays.md) and re-plan.

    \b
    Example: roster holidays load 2027.txt
    """
    from pathlib import Path

    from scheduler.errors import InvalidInput
    from scheduler.planning import local_today
    from scheduler.planning.holiday_years import load_year

    try:
        text = Path(file).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("file", "is not UTF-8 text") from None
    day = today or local_today(app.settings.timezone)

    def work(s: Session) -> dict[str, Any]:
        result = load_year(s, text, Path(file).name, day, app.settings.horizon_weeks)
        return {"year": result.year, "rest_days": result.rest_days, "makeup_workdays": result.makeup_workdays,
                "replaced": result.replaced, "plan": result.plan.as_dict()}

    data = app.run(work)
    if app.json_output:
        emit_json(data)
        return
    verb = "replaced" if data["replaced"] else "loaded"
    click.echo(f"{verb} {data['year']}: {data['rest_days']} rest days, {data['makeup_workdays']} make-up workdays")
    click.echo(_plan_line("re-planned ", data["plan"]) + f"; {data['plan']['notified']} volunteer(s) notified")


@cli.group()
def closure() -> None:
    """Closures (停课/闭馆): dates when a scope does not run."""


@closure.command("add")
@click.option("--scope", required=True, help="district, community:SLUG, branch:SLUG or service:SLUG.")
@click.option("--from", "start", required=True, callback=date_option_callback, help="First day (inclusive).")
@click.option("--to", "end", required=True, callback=date_option_callback, help="Last day (inclusive).")
@click.option("--reason", required=True, help="Why, e.g. 暑假 or 装修.")
@click.option("--today", callback=date_option_callback, help="Re-plan from this date (default: today).")
@json_option
@pass_app
def closure_add(app: AppContext, scope: str, start: Any, end: Any, reason: str, today: Any) -> None:
    """Close a scope for a date range; its occurrences are cancelled.

    \b
    Example: roster closure add --scope branch:shunjing --from 2026-07-01 --to 2026-08-31 --reason 暑假
    """
    from scheduler.planning import local_today
    from scheduler.planning.closures import add_closure, parse_scope

    kind, ref = parse_scope(scope)
    day = today or local_today(app.settings.timezone)

    def work(s: Session) -> dict[str, Any]:
        change = add_closure(s, kind, ref, start, end, reason, day, app.settings.horizon_weeks)
        return dict(change.closure, plan=change.plan.as_dict())

    data = app.run(work)
    if app.json_output:
        emit_json(data)
        return
    target = f" {data['target']}" if data["target"] else ""
    click.echo(f"closure #{data['id']}: {data['scope']}{target} closed {data['from']}..{data['to']} ({data['reason']})")
    click.echo(_plan_line("re-planned ", data["plan"]) + f"; {data['plan']['notified']} volunteer(s) notified")


@closure.command("list")
@click.option("--scope", type=click.Choice(["district", "community", "branch", "service"]), help="Only this scope.")
@json_option
@pass_app
def closure_list(app: AppContext, scope: str | None) -> None:
    """List closures."""
    from scheduler.planning.closures import closure_as_dict, list_closures

    data = app.read(lambda s: [closure_as_dict(s, c) for c in list_closures(s, scope)])
    emit(app, data, ("id", "scope", "target", "from", "to", "reason"),
         [(d["id"], d["scope"], d["target"] or "", d["from"], d["to"], d["reason"]) for d in data])


@closure.command("remove")
@click.argument("closure_id", type=RECORD_ID)
@click.option("--today", callback=date_option_callback, help="Re-plan from this date (default: today).")
@json_option
@pass_app
def closure_remove(app: AppContext, closure_id: int, today: Any) -> None:
    """Lift a closure; the occurrences it cancelled are reinstated."""
    from scheduler.planning import local_today
    from scheduler.planning.closures import remove_closure

    day = today or local_today(app.settings.timezone)

    def work(s: Session) -> dict[str, Any]:
        change = remove_closure(s, closure_id, day, app.settings.horizon_weeks)
        return dict(change.closure, plan=change.plan.as_dict())

    data = app.run(work)
    if app.json_output:
        emit_json(data)
        return
    click.echo(f"closure #{data['id']} removed")
    click.echo(_plan_line("re-planned ", data["plan"]))


@cli.group()
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
@json_option
@pass_app
def occurrence_list(app: AppContext, service_slug: str | None, branch_slug: str | None,
                    community_slug: str | None, start: Any, end: Any, open_only: bool, limit: int) -> None:
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
    emit(app, data, ("id", "service", "title", "start", "end", "zone", "open", "state"), rows)
    if not app.json_output and any(d["provisional"] for d in data):
        click.echo("provisional: planned without an official holiday schedule; dates may change")


@occurrence.command("cancel")
@click.argument("occurrence_id", type=RECORD_ID)
@click.option("--reason", required=True, help="Told to assigned volunteers (private message), e.g. 台风停课.")
@json_option
@pass_app
def occurrence_cancel(app: AppContext, occurrence_id: int, reason: str) -> None:
    """Cancel one occurrence; assigned volunteers are told."""
    from scheduler.planning.occurrences import cancel_occurrence, occurrence_as_dict

    data = app.run(lambda s: occurrence_as_dict(cancel_occurrence(s, occurrence_id, reason)))
    if app.json_output:
        emit_json(data)
    else:
        click.echo(f"occurrence #{data['id']} {data['title']} {data['start'].replace('T', ' ')} cancelled: {reason}")


@occurrence.command("move")
@click.argument("occurrence_id", type=RECORD_ID)
@click.option("--to", "new_start", required=True, help="New local start 'YYYY-MM-DD HH:MM' (service's zone).")
@click.option("--duration", help="New length: minutes, 2h, 1h30m (default: unchanged).")
@click.option("--reason", help="Told to assigned volunteers (in their private message), e.g. 场地调整.")
@json_option
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
        moved = move_occurrence(s, occurrence_id, new_start, duration, reason=reason)
        return dict(occurrence_as_dict(moved), warnings=move_warnings(s, moved))

    data = app.run(work)
    if app.json_output:
        emit_json(data)
        return
    click.echo(f"occurrence #{data['id']} {data['title']} moved to {data['start'].replace('T', ' ')}"
               f"-{data['end'][11:]} {data['timezone']}")
    for w in data["warnings"]:
        click.echo(f"warning: the new time does not suit {w['volunteer']} (volunteer #{w['volunteer_id']}, "
                   f"assignment #{w['assignment_id']}): {'; '.join(w['reasons'])}", err=True)


# --------------------------------------------------------------------------- rosters (issue 4)


def _assignment_line(d: dict[str, Any]) -> str:
    if d["seat_no"]:
        where = f", seat {d['seat_no']}"
    elif d["waitlist_pos"]:
        where = f", waitlist position {d['waitlist_pos']}"
    else:  # declined or cancelled: no seat and no place in line
        where = ""
    forced = " (forced)" if d["forced"] else ""
    return (f"assignment #{d['id']}: volunteer #{d['volunteer_id']} as {d['role']} at occurrence "
            f"#{d['occurrence_id']} ({d['service']} {d['start'][:16].replace('T', ' ')}), {d['status']}"
            f"{where}{forced}")


def _emit_assignments(app: AppContext, data: list[dict[str, Any]]) -> None:
    if app.json_output:
        emit_json(data if len(data) != 1 else data[0])
    else:
        for d in data:
            click.echo(_assignment_line(d))


@cli.command()
@click.argument("volunteer_ref", metavar="VOLUNTEER", type=RECORD_REF)
@click.argument("occurrence_id", metavar="OCCURRENCE", type=RECORD_ID)
@click.option("--role", "role_name", help="Role name (may be left out when the service has one role).")
@click.option("--force", is_flag=True, help="Override the soft checks (recorded); never the capacity.")
@click.option("--note", help="Why the checks were overridden (kept with the assignment).")
@click.option("--waitlist", is_flag=True, help="When the role is full, put the volunteer on its waitlist.")
@json_option
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
    from scheduler.rosters import assignment_as_dict

    _emit_assignments(app, [app.run(lambda s: assignment_as_dict(do_assign(
        s, volunteer_ref, occurrence_id, role_name, force=force, note=note, waitlist=waitlist)))])


@cli.command()
@click.argument("ref", metavar="ASSIGNMENT|VOLUNTEER", type=RECORD_REF)
@click.argument("occurrence_id", metavar="[OCCURRENCE]", required=False, type=RECORD_ID)
@click.option("--reason", help="Why (kept with the assignment).")
@json_option
@pass_app
def unassign(app: AppContext, ref: str, occurrence_id: int | None, reason: str | None) -> None:
    """Take a volunteer off a shift; the first waitlisted volunteer moves up.

    Give an assignment id, or a volunteer (id or phone) and an occurrence id.
    """
    from scheduler.rosters import assignment_as_dict
    from scheduler.rosters import unassign as do_unassign

    _emit_assignments(app, [app.run(lambda s: assignment_as_dict(do_unassign(s, ref, occurrence_id,
                                                                            reason=reason)))])


@cli.command()
@click.argument("ref", metavar="ASSIGNMENT|VOLUNTEER", type=RECORD_REF)
@click.argument("occurrence_id", metavar="[OCCURRENCE]", required=False, type=RECORD_ID)
@json_option
@pass_app
def confirm(app: AppContext, ref: str, occurrence_id: int | None) -> None:
    """Record that the volunteer confirmed an invited shift."""
    from scheduler.rosters import assignment_as_dict
    from scheduler.rosters import confirm as do_confirm

    _emit_assignments(app, [app.run(lambda s: assignment_as_dict(do_confirm(s, ref, occurrence_id)))])


@cli.command()
@click.argument("ref", metavar="ASSIGNMENT|VOLUNTEER", type=RECORD_REF)
@click.argument("occurrence_id", metavar="[OCCURRENCE]", required=False, type=RECORD_ID)
@click.option("--reason", help="Why the volunteer cannot come (optional; kept with the assignment).")
@json_option
@pass_app
def decline(app: AppContext, ref: str, occurrence_id: int | None, reason: str | None) -> None:
    """Record that the volunteer declined a shift; the seat goes to the waitlist.

    The output names who moved up from the waitlist into the freed seat.
    """
    from scheduler.rosters import assignment_as_dict, decline_shift

    def work(s: Session) -> dict[str, Any]:
        result = decline_shift(s, ref, reason, occurrence_id)
        return dict(assignment_as_dict(result.declined), freed_seat=result.seat_no, promoted=[
            dict(assignment_as_dict(entry, with_name=True), from_waitlist_pos=position)
            for entry, position in result.promoted])

    data = app.run(work)
    if app.json_output:
        emit_json(data)
        return
    click.echo(_assignment_line(data))
    for p in data["promoted"]:
        click.echo(f"moved up from waitlist position {p['from_waitlist_pos']}: {p['volunteer']} "
                   f"(volunteer #{p['volunteer_id']}), now seat {p['seat_no']} (assignment #{p['id']})")
    if data["freed_seat"] and not data["promoted"]:
        click.echo(f"seat {data['freed_seat']} is open again (nobody on the waitlist could take it)")


@cli.command()
@click.argument("ref", metavar="ASSIGNMENT", type=RECORD_ID)
@click.argument("other", metavar="[OTHER_ASSIGNMENT]", required=False, type=RECORD_ID)
@click.option("--to", "to_volunteer", type=RECORD_REF, help="Hand the shift to this volunteer (id or phone) instead.")
@click.option("--force", is_flag=True, help="Override the soft checks (recorded).")
@click.option("--note", help="Why the checks were overridden.")
@json_option
@pass_app
def swap(app: AppContext, ref: int, other: int | None, to_volunteer: str | None, force: bool,
         note: str | None) -> None:
    """Two volunteers trade shifts, or one hands a shift to another.

    \b
    Example:
      roster swap 501 502          # the holders of 501 and 502 trade
      roster swap 501 --to 17      # volunteer #17 takes over 501
    """
    from scheduler.rosters import assignment_as_dict
    from scheduler.rosters import swap as do_swap

    _emit_assignments(app, app.run(lambda s: [assignment_as_dict(a) for a in do_swap(
        s, ref, other, to_volunteer, force=force, note=note)]))


#: Days ``fill`` covers when --from/--to are left out: the coming four weeks, today included.
FILL_DEFAULT_DAYS = 28


@cli.command()
@click.option("--from", "first", callback=date_option_callback,
              help="First date (YYYY-MM-DD; default today).")
@click.option("--to", "last", callback=date_option_callback,
              help="Last date, inclusive (default: four weeks from the first date, 27 days after it).")
@click.option("--today", callback=date_option_callback, help="Pretend today is this date (default: today).")
@click.option("--branch", "branch_slug", help="Only this branch's services.")
@click.option("--community", "community_slug", help="Only this community's services.")
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing.")
@json_option
@pass_app
def fill(app: AppContext, first: Any, last: Any, today: Any, branch_slug: str | None, community_slug: str | None,
         dry_run: bool) -> None:
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
    result = app.run(lambda s: do_fill(s, first, last, branch=branch_slug, community=community_slug,
                                       dry_run=dry_run, now=now))
    data = result.as_dict()
    if app.json_output:
        emit_json(data)
        return
    if dry_run and data["placements"]:
        emit_table(("occurrence", "service", "start", "role", "seat", "volunteer", "from"),
                   [(p["occurrence_id"], p["service"], p["start"], p["role"], p["seat_no"],
                     f"#{p['volunteer_id']} {p['volunteer']}", p["tier"]) for p in data["placements"]],
                   title="plan (dry run: nothing written)")
    if data["open_seats"]:
        emit_table(("occurrence", "service", "start", "role", "open", "reason"),
                   [(o["occurrence_id"], o["service"], o["start"], o["role"], o["open"], o["reason"])
                    for o in data["open_seats"]], title="seats left open")
    verb = "would fill" if dry_run else "filled"
    click.echo(f"{verb} {data['filled']} seats in {data['occurrences']} occurrences "
               f"({first} to {last}); {data['left_open']} left open")
    if data["notified"]:
        click.echo(f"{data['notified']} volunteer(s) will be told of their new shifts (one message each)")


@cli.command()
@click.argument("assignment_id", metavar="ASSIGNMENT", type=RECORD_ID)
@json_option
@pass_app
def why(app: AppContext, assignment_id: int) -> None:
    """Explain how an assignment was chosen: the candidates and why this one won."""
    from scheduler.rosters.fill import why as do_why

    data = app.read(lambda s: do_why(s, assignment_id))
    if app.json_output:
        emit_json(data)
        return
    for line in data["lines"]:
        click.echo(line)


@cli.command()
@click.option("--week", callback=date_option_callback, help="Any date in the week (default: this week).")
@click.option("--branch", "branch_slug", help="Only this branch's services.")
@click.option("--community", "community_slug", help="Only this community's services.")
@json_option
@pass_app
def schedule(app: AppContext, week: Any, branch_slug: str | None, community_slug: str | None) -> None:
    """Print a week's roster: per occurrence, the roles, who is on, seats open.

    Each person shows their assignment id (#501), which unassign, confirm, decline and swap take;
    a cancelled occurrence lists nobody.
    """
    from scheduler.rosters.schedule import week_schedule

    data = app.read(lambda s: week_schedule(s, week, branch=branch_slug, community=community_slug))
    if app.json_output:
        emit_json(data)
        return
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
        click.echo(f"{title}: nothing scheduled")
        return
    emit_table(("occ", "date", "time", "service", "role", "on", "open", "waitlist"), rows, title=title)


@volunteer.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@json_option
@pass_app
def volunteer_import(app: AppContext, path: str) -> None:
    """Import volunteers from a CSV file (Excel: UTF-8 with BOM or GBK).

    \b
    Headers in Chinese or English: 姓名/name, 手机/phone, 邮箱/email, 支部/branch, 技能/skills,
    可服务时间/availability, 不可服务日期/blackout, 每月上限/monthly_cap, 身份证号/id_number,
    提醒方式/channel. Other columns are ignored, with a warning naming them.
    \b
    A known phone number updates that volunteer; a blank cell leaves the stored value alone.
    A blank 可服务时间 means no weekly windows: a new volunteer is available at any time
    (blackout dates, the monthly cap and overlaps still apply). Windows look like
    周一至周五 16:00-19:00 or mon-fri 16:00-19:00; sat 09:00-12:00.
    Skills in Chinese or English (医生 = doctor; `roster skills` lists them); an unknown one
    is an error. Any bad row rejects the whole file (exit 4), listing every problem.
    """
    from pathlib import Path

    from scheduler.volunteers.csv_io import import_volunteers

    raw = Path(path).read_bytes()
    summary = app.run(lambda s: import_volunteers(s, raw))
    for warning in summary["warnings"]:
        click.echo(f"warning: {warning}", err=True)
    if app.json_output:
        emit_json(summary)
        return
    for row in summary["rows"]:
        click.echo(f"line {row['line']}: {row['action']} volunteer #{row['id']} {row['name']}")
    click.echo(f"{summary['created']} created, {summary['updated']} updated")


@cli.command("skills")
@json_option
@pass_app
def skills_command(app: AppContext) -> None:
    """List the skills a volunteer or a role can name, in Chinese and English.

    Either name may be typed (医生 or doctor); the English name is stored.
    """
    from scheduler.volunteers.skills import skills_as_dicts

    data = skills_as_dicts()
    emit(app, data, ("skill", "中文", "also accepted"),
         [(d["name"], d["chinese"], ", ".join(d["aliases"])) for d in data])


@volunteer.command("export")
@click.argument("path", required=False, type=click.Path(dir_okay=False, writable=True))
@click.option("--branch", "branch_slug", help="Only this home branch.")
@click.option("--all", "include_inactive", is_flag=True, help="Include deactivated volunteers.")
@pass_app
def volunteer_export(app: AppContext, path: str | None, branch_slug: str | None, include_inactive: bool) -> None:
    """Export volunteers as CSV for Excel (UTF-8 with BOM; ID numbers masked)."""
    from scheduler.volunteers.csv_io import export_volunteers

    data = app.read(lambda s: export_volunteers(s, branch=branch_slug, include_inactive=include_inactive))
    if path:
        from pathlib import Path

        Path(path).write_bytes(data)
        click.echo(f"wrote {path}", err=True)
    else:
        click.echo(data, nl=False)  # bytes go to the binary stream untouched (BOM included)


# --------------------------------------------------------------------------- feeds (issue 5)


@cli.group()
def feeds() -> None:
    """Publish, list and serve the calendar feeds (日历订阅)."""


@feeds.command("publish")
@click.option("--all", "all_feeds", is_flag=True, help="Rebuild every feed, not only the dirty ones.")
@click.option("--no-district", is_flag=True, help="Leave the district-wide feed for its own, slower run.")
@json_option
@pass_app
def feeds_publish(app: AppContext, all_feeds: bool, no_district: bool) -> None:
    """Relay pending changes, rebuild the dirty feeds, write the changed files.

    Changes waiting in the outbox (a cancel, a move, an assignment made with no worker running)
    are relayed first, so the feeds show them at once. Files are written atomically.

    Example: roster feeds publish --all
    """
    from calendars.publish import relay_and_publish

    settings = app.settings
    result = app.run(lambda s: relay_and_publish(s, settings, include_district=not no_district,
                                                 all_feeds=all_feeds))
    if app.json_output:
        emit_json(result.as_dict())
        return
    click.echo(
        f"feeds: {result.relayed} change(s) relayed; {result.written} written, {result.unchanged} unchanged, "
        f"{result.deleted} deleted in {result.duration * 1000:.0f} ms ({settings.feed_dir})"
    )


@feeds.command("urls")
@json_option
@pass_app
def feeds_urls(app: AppContext) -> None:
    """Print the subscribe links (https and webcal) of the public feeds."""
    from calendars.site import feed_urls

    settings = app.settings
    urls = app.read(lambda s: feed_urls(s, settings))
    emit(app, urls, ("feed", "name", "https", "webcal"),
         [(u["key"], u["name"], u["https"], u["webcal"]) for u in urls])


@feeds.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="Port (0: any free).")
@pass_app
def feeds_serve(app: AppContext, host: str, port: int) -> None:
    """Serve the feed folder locally for trying subscriptions (Ctrl-C stops).

    Answers text/calendar inline with ETag, Last-Modified and 304s; production uses nginx.
    """
    from calendars.serve import make_server

    root = app.settings.feed_dir
    root.mkdir(parents=True, exist_ok=True)
    server = make_server(root, host, port)
    bound_host, bound_port = server.server_address[:2]
    click.echo(f"serving {root} on http://{bound_host!s}:{bound_port}/ (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()

# --------------------------------------------------------------------------- workers (issue 6)


@cli.command("run")
@click.option("--concurrency", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Worker threads.")
@click.option("--loglevel", type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
              default="info", show_default=True, help="Log level.")
@pass_app
def run_workers(app: AppContext, concurrency: int, loglevel: str) -> None:
    """Run the workers and beat in one process (embedded default broker).

    Uses ROSTER_BROKER_URL: by default Celery's SQLAlchemy transport on
    broker.db in the data folder (`roster where`; no Redis needed); a redis:// URL runs the same code on Redis.
    A worker that dies unexpectedly is restarted. Stop with Ctrl-C.
    """
    app.settings.ensure_dirs()
    from tasks.app import create_app, prepare_broker
    from tasks.supervise import supervise

    try:
        # A throwaway app: the worker's own must not carry a connection across beat's fork.
        prepare_broker(create_app(app.settings))
    except Exception as exc:  # an unreachable broker: say so, without a traceback
        raise click.ClickException(f"cannot reach the broker: {type(exc).__name__}: {exc}") from exc
    worker = [
        sys.executable, "-m", "celery", "-A", "tasks.app", "worker", "--beat", "--pool=threads",
        f"--concurrency={concurrency}", f"--loglevel={loglevel.upper()}",
        f"--schedule={app.settings.home / 'celerybeat-schedule'}", "--without-gossip", "--without-mingle",
    ]
    code = supervise(worker, say=lambda line: click.echo(line, err=True))
    if code:
        sys.exit(code)


@cli.group()
def reminders() -> None:
    """Send due reminders, list them, retry failed ones (提醒)."""


@reminders.command("send-due")
@click.option("--batch-size", type=click.IntRange(1, 5000), default=200, show_default=True,
              help="Reminders claimed per transaction.")
@click.option("--max-batches", type=click.IntRange(1, 100000), default=1000, show_default=True,
              help="Stop after this many batches.")
@json_option
@pass_app
def reminders_send_due(app: AppContext, batch_size: int, max_batches: int) -> None:
    """Run one dispatch cycle without Celery (for cron).

    \b
    Example crontab line (every minute):
      * * * * *  cd /srv/roster && .venv/bin/roster reminders send-due
    """
    from scheduler.reminders.dispatch import dispatch_due

    result = dispatch_due(app.engine, app.settings, batch_size=batch_size, max_batches=max_batches).as_dict()
    if app.json_output:
        emit_json(result)
        return
    click.echo(f"claimed {result['claimed']}, sent {result['sent']}, stale {result['stale']}, "
               f"cancelled {result['cancelled']}, deferred {result['deferred']}, retrying {result['retried']}, "
               f"failed {result['failed']}")
    for line in result["errors"]:
        click.echo(f"  {line}", err=True)


@reminders.command("list")
@click.option("--failed", "failed_only", is_flag=True, help="Only permanent failures.")
@click.option("--status", type=click.Choice(["pending", "claimed", "sent", "cancelled", "failed", "stale"]),
              help="Only this status.")
@click.option("--limit", type=click.IntRange(1, 100000), default=200, show_default=True)
@json_option
@pass_app
def reminders_list(app: AppContext, failed_only: bool, status: str | None, limit: int) -> None:
    """List reminders, most recently due first (--failed: permanent failures)."""
    from scheduler.reminders import list_reminders, reminder_as_dict

    data = app.read(lambda s: [reminder_as_dict(r) for r in list_reminders(s, status, failed_only, limit)])
    emit(app, data, ("id", "status", "kind", "channel", "due", "service", "volunteer", "tries", "error"),
         [(d["id"], d["status"], d["kind"], d["channel"], d["due_at"][:16], d["service"], d["volunteer_id"],
           d["attempts"], d["last_error"] or "") for d in data])


@reminders.command("retry")
@click.argument("reminder_id", type=RECORD_ID)
@pass_app
def reminders_retry(app: AppContext, reminder_id: int) -> None:
    """Send a failed or stale reminder again at the next dispatch."""
    from scheduler.reminders import retry_reminder

    rid = app.run(lambda s: retry_reminder(s, reminder_id).id)
    click.echo(f"reminder #{rid} will be sent at the next dispatch")


# --------------------------------------------------------------------------- attendance (issue 7)
def _default_by() -> str:
    """Who is recording, when --by is not given: the login name."""
    import getpass

    try:
        return getpass.getuser()
    except Exception:
        return "coordinator"


def _attendance_line(data: dict[str, Any]) -> str:
    when = data["check_in"] if not data["check_out"] else f"{data['check_in']}-{data['check_out'][-5:]}"
    line = (f"record #{data['id']}: {data['volunteer']} (#{data['volunteer_id']}) {data['service']} "
            f"occurrence #{data['occurrence_id']} {when} {data['timezone']}")
    if data["minutes"] is not None:
        line += f", {data['minutes']} min ({data['hours']} h)"
    line += f", {data['status_label']} ({data['status']})"
    if data["assignment_id"] is None:
        line += ", walk-in (no assignment)"
    return line


@cli.command()
@click.argument("volunteer_ref", metavar="VOLUNTEER", type=RECORD_REF)
@click.argument("occurrence_id", metavar="OCCURRENCE", type=RECORD_ID)
@click.option("--at", help="Local time in the service's zone, e.g. '2026-12-07 16:30' or '16:30' "
                           "(default now; seconds are dropped).")
@click.option("--by", default="", help="Who records it (default: your login name).")
@json_option
@pass_app
def checkin(app: AppContext, volunteer_ref: str, occurrence_id: int, at: str | None, by: str) -> None:
    """Check a volunteer in (签到) at an occurrence.

    \b
    VOLUNTEER is an id or phone number; OCCURRENCE an occurrence id.
    Example: roster checkin 13800138000 42 --at "2026-12-07 16:30" --by 李书记
    """
    from scheduler import attendance as att

    data = app.run(lambda s: att.attendance_as_dict(
        s, att.checkin(s, volunteer_ref, occurrence_id, at=at, by=by or _default_by())))
    emit_json(data) if app.json_output else click.echo(f"签到 {_attendance_line(data)}")


@cli.command()
@click.argument("volunteer_ref", metavar="VOLUNTEER", type=RECORD_REF)
@click.argument("occurrence_id", metavar="OCCURRENCE", type=RECORD_ID)
@click.option("--at", help="Local time in the service's zone (default now; seconds are dropped).")
@click.option("--by", default="", help="Who records it (default: your login name).")
@json_option
@pass_app
def checkout(app: AppContext, volunteer_ref: str, occurrence_id: int, at: str | None, by: str) -> None:
    """Check a volunteer out (签退); normal records are approved at once.

    More than 8 hours in a day, a 4th check-in/out pair at one occurrence in a day, a check-in
    over an hour before the shift, or a record over the shift's length plus an hour waits for
    `roster attendance approve` (margins: ROSTER_EARLY_CHECKIN_MINUTES, ROSTER_OVERTIME_MINUTES). Example: roster checkout 13800138000 42 --at 18:30
    """
    from scheduler import attendance as att

    data = app.run(lambda s: att.attendance_as_dict(
        s, att.checkout(s, volunteer_ref, occurrence_id, at=at, by=by or _default_by())))
    if app.json_output:
        emit_json(data)
        return
    click.echo(f"签退 {_attendance_line(data)}")
    for reason in data["review_reasons"]:
        click.echo(f"  waits for approval: {reason}")
    if data["status"] == "pending_approval":
        click.echo(f"  a coordinator approves with: roster attendance approve {data['id']} --by NAME")


@cli.command()
@click.argument("volunteer_ref", metavar="VOLUNTEER", type=RECORD_REF)
@click.argument("occurrence_id", metavar="OCCURRENCE", type=RECORD_ID)
@click.option("--by", default="", help="Who marks it (default: your login name).")
@pass_app
def noshow(app: AppContext, volunteer_ref: str, occurrence_id: int, by: str) -> None:
    """Mark an invited or confirmed volunteer as a no-show (未到), after the occurrence started.

    Auto-fill reads this history. Example: roster noshow 13800138000 42
    """
    from scheduler.attendance import mark_no_show

    def work(s: Session) -> tuple[int, str]:
        assignment = mark_no_show(s, volunteer_ref, occurrence_id, by=by or _default_by())
        return assignment.id, assignment.volunteer.name

    assignment_id, name = app.run(work)
    click.echo(f"未到 assignment #{assignment_id}: {name} marked no-show at occurrence #{occurrence_id}")


@cli.group()
def attendance() -> None:
    """List, correct, approve and reject attendance records (签到记录)."""


@attendance.command("list")
@click.option("--pending", is_flag=True, help="Only records waiting for a coordinator's approval.")
@click.option("--occurrence", "occurrence_id", type=RECORD_ID, help="Only this occurrence.")
@click.option("--volunteer", "volunteer_ref", type=RECORD_REF, help="Only this volunteer (id or phone).")
@click.option("--from", "date_from", callback=date_option_callback, help="From this local date (YYYY-MM-DD).")
@click.option("--to", "date_to", callback=date_option_callback, help="To this local date, inclusive.")
@click.option("--limit", type=click.IntRange(1, 100_000), default=200, show_default=True, help="Most rows.")
@json_option
@pass_app
def attendance_list(app: AppContext, pending: bool, occurrence_id: int | None, volunteer_ref: str | None,
                    date_from: Any, date_to: Any, limit: int) -> None:
    """List attendance records, newest first; times local to each service."""
    from scheduler.attendance import attendance_as_dict, list_attendance
    from scheduler.attendance.hours import date_range

    def work(s: Session) -> list[dict[str, Any]]:
        since, until = date_range(date_from, date_to, app.settings.tz)
        records = list_attendance(s, pending=pending, occurrence_id=occurrence_id, volunteer_ref=volunteer_ref,
                                  since=since, until=until, limit=limit)
        return [attendance_as_dict(s, r) for r in records]

    data = app.read(work)
    emit(app, data, ("id", "volunteer", "service", "occ", "check in", "check out", "min", "hours", "status", "why"),
         [(d["id"], d["volunteer"], d["service"], d["occurrence_id"], d["check_in"], d["check_out"][-5:],
           d["minutes"], d["hours"], d["status_label"], "; ".join(d["review_reasons"])) for d in data])


@attendance.command("show")
@click.argument("attendance_id", metavar="ID", type=RECORD_ID)
@json_option
@pass_app
def attendance_show(app: AppContext, attendance_id: int) -> None:
    """Show one record with its trail of corrections and decisions."""
    from scheduler.attendance import attendance_as_dict, get_attendance

    data = app.read(lambda s: attendance_as_dict(s, get_attendance(s, attendance_id), with_trail=True))
    if app.json_output:
        emit_json(data)
        return
    trail = data.pop("trail")
    emit_record(app, data)
    if trail:
        emit_table(("at", "by", "field", "old", "new", "reason"),
                   [(t["at"], t["by"], t["field"], t["old"], t["new"], t["reason"]) for t in trail], title="trail")


@attendance.command("correct")
@click.argument("attendance_id", metavar="ID", type=RECORD_ID)
@click.option("--field", required=True, type=click.Choice(["check_in", "check_out"]), help="What to change.")
@click.option("--value", required=True, help="Local time, e.g. '2026-12-07 16:30' or '16:30'.")
@click.option("--reason", required=True, help="Why (kept in the trail).")
@click.option("--by", required=True, help="Who corrects it (kept in the trail).")
@json_option
@pass_app
def attendance_correct(app: AppContext, attendance_id: int, field: str, value: str, reason: str, by: str) -> None:
    """Correct a check-in or check-out time; the trail keeps who, when and why.

    Example: roster attendance correct 7 --field check_out --value 18:30 --reason 忘记签退 --by 李书记
    """
    from scheduler.attendance import attendance_as_dict, correct

    data = app.run(lambda s: attendance_as_dict(s, correct(s, attendance_id, field, value, by=by, reason=reason)))
    emit_json(data) if app.json_output else click.echo(f"corrected {field}: {_attendance_line(data)}")


@attendance.command("approve")
@click.argument("attendance_id", metavar="ID", type=RECORD_ID)
@click.option("--by", required=True, help="The approving coordinator.")
@json_option
@pass_app
def attendance_approve(app: AppContext, attendance_id: int, by: str) -> None:
    """Approve a record that waits for a coordinator; its hours then count."""
    from scheduler.attendance import approve, attendance_as_dict

    data = app.run(lambda s: attendance_as_dict(s, approve(s, attendance_id, by=by)))
    emit_json(data) if app.json_output else click.echo(f"approved {_attendance_line(data)}")


@attendance.command("reject")
@click.argument("attendance_id", metavar="ID", type=RECORD_ID)
@click.option("--by", required=True, help="The rejecting coordinator.")
@click.option("--reason", required=True, help="Why (kept in the trail).")
@json_option
@pass_app
def attendance_reject(app: AppContext, attendance_id: int, by: str, reason: str) -> None:
    """Reject a record: its hours stop counting (an open one is a mistaken check-in)."""
    from scheduler.attendance import attendance_as_dict, reject

    data = app.run(lambda s: attendance_as_dict(s, reject(s, attendance_id, by=by, reason=reason)))
    emit_json(data) if app.json_output else click.echo(f"rejected {_attendance_line(data)}")


@cli.group()
def hours() -> None:
    """Volunteer hours: reports with star levels, and the export for the national system."""


@hours.command("report")
@click.option("--by", "dimension", type=click.Choice(["volunteer", "branch", "community", "month"]),
              default="volunteer", show_default=True, help="Group by.")
@click.option("--from", "date_from", callback=date_option_callback, help="From this local date (YYYY-MM-DD).")
@click.option("--to", "date_to", callback=date_option_callback, help="To this local date, inclusive.")
@json_option
@pass_app
def hours_report_command(app: AppContext, dimension: str, date_from: Any, date_to: Any) -> None:
    """Approved hours by volunteer, branch, community or month.

    Volunteer rows show all-time hours and the star level (一星 100 h, 二星 300 h, 三星 600 h,
    四星 1000 h, 五星 1500 h). Example: roster hours report --by month --from 2026-01-01
    """
    from scheduler.attendance.hours import hours_report

    data = app.read(lambda s: hours_report(s, dimension, date_from, date_to, app.settings.tz))
    if dimension == "volunteer":
        columns: tuple[str, ...] = ("id", "volunteer", "home branch", "records", "hours", "all-time hours", "star",
                                    "to next star")
        rows: list[tuple[Any, ...]] = [(d["volunteer_id"], d["name"], d["home_branch"], d["records"], d["hours"], d["total_hours"],
                 d["star"], f"{d['hours_to_next_star']} h → {d['next_star']}" if d["next_star"] else "")
                for d in data]
    elif dimension == "branch":
        columns = ("organiser", "community", "records", "volunteers", "hours")
        rows = [(d["organiser"], d["community"], d["records"], d["volunteers"], d["hours"]) for d in data]
    elif dimension == "community":
        columns = ("community", "records", "volunteers", "hours")
        rows = [(d["community"], d["records"], d["volunteers"], d["hours"]) for d in data]
    else:
        columns = ("month", "records", "volunteers", "hours")
        rows = [(d["month"], d["records"], d["volunteers"], d["hours"]) for d in data]
    emit(app, data, columns, rows, title=f"approved hours by {dimension}")


@hours.command("export")
@click.argument("file", default="-", metavar="[FILE]")
@click.option("--from", "date_from", callback=date_option_callback, help="From this local date (YYYY-MM-DD).")
@click.option("--to", "date_to", callback=date_option_callback, help="To this local date, inclusive.")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]),
              help="csv (UTF-8 with BOM, default) or xlsx; a FILE ending .xlsx implies xlsx.")
@click.option("--all", "include_unapproved", is_flag=True, help="Also pending and rejected records.")
@pass_app
def hours_export(app: AppContext, file: str, date_from: Any, date_to: Any, fmt: str | None,
                 include_unapproved: bool) -> None:
    """Export records for the national volunteer system (not a certificate).

    \b
    Fields of the national record (志愿服务记录与证明出具办法): name, ID number (masked),
    project, role, place, start, end, hours (2 decimals), organiser, contact, status.
    Example: roster hours export 2026-12.csv --from 2026-12-01 --to 2026-12-31
    """
    import os

    from scheduler.attendance.hours import export_csv, export_rows, export_xlsx

    fmt = fmt or ("xlsx" if file.lower().endswith(".xlsx") else "csv")
    if fmt == "xlsx" and file == "-":
        raise click.UsageError("an xlsx export needs a FILE name", ctx=click.get_current_context())
    rows = app.read(lambda s: export_rows(s, date_from, date_to, app.settings.tz, include_unapproved))
    payload = export_xlsx(rows) if fmt == "xlsx" else export_csv(rows)
    if file == "-":
        # click.get_binary_stream is deprecated (Click 9 drops it); the text stream's buffer is the same.
        sys.stdout.flush()
        sys.stdout.buffer.write(payload)
        sys.stdout.buffer.flush()
        return
    # Written beside the target and renamed: a reader never sees half a file.
    tmp = f"{file}.tmp-{os.getpid()}"
    with open(tmp, "wb") as out:
        out.write(payload)
    os.replace(tmp, file)
    click.echo(f"wrote {len(rows) - 1} records to {file} ({fmt}; ID numbers masked; 本导出不是志愿服务证明)")


if __name__ == "__main__":
    main()
