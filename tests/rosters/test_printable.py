"""The printable week roster: the Excel workbook read back with openpyxl (a sheet per branch, Chinese
intact, no phone number, a home visit's address never shown), the files the CLI writes, and the
sheet names Excel accepts."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from scheduler import rosters
from scheduler.i18n import using
from scheduler.organisations import add_community
from scheduler.rosters.printable import (
    SHEET_NAME_MAX,
    PrintableWeek,
    build_html,
    build_workbook,
    printable_week,
    sheet_names,
)
from tests import factories as f

NOW = datetime(2026, 12, 1, tzinfo=UTC)
#: Any day of ISO week 2026-W50 (Mon 7 Dec to Sun 13 Dec).
WEEK = date(2026, 12, 9)
LONG_BRANCH = "龙城街道/爱联社区[二期]:顺景花园第二党支部联合志愿服务队"
HOME_ADDRESS = "幸福路12号3栋502 王秀英家"
PHONE = re.compile(r"1[3-9]\d{9}")


def build_week(session: Session) -> dict[str, Any]:
    """A community with a service centre, two branches (one with a name Excel would refuse), a
    public class with an open seat, a private home visit, a community-run service, a cancelled day."""
    add_community(session, "ailian", "爱联社区", centre_name="爱联社区党群服务中心")
    f.branch(session)
    f.branch(session, slug="erqi", name=LONG_BRANCH)
    classroom = f.service(session, roles=["辅导员:2:tutor"])
    visit = f.service(session, title="关爱空巢老人入户探访", kind="elderly_care", branch="erqi",
                      venue=HOME_ADDRESS, visibility="private", roles=["探访员:1"])
    clinic = f.service(session, title="社区义诊", kind="clinic", branch=None, community="ailian",
                       venue="爱联社区党群服务中心一楼", roles=["引导员:1"])
    wang, li, zhang = (f.volunteer(session, name=n, phone=p) for n, p in
                       (("王芳", "13800138001"), ("李娜", "13800138002"), ("张伟", "13800138003")))
    wednesday = f.occurrence(session, classroom, start=datetime(2026, 12, 9, 8, 30, tzinfo=UTC))
    thursday = f.occurrence(session, classroom, start=datetime(2026, 12, 10, 8, 30, tzinfo=UTC),
                            status="cancelled")
    home = f.occurrence(session, visit, start=datetime(2026, 12, 8, 2, 0, tzinfo=UTC))
    day = f.occurrence(session, clinic, start=datetime(2026, 12, 12, 1, 0, tzinfo=UTC))
    rosters.confirm(session, str(rosters.assign(session, str(wang.id), wednesday.id, now=NOW).id), now=NOW)
    rosters.assign(session, str(li.id), home.id, now=NOW)
    rosters.assign(session, str(zhang.id), day.id, now=NOW)
    return {"wednesday": wednesday.id, "thursday": thursday.id, "home": home.id, "clinic": day.id}


def cell_texts(workbook: Any) -> list[str]:
    texts = []
    for sheet in workbook.worksheets:
        texts.append(sheet.title)
        texts.append(sheet.oddHeader.center.text or "")
        for row in sheet.iter_rows(values_only=True):
            texts.extend(str(v) for v in row if v is not None)
    return texts


def test_workbook_has_a_sheet_per_branch_with_names_only_and_real_dates(session: Session) -> None:
    from openpyxl import load_workbook

    build_week(session)
    with using("zh_CN"):
        week = printable_week(session, WEEK)
        data = build_workbook(week)
    assert week.stem == "roster-2026-W50"
    workbook = load_workbook(io.BytesIO(data))
    # a sheet per branch, then the community's own services; Excel's limits on the long name
    assert workbook.sheetnames == ["顺景花园党支部", sheet_names([LONG_BRANCH])[0], "爱联社区"]
    assert all(len(n) <= SHEET_NAME_MAX and not re.search(r"[\[\]:*?/\\]", n) for n in workbook.sheetnames)
    classroom = workbook["顺景花园党支部"]
    header = [c.value for c in classroom[1]]
    assert header == ["日期", "星期", "开始", "结束", "服务项目", "地点", "岗位", "在岗", "空余名额", "候补"]
    assert all(c.font.bold for c in classroom[1]) and classroom.freeze_panes == "A2"
    wednesday, thursday = list(classroom.iter_rows(min_row=2, values_only=True))
    assert wednesday[:4] == (datetime(2026, 12, 9), "周三", time(16, 30), time(18, 30))
    assert (wednesday[4], wednesday[6], wednesday[7], wednesday[8]) == ("四点半课堂", "辅导员", "王芳", 1)
    assert thursday[4] == "四点半课堂（已取消）" and thursday[7] == "（已取消）" and thursday[8] == 0
    assert str(classroom.page_setup.paperSize) == classroom.PAPERSIZE_A4  # "9": A4
    assert classroom.page_setup.orientation == "landscape" and classroom.page_setup.fitToWidth == 1
    assert classroom.sheet_properties.pageSetUpPr.fitToPage
    assert "爱联社区党群服务中心" in (classroom.oddHeader.center.text or "")
    # Chinese text is wider than its length: the names column fits "在岗志愿者" (10 columns + margin)
    assert classroom.column_dimensions["H"].width >= 12
    visit = list(workbook.worksheets[1].iter_rows(min_row=2, values_only=True))
    assert [(r[4], r[5], r[7]) for r in visit] == [("关爱空巢老人入户探访", "入户探访", "李娜（待确认）")]
    texts = cell_texts(workbook)
    assert not [t for t in texts if PHONE.search(t)]
    assert not [t for t in texts if "幸福路" in t or "王秀英" in t]


def test_html_has_a_page_per_branch_the_centre_on_top_and_open_seats_marked(session: Session) -> None:
    build_week(session)
    with using("zh_CN"):
        html = build_html(printable_week(session, WEEK))
    assert html.count('<section class="page"') == 3 and "size: A4" in html and "break-after: page" in html
    assert html.count('<div class="centre">爱联社区党群服务中心</div>') == 3
    assert "2026年12月7日（周一）至12月13日（周日）" in html
    assert "12月9日（周三）" in html and "空余 1 个名额" in html and "入户探访" in html
    assert not PHONE.search(html) and "幸福路" not in html and "王秀英" not in html
    assert "http://" not in html and "https://" not in html  # nothing from another host
    with using("en"):
        english = build_html(printable_week(session, WEEK))
    assert "Wed 9 Dec" in english and "1 seat open" in english and "home visit" in english


def test_a_branch_name_excel_refuses_becomes_a_unique_short_sheet_name() -> None:
    names = sheet_names(["a/b", "a:b", "x" * 40, "x" * 40, "'quoted'", "[]"])
    assert names[:2] == ["a_b", "a_b(2)"]
    assert names[2] == "x" * 31 and names[3] == "x" * 28 + "(2)"
    assert names[4] == "quoted" and names[5] == "__"
    assert len(set(n.lower() for n in names)) == len(names)


def test_an_empty_week_has_no_pages(session: Session) -> None:
    f.org(session)
    week = printable_week(session, WEEK)
    assert isinstance(week, PrintableWeek) and week.pages == []


@pytest.fixture
def printed_week(invoke, tmp_path: Path):  # type: ignore[no-untyped-def]
    from scheduler.db import make_engine, session_scope
    from scheduler.settings import Settings

    with session_scope(make_engine(Settings.from_env().database_url)) as s:
        build_week(s)
    return invoke


def test_schedule_writes_the_week_files_into_the_data_folder_and_says_where(
        printed_week, roster_env: dict[str, str], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = printed_week("schedule", "--week", WEEK.isoformat())
    assert result.exit_code == 0, result.output
    folder = Path(roster_env["ROSTER_HOME"]) / "print"
    files = sorted(p.name for p in folder.iterdir())
    assert files == ["roster-2026-W50.html", "roster-2026-W50.xlsx"]
    assert str(folder / "roster-2026-W50.xlsx") in result.output
    assert not list(tmp_path.glob("roster-*"))  # nothing in the current folder

    out = tmp_path / "打印"
    again = printed_week("schedule", "--week", WEEK.isoformat(), "--out", str(out), "--branch", "shunjing")
    assert again.exit_code == 0 and sorted(p.name for p in out.iterdir()) == files
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp file left behind


def test_schedule_no_files_writes_nothing_and_json_is_unchanged(
        printed_week, roster_env: dict[str, str], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import json

    out = tmp_path / "out"
    result = printed_week("schedule", "--week", WEEK.isoformat(), "--no-files", "--out", str(out))
    assert result.exit_code == 0 and not out.exists() and "roster-2026-W50" not in result.output
    data = json.loads(printed_week("schedule", "--week", WEEK.isoformat(), "--json", "--no-files").stdout)
    statuses = {p["status"] for o in data["occurrences"] for r in o["roles"] for p in r["on"]}
    assert statuses == {"confirmed", "invited"} and data["occurrences"][0]["weekday"]


def test_schedule_in_chinese_shows_translated_headers_statuses_and_dates(
        printed_week, cli_runner, roster_env: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    from cli import cli

    result = cli_runner.invoke(cli, ["schedule", "--week", WEEK.isoformat(), "--no-files"],
                               env={"ROSTER_LANG": "zh_CN"}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "2026年12月7日（周一）至12月13日（周日）" in result.output
    assert "岗位" in result.output and "12月9日（周三）" in result.output and "李娜（待确认）" in result.output
    assert "invited" not in result.output and "（已取消）" in result.output


def test_schedule_says_so_when_the_folder_cannot_be_written(
        printed_week, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    result = printed_week("schedule", "--week", WEEK.isoformat(), "--out", str(blocker / "print"))
    assert result.exit_code == 1 and "cannot write the printable roster" in result.output
    assert "Traceback" not in result.output
