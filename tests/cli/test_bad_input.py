"""Bad input through the CLI, on SQLite and PostgreSQL: a clear message naming the field, the documented
exit code (2 usage, 3 not found, 4 invalid input, 5 conflict), and a database left exactly as it was.

Also the faults bad rows used to cause later: a rule that never advances (``plan`` looped forever), a
date past the calendar (``plan`` died for every service), an id beyond 64 bits (OverflowError on
SQLite), a string longer than its column (DataError on PostgreSQL), two ``roster init`` at once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, func, select, text, update

from scheduler.db import dispose_engines, make_engine
from scheduler.errors import Conflict, InvalidInput, NotFound
from scheduler.models import Base, Service, Volunteer
from tests.cli_codes import USAGE

ROOT = Path(__file__).resolve().parents[2]
ROSTER = Path(sys.executable).with_name("roster")
TODAY = "2026-09-01"
BIG = "99999999999999999999"  # beyond 2**63 - 1
RLO = "\u202e"  # RIGHT-TO-LEFT OVERRIDE

Run = Callable[..., Result]


class Roster:
    """The CLI in-process against one fresh, initialised database, with a row-count snapshot."""

    def __init__(self, url: str, runner: CliRunner) -> None:
        self.url = url
        self.runner = runner
        self.engine: Engine = make_engine(url)

    def __call__(self, *args: str) -> Result:
        from cli import cli

        return self.runner.invoke(cli, list(args), catch_exceptions=False)

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return {t.name: conn.scalar(select(func.count()).select_from(t)) or 0 for t in Base.metadata.sorted_tables}

    def snapshot(self) -> tuple[dict[str, int], Any]:
        return self.counts(), json.loads(self("service", "list", "--json").output)


@pytest.fixture(params=["sqlite", "postgresql"])
def roster(request: pytest.FixtureRequest, roster_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Roster]:
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_url")
        monkeypatch.setenv("ROSTER_DATABASE_URL", url)
    else:
        url = roster_env["ROSTER_DATABASE_URL"]
    r = Roster(url, CliRunner())
    first = r("init")
    assert first.exit_code == 0, first.output
    for args in (
        ("community", "add", "ailian", "--name", "爱联社区"),
        ("branch", "add", "shunjing", "--name", "顺景花园党支部", "--community", "ailian"),
        ("service", "add", "reading", "--title", "亲子阅读", "--branch", "shunjing", "--every", "saturday",
         "--start-date", "2026-09-05", "--time", "09:30", "--duration", "90", "--role", "领读员:2"),
        ("volunteer", "add", "--name", "王芳", "--phone", "13800138000", "--branch", "shunjing"),
        ("plan", "--today", TODAY, "--weeks", "4"),
    ):
        result = r(*args)
        assert result.exit_code == 0, (args, result.output)
    yield r
    r.engine.dispose()
    dispose_engines()


def _occurrence_id(r: Roster) -> str:
    data = json.loads(r("occurrence", "list", "--service", "reading", "--json").output)
    return str(data[0]["id"])


def _service(*extra: str, rule: tuple[str, ...] = ("--every", "saturday")) -> tuple[str, ...]:
    base = {"--title": "四点半课堂", "--branch": "shunjing", "--start-date": "2026-09-01", "--time": "16:30",
            "--duration": "2h"}
    given = dict(zip(extra[::2], extra[1::2], strict=True))
    args: list[str] = ["service", "add", "fresh"]
    for key, value in (base | given).items():
        args += [key, value]
    return (*args, *rule, "--role", "辅导员:3")


# (arguments, exit code, text the message must contain: the field)
BAD: list[tuple[tuple[str, ...], int, str]] = [
    # rules that poison the plan
    (_service(rule=("--every", "0 weeks on sunday")), InvalidInput.exit_code, "every: INTERVAL=0"),
    (_service(rule=("--rrule", "FREQ=WEEKLY;INTERVAL=0")), InvalidInput.exit_code, "rrule: INTERVAL=0"),
    (_service(rule=("--rrule", "FREQ=WEEKLY;INTERVAL=-1")), InvalidInput.exit_code, "rrule: INTERVAL=-1"),
    (_service(rule=("--rrule", "FREQ=MONTHLY;BYMONTHDAY=0")), InvalidInput.exit_code, "rrule: BYMONTHDAY=0"),
    (_service(rule=("--rrule", "FREQ=YEARLY;BYMONTH=13")), InvalidInput.exit_code, "rrule: BYMONTH=13"),
    (_service(rule=("--rrule", "FREQ=MONTHLY;BYDAY=+9SA")), InvalidInput.exit_code, "rrule: BYDAY=+9SA"),
    (_service(rule=("--rrule", "FREQ=WEEKLY;COUNT=0")), InvalidInput.exit_code, "rrule: COUNT=0"),
    (_service(rule=("--rrule", "FREQ=MONTHLY;BYMONTHDAY=31;BYMONTH=4")), InvalidInput.exit_code,
     "rrule: 'FREQ=MONTHLY;BYMONTHDAY=31;BYMONTH=4' fires on no date"),
    (_service(rule=("--rrule", "FREQ=WEEKLY;UNTIL=20200101")), InvalidInput.exit_code, "fires on no date"),
    (_service(rule=("--rrule", "FREQ=DAILY;BYMONTHDAY=30;BYMONTH=2")), InvalidInput.exit_code, "rrule: BYMONTHDAY needs FREQ=MONTHLY"),
    (_service(rule=("--rrule", "FREQ=DAILY;BYHOUR=9")), InvalidInput.exit_code, "rrule: BYHOUR is not supported"),
    (_service(rule=("--rrule", "FREQ=HOURLY")), InvalidInput.exit_code, "rrule: services recur daily at most"),
    (_service(rule=("--rrule", "FREQ=WEEKLY;BYDAY=XX")), InvalidInput.exit_code, "rrule: BYDAY=XX"),
    (_service(rule=("--every", "每周八")), InvalidInput.exit_code, "every: cannot read"),
    (_service(rule=("--every", "sometimes")), InvalidInput.exit_code, "every: cannot read"),
    (_service("--start-date", "9999-12-31"), USAGE, "'--start-date': 9999-12-31 is outside 1900-2100"),
    (_service("--start-date", "0001-01-01"), USAGE, "'--start-date': 0001-01-01 is outside 1900-2100"),
    (_service("--start-date", "2026-02-30"), USAGE, "'--start-date'"),
    # text that reaches a feed
    (_service("--title", f"亲子{RLO}阅读"), InvalidInput.exit_code, "title: contains the invisible direction control U+202E"),
    (_service("--venue", "活动室\u2066"), InvalidInput.exit_code, "venue: contains the invisible direction control U+2066"),
    (_service("--contact-role", "第一书记\u200f"), InvalidInput.exit_code, "contact_role: contains the invisible direction control"),
    (_service("--title", "x" * 201), InvalidInput.exit_code, "title: is 201 characters long; at most 200"),
    # time zones
    (_service("--timezone", "A" * 300), InvalidInput.exit_code, "timezone: is 300 characters long"),
    (_service("--timezone", "Mars/Olympus"), InvalidInput.exit_code, "timezone: unknown time zone"),
    (_service("--timezone", "../../etc/passwd"), InvalidInput.exit_code, "timezone: unknown time zone"),
    # edits are held to the same rules
    (("service", "edit", "reading", "--rrule", "FREQ=WEEKLY;INTERVAL=0"), InvalidInput.exit_code, "rrule: INTERVAL=0"),
    (("service", "edit", "reading", "--every", "0 weeks on sunday"), InvalidInput.exit_code, "every: INTERVAL=0"),
    (("service", "edit", "reading", "--start-date", "9999-12-31"), USAGE, "'--start-date'"),
    (("service", "edit", "reading", "--title", f"{RLO}读阅子亲"), InvalidInput.exit_code, "title: contains the invisible"),
    (("service", "edit", "reading", "--timezone", "A" * 300), InvalidInput.exit_code, "timezone:"),
    # people
    (("volunteer", "add", "--name", "李四", "--phone", "12345"), InvalidInput.exit_code, "phone: '12345' is not a mainland mobile"),
    (("volunteer", "add", "--name", "李四", "--phone", "12800138000"), InvalidInput.exit_code, "phone:"),
    (("volunteer", "add", "--name", "李四", "--phone", "13900139000", "--id-number", "440307199001011234"), InvalidInput.exit_code,
     "id_number: the check character"),
    (("volunteer", "add", "--name", "李四", "--phone", "13900139000", "--id-number", "440307199013011236"), InvalidInput.exit_code,
     "id_number: digits 7-14 of an ID number are a birth date"),
    (("volunteer", "add", "--name", "李四", "--phone", "13900139000", "--id-number", "12345"), InvalidInput.exit_code, "id_number:"),
    (("volunteer", "add", "--name", f"李{RLO}四", "--phone", "13900139000"), InvalidInput.exit_code, "name: contains the invisible"),
    (("volunteer", "add", "--name", "李四", "--phone", "13900139000", "--email", "a" * 34000 + "@example.cn"), InvalidInput.exit_code,
     "email: is 34011 characters long; at most 200"),
    (("volunteer", "add", "--name", "李四", "--phone", "13900139000", "--chat-id", "c" * 121), InvalidInput.exit_code,
     "chat_id: is 121 characters long; at most 120"),
    (("volunteer", "add", "--name", "李四", "--phone", "13800138000"), Conflict.exit_code, "phone: 138****8000 already belongs"),
    (("coordinator", "add", "--name", "李书记", "--email", "b" * 300 + "@example.cn"), InvalidInput.exit_code, "email: is 311 characters"),
    (("coordinator", "add", "--name", f"李{RLO}书记"), InvalidInput.exit_code, "name: contains the invisible"),
    (("community", "add", "longxi", "--name", "社" * 121), InvalidInput.exit_code, "name:"),
    # dates the calendar cannot hold
    (("plan", "--today", "9999-12-01"), USAGE, "'--today': 9999-12-01 is outside 1900-2100"),
    (("plan", "--today", "0001-01-01"), USAGE, "'--today': 0001-01-01 is outside 1900-2100"),
    (("closure", "add", "--scope", "district", "--from", "9999-12-01", "--to", "9999-12-31", "--reason", "x"), USAGE,
     "'--from'"),
    # ids beyond 64 bits: one Click type, exit 2 on both backends
    (("assign", "13800138000", BIG), USAGE, f"'OCCURRENCE': {BIG} is not an id"),
    (("why", BIG), USAGE, f"'ASSIGNMENT': {BIG} is not an id"),
    (("reminders", "retry", BIG), USAGE, f"'REMINDER_ID': {BIG} is not an id"),
    (("coordinator", "remove", BIG), USAGE, f"'COORDINATOR_ID': {BIG} is not an id"),
    (("closure", "remove", BIG), USAGE, f"'CLOSURE_ID': {BIG} is not an id"),
    (("attendance", "show", BIG), USAGE, f"'ID': {BIG} is not an id"),
    (("occurrence", "cancel", BIG, "--reason", "台风"), USAGE, f"'OCCURRENCE_ID': {BIG} is not an id"),
    (("unassign", BIG), USAGE, f"{BIG} is neither an id"),
    (("volunteer", "show", BIG), USAGE, f"{BIG} is neither an id"),
    (("checkin", BIG, "1"), USAGE, f"'VOLUNTEER': {BIG} is neither an id"),
    (("attendance", "list", "--occurrence", BIG), USAGE, f"'--occurrence': {BIG} is not an id"),
    (("why", "0"), USAGE, "'ASSIGNMENT': 0 is not an id"),
    (("why", "abc"), USAGE, "'ASSIGNMENT': 'abc' is not an id"),
    (("why", "9223372036854775807"), NotFound.exit_code, "assignment not found"),
    (("reminders", "retry", "424242"), NotFound.exit_code, "not found"),
]


@pytest.mark.parametrize(("args", "code", "message"), BAD, ids=[f"{i:02d}-{' '.join(a[:2])}" for i, (a, _, _) in
                                                                 enumerate(BAD)])
def test_bad_input_names_the_field_exits_with_its_code_and_changes_nothing(
        roster: Roster, args: tuple[str, ...], code: int, message: str) -> None:
    before = roster.snapshot()
    result = roster(*args)
    assert result.exit_code == code, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert roster.snapshot() == before


def test_occurrence_moved_past_the_calendar_is_refused(roster: Roster) -> None:
    before = roster.snapshot()
    occurrence = _occurrence_id(roster)
    for to in ("9999-12-31 23:30", "0001-01-01 00:00"):
        result = roster("occurrence", "move", occurrence, "--to", to)
        assert result.exit_code == InvalidInput.exit_code, result.output
        assert "to: " in result.output and "outside 1900-2100" in result.output
    assert roster.snapshot() == before


def test_phone_digits_of_any_script_are_stored_as_ascii_and_still_unique(roster: Roster) -> None:
    arabic = roster("volunteer", "add", "--name", "李四", "--phone", "139\u0660\u0660\u0661\u0663\u0669\u0660\u0660\u0660",
                    "--json")
    assert arabic.exit_code == 0, arabic.output
    with roster.engine.connect() as conn:
        assert conn.scalar(select(Volunteer.phone).where(Volunteer.name == "李四")) == "13900139000"
    again = roster("volunteer", "add", "--name", "李五", "--phone", "１３９００１３９０００")  # full-width
    assert again.exit_code == Conflict.exit_code, again.output
    found = roster("volunteer", "show", "13900139000", "--json")
    assert json.loads(found.output)["name"] == "李四"


def test_valid_citizen_id_with_check_character_x_is_accepted(roster: Roster) -> None:
    result = roster("volunteer", "add", "--name", "李明", "--phone", "13900139000", "--id-number", "44030319860106002x")
    assert result.exit_code == 0, result.output


def _store(r: Roster, **values: Any) -> None:
    """Write a service row as older code could have stored it (no validation on the way)."""
    with r.engine.begin() as conn:
        conn.execute(update(Service).where(Service.slug == "reading").values(**values))


@pytest.mark.parametrize("values", [
    {"rrule": "FREQ=WEEKLY;INTERVAL=0"},
    {"rrule": "FREQ=WEEKLY;INTERVAL=-1"},
    {"rrule": "FREQ=DAILY;BYMONTHDAY=30;BYMONTH=2"},
    {"rrule": "not a rule"},
    {"timezone": "Mars/Olympus"},
    {"start_time": "25:99"},
], ids=lambda v: next(iter(v.values())))
def test_plan_skips_a_bad_stored_service_names_it_and_plans_the_rest(roster: Roster, values: dict[str, Any]) -> None:
    good = roster(*_service("--start-date", "2026-09-01"))
    assert good.exit_code == 0, good.output
    _store(roster, **values)
    result = roster("plan", "--today", TODAY, "--weeks", "4", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [s["service"] for s in data["skipped"]] == ["reading"]
    assert data["created"] > 0  # the good service ("fresh") was planned
    text_result = roster("plan", "--today", TODAY, "--weeks", "4")
    assert "warning: service reading skipped (not planned)" in text_result.output
    closure = roster("closure", "add", "--scope", "district", "--from", "2026-09-12", "--to", "2026-09-12",
                     "--reason", "台风", "--today", TODAY)
    assert closure.exit_code == 0, closure.output
    assert "service reading skipped" in closure.output


def test_plan_skips_a_service_whose_start_date_is_past_the_calendar(roster: Roster) -> None:
    with roster.engine.begin() as conn:
        conn.execute(text("UPDATE service SET start_date = '9999-12-31' WHERE slug = 'reading'"))
    result = roster("plan", "--today", TODAY, "--weeks", "4", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["skipped"][0]["problem"].startswith("start_date: 9999-12-31 is outside")


def test_editing_the_start_date_later_counts_as_a_change_and_replans_away_earlier_occurrences(roster: Roster) -> None:
    from scheduler import rosters
    from scheduler.db import session_scope

    with session_scope(roster.engine) as s:  # assigned as of the pinned day, not the wall clock's
        rosters.assign(s, "13800138000", _occurrence_id(roster), "领读员", now=datetime(2026, 9, 1, tzinfo=UTC))
    result = roster("service", "edit", "reading", "--start-date", "2026-09-20", "--today", TODAY)
    assert result.exit_code == 0, result.output
    assert "service reading: changed start_date" in result.output
    assert "re-planned 2026-09-01..2026-11-23" in result.output and "1 cancelled" in result.output
    listed = json.loads(roster("occurrence", "list", "--service", "reading", "--json").output)
    before_start = [o for o in listed if o["date"] < "2026-09-20"]
    assert [o["status"] for o in before_start] == ["cancelled"]  # the seated one, its volunteer told
    assert all(o["status"] == "scheduled" for o in listed if o["date"] >= "2026-09-20")
    shown = json.loads(roster("service", "show", "reading", "--json").output)
    assert shown["start_date"] == "2026-09-20"


def test_chinese_every_forms_that_listings_print_are_accepted(roster: Roster) -> None:
    for slug, every, rule in (("a1", "每周六", "FREQ=WEEKLY;BYDAY=SA"),
                              ("a2", "工作日", "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"),
                              ("a3", "每月第2个周六", "FREQ=MONTHLY;BYDAY=2SA"),
                              ("a4", "每周一至周五", "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR")):
        args = list(_service(rule=("--every", every)))
        args[2] = slug
        result = roster(*args, "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["rrule"] == rule


def test_two_roster_init_at_once_on_postgresql_both_succeed(pg_url: str, tmp_path: Path) -> None:
    env = dict(os.environ, ROSTER_DATABASE_URL=pg_url, ROSTER_HOME=str(tmp_path / "var"))
    procs = [subprocess.Popen([str(ROSTER), "init"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outcomes = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    for code, out, err in outcomes:
        assert code == 0, err
        assert "database ready at revision" in out
    engine = make_engine(pg_url)
    try:
        with engine.connect() as conn:
            assert conn.scalar(text("SELECT count(*) FROM alembic_version")) == 1
    finally:
        engine.dispose()
