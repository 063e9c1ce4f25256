"""The ``roster`` command line: coordinators manage services, volunteers and rosters.

This module is the entry point only: the root group, the context object every command gets, the one
place that turns a domain error into a message and its exit code, and the one output formatter
(table or JSON) chosen per invocation. The commands live in ``commands/``, one module per command
group, imported only when that command runs or shows its help: ``roster --help`` reads the table
below, builds no engine and imports no Celery.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from importlib import import_module
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import click

from scheduler.errors import EXIT_CODES
from scheduler.i18n import N_, _, ngettext, translate

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

    from scheduler.policy import OperationPolicy
    from scheduler.settings import Settings

T = TypeVar("T")

#: Every top-level command in the order of a coordinator's day: where it lives and its one-line help
#: (the first paragraph of its docstring; tests/test_cli_house.py checks that they agree).
COMMANDS: dict[str, tuple[str, str]] = {
    # The one-line helps are message ids (tools/i18n.py extracts them); shown in the reader's language.
    "init": ("commands.setup:init", "Create or upgrade the database schema (runs the migrations)."),
    "where": ("commands.setup:where", "Show which database, broker and feed folder this command line uses."),
    "community": ("commands.community:community", "Add and list communities (社区)."),
    "branch": ("commands.branch:branch", "Add, list and show estate branches (花园小区党支部)."),
    "service": ("commands.service:service", "Add, list, show and edit volunteer services (志愿服务项目)."),
    "volunteer": ("commands.volunteer:volunteer", "Add, list, show, edit and deactivate volunteers (志愿者)."),
    "coordinator": ("commands.coordinator:coordinator",
                    "Add, list and remove coordinators, who get digests and warnings (协调员)."),
    "demo": ("commands.setup:demo", "Load the Longcheng demo and run one cycle (plan, fill, publish, remind)."),
    "plan": ("commands.planning:plan_command", "Materialise occurrences for the rolling horizon (idempotent)."),
    "holidays": ("commands.holidays:holidays",
                 "China's holiday calendar: coverage, provisional dates, loading a year."),
    "closure": ("commands.closure:closure", "Closures (停课/闭馆): dates when a scope does not run."),
    "occurrence": ("commands.occurrence:occurrence", "List, cancel and move single occurrences (场次)."),
    "assign": ("commands.rosters:assign", "Assign a volunteer (id or phone) to an occurrence."),
    "unassign": ("commands.rosters:unassign",
                 "Take a volunteer off a shift; the first waitlisted volunteer moves up."),
    "confirm": ("commands.rosters:confirm", "Record that the volunteer confirmed an invited shift."),
    "decline": ("commands.rosters:decline",
                "Record that the volunteer declined a shift; the seat goes to the waitlist."),
    "swap": ("commands.rosters:swap", "Two volunteers trade shifts, or one hands a shift to another."),
    "fill": ("commands.rosters:fill",
             "Fill open seats fairly: own branch first, then the community, least loaded first."),
    "why": ("commands.rosters:why", "Explain how an assignment was chosen: the candidates and why this one won."),
    "schedule": ("commands.rosters:schedule",
                 "Print a week's roster and write it as Excel and A4 HTML files."),
    "qualifications": ("commands.qualifications:qualifications",
                       "Record, list and remove volunteers' qualifications (资质证书) and their end dates."),
    "minor": ("commands.minor:minor", "Birth dates and guardians' consent for volunteers under 18 (未成年志愿者)."),
    "skills": ("commands.skills:skills_command",
               "List the skills a volunteer or a role can name, in Chinese and English."),
    "feeds": ("commands.feeds:feeds", "Publish, list and serve the calendar feeds (日历订阅)."),
    "run": ("commands.setup:run_workers", "Run the workers and beat in one process (embedded default broker)."),
    "reminders": ("commands.reminders:reminders", "Send due reminders, list them, retry failed ones (提醒)."),
    "digest": ("commands.digest:digest", "Preview the weekly digest of unfilled seats coordinators get (排班周报)."),
    "checkin": ("commands.attendance:checkin", "Check a volunteer in (签到) at an occurrence."),
    "checkout": ("commands.attendance:checkout",
                 "Check a volunteer out (签退); normal records are approved at once."),
    "noshow": ("commands.attendance:noshow",
               "Mark an invited or confirmed volunteer as a no-show (未到), after the occurrence started."),
    "attendance": ("commands.attendance:attendance",
                   "List, correct, approve and reject attendance records (签到记录)."),
    "hours": ("commands.hours:hours",
              "Volunteer hours: reports with star levels, and the export for the national system."),
    "web": ("commands.web:web", "Serve the volunteer pages (我的排班, 可报名) behind each volunteer's link."),
    "feedback": ("commands.feedback:feedback",
                 "Satisfaction ratings (满意度): the venue's QR poster, the report, the comments."),
    "checkin-poster": ("commands.checkin_poster:checkin_poster",
                       "Print an occurrence's check-in QR poster (扫码签到), or its venue display's address."),
    "points": ("commands.points:points",
               "Points and time-bank credit (积分/时间银行): balances, statements, redemptions, rates."),
    "report": ("commands.report:report",
               "Reports for others: serving Party members' hours for their work units (在职党员)."),
}


def exit_codes_epilog() -> str:
    """The exit-code table of ``--help``, generated from scheduler.errors.EXIT_CODES, translated."""
    lines = ["\b", _("Exit codes:"), *(f"  {code}  {translate(meaning)}" for code, meaning in EXIT_CODES.items()),
             "", _("Configuration comes from ROSTER_* environment variables (see README)."),
             _("Language: ROSTER_LANG=zh_CN or en (else the locale: LC_ALL, LC_MESSAGES, LANG).")]
    return "\n".join(lines)


# --------------------------------------------------------------------------- language


def _speak_roster_catalog() -> None:
    """Click's own messages (usage, errors, ``--help``) come from Roster's catalog and language, not
    from the system's gettext domain: each Click module bound ``gettext``/``ngettext`` at import."""
    import gettext as stdlib_gettext

    for name, module in list(sys.modules.items()):
        if name == "click" or name.startswith("click."):
            if getattr(module, "_", None) is stdlib_gettext.gettext:
                module._ = _  # type: ignore[attr-defined]
            if getattr(module, "ngettext", None) is stdlib_gettext.ngettext:
                module.ngettext = ngettext  # type: ignore[attr-defined]


_speak_roster_catalog()


def _cells(text: str) -> int:
    """Terminal cells of ``text`` without its ANSI codes: a Chinese character takes two."""
    if "\x1b" in text:
        from click._compat import strip_ansi

        text = strip_ansi(text)
    if text.isascii():
        return len(text)
    cells = _CELLS.get(text)
    if cells is None:
        from unicodedata import east_asian_width

        # Nothing below U+1100 (Hangul Jamo, the first wide block) is wide.
        cells = len(text) + sum(1 for ch in text if ch >= "\u1100" and east_asian_width(ch) in "WF")
        if len(text) <= 2:  # the wrapper measures Chinese a character (and its mark) at a time
            _CELLS[text] = cells
    return cells


_CELLS: dict[str, int] = {}


def _truncate_cells(text: str, n: int) -> str:
    """The longest prefix of ``text`` that fits ``n`` cells (at least one character, so wrapping
    always advances)."""
    used = 0
    for at, ch in enumerate(text):
        used += _cells(ch)
        if used > n:
            return text[:max(at, 1)]
    return text


def _measure_help_in_cells() -> None:
    """Click measures help text in characters; Chinese text is two cells a character, so option
    descriptions after a Chinese metavar (``--out 文件夹``) stood out of line and paragraphs ran past
    the terminal's edge. Click routes every measurement through ``term_len`` (and the long-word cut
    through ``_truncate_visible``): those answer in cells here. tests/test_i18n.py holds the help of
    every command to its columns and its width in both languages."""
    import click._textwrap
    import click.formatting

    for module, name, replacement in ((click.formatting, "term_len", _cells), (click._textwrap, "term_len", _cells),
                                      (click._textwrap, "_truncate_visible", _truncate_cells)):
        if hasattr(module, name):
            setattr(module, name, replacement)
    wrapper = click._textwrap.TextWrapper
    split_words = wrapper._split

    def split_between_characters(self: Any, text: str) -> list[str]:
        """Chinese breaks between any two characters (not before a closing mark such as ，。）
        nor after an opening one such as （): each character is a chunk the wrapper may move on."""
        chunks = split_words(self, text)
        if text.isascii():
            return chunks
        return [piece for chunk in chunks for piece in (_cjk_pieces(chunk) if not chunk.isascii() else (chunk,))]

    wrapper._split = split_between_characters  # type: ignore[method-assign]


_OPENING, _CLOSING = "（「『“‘《〈【〔", "，。、；：！？）」』”’》〉】〕…—"


def _is_cjk(ch: str) -> bool:
    """A character that stands alone as a word: CJK ideographs and kana, full-width forms."""
    code = ord(ch)
    return 0x2E80 <= code <= 0x2FFF or 0x3040 <= code <= 0x9FFF or 0xF900 <= code <= 0xFAFF or 0xFF01 <= code <= 0xFF60


def _cjk_pieces(chunk: str) -> list[str]:
    """``chunk`` cut into the pieces a line may break between: each CJK character with the opening
    marks before it and the closing marks after it; a run of other text with the closing marks after it.
    (A scan, not a regular expression: compiling its classes of CJK ranges, with the line-join one,
    took ~7 ms of every start.)"""
    pieces: list[str] = []
    at, end = 0, len(chunk)
    while at < end:
        run = at
        while run < end and chunk[run] in _OPENING:
            run += 1
        # the character after the opening run, or else the last of the run, that is CJK (（ is both)
        if run < end and _is_cjk(chunk[run]):
            stop = run + 1
        elif run > at:
            last = next((k for k in range(run - 1, at - 1, -1) if _is_cjk(chunk[k])), None)
            if last is None:  # opening marks before no CJK character: a piece of their own
                pieces.append(chunk[at:run])
                at = run
                continue
            stop = last + 1
        else:  # other text up to the next CJK character or opening mark
            stop = at
            while stop < end and not _is_cjk(chunk[stop]) and chunk[stop] not in _OPENING:
                stop += 1
        while stop < end and chunk[stop] in _CLOSING:
            stop += 1
        pieces.append(chunk[at:stop])
        at = stop
    return pieces


_measure_help_in_cells()


def _is_wide_form(ch: str) -> bool:
    code = ord(ch)
    return 0x2E80 <= code <= 0x9FFF or 0xFF00 <= code <= 0xFFEF


def _drop_cjk_breaks(paragraph: str) -> str:
    """The paragraph without the line breaks that stand between two CJK characters."""
    lines = paragraph.split("\n")
    joined = [lines[0]]
    for line in lines[1:]:
        before = joined[-1][-1:]
        if not (before and line and _is_wide_form(before) and _is_wide_form(line[0])):
            joined.append("\n")
        joined.append(line)
    return "".join(joined)


def _join_cjk_lines(text: str) -> str:
    """Click joins the lines of a paragraph with a space, which Chinese does not have between its
    characters: a line break between two of them is dropped instead (``\b`` paragraphs keep theirs)."""
    if text.isascii():
        return text
    return "\n\n".join(paragraph if paragraph.startswith("\b") else _drop_cjk_breaks(paragraph)
                        for paragraph in text.split("\n\n"))


def _translate(text: str | None) -> str | None:
    """A help text (a message id as Click cleans it) in the reader's language."""
    import inspect

    return _join_cjk_lines(translate(inspect.cleandoc(text))) if text else text


@contextmanager
def translated_help(command: click.Command) -> Iterator[None]:
    """While the help is formatted, the command's and its parameters' help texts are translated (the
    ids stay on the objects: the language may change between two invocations in one process)."""
    saved: list[tuple[Any, str, Any]] = []
    for target, attribute in [(command, "help"), (command, "short_help"), (command, "epilog"),
                              *((param, "help") for param in command.params)]:
        value = getattr(target, attribute, None)
        if isinstance(value, str) and value:
            saved.append((target, attribute, value))
            setattr(target, attribute, _translate(value))
    try:
        yield
    finally:
        for target, attribute, value in saved:
            setattr(target, attribute, value)


# --------------------------------------------------------------------------- output


class Formatter(Protocol):
    """How a command's result reaches the terminal: chosen once per invocation (``--json`` or not)."""

    def records(self, data: Sequence[Any], columns: Sequence[str], rows: Sequence[Sequence[Any]],
                title: str | None = None) -> None:
        """A listing: the data as JSON, or the rows as a table."""

    def record(self, data: Mapping[str, Any], omit: Sequence[str] = (), labels: Mapping[str, str] | None = None) -> None:
        """One record: JSON, or aligned ``field value`` lines (``omit``: keys a later table shows;
        ``labels``: message ids for keys whose usual label would mislead, e.g. a person's name)."""

    def result(self, data: Any, text: str | None = None) -> None:
        """A command's outcome: the data as JSON, or ``text`` for people."""

    def message(self, text: str) -> None:
        """The outcome of a command that has nothing but a sentence to say."""

    def table(self, columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None) -> None:
        """A table for people beside the result (JSON already holds its data)."""

    def note(self, text: str, err: bool = False) -> None:
        """A line for people beside the result: a hint, a warning (JSON already holds its data)."""


def _dump(data: Any) -> str:
    import json

    return json.dumps(data, ensure_ascii=False, sort_keys=True, indent=2, default=str)


class JsonFormatter:
    """Stable, sorted JSON on stdout for scripts; the lines meant for people stay out of it."""

    def records(self, data: Sequence[Any], columns: Sequence[str], rows: Sequence[Sequence[Any]],
                title: str | None = None) -> None:
        click.echo(_dump(data))

    def record(self, data: Mapping[str, Any], omit: Sequence[str] = (), labels: Mapping[str, str] | None = None) -> None:
        click.echo(_dump(data))

    def result(self, data: Any, text: str | None = None) -> None:
        click.echo(_dump(data))

    def message(self, text: str) -> None:
        click.echo(_dump({"message": text}))

    def table(self, columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None) -> None:
        pass

    def note(self, text: str, err: bool = False) -> None:
        pass


class TableFormatter:
    """Tables that align Chinese text (rich measures East Asian wide characters as two cells)."""

    def records(self, data: Sequence[Any], columns: Sequence[str], rows: Sequence[Sequence[Any]],
                title: str | None = None) -> None:
        if rows:
            self.table(columns, rows, title)
        else:
            click.echo(_("(nothing to show)"))

    def record(self, data: Mapping[str, Any], omit: Sequence[str] = (), labels: Mapping[str, str] | None = None) -> None:
        from commands import fields

        rows = [(translate(labels[key]) if labels and key in labels else fields.label(key), fields.value(key, value))
                for key, value in data.items() if key not in omit]
        self.table((_("field"), _("value")), rows)

    def result(self, data: Any, text: str | None = None) -> None:
        if text is not None:
            click.echo(text)

    def message(self, text: str) -> None:
        click.echo(text)

    def table(self, columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None) -> None:
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        # Cells are plain text, never markup: a title or a typed comment holding "[/b]" or
        # "[bold]" prints as typed.
        table = Table(title=Text(title) if title else None, show_edge=False, header_style="bold", pad_edge=False)
        for column in columns:
            table.add_column(Text(column), overflow="fold")
        for row in rows:
            table.add_row(*(Text("" if cell is None else str(cell)) for cell in row))
        console = Console(width=None if sys.stdout.isatty() else 200, soft_wrap=False, highlight=False)
        console.print(table)

    def note(self, text: str, err: bool = False) -> None:
        click.echo(text, err=err)


# --------------------------------------------------------------------------- context


class AppContext:
    """What every command needs, built lazily: settings, then an engine on first use. (A plain
    class: ``dataclasses`` and ``json`` are not imported for ``roster --help``.)"""

    def __init__(self, json_output: bool = False, creates_schema: bool = False) -> None:
        self.json_output = json_output
        #: Set by the commands that build the schema themselves (init, demo); others refuse a missing database.
        self.creates_schema = creates_schema
        self._settings: Settings | None = None
        self._engine: Engine | None = None
        self._out: Formatter | None = None
        self.extra: dict[str, Any] = {}

    @property
    def out(self) -> Formatter:
        """The output formatter, chosen once: after the options are parsed, before anything is printed."""
        if self._out is None:
            self._out = JsonFormatter() if self.json_output else TableFormatter()
        return self._out

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

            path = self.settings.sqlite_path()
            if path is not None and not self.creates_schema and not path.exists():
                # Never leave an empty database (and its folder) behind a command that cannot use it.
                raise_not_initialised(self.settings)
            self.settings.ensure_dirs()
            self._engine = engine_for(self.settings.database_url, self.settings.lock_timeout)
        return self._engine

    @property
    def policy(self) -> OperationPolicy:
        """Quiet hours, default channel and attendance margins from the settings, for operations."""
        return self.settings.policy()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        from scheduler.db import session_scope

        with session_scope(self.engine) as session:
            yield session

    def run(self, work: Callable[[Session], T]) -> T:
        """One writing transaction; a lock wait ends after ROSTER_LOCK_TIMEOUT (then exit 8)."""
        from scheduler.db import run_in_transaction

        return run_in_transaction(self.engine, work, via="cli")

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


# --------------------------------------------------------------------------- groups and commands


def _choose_json(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        ctx.ensure_object(AppContext).json_output = True


def json_option() -> click.Option:
    """``--json``, the same option on the root group and after every command (``roster branch list --json``)."""
    return click.Option(["--json", "json_flag"], is_flag=True, expose_value=False, callback=_choose_json,
                        help=N_("Print stable, sorted JSON instead of a table."))


class TranslatedHelp(click.Command):
    """Help texts are message ids, translated when the help is shown (scheduler/i18n.py)."""

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with translated_help(self):
            super().format_help(ctx, formatter)

    def get_short_help_str(self, limit: int = 45) -> str:
        with translated_help(self):
            return super().get_short_help_str(limit)

    def get_help_option(self, ctx: click.Context) -> click.Option | None:
        # Click makes the --help option once per command, in the language of that moment: say it in
        # the language of this invocation.
        option = super().get_help_option(ctx)
        if option is not None:
            option.help = translate("Show this message and exit.")
        return option


class RosterCommand(TranslatedHelp):
    """Every command takes ``--json``; what it changes is decided once, in AppContext.out."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.append(json_option())


class RosterGroup(TranslatedHelp, click.Group):
    """Lists commands in the order they were added (the order of a coordinator's day)."""

    command_class = RosterCommand

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)


RosterGroup.group_class = RosterGroup


def command(name: str | None = None, **attrs: Any) -> Callable[[Callable[..., Any]], RosterCommand]:
    """A top-level command for commands/ (``--json`` included)."""
    return click.command(name, cls=RosterCommand, **attrs)


def group(name: str | None = None, **attrs: Any) -> Callable[[Callable[..., Any]], RosterGroup]:
    """A command group for commands/; its commands take ``--json``."""
    return click.group(name, cls=RosterGroup, **attrs)


class RootGroup(RosterGroup):
    """Loads each command from commands/ on first use; the one place that turns a domain error into a
    message on stderr and its exit code."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, _colon, attribute = COMMANDS[cmd_name][0].partition(":")
        loaded = getattr(import_module(module), attribute)
        assert isinstance(loaded, click.Command), COMMANDS[cmd_name]
        return loaded

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None,
                                                                            list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.exceptions.NoSuchCommand as exc:  # suggest from the table, not the (empty) loaded dict
            raise click.exceptions.NoSuchCommand(exc.command_name, possibilities=COMMANDS, ctx=ctx) from None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The one-line helps from COMMANDS, shortened as Click shortens a docstring: no module is imported."""
        limit = formatter.width - 6 - max(len(name) for name in COMMANDS)
        rows = [(name, click.Command(name, help=_translate(text)).get_short_help_str(limit))
                for name, (_where, text) in COMMANDS.items()]
        with formatter.section(_("Commands")):
            formatter.write_dl(rows)

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
            click.echo(_("error: {message}").format(message=exc.message), err=True)
            ctx.exit(exc.exit_code)

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self.epilog = exit_codes_epilog()  # in the reader's language
        super().format_epilog(ctx, formatter)


@click.group(cls=RootGroup, params=[json_option()],
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
        click.echo(_("Aborted."), err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except RosterError as exc:  # raised outside a command's invoke (e.g. in a callback)
        click.echo(_("error: {message}").format(message=exc.message), err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    # commands/ import this module as ``cli``: run that copy, not a second one named __main__.
    import_module("cli").main()
