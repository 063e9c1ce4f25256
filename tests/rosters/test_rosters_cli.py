"""The roster commands as a coordinator uses them: output, --json, exit codes (fresh SQLite db)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from scheduler.db import make_engine, session_scope, utcnow
from scheduler.errors import CapacityFull, CheckRefused, Conflict, InvalidInput, NotFound
from scheduler.models import Assignment, Service
from tests import factories as f
from tests.cli_codes import USAGE


@pytest.fixture
def clinic(invoke, roster_env):  # type: ignore[no-untyped-def]
    """A Saturday clinic (医生:1:doctor, 引导员:2) with one occurrence about a month ahead."""
    for args in (
        ("community", "add", "ailian", "--name", "爱联社区"),
        ("branch", "add", "shunjing", "--name", "顺景花园党支部", "--community", "ailian"),
        ("service", "add", "yizhen", "--title", "义诊", "--kind", "clinic", "--branch", "shunjing",
         "--every", "saturday", "--start-date", "2026-01-03", "--time", "09:00", "--duration", "2h",
         "--role", "医生:1:doctor", "--role", "引导员:2"),
        ("volunteer", "add", "--name", "张医生", "--phone", "13800000001", "--branch", "shunjing", "--skill", "doctor"),
        ("volunteer", "add", "--name", "李引导", "--phone", "13800000002", "--branch", "shunjing"),
        ("volunteer", "add", "--name", "王芳", "--phone", "13800000003", "--branch", "shunjing"),
        ("volunteer", "add", "--name", "赵敏", "--phone", "13800000004", "--branch", "shunjing"),
    ):
        result = invoke(*args)
        assert result.exit_code == 0, result.output
    start = (utcnow() + timedelta(days=30)).replace(hour=1, minute=0, second=0, microsecond=0)
    engine = make_engine(roster_env["ROSTER_DATABASE_URL"])
    with session_scope(engine) as s:
        svc = s.scalar(select(Service).where(Service.slug == "yizhen"))
        assert svc is not None
        occ_id = f.occurrence(s, svc, start=start).id
    engine.dispose()
    return {"invoke": invoke, "occ": str(occ_id), "start": start, "url": roster_env["ROSTER_DATABASE_URL"]}


def _seated(url: str) -> int:
    engine = make_engine(url)
    with session_scope(engine) as s:
        count = s.scalar(select(func.count()).select_from(Assignment).where(Assignment.seat_no.is_not(None)))
    engine.dispose()
    return count or 0


def test_assign_prints_the_seat_and_refusals_use_their_exit_codes(clinic) -> None:  # type: ignore[no-untyped-def]
    invoke, occ = clinic["invoke"], clinic["occ"]
    ok = invoke("assign", "13800000001", occ, "--role", "医生")
    assert ok.exit_code == 0 and "as 医生" in ok.output and "invited, seat 1" in ok.output
    refused = invoke("assign", "13800000002", occ, "--role", "医生")
    assert refused.exit_code == CapacityFull.exit_code and "error: role 医生 at occurrence" in refused.stderr  # full before skill
    invoke("unassign", "13800000001", occ)
    refused = invoke("assign", "13800000002", occ, "--role", "医生")
    assert refused.exit_code == CheckRefused.exit_code
    assert "skill: role 医生 needs 'doctor'" in refused.stderr and "--force" in refused.stderr
    forced = invoke("assign", "13800000002", occ, "--role", "医生", "--force", "--note", "退休医生，证书待补", "--json")
    data = json.loads(forced.stdout)
    assert forced.exit_code == 0 and data["forced"] is True and data["force_note"] == "退休医生，证书待补"
    assert invoke("assign", "99", occ, "--role", "医生").exit_code == NotFound.exit_code
    assert invoke("assign", "13800000003", "x1", "--role", "医生").exit_code == USAGE  # not an id: a usage error
    assert invoke("assign", "13800000003", occ).exit_code == InvalidInput.exit_code  # two roles: --role needed
    invoke("volunteer", "deactivate", "13800000004")
    gone = invoke("assign", "13800000004", occ, "--role", "引导员", "--force")
    assert gone.exit_code == Conflict.exit_code and "deactivated" in gone.stderr


def test_waitlist_confirm_decline_and_swap_from_the_command_line(clinic) -> None:  # type: ignore[no-untyped-def]
    invoke, occ = clinic["invoke"], clinic["occ"]
    first = json.loads(invoke("assign", "13800000002", occ, "--role", "引导员", "--json").stdout)
    invoke("assign", "13800000003", occ, "--role", "引导员")
    waiting = invoke("assign", "13800000001", occ, "--role", "引导员", "--waitlist")
    assert waiting.exit_code == 0 and "waitlisted, waitlist position 1" in waiting.output
    assert invoke("confirm", str(first["id"])).output.count("confirmed") == 1
    declined = invoke("decline", str(first["id"]), "--reason", "临时加班")
    assert declined.exit_code == 0 and "declined" in declined.output
    assert _seated(clinic["url"]) == 2  # the waitlisted doctor moved up
    schedule = json.loads(invoke("schedule", "--week", clinic["start"].date().isoformat(), "--json").stdout)
    (row,) = schedule["occurrences"]
    guides = next(r for r in row["roles"] if r["name"] == "引导员")
    assert [p["name"] for p in guides["on"]] == ["张医生", "王芳"]
    handed = invoke("swap", str(guides["on"][0]["assignment_id"]), "--to", "13800000002")
    assert handed.exit_code == 0 and "invited" in handed.output
    assert invoke("swap", "1").exit_code == InvalidInput.exit_code


def test_decline_needs_no_reason_and_names_who_moved_up_never_position_none(clinic) -> None:  # type: ignore[no-untyped-def]
    invoke, occ = clinic["invoke"], clinic["occ"]
    first = json.loads(invoke("assign", "13800000002", occ, "--role", "引导员", "--json").stdout)
    invoke("assign", "13800000003", occ, "--role", "引导员")
    invoke("assign", "13800000001", occ, "--role", "引导员", "--waitlist")
    declined = invoke("decline", str(first["id"]))
    assert declined.exit_code == 0, declined.output
    assert "None" not in declined.output
    assert f"assignment #{first['id']}: volunteer #{first['volunteer_id']}" in declined.output
    assert "declined\n" in declined.output
    assert "moved up from waitlist position 1: 张医生" in declined.output and "now seat 1" in declined.output
    again = json.loads(invoke("decline", "13800000003", occ, "--json").stdout)
    assert again["status"] == "declined" and again["promoted"] == [] and again["freed_seat"] == 2


def test_move_outside_an_assigned_volunteers_availability_warns_naming_them(clinic) -> None:  # type: ignore
    invoke, occ = clinic["invoke"], clinic["occ"]
    added = invoke("volunteer", "add", "--name", "陈晨", "--phone", "13800000005", "--branch", "shunjing",
                   "--availability", "mon-sun 08:00-12:00")
    assert added.exit_code == 0, added.output
    assert invoke("assign", "13800000005", occ, "--role", "引导员").exit_code == 0
    assert invoke("assign", "13800000002", occ, "--role", "引导员").exit_code == 0
    day = clinic["start"].astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()
    moved = invoke("occurrence", "move", occ, "--to", f"{day} 14:00", "--reason", "场地调整")
    assert moved.exit_code == 0, moved.output
    assert "moved to" in moved.stdout and "14:00-16:00" in moved.stdout  # the date is shown as people read it
    assert "warning: the new time does not suit 陈晨" in moved.stderr and "availability:" in moved.stderr
    assert "李引导" not in moved.stderr
    data = json.loads(invoke("occurrence", "move", occ, "--to", f"{day} 09:00", "--json").stdout)
    assert data["warnings"] == []


def test_fill_dry_run_prints_the_plan_and_why_explains(clinic) -> None:  # type: ignore[no-untyped-def]
    invoke, occ = clinic["invoke"], clinic["occ"]
    day = clinic["start"].date().isoformat()
    plan = invoke("fill", "--from", day, "--to", day, "--dry-run")
    assert plan.exit_code == 0, plan.output
    assert "plan (dry run: nothing written)" in plan.output and "张医生" in plan.output
    assert "would fill 3 seats in 1 occurrences" in plan.output
    assert _seated(clinic["url"]) == 0
    done = json.loads(invoke("fill", "--from", day, "--to", day, "--json").stdout)
    assert done["filled"] == 3 and done["left_open"] == 0
    doctor = next(p for p in done["placements"] if p["role"] == "医生")
    explained = invoke("why", str(doctor["assignment_id"]))
    assert explained.exit_code == 0
    assert "chosen by auto-fill from the service's own branch" in explained.output
    assert f"at occurrence #{occ}" in explained.output
    bad = invoke("fill", "--from", day, "--to", day, "--branch", "shunjing", "--community", "ailian")
    assert bad.exit_code == USAGE


def test_schedule_table_aligns_chinese_and_shows_open_seats(clinic) -> None:  # type: ignore[no-untyped-def]
    invoke, occ = clinic["invoke"], clinic["occ"]
    invoke("assign", "13800000003", occ, "--role", "引导员")
    table = invoke("schedule", "--week", clinic["start"].date().isoformat(), "--branch", "shunjing")
    assert table.exit_code == 0
    assert "义诊" in table.output and "王芳(invited)" in table.output
    lines = [line for line in table.output.splitlines() if "引导员" in line]
    cells = [c.strip() for c in lines[0].split("│")]
    assert (cells[4], cells[6]) == ("引导员", "1")  # one of two guide seats open
    assert cells[5].startswith("#") and cells[5].endswith(" 王芳(invited)")  # with the assignment id
    empty = invoke("schedule", "--week", "2020-01-01")
    assert "nothing scheduled" in empty.output
    local_day = clinic["start"].astimezone(ZoneInfo("Asia/Shanghai")).date()
    monday = local_day - timedelta(days=local_day.weekday())
    # An empty week points to the next one with shifts, by the command that prints it.
    assert f"roster schedule --week {monday.isoformat()}" in empty.output
    assert json.loads(invoke("schedule", "--week", "2020-01-01", "--json").stdout)["next_week"] == monday.isoformat()
    later = invoke("schedule", "--week", (monday + timedelta(days=7)).isoformat(), "--branch", "shunjing")
    assert "nothing scheduled" in later.output and "--week" not in later.output
    assert clinic["start"].tzinfo is UTC and datetime.now(UTC) < clinic["start"]
