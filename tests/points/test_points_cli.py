"""roster points and roster report party-members as a coordinator types them; redemptions racing in
real processes on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine, func, select

from scheduler.db import session_scope
from scheduler.models import PointsBalance, PointsEntry
from tests import factories
from tests.cli_codes import USAGE
from tests.points.conftest import serve

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Built relative to the clock (the suite runs under libfaketime years ahead): yesterday's shift is
# over, today is the earliest day a rate may start.
TODAY = datetime.now(SHANGHAI).date()
DAY = TODAY - timedelta(days=1)
QUARTER = f"{DAY.year}-Q{(DAY.month - 1) // 3 + 1}"


@pytest.fixture
def served(invoke) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """A home-visit service with yesterday's shift, 王芳 served it 16:30-18:30 (approved at check-out)."""
    for args in (
        ("community", "add", "ailian", "--name", "爱联社区"),
        ("branch", "add", "shunjing", "--name", "顺景花园党支部", "--community", "ailian"),
        ("service", "add", "visits", "--title", "关爱空巢老人", "--kind", "elderly_care", "--branch", "shunjing",
         "--every", "weekday", "--start-date", "2026-01-05", "--time", "16:30", "--duration", "2h",
         "--role", "探访:2", "--visibility", "private"),
        ("volunteer", "add", "--name", "王芳", "--phone", "13800138000", "--branch", "shunjing"),
        ("volunteer", "add", "--name", "李明", "--phone", "13900139000", "--branch", "shunjing"),
    ):
        result = invoke(*args)
        assert result.exit_code == 0, result.output
    from scheduler.db import engine_for
    from scheduler.models import Service

    url = os.environ["ROSTER_DATABASE_URL"]
    with session_scope(engine_for(url)) as s:
        svc = s.scalars(select(Service).where(Service.slug == "visits")).one()
        start = datetime.combine(DAY, datetime.min.time().replace(hour=16, minute=30), tzinfo=SHANGHAI)
        occ = factories.occurrence(s, svc, start=start.astimezone(ZoneInfo("UTC")))
        occ_id = str(occ.id)
    for args in (("checkin", "1", occ_id, "--at", f"{DAY} 16:30", "--by", "李书记"),
                 ("checkout", "1", occ_id, "--at", f"{DAY} 18:30", "--by", "李书记")):
        result = invoke(*args)
        assert result.exit_code == 0, result.output
    return {"occ": occ_id}


def test_approved_hours_show_in_balance_and_statement_and_can_be_redeemed(invoke, served) -> None:  # type: ignore
    balance = json.loads(invoke("points", "balance", "13800138000", "--json").output)
    assert [(b["name"], b["earned"], b["balance"]) for b in balance] == [("王芳", "2.00", "2.00")]
    result = invoke("points", "redeem", "13800138000", "2", "--at", "爱联社区党群服务中心", "--for", "大米一袋",
                    "--by", "李书记")
    assert result.exit_code == 0, result.output
    assert "redeemed 2.00 points of volunteer #1 at 爱联社区党群服务中心 for 大米一袋; balance 0.00" in result.output
    result = invoke("points", "redeem", "1", "1", "--at", "中心", "--for", "毛巾")
    assert result.exit_code == 5
    assert "points: not enough points: volunteer #1 has 0.00, asked to redeem 1.00" in result.stderr
    statement = json.loads(invoke("points", "statement", "1", "--json").output)
    assert [(e["kind"], e["points"], e["by"], e["via"]) for e in statement["entries"]] == [
        ("earned", "2.00", "auto", "cli"), ("redeemed", "-2.00", "李书记", "cli")]
    table = invoke("points", "statement", "1").output
    assert "opening 0.00, closing 0.00" in table and "大米一袋" in table
    everyone = invoke("points", "balance", "--branch", "shunjing").output
    assert "王芳" in everyone and "李明" in everyone


def test_a_rate_set_from_today_applies_to_hours_served_from_today(invoke, served) -> None:  # type: ignore
    result = invoke("points", "rate", "set", "elderly_care", "1.5", "--from", TODAY.isoformat(), "--by", "张主任")
    assert result.exit_code == 0, result.output
    listed = json.loads(invoke("points", "rate", "list", "--json").output)
    assert [(r["kind"], r["rate"], r["effective_from"]) for r in listed] == [("elderly_care", "1.50",
                                                                             TODAY.isoformat())]
    # Yesterday's hours keep the rate of their day, even when approved again after a correction.
    result = invoke("attendance", "correct", "1", "--field", "check_out", "--value", f"{DAY} 18:00",
                    "--reason", "提前离开", "--by", "李书记")
    assert result.exit_code == 0, result.output
    statement = json.loads(invoke("points", "statement", "1", "--json").output)
    assert [(e["kind"], e["points"], e["rate"]) for e in statement["entries"]] == [
        ("earned", "2.00", "1.00"), ("correction", "-0.50", "1.00")]


@pytest.mark.parametrize(("args", "code", "message"), [
    (("points", "redeem", "1", "0", "--at", "中心", "--for", "大米"), 4, "points: '0' is not a positive whole number"),
    (("points", "redeem", "1", "1.5", "--at", "中心", "--for", "大米"), 4, "points: '1.5' is not a positive whole"),
    (("points", "redeem", "--at", "中心", "--for", "大米", "--", "1", "-2"), 4, "points: '-2' is not a positive whole"),
    (("points", "redeem", "1", "1", "--at", "中心", "--for", " "), 4, "for: must not be empty"),
    (("points", "redeem", "1", "3", "--at", "中心", "--for", "大米"), 5, "not enough points"),
    (("points", "redeem", "42", "1", "--at", "中心", "--for", "大米"), 3, "volunteer not found: 42"),
    (("points", "rate", "set", "clinic", "0", "--from", "{today}"), 4, "rate: 0 is not above zero"),
    (("points", "rate", "set", "--from", "{today}", "--", "clinic", "-1"), 4, "rate: -1 is not above zero"),
    (("points", "rate", "set", "clinic", "1", "--from", "{yesterday}"), 4, "from: {yesterday} is in the past"),
    (("points", "rate", "set", "clinic", "1", "--from", "明天"), USAGE, "is not a date"),
    (("report", "party-members", "--quarter", "2026-Q5"), 4, "quarter: '2026-Q5' is not a quarter like 2026-Q4"),
    (("report", "party-members", "--quarter", "2026-Q4", "--target", "0"), 4, "target: 0 is not a number of hours"),
])
def test_bad_input_names_the_field_and_writes_nothing(invoke, served, args, code, message) -> None:  # type: ignore
    fill = {"today": TODAY.isoformat(), "yesterday": DAY.isoformat()}
    result = invoke(*(a.format(**fill) for a in args))
    assert result.exit_code == code, result.output
    assert message.format(**fill) in result.stderr
    statement = json.loads(invoke("points", "statement", "1", "--json").output)
    assert [e["kind"] for e in statement["entries"]] == ["earned"]
    assert json.loads(invoke("points", "rate", "list", "--json").output) == []


def test_points_speak_chinese(invoke, served) -> None:  # type: ignore[no-untyped-def]
    env = {"ROSTER_LANG": "zh_CN"}
    from click.testing import CliRunner

    from cli import cli

    result = CliRunner().invoke(cli, ["points", "redeem", "1", "5", "--at", "中心", "--for", "大米"], env=env)
    assert result.exit_code == 5
    assert "积分不足" in result.stderr
    result = CliRunner().invoke(cli, ["points", "statement", "1"], env=env)
    assert result.exit_code == 0 and "获得" in result.output


def test_serving_party_members_report_per_work_unit(invoke, served, tmp_path: Path) -> None:  # type: ignore
    for args in (("volunteer", "edit", "1", "--party-member", "--work-unit", "龙岗区税务局"),
                 ("volunteer", "edit", "2", "--party-member", "--work-unit", "=HYPERLINK(\"x\")")):
        result = invoke(*args)
        assert result.exit_code == 0, result.output
    result = invoke("volunteer", "edit", "1", "--work-unit", "")
    assert result.exit_code == 4 and "work_unit: a serving Party member needs a work unit" in result.stderr
    data = json.loads(invoke("report", "party-members", "--quarter", QUARTER, "--json").output)
    assert data["quarter"] == QUARTER and data["target_hours"] == "50"
    assert [(m["work_unit"], m["name"], m["quarter_hours"], m["year_to_date_hours"], m["percent"])
            for m in data["members"]] == [("=HYPERLINK(\"x\")", "李明", "0.00", "0.00", 0),
                                          ("龙岗区税务局", "王芳", "2.00", "2.00", 4)]
    out = tmp_path / "reports"
    result = invoke("report", "party-members", "--quarter", QUARTER, "--target", "40", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "龙岗区税务局" in result.output and "5%" in result.output
    raw = (out / f"party-members-{QUARTER}.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[1][:4] == ["工作单位", "姓名", "所属支部", "本季度时长（小时）"]
    assert rows[3][:5] == ["龙岗区税务局", "王芳", "顺景花园党支部", "2.00", "2.00"]
    assert rows[2][0] == "'=HYPERLINK(\"x\")"  # neutralised: Excel shows it, never runs it
    sheet = load_workbook(out / f"party-members-{QUARTER}.xlsx").active
    values = [[c.value for c in row] for row in sheet.iter_rows(min_row=3)]  # type: ignore[union-attr]
    assert ["龙岗区税务局", "王芳", "顺景花园党支部", 2, 2, 40, "5%", 38] in values
    assert any(row[1] == "小计（1人）" for row in values)
    # Unmarked: no longer in the report.
    assert invoke("volunteer", "edit", "2", "--no-party-member").exit_code == 0
    data = json.loads(invoke("report", "party-members", "--quarter", QUARTER, "--json").output)
    assert [m["name"] for m in data["members"]] == ["王芳"]


def test_redemptions_racing_for_the_last_points_one_wins(engine: Engine, db_url: str, tmp_path: Path) -> None:
    with session_scope(engine) as s:
        factories.org(s)
        svc, vol = factories.service(s), factories.volunteer(s)
        serve(s, svc, vol, datetime(2026, 12, 7, 8, 30, tzinfo=ZoneInfo("UTC")), 300)  # 5 points
        vid = vol.id
    env = dict(os.environ, ROSTER_DATABASE_URL=db_url, ROSTER_HOME=str(tmp_path / "var"), ROSTER_LANG="en")
    roster = str(Path(sys.executable).with_name("roster"))
    racers = [subprocess.Popen([roster, "points", "redeem", str(vid), "5", "--at", "中心", "--for", f"大米 {n}",
                                "--by", "李书记"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for n in range(6)]
    outcomes = []
    for racer in racers:
        _out, err = racer.communicate(timeout=120)  # closes the pipes
        outcomes.append((racer.returncode, err))
    assert sorted(code for code, _ in outcomes) == [0, 5, 5, 5, 5, 5], outcomes
    assert all("not enough points" in err for code, err in outcomes if code)
    with session_scope(engine) as s:
        assert s.get(PointsBalance, vid).balance_centi == 0  # type: ignore[union-attr]
        redeemed = s.scalar(select(func.count()).select_from(PointsEntry).where(PointsEntry.kind == "redeemed"))
        total = s.scalar(select(func.sum(PointsEntry.amount_centi)).where(PointsEntry.volunteer_id == vid))
        assert (redeemed, total) == (1, 0)
