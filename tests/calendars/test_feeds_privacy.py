"""Nothing personal reaches a public feed through free text (FEEDS.md rule 17; PIPL Art. 25, 28)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, update

from calendars.build import FeedMeta, build_feed, build_feed_icalendar
from calendars.publish import publish_dirty
from calendars.rows import NAME_MEMO
from scheduler.db import engine_for, session_scope
from scheduler.errors import InvalidInput
from scheduler.models import Closure, Service
from scheduler.privacy import personal_data_in, redact
from scheduler.settings import Settings
from tests import factories as f

Invoke = Callable[..., Any]
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
VOLUNTEER = "周文"
LEAKS = {
    "a phone number": ["联系人王芳 13800138000", "志愿者（13600000096）请假", "咨询 0755-12345678",
                       "电话 １３８００１３８０００"],
    "an email address": ["联系 wangfang@example.cn"],
    "a citizen ID number": ["负责人 440307198001011238"],
    "a volunteer's name": [f"志愿者{VOLUNTEER}请假"],
}
SECRETS = ("13800138000", "13600000096", "12345678", "wangfang", "440307198001011238", VOLUNTEER)


@pytest.mark.parametrize(("what", "text"), [(w, t) for w, texts in LEAKS.items() for t in texts])
def test_personal_data_in_finds_and_redact_removes_it(what: str, text: str) -> None:
    assert personal_data_in(text, [VOLUNTEER]) == what
    cleaned = redact(text, [VOLUNTEER])
    assert personal_data_in(cleaned, [VOLUNTEER]) is None and "＊＊＊" in cleaned


@pytest.mark.parametrize("text", ["支部第一书记", "暑假", "2026年7月1日至8月31日装修", "顺景花园党群之家 3 号楼 501",
                                  "第20260701期", "医生:2:doctor", "周"])
def test_ordinary_public_text_passes(text: str) -> None:
    assert personal_data_in(text, [VOLUNTEER, "周"]) is None


@pytest.fixture
def cli_org(invoke: Invoke, roster_env: dict[str, str]) -> Invoke:
    engine = engine_for(roster_env["ROSTER_DATABASE_URL"])
    with session_scope(engine) as s:
        f.org(s)
        f.service(s, "classroom")
        f.volunteer(s, VOLUNTEER)
        f.volunteer(s, "李")  # one character: too short to look for
    engine.dispose()
    return invoke


FIELDS = [
    ("--title", "title"), ("--venue", "venue"), ("--contact-role", "contact_role"),
    ("--description", "description"),
]


@pytest.mark.parametrize("text", [t for texts in LEAKS.values() for t in texts])
def test_every_public_free_text_field_refuses_personal_data(
    cli_org: Invoke, roster_env: dict[str, str], text: str
) -> None:
    base = ["--branch", "shunjing", "--every", "saturday", "--start-date", "2026-12-05", "--time", "09:00",
            "--duration", "2h"]
    for option, field in FIELDS:
        for command in (["service", "add", "new-svc", "--title", "亲子阅读", "--role", "主持:1", *base],
                        ["service", "edit", "classroom"]):
            args = [*command]
            if option in args:  # the title under test replaces the plain one
                args[args.index(option) + 1] = text
            else:
                args += [option, text]
            result = cli_org(*args)
            assert result.exit_code == InvalidInput.exit_code, (args, result.output)
            assert f"{field}: holds" in result.output
    result = cli_org("service", "add", "new-svc", "--title", "亲子阅读", "--role", f"{text}:1", *base)
    assert result.exit_code == InvalidInput.exit_code and "role: holds" in result.output
    result = cli_org("closure", "add", "--scope", "branch:shunjing", "--from", "2026-12-24", "--to", "2026-12-25",
                     "--reason", text, "--today", "2026-12-01")
    assert result.exit_code == InvalidInput.exit_code and "reason: holds" in result.output
    assert "Traceback" not in result.output
    published = cli_org("feeds", "publish", "--all")
    assert published.exit_code == 0, published.output
    for path in Path(roster_env["ROSTER_FEED_DIR"]).rglob("*"):
        if path.is_file():
            body = path.read_text("utf-8")
            assert not any(secret in body for secret in SECRETS), path


def test_a_name_that_is_not_a_volunteer_passes_and_one_character_names_are_ignored(cli_org: Invoke) -> None:
    result = cli_org("service", "edit", "classroom", "--contact-role", "李老师（支部第一书记）")
    assert result.exit_code == 0, result.output


def test_feed_builder_redacts_rows_written_before_the_check(engine: Engine, tmp_path: Path) -> None:
    """Rows that reached the database another way are redacted in public feeds, never published."""
    NAME_MEMO.clear()
    settings = Settings.from_env({"ROSTER_HOME": str(tmp_path / "var"), "ROSTER_FEED_DIR": str(tmp_path / "feeds"),
                                  "ROSTER_DOMAIN": "feeds.test"})
    with session_scope(engine) as s:
        f.org(s)
        svc = f.service(s, "classroom")
        f.occurrence(s, svc, NOW + timedelta(days=6))
        f.volunteer(s, VOLUNTEER)
        s.flush()
        s.execute(update(Service).where(Service.id == svc.id).values(
            contact_role="联系人王芳 13800138000", venue="wangfang@example.cn 家", title=f"{VOLUNTEER}的课堂"))
        s.add(Closure(scope="branch", community_id=svc.community_id, branch_id=svc.branch_id,
                      start_date=date(2026, 12, 24), end_date=date(2026, 12, 25),
                      reason=f"志愿者{VOLUNTEER}（13600000096）请假", created_at=NOW))
    with session_scope(engine) as s:
        publish_dirty(s, settings, now=NOW, all_feeds=True)
    for name in ("branches/shunjing.ics", "communities/ailian.ics", "district.ics"):
        body = (settings.feed_dir / name).read_bytes().decode("utf-8")
        assert not any(secret in body for secret in SECRETS), name
        assert "＊＊＊" in body and "联系人王芳" in body  # only the personal part goes


def test_both_serializers_redact_alike() -> None:
    from calendars.build import ClosureRow

    row = ClosureRow(1, "顺景花园党支部", f"志愿者{VOLUNTEER}（13600000096）请假", date(2026, 12, 24),
                     date(2026, 12, 25), NOW)
    meta = FeedMeta("n", "d")
    names = frozenset({VOLUNTEER})
    for feed in (build_feed(meta, [row], "feeds.test", names=names),
                 build_feed_icalendar(meta, [row], "feeds.test", names=names)):
        assert VOLUNTEER.encode() not in feed and b"13600000096" not in feed
        assert "志愿者＊＊＊(＊＊＊)".encode() in feed
