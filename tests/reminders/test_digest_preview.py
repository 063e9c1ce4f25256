"""`roster digest preview`: the weekly digest each coordinator would get, nothing written or sent."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine, func, select

from scheduler.db import session_scope
from scheduler.i18n import using
from scheduler.messages.channels import ChannelSet, ConsoleChannel
from scheduler.models import Event
from scheduler.organisations.coordinators import add_coordinator
from scheduler.reminders.digest import send_weekly_digest, weekly_digests
from tests import factories
from tests.cli_codes import USAGE

#: A Friday (local): the digest tells the week of Monday 7 December 2026.
FRIDAY = date(2026, 12, 4)
NOW = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)


@pytest.fixture
def scopes(engine: Engine) -> None:
    """Two communities: ailian's branch runs the classroom (2 open seats on Monday 7 Dec), xinlian's a
    clinic with its one seat open; a coordinator for each branch and one for xinlian itself."""
    with session_scope(engine) as s:
        factories.org(s)
        factories.community(s, "xinlian", "新联社区")
        factories.branch(s, "tianan", "天安花园党支部", "xinlian")
        classroom = factories.service(s, title="四点半课堂")
        clinic = factories.service(s, title="义诊", branch="tianan", kind="clinic", roles=["医生:1"])
        factories.occurrence(s, classroom, start=datetime(2026, 12, 7, 8, 30, tzinfo=UTC))
        factories.occurrence(s, clinic, start=datetime(2026, 12, 9, 1, 0, tzinfo=UTC))
        factories.occurrence(s, clinic, start=datetime(2026, 12, 16, 1, 0, tzinfo=UTC))  # the week after
        add_coordinator(s, "陈书记", branch="shunjing")
        add_coordinator(s, "林书记", branch="tianan", channel="wecom")
        add_coordinator(s, "周主任", community="xinlian")


def _events(engine: Engine) -> int:
    with session_scope(engine) as s:
        return s.scalar(select(func.count()).select_from(Event)) or 0


def test_preview_is_what_the_weekly_digest_sends_and_writes_nothing(engine: Engine, scopes: None) -> None:
    before = _events(engine)
    with using("zh_CN"), session_scope(engine) as s:
        drafts = weekly_digests(s, FRIDAY, "Asia/Shanghai", now=NOW)
    assert _events(engine) == before
    assert [(d.coordinator, d.scope, d.period) for d in drafts] == [
        ("陈书记", "branch:shunjing", "2026-W50"), ("林书记", "branch:tianan", "2026-W50"),
        ("周主任", "community:xinlian", "2026-W50")]
    chen = drafts[0]
    assert chen.subject == "【排班周报】下周（12月7日-12月13日） 尚有空缺岗位 2 个"
    assert chen.body == ("下周（12月7日-12月13日） 以下场次仍有空缺，请尽快安排：\n"
                         "- 四点半课堂 12月7日（周一）16:30 辅导员：缺 2 人")
    assert "义诊" in drafts[2].body and "四点半课堂" not in drafts[2].body
    # The task sends exactly these texts (console coordinator), then the preview says it was sent.
    out = io.StringIO()
    with using("zh_CN"), session_scope(engine) as s:
        send_weekly_digest(s, ChannelSet({"console": lambda: ConsoleChannel(out),
                                          "wecom": lambda: ConsoleChannel(out)}), FRIDAY, "Asia/Shanghai", now=NOW)
    assert chen.subject in out.getvalue() and chen.body in out.getvalue()
    with session_scope(engine) as s:
        assert all(d.already_sent for d in weekly_digests(s, FRIDAY, "Asia/Shanghai", now=NOW))


def test_digest_speaks_english_when_messages_are_set_to(engine: Engine, scopes: None,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROSTER_MESSAGE_LANG", "en")
    with using("zh_CN"), session_scope(engine) as s:  # the operator's language does not decide
        chen = weekly_digests(s, FRIDAY, "Asia/Shanghai", now=NOW)[0]
    assert chen.subject == "[Weekly roster digest] next week (7 Dec to 13 Dec): 2 open seats"
    assert chen.body.endswith("- 四点半课堂 Mon 7 Dec 16:30 辅导员: 2 missing")


def test_preview_command_in_chinese_per_community(roster_on_db, engine: Engine, scopes: None) -> None:  # type: ignore[no-untyped-def]
    before = _events(engine)
    result = roster_on_db("digest", "preview", "--community", "xinlian", "--week", "2026-12-09", lang="zh_CN")
    assert result.exit_code == 0, result.output
    assert "陈书记" not in result.output and "林书记" in result.output and "周主任" in result.output
    assert "【排班周报】下周（12月7日-12月13日） 尚有空缺岗位 1 个" in result.output
    assert "- 义诊 12月9日（周三）09:00 医生：缺 1 人" in result.output
    assert _events(engine) == before


def test_preview_command_json_is_structured(roster_on_db, scopes: None) -> None:  # type: ignore[no-untyped-def]
    result = roster_on_db("digest", "preview", "--week", "2026-12-14", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [(d["coordinator"], d["week"], d["open_seats"], d["already_sent"]) for d in data] == [
        ("陈书记", "2026-W51", 0, False), ("林书记", "2026-W51", 1, False), ("周主任", "2026-W51", 1, False)]
    # in the language the digest goes out in (Chinese by default), whatever the operator reads
    assert data[1]["unfilled"] == [{"service": "义诊", "when": "12月16日（周三）09:00", "role": "医生", "open": 1}]
    assert data[0]["first"] == "2026-12-14" and data[0]["last"] == "2026-12-20"


@pytest.mark.parametrize(("args", "code", "says"), [
    (("--community", "nowhere"), 3, "nowhere"),
    (("--week", "2026-13-01"), USAGE, "--week"),
    (("--week", "next"), USAGE, "--week"),
])
def test_preview_command_refuses_bad_input(roster_on_db, scopes: None, args: tuple[str, ...], code: int,  # type: ignore[no-untyped-def]
                                           says: str) -> None:
    result = roster_on_db("digest", "preview", *args)
    assert result.exit_code == code, result.output
    assert says in result.output and "Traceback" not in result.output
