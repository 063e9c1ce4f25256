"""The attendance and hours commands as a coordinator types them: exit codes, Chinese output, exports."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from scheduler.db import engine_for, session_scope
from scheduler.errors import Conflict, InvalidInput, NotFound
from scheduler.i18n import format_date, format_datetime, using
from scheduler.models import Assignment, Service
from tests import factories
from tests.cli_codes import USAGE

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Yesterday, local: the occurrence is over whenever the test runs, so --at times are in the past.
DAY = (datetime.now(SHANGHAI) - timedelta(days=1)).date()


def at(hhmm: str, day: date = DAY) -> str:
    return f"{day.isoformat()} {hhmm}"


@pytest.fixture
def setup(invoke, roster_env: dict[str, str]) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """A branch, the four-thirty classroom with yesterday's occurrence, two volunteers (one assigned)."""
    for args in (
        ("community", "add", "ailian", "--name", "爱联社区"),
        ("branch", "add", "shunjing", "--name", "顺景花园党支部", "--community", "ailian"),
        ("service", "add", "sj-430", "--title", "四点半课堂", "--kind", "classroom", "--branch", "shunjing",
         "--every", "weekday", "--start-date", "2026-01-05", "--time", "16:30", "--duration", "2h",
         "--role", "辅导员:2:tutor", "--venue", "顺景花园党群之家", "--contact-role", "支部第一书记"),
        ("volunteer", "add", "--name", "王芳", "--phone", "13800138000", "--id-number", "440307199001051234",
         "--branch", "shunjing", "--skill", "tutor"),
        ("volunteer", "add", "--name", "=cmd|' /C calc'!A0", "--phone", "13900139000", "--branch", "shunjing"),
    ):
        result = invoke(*args)
        assert result.exit_code == 0, result.output
    with session_scope(engine_for(roster_env["ROSTER_DATABASE_URL"])) as s:
        svc = s.scalars(select(Service).where(Service.slug == "sj-430")).one()
        start = datetime.combine(DAY, datetime.min.time().replace(hour=16, minute=30), tzinfo=SHANGHAI)
        occ = factories.occurrence(s, svc, start=start.astimezone(UTC))
        s.add(Assignment(occurrence_id=occ.id, role_id=svc.roles[0].id, volunteer_id=1, status="confirmed",
                         seat_no=1))
        return {"occ": occ.id}


def local(hhmm: str) -> str:
    """A local time on DAY as the CLI shows it (in the language of the test)."""
    return format_datetime(datetime.strptime(at(hhmm), "%Y-%m-%d %H:%M"), with_year=True)


def test_checkin_and_checkout_print_the_record_and_count_minutes(invoke, setup) -> None:  # type: ignore[no-untyped-def]
    occ = str(setup["occ"])
    result = invoke("checkin", "13800138000", occ, "--at", at("16:30"), "--by", "李书记")
    assert result.exit_code == 0, result.output
    assert result.output == (f"check-in record #1: 王芳 (#1) 四点半课堂 occurrence #{occ} {local('16:30')} "
                             "Asia/Shanghai, in progress\n")
    result = invoke("checkout", "1", occ, "--at", "18:45")
    assert result.exit_code == 0, result.output
    assert result.output == (f"check-out record #1: 王芳 (#1) 四点半课堂 occurrence #{occ} {local('16:30')}-18:45 "
                             "Asia/Shanghai, 135 min (2.25 h), approved\n")
    shown = json.loads(invoke("attendance", "show", "1", "--json").output)
    assert (shown["check_in"], shown["check_out"], shown["recorded_by"]) == (at("16:30"), at("18:45"), "李书记")


def test_attendance_speaks_chinese_with_roster_lang_zh_cn(invoke, setup, monkeypatch) -> None:  # type: ignore
    occ = str(setup["occ"])
    monkeypatch.setenv("ROSTER_LANG", "zh_CN")
    with using("zh_CN"):
        day = format_date(DAY, with_year=True)  # 2026年12月7日（周一）
    result = invoke("checkin", "13800138000", occ, "--at", at("16:30"), "--by", "李书记")
    assert result.output == f"已签到，记录 #1：王芳（#1）四点半课堂 场次 #{occ} {day}16:30（Asia/Shanghai），进行中\n"
    result = invoke("checkout", "1", occ, "--at", "18:45")
    assert result.output == (f"已签退，记录 #1：王芳（#1）四点半课堂 场次 #{occ} {day}16:30-18:45（Asia/Shanghai），"
                             "135 分钟（2.25 小时），已审核\n")
    listed = invoke("attendance", "list").output
    for header in ("编号", "志愿者", "服务项目", "场次", "签到", "签退", "分钟", "时长", "状态", "需审核原因"):
        assert header in listed
    assert f"{day}16:30" in listed and "已审核" in listed and "approved" not in listed
    invoke("attendance", "reject", "1", "--by", "张主任", "--reason", "重复登记")
    shown = invoke("attendance", "show", "1").output
    assert "留痕记录" in shown and "操作人" in shown and "原值" in shown and "新值" in shown
    assert "已审核" in shown and "未通过" in shown and "张主任" in shown
    # JSON stays English for scripts, whatever the language.
    record = json.loads(invoke("attendance", "show", "1", "--json").output)
    assert (record["status"], record["trail"][0]["field"], record["trail"][0]["new"]) == (
        "rejected", "status", "rejected")


@pytest.mark.parametrize(("args", "code", "message"), [
    (("checkout", "1", "{occ}", "--at", "{day} 18:30"), 5, "check_out: volunteer #1 has not checked in"),
    (("checkin", "1", "{occ}", "--at", "2999-01-01 16:30"), 4, "check_in: "),
    (("checkin", "1", "{occ}", "--at", "半小时前"), 4, "check_in: '半小时前' is not a local time"),
    (("checkin", "42", "{occ}"), 3, "volunteer not found: 42"),
    (("checkin", "1", "999"), 3, "occurrence not found: 999"),
    (("attendance", "approve", "7", "--by", "张主任"), 3, "attendance record not found: 7"),
])
def test_bad_input_exits_with_the_documented_code(invoke, setup, args, code, message) -> None:  # type: ignore
    result = invoke(*(a.format(occ=setup["occ"], day=DAY.isoformat()) for a in args))
    assert result.exit_code == code, result.output
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert json.loads(invoke("attendance", "list", "--json").output) == []


def test_checkout_before_checkin_and_checkin_twice_write_nothing(invoke, setup) -> None:  # type: ignore
    occ = str(setup["occ"])
    assert invoke("checkin", "1", occ, "--at", at("16:30")).exit_code == 0
    result = invoke("checkout", "1", occ, "--at", at("16:00"))
    assert result.exit_code == InvalidInput.exit_code and "check_out: " in result.stderr and "not after the check-in" in result.stderr
    result = invoke("checkin", "1", occ, "--at", at("16:40"))
    assert result.exit_code == Conflict.exit_code and "already checked in" in result.stderr
    records = json.loads(invoke("attendance", "list", "--json").output)
    assert [(r["id"], r["status"], r["check_out"]) for r in records] == [(1, "open", "")]


def test_long_day_waits_for_approval_then_counts(invoke, setup) -> None:  # type: ignore[no-untyped-def]
    occ = str(setup["occ"])
    invoke("checkin", "1", occ, "--at", at("08:00"))
    result = invoke("checkout", "1", occ, "--at", at("17:00"))
    assert ", pending approval\n" in result.output and "  waits for approval: " in result.output
    assert "more than 8 h in a day" in result.output
    assert "  a coordinator approves with: roster attendance approve 1 --by NAME" in result.output
    listed = invoke("attendance", "list", "--pending")
    assert listed.exit_code == 0 and "pending approval" in listed.output and "王芳" in listed.output
    assert local("08:00") in listed.output and "17:00" in listed.output
    assert json.loads(invoke("hours", "report", "--json").output) == []
    result = invoke("attendance", "approve", "1", "--by", "张主任")
    assert result.exit_code == 0 and result.output.startswith("approved record #1: ")
    assert result.output.endswith(", approved\n")
    report = json.loads(invoke("hours", "report", "--json").output)
    assert [(r["name"], r["hours"], r["star"]) for r in report] == [("王芳", "9.00", "")]
    assert invoke("attendance", "approve", "1", "--by", "张主任").exit_code == Conflict.exit_code


def test_correct_and_reject_keep_the_trail(invoke, setup) -> None:  # type: ignore[no-untyped-def]
    occ = str(setup["occ"])
    invoke("checkin", "1", occ, "--at", at("16:30"))
    invoke("checkout", "1", occ, "--at", at("18:00"))
    result = invoke("attendance", "correct", "1", "--field", "check_out", "--value", "18:30",
                    "--reason", "忘记签退", "--by", "李书记")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("corrected the check-out of record #1: ") and "120 min" in result.output
    result = invoke("attendance", "correct", "1", "--field", "check_out", "--value", "18:30",
                    "--reason", "再改", "--by", "李书记")
    assert result.exit_code == InvalidInput.exit_code and "value: " in result.stderr
    result = invoke("attendance", "reject", "1", "--by", "张主任", "--reason", "重复登记")
    assert result.exit_code == 0 and result.output.startswith("rejected record #1: ")
    assert result.output.endswith(", rejected\n")
    shown = invoke("attendance", "show", "1")
    assert "忘记签退" in shown.output and "重复登记" in shown.output and "李书记" in shown.output
    assert "changed by" in shown.output and "check-out" in shown.output and local("18:30") in shown.output
    assert "approved" in shown.output and "rejected" in shown.output
    trail = json.loads(invoke("attendance", "show", "1", "--json").output)["trail"]
    assert [(t["field"], t["old"], t["new"]) for t in trail] == [
        ("check_out", at("18:00"), at("18:30")), ("status", "approved", "rejected")]


def test_noshow_marks_the_assignment(invoke, setup, roster_env) -> None:  # type: ignore[no-untyped-def]
    result = invoke("noshow", "13800138000", str(setup["occ"]), "--by", "李书记")
    assert result.output == f"assignment #1: 王芳 marked no-show at occurrence #{setup['occ']}\n"
    with session_scope(engine_for(roster_env["ROSTER_DATABASE_URL"])) as s:
        assert s.get(Assignment, 1).status == "no_show"  # type: ignore[union-attr]
    assert invoke("noshow", "13800138000", str(setup["occ"])).exit_code == Conflict.exit_code
    assert invoke("noshow", "13900139000", str(setup["occ"])).exit_code == NotFound.exit_code  # not assigned


def test_hours_report_tables_by_each_dimension(invoke, setup) -> None:  # type: ignore[no-untyped-def]
    occ = str(setup["occ"])
    invoke("checkin", "1", occ, "--at", at("16:30"))
    invoke("checkout", "1", occ, "--at", at("18:30"))
    for dimension, expected in (("volunteer", "王芳"), ("branch", "顺景花园党支部"), ("community", "爱联社区"),
                                ("month", DAY.strftime("%Y-%m"))):
        result = invoke("hours", "report", "--by", dimension, "--from", DAY.isoformat(), "--to", DAY.isoformat())
        assert result.exit_code == 0, result.output
        assert expected in result.output and "2.00" in result.output
    assert invoke("hours", "report", "--from", "2026-13-01").exit_code == USAGE
    result = invoke("hours", "report", "--from", "2026-12-02", "--to", "2026-12-01")
    assert result.exit_code == InvalidInput.exit_code and "to: " in result.stderr


def test_csv_export_is_excel_ready_masked_and_not_a_certificate(invoke, setup, tmp_path: Path) -> None:  # type: ignore
    occ = str(setup["occ"])
    for vol in ("1", "2"):
        invoke("checkin", vol, occ, "--at", at("16:30"))
        invoke("checkout", vol, occ, "--at", at("17:20"))
    out = tmp_path / "out"
    out.mkdir()
    target = out / "hours.csv"
    result = invoke("hours", "export", str(target), "--from", DAY.isoformat(), "--to", DAY.isoformat())
    assert result.exit_code == 0, result.output
    assert "wrote 2 records" in result.output and "本导出不是志愿服务证明" in result.output
    with target.open(encoding="utf-8-sig", newline="") as handle:
        table = list(csv.reader(handle))
    assert table[0][0].startswith("说明：本导出不是志愿服务证明")
    header = table[1]
    rows = [dict(zip(header, row, strict=True)) for row in table[2:]]
    assert [r["志愿者姓名"] for r in rows] == ["王芳", "'=cmd|' /C calc'!A0"]
    assert rows[0]["身份证号"] == "440307********1234" and "199001" not in target.read_text("utf-8-sig")
    assert rows[0]["服务时长（小时）"] == "0.83" and rows[0]["服务开始时间"] == at("16:30")
    assert (rows[0]["组织单位"], rows[0]["联系人"], rows[0]["记录状态"]) == ("顺景花园党支部", "支部第一书记", "已审核")
    assert list(out.iterdir()) == [target]  # no temporary file left behind
    stdout = invoke("hours", "export")
    assert stdout.exit_code == 0 and stdout.stdout_bytes.startswith(b"\xef\xbb\xbf")
    assert "本导出不是志愿服务证明" in stdout.stdout_bytes.decode("utf-8-sig").splitlines()[0]
    assert invoke("volunteer", "edit", "1", "--party-member", "--work-unit", "龙岗区卫生健康局").exit_code == 0
    recognition = invoke("hours", "export", "--recognition").stdout_bytes.decode("utf-8-sig")
    table = list(csv.reader(io.StringIO(recognition)))
    assert table[1][-3:] == ["获得积分", "在职党员", "工作单位"]
    extra = {row[1]: row[-3:] for row in table[2:]}
    assert extra["王芳"] == ["0.83", "是", "龙岗区卫生健康局"]  # 50 min at the default 1 point an hour


def test_xlsx_export_by_file_name(invoke, setup, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    occ = str(setup["occ"])
    invoke("checkin", "2", occ, "--at", at("16:30"))
    invoke("checkout", "2", occ, "--at", at("18:30"))
    target = tmp_path / "hours.xlsx"
    assert invoke("hours", "export", str(target)).exit_code == 0
    sheet = load_workbook(target).active
    assert sheet is not None
    assert "本导出不是志愿服务证明" in str(sheet["A1"].value)
    assert sheet["B3"].value == "'=cmd|' /C calc'!A0" and sheet["B3"].data_type == "s"
    assert sheet["I3"].value == 2
    result = invoke("hours", "export", "--format", "xlsx")
    assert result.exit_code == USAGE and "needs a FILE" in result.output


def test_early_checkin_waits_for_approval_and_list_and_show_say_why(invoke, setup) -> None:  # type: ignore
    occ = str(setup["occ"])
    invoke("checkin", "1", occ, "--at", at("15:00"))
    result = invoke("checkout", "1", occ, "--at", at("18:30"))
    assert ", pending approval\n" in result.output
    assert "waits for approval: checked in 1 h 30 min before the shift starts" in result.output
    assert "waits for approval: 3 h 30 min recorded for a 2 h 0 min shift" in result.output
    listed = invoke("attendance", "list", "--pending")
    assert listed.exit_code == 0 and "more than 60 min early" in listed.output
    shown = invoke("attendance", "show", "1")
    assert shown.exit_code == 0 and "more than 60 min over its length" in shown.output
