"""我的时长 over HTTP (Flask's test client), on SQLite and PostgreSQL: approved and pending totals, the
star level and the records behind them, the volunteer's own only."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from scheduler import attendance
from scheduler.db import session_scope
from scheduler.models import Attendance
from scheduler.settings import Settings
from tests import factories as f
from web import create_app

#: Monday 2026-12-07 16:30-18:30 in Shenzhen, and the evening after.
SHIFT = datetime(2026, 12, 7, 8, 30, tzinfo=UTC)
NOW = SHIFT + timedelta(hours=6)


@pytest.fixture
def hours_site(engine: Engine, tmp_path: Path) -> tuple[FlaskClient, dict[str, str]]:
    from scheduler.volunteers import web_token_of

    with session_scope(engine) as s:
        f.org(s)
        classroom = f.service(s, slug="ketang")
        clinic = f.service(s, slug="yizhen", title="社区义诊", venue="爱联社区党群服务中心")
        wang, li = f.volunteer(s, name="王芳"), f.volunteer(s, name="李明")
        # 100 h approved long ago: 一星.
        old = f.occurrence(s, classroom, start=datetime(2025, 6, 2, 8, 30, tzinfo=UTC))
        s.add(Attendance(volunteer_id=wang.id, occurrence_id=old.id, check_in=old.start_at,
                         check_out=old.start_at + timedelta(minutes=6000), minutes=6000, status="approved",
                         approved_by="张主任", approved_at=old.start_at))
        # An ordinary shift (approved at checkout: 2 h 5 min) and a long one waiting for review (10 h).
        today = f.occurrence(s, classroom, start=SHIFT)
        attendance.checkin(s, str(wang.id), today.id, at="16:25", by="李书记", now=NOW)
        attendance.checkout(s, str(wang.id), today.id, at="18:30", by="李书记", now=NOW)
        long_day = f.occurrence(s, clinic, start=SHIFT - timedelta(days=2, hours=8), minutes=600)
        attendance.checkin(s, str(wang.id), long_day.id, at="08:00", by="李书记", now=NOW)
        attendance.checkout(s, str(wang.id), long_day.id, at="18:00", by="李书记", now=NOW)
        # Someone else's record: never on Wang's page.
        other = f.occurrence(s, f.service(s, slug="kongchao", title="关爱空巢老人"), start=SHIFT)
        attendance.checkin(s, str(li.id), other.id, at="16:30", by="李书记", now=NOW)
        attendance.checkout(s, str(li.id), other.id, at="17:00", by="李书记", now=NOW)
        tokens = {"wang": web_token_of(s, str(wang.id)).web_token or "", "li": web_token_of(s, str(li.id)).web_token or ""}
    settings = Settings.from_env({"ROSTER_HOME": str(tmp_path), "ROSTER_DATABASE_URL": str(engine.url),
                                  "ROSTER_WEB_BASE_URL": "https://v.longcheng.example"})
    return create_app(settings, ROSTER_CLOCK=lambda: NOW, TESTING=True).test_client(), tokens


def test_my_hours_shows_approved_and_pending_totals_the_star_and_the_records(
        hours_site: tuple[FlaskClient, dict[str, str]]) -> None:
    client, tokens = hours_site
    answer = client.get(f"/v/{tokens['wang']}/hours")
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    assert re.search(r"data-approved>102\.08 小时<", page)  # 6000 + 125 minutes
    assert "待审核 10.00 小时" in page
    assert "星级：一星志愿者" in page and "距二星志愿者还差 197.92 小时" in page
    records = re.findall(r'<div class="card" data-record>(.*?)</div>', page, re.S)
    assert len(records) == 3
    newest, review, oldest = records
    assert "四点半课堂" in newest and "2026年12月7日 周一 16:25 签到" in newest and "2 小时 5 分钟" in newest
    assert "已审核" in newest
    assert "社区义诊" in review and "10 小时 0 分钟" in review and "待审核" in review
    assert "2025年6月2日" in oldest and "100 小时 0 分钟" in oldest
    assert "关爱空巢老人" not in page and "李明" not in page  # nobody else's records
    assert 'href="/v/' in page and "我的时长" in page and len(answer.get_data()) < 60 * 1024


def test_a_volunteer_with_no_records_sees_none_and_no_one_elses(
        hours_site: tuple[FlaskClient, dict[str, str]], engine: Engine) -> None:
    from scheduler.volunteers import web_token_of

    client, _ = hours_site
    with session_scope(engine) as s:
        token = web_token_of(s, str(f.volunteer(s, name="赵丽").id)).web_token
    page = client.get(f"/v/{token}/hours").get_data(as_text=True)
    assert "data-approved>0.00 小时<" in page and "尚未达到一星" in page and "还没有签到记录" in page
    assert "四点半课堂" not in page and "王芳" not in page


def test_an_unknown_token_gets_the_same_404(hours_site: tuple[FlaskClient, dict[str, str]]) -> None:
    client, _ = hours_site
    assert client.get("/v/" + "B" * 22 + "/hours").status_code == 404
    assert client.get("/v/x/hours").status_code == 404
