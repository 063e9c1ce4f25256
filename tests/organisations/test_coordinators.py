"""Coordinators are managed from the CLI and receive the weekly digest of unfilled seats."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime

from sqlalchemy import Engine

from scheduler.db import session_scope
from scheduler.errors import InvalidInput, NotFound
from scheduler.messages.channels import channels_from_settings
from scheduler.organisations.coordinators import add_coordinator
from scheduler.reminders.digest import send_weekly_digest
from scheduler.settings import Settings
from tests import factories as f


def test_coordinator_add_list_remove(invoke) -> None:  # type: ignore[no-untyped-def]
    invoke("community", "add", "ailian", "--name", "爱联社区")
    invoke("branch", "add", "shunjing", "--name", "顺景花园党支部", "--community", "ailian")
    added = invoke("coordinator", "add", "--name", "陈书记", "--branch", "shunjing", "--channel", "email",
                   "--email", "chen@example.cn", "--json")
    assert added.exit_code == 0, added.output
    assert json.loads(added.output)["scope"] == "branch:shunjing"
    listed = invoke("coordinator", "list")
    assert "陈书记" in listed.output and "branch shunjing" in listed.output
    assert invoke("coordinator", "remove", "1").exit_code == 0
    assert json.loads(invoke("coordinator", "list", "--json").output) == []
    assert invoke("coordinator", "remove", "1").exit_code == NotFound.exit_code


def test_email_channel_needs_an_address_and_nothing_is_written(invoke) -> None:  # type: ignore[no-untyped-def]
    result = invoke("coordinator", "add", "--name", "陈书记", "--channel", "email")
    assert result.exit_code == InvalidInput.exit_code
    assert "email: the email channel needs --email" in result.output
    assert json.loads(invoke("coordinator", "list", "--json").output) == []


def test_weekly_digest_reaches_a_coordinator_of_the_community(engine: Engine) -> None:
    with session_scope(engine) as s:
        f.org(s)
        svc = f.service(s, slug="clinic", title="睿智义诊服务", rrule="FREQ=WEEKLY;BYDAY=SA")
        # Saturday of the week after Friday 2026-12-04: no one assigned, two seats open.
        f.occurrence(s, svc, start=datetime(2026, 12, 12, 1, 0, tzinfo=UTC))
        add_coordinator(s, "陈书记", community="ailian")
    stream = io.StringIO()
    channels = channels_from_settings(Settings.from_env({}), stream=stream)
    with session_scope(engine) as s:
        result = send_weekly_digest(s, channels, date(2026, 12, 4), "Asia/Shanghai",
                                    now=datetime(2026, 12, 4, 2, 0, tzinfo=UTC))
    channels.close()
    assert result.sent == 1
    assert "睿智义诊服务" in stream.getvalue() and "协调员#1" in stream.getvalue()
