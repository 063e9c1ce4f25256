"""The foundation's CLI: org, service and volunteer commands, --json, errors and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from scheduler.db import make_engine, session_scope
from scheduler.errors import Conflict, InvalidInput, NotFound
from scheduler.models import Branch, Community, Event, Service, Volunteer

ROOT = Path(__file__).resolve().parents[2]


def _counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    with session_scope(engine) as s:
        counts = {m.__name__: s.scalar(select(func.count()).select_from(m)) or 0
                  for m in (Community, Branch, Service, Volunteer, Event)}
    engine.dispose()
    return counts


@pytest.fixture
def org_cli(invoke):  # type: ignore[no-untyped-def]
    assert invoke("community", "add", "ailian", "--name", "爱联社区").exit_code == 0
    assert invoke("branch", "add", "shunjing", "--name", "顺景花园党支部", "--community", "ailian").exit_code == 0
    return invoke


def test_help_lists_every_command_group_with_one_line(invoke) -> None:  # type: ignore[no-untyped-def]
    result = invoke("--help")
    assert result.exit_code == 0
    for group in ("init", "community", "branch", "service", "volunteer", "demo"):
        assert f"  {group} " in result.output
    assert "Exit codes" in result.output


def test_help_imports_no_celery_and_opens_no_database(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "sys.argv = ['roster', '--help']\n"
        "import cli\n"
        "try:\n    cli.main()\nexcept SystemExit:\n    pass\n"
        "bad = [m for m in ('celery', 'kombu', 'sqlalchemy', 'scheduler.db', 'rich') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    env = {"PATH": "/usr/bin:/bin", "ROSTER_LANG": "en", "ROSTER_HOME": str(tmp_path / "var")}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "Usage: roster" in result.stdout
    assert not (tmp_path / "var").exists(), "--help must not create the database folder"


def test_community_and_branch_listing_as_table_and_json(org_cli) -> None:  # type: ignore[no-untyped-def]
    table = org_cli("branch", "list")
    assert table.exit_code == 0
    assert "顺景花园党支部" in table.output
    data = json.loads(org_cli("community", "list", "--json").output)
    assert data == [{"branches": 1, "centre_address": "", "centre_name": "爱联社区党群服务中心",
                     "name": "爱联社区", "slug": "ailian"}]
    shown = json.loads(org_cli("branch", "show", "shunjing", "--json").output)
    assert shown["community"] == "ailian" and shown["volunteers"] == 0


def test_json_output_is_sorted_and_stable(org_cli) -> None:  # type: ignore[no-untyped-def]
    first = org_cli("branch", "list", "--json").output
    second = org_cli("branch", "list", "--json").output
    assert first == second
    keys = list(json.loads(first)[0])
    assert keys == sorted(keys)


def test_chinese_columns_align_in_tables(org_cli) -> None:  # type: ignore[no-untyped-def]
    org_cli("branch", "add", "city-garden", "--name", "城市花园党支部", "--community", "ailian")
    lines = [ln for ln in org_cli("branch", "list").output.splitlines() if "│" in ln]
    from rich.cells import cell_len

    # Each separator sits at the same display column in every row (wide characters count twice).
    columns = {cell_len(ln[: ln.index("│")]) for ln in lines}
    assert len(columns) == 1, lines


def test_service_add_shows_the_compiled_rrule_back(org_cli) -> None:  # type: ignore[no-untyped-def]
    result = org_cli(
        "service", "add", "zilu-430", "--title", "四点半课堂", "--kind", "classroom", "--branch", "shunjing",
        "--every", "weekday", "--start-date", "2026-09-01", "--time", "16:30", "--duration", "2h",
        "--policy", "workdays", "--role", "辅导员:3:tutor", "--venue", "紫麓花园党群活动室",
    )
    assert result.exit_code == 0, result.output
    assert "RRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR" in result.output
    shown = json.loads(org_cli("service", "show", "zilu-430", "--json").output)
    assert shown["roles"] == [{"count": 3, "name": "辅导员", "skill": "tutor"}]
    assert shown["duration_minutes"] == 120 and shown["holiday_policy"] == "workdays"
    edited = org_cli("service", "edit", "zilu-430", "--venue", "紫麓花园二楼", "--json")
    assert edited.exit_code == 0, edited.output
    assert json.loads(edited.output)["changed"] == ["venue"]


@pytest.mark.parametrize(
    ("args", "field", "code"),
    [
        (["--branch", "nowhere"], "branch not found: nowhere", 3),
        (["--branch", "shunjing", "--timezone", "Mars/Base"], "timezone: unknown time zone", 4),
        (["--branch", "shunjing", "--duration", "0"], "duration: must be longer than zero", 4),
        (["--branch", "shunjing", "--duration", "25h"], "duration: must be at most 24 hours", 4),
        (["--branch", "shunjing", "--rrule", "FREQ=FORTNIGHTLY"], "rrule:", 4),
        (["--branch", "shunjing", "--role", "医生"], "role:", 4),
    ],
)
def test_bad_service_input_names_the_field_and_writes_nothing(
    org_cli, roster_env, args: list[str], field: str, code: int  # type: ignore[no-untyped-def]
) -> None:
    before = _counts(roster_env["ROSTER_DATABASE_URL"])
    base = ["service", "add", "bad", "--title", "义诊", "--start-date", "2026-09-01", "--time", "09:00",
            "--duration", "2h", "--rrule", "FREQ=WEEKLY;BYDAY=SA", "--role", "医生:2:doctor"]
    result = org_cli(*base, *args)
    assert result.exit_code == code, result.output
    assert field in result.output
    assert _counts(roster_env["ROSTER_DATABASE_URL"]) == before


def test_duplicate_slug_is_a_conflict(org_cli) -> None:  # type: ignore[no-untyped-def]
    result = org_cli("community", "add", "ailian", "--name", "又一个")
    assert result.exit_code == Conflict.exit_code
    assert "slug: a community with slug 'ailian' already exists" in result.output


def test_bad_slug_is_invalid_input(org_cli) -> None:  # type: ignore[no-untyped-def]
    result = org_cli("community", "add", "Ai Lian", "--name", "爱联")
    assert result.exit_code == InvalidInput.exit_code
    assert "slug:" in result.output


def test_volunteer_lifecycle_by_id_and_phone(org_cli) -> None:  # type: ignore[no-untyped-def]
    added = org_cli("volunteer", "add", "--name", "王芳", "--phone", "+86 138-0013-8000", "--skill", "Tutor",
                    "--branch", "shunjing", "--availability", "mon-fri 16:00-19:00", "--blackout",
                    "2026-10-01..2026-10-03", "--json")
    assert added.exit_code == 0, added.output
    data = json.loads(added.output)
    assert data["phone"] == "138****8000"
    assert data["skills"] == ["tutor"]
    assert data["blackout_dates"] == ["2026-10-01", "2026-10-02", "2026-10-03"]
    by_phone = json.loads(org_cli("volunteer", "show", "13800138000", "--json").output)
    assert by_phone["id"] == data["id"]
    edited = org_cli("volunteer", "edit", str(data["id"]), "--monthly-cap", "16", "--json")
    assert json.loads(edited.output)["monthly_cap_hours"] == 16
    assert org_cli("volunteer", "deactivate", "13800138000").exit_code == 0
    assert json.loads(org_cli("volunteer", "list", "--json").output) == []
    assert len(json.loads(org_cli("volunteer", "list", "--all", "--json").output)) == 1
    again = org_cli("volunteer", "deactivate", "13800138000")
    assert again.exit_code == Conflict.exit_code


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (["--name", "李四", "--phone", "12345"], "phone: '12345' is not a mainland mobile number", 4),
        (["--name", "李四", "--phone", "13900000000", "--branch", "nope"], "branch not found: nope", 3),
        (["--name", "李四", "--phone", "13900000000", "--email", "not-mail"], "email:", 4),
        (["--name", "李四", "--phone", "13900000000", "--availability", "someday"], "availability:", 4),
        (["--name", "李四", "--phone", "13900000000", "--blackout", "2026-13-01"], "blackout:", 4),
        (["--name", "", "--phone", "13900000000"], "name:", 4),
    ],
)
def test_bad_volunteer_input_names_the_field_and_writes_nothing(
    org_cli, roster_env, args: list[str], message: str, code: int  # type: ignore[no-untyped-def]
) -> None:
    before = _counts(roster_env["ROSTER_DATABASE_URL"])
    result = org_cli("volunteer", "add", *args)
    assert result.exit_code == code, result.output
    assert message in result.output
    assert _counts(roster_env["ROSTER_DATABASE_URL"]) == before


def test_duplicate_phone_is_a_conflict(org_cli) -> None:  # type: ignore[no-untyped-def]
    assert org_cli("volunteer", "add", "--name", "王芳", "--phone", "13800138000").exit_code == 0
    result = org_cli("volunteer", "add", "--name", "李娜", "--phone", "13800138000")
    assert result.exit_code == Conflict.exit_code
    assert "phone: 138****8000 already belongs to volunteer #1" in result.output
    assert "13800138000" not in result.output  # masked as listings mask it


def test_unknown_volunteer_reference_is_not_found(org_cli) -> None:  # type: ignore[no-untyped-def]
    assert org_cli("volunteer", "show", "42").exit_code == NotFound.exit_code
    assert org_cli("volunteer", "show", "王芳").exit_code == NotFound.exit_code


def test_console_script_exit_code_matches_documented_code(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "ROSTER_LANG": "en", "ROSTER_HOME": str(tmp_path / "var")}
    roster = [sys.executable, "-c", "import cli; cli.main()"]
    assert subprocess.run([*roster, "init"], cwd=ROOT, env=env, capture_output=True).returncode == 0
    result = subprocess.run([*roster, "branch", "show", "nope"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == NotFound.exit_code
    assert result.stderr.strip() == "error: branch not found: nope"
    assert "Traceback" not in result.stderr


def test_demo_twice_duplicates_nothing(invoke, roster_env) -> None:  # type: ignore[no-untyped-def]
    # In process (--no-workers) for speed; tests/demo/test_demo.py runs the cycle through a worker.
    first = invoke("demo", "--today", "2026-11-30", "--no-workers")
    assert first.exit_code == 0, first.output
    assert "11 communities, 13 branches" in first.output
    counts = _counts(roster_env["ROSTER_DATABASE_URL"])
    second = invoke("demo", "--today", "2026-11-30", "--no-workers")
    assert second.exit_code == 0, second.output
    assert "loaded: 0 communities, 0 branches, 0 services, 0 volunteers, 0 coordinators added" in second.output
    after = _counts(roster_env["ROSTER_DATABASE_URL"])
    assert {k: v for k, v in after.items() if k != "Event"} == {k: v for k, v in counts.items() if k != "Event"}
