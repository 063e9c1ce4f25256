"""Channels: Chinese text round-trips through real SMTP and HTTP servers; group messages stay private."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.parse
from datetime import UTC, datetime, timedelta

import pytest

from scheduler.messages import ShiftFacts, group_message, personal_message
from scheduler.messages.channels import (
    WECOM_TEXT_BYTES,
    ChannelError,
    DingTalkRobotChannel,
    EmailChannel,
    Outgoing,
    RecordingSmsProvider,
    SmsChannel,
    WeComRobotChannel,
    dingtalk_signed_url,
    truncate_utf8,
)
from tests.workers_support import SmtpSink, WebhookSink

START = datetime(2026, 12, 7, 8, 30, tzinfo=UTC)  # 16:30 in Shenzhen, a Monday
FACTS = ShiftFacts(service_title="四点半课堂", start_at=START, end_at=START + timedelta(hours=2),
                   timezone="Asia/Shanghai", venue="顺景花园党群之家", role="辅导员")


def outgoing(kind: str = "before:1440", channel: str = "email", **kw: object) -> Outgoing:
    base: dict[str, object] = dict(reminder_id=7, idempotency_key="k" * 40, kind=kind, channel=channel,
                                   volunteer_id=42, facts=FACTS, email="wangfang@example.org",
                                   phone="13800138000")
    base.update(kw)
    return Outgoing(**base)  # type: ignore[arg-type]


def test_personal_message_has_service_local_time_venue_and_role() -> None:
    text = personal_message("before:120", FACTS)
    assert "四点半课堂" in text.subject and "12月7日（周一）16:30" in text.subject
    assert "将于12月7日（周一）16:30开始" in text.body  # the start itself, never a relative "in 2 hours"
    assert "时间：12月7日（周一）16:30-18:30" in text.body
    assert "地点：顺景花园党群之家" in text.body and "岗位：辅导员" in text.body


def test_moved_notice_names_the_old_and_the_new_time() -> None:
    moved = ShiftFacts(**{**FACTS.__dict__, "old_start_at": START - timedelta(days=1)})
    text = personal_message("moved:1:0", moved)
    assert "时间调整" in text.subject and "原定 12月6日（周日）16:30" in text.body and "16:30-18:30" in text.body


@pytest.mark.parametrize("kind", ["before:1440", "moved:1:0", "cancelled:2:0", "role_changed:0:1", "promoted",
                                  "unassigned:0:1"])
def test_group_message_carries_no_role_or_person_only_public_shift_facts(kind: str) -> None:
    text = group_message(kind, FACTS)
    assert "四点半课堂" in text and "顺景花园党群之家" in text
    # Whose role changed or who was promoted is one person's business: never in a group.
    assert "辅导员" not in text


def test_email_chinese_subject_and_body_round_trip_through_a_real_smtp_server() -> None:
    with SmtpSink() as smtp:
        channel = EmailChannel("127.0.0.1", smtp.port, "roster@longcheng.example", "roster.longcheng.example")
        channel.send(outgoing())
        channel.send(outgoing(kind="cancelled:1:0", idempotency_key="c" * 40))
        channel.close()
    first, second = smtp.messages
    raw_headers = smtp.envelopes[0].content.split(b"\r\n\r\n", 1)[0]
    assert b"=?utf-8?" in raw_headers.lower()  # the Subject is RFC 2047 encoded on the wire
    assert str(first["Subject"]) == personal_message("before:1440", FACTS).subject
    assert first.get_content().strip() == personal_message("before:1440", FACTS).body
    assert str(first["Message-ID"]).strip() == f"<{'k' * 40}@roster.longcheng.example>"
    assert "已取消" in str(second["Subject"]) and "无需到岗" in second.get_content()


def test_email_without_address_fails_permanently() -> None:
    channel = EmailChannel("127.0.0.1", 1, "roster@x", "x")
    with pytest.raises(ChannelError) as info:
        channel.send(outgoing(email=None))
    assert info.value.permanent


def test_email_server_down_is_a_transient_failure() -> None:
    from tests.workers_support import free_port

    channel = EmailChannel("127.0.0.1", free_port(), "roster@x", "x", timeout=2)
    with pytest.raises(ChannelError) as info:
        channel.send(outgoing())
    assert not info.value.permanent


def test_wecom_robot_gets_utf8_json_text_with_idempotency_key_and_no_personal_data() -> None:
    with WebhookSink() as hook:
        WeComRobotChannel(hook.url).send(outgoing(channel="wecom"))
    [request] = hook.requests
    assert request["headers"]["Idempotency-Key"] == "k" * 40
    assert request["body"]["msgtype"] == "text"
    content = request["body"]["text"]["content"]
    assert content == group_message("before:1440", FACTS)
    assert "四点半课堂" in request["raw"].decode("utf-8")
    for private in ("13800138000", "wangfang", "42"):
        assert private not in request["raw"].decode("utf-8")


def test_wecom_rate_limited_errcode_is_transient_and_bad_key_permanent() -> None:
    with WebhookSink(answer={"errcode": 45009, "errmsg": "api freq out of limit"}) as hook:
        with pytest.raises(ChannelError) as busy:
            WeComRobotChannel(hook.url).send(outgoing(channel="wecom"))
        hook.answer = {"errcode": 93000, "errmsg": "invalid webhook url"}
        with pytest.raises(ChannelError) as bad:
            WeComRobotChannel(hook.url).send(outgoing(channel="wecom"))
        hook.status, hook.answer = 500, {}
        with pytest.raises(ChannelError) as down:
            WeComRobotChannel(hook.url).send(outgoing(channel="wecom"))
    assert (busy.value.permanent, bad.value.permanent, down.value.permanent) == (False, True, False)
    assert "secret-key" not in str(bad.value) + str(down.value)  # errors never quote the URL


def test_wecom_text_is_cut_at_2048_bytes_without_splitting_a_character() -> None:
    text = truncate_utf8("志" * 1000, WECOM_TEXT_BYTES)
    assert len(text.encode("utf-8")) <= WECOM_TEXT_BYTES and text == "志" * 682


def test_dingtalk_url_is_signed_with_hmac_sha256_of_timestamp_and_secret() -> None:
    secret = "SEC0123456789abcdef"
    with WebhookSink() as hook:
        DingTalkRobotChannel(hook.url, secret).send(outgoing(channel="dingtalk"))
    [request] = hook.requests
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(request["path"]).query)
    timestamp, sign = query["timestamp"][0], query["sign"][0]
    expected = base64.b64encode(hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(),
                                         hashlib.sha256).digest()).decode()
    assert sign == expected and query["key"] == ["secret-key-123"]
    assert request["body"]["at"] == {"isAtAll": False}
    assert "13800138000" not in json.dumps(request["body"], ensure_ascii=False)


def test_dingtalk_signature_matches_the_documented_example_shape() -> None:
    url = dingtalk_signed_url("https://oapi.dingtalk.com/robot/send?access_token=T", "S", 1577000000000)
    assert url.startswith("https://oapi.dingtalk.com/robot/send?access_token=T&timestamp=1577000000000&sign=")
    digest = hmac.new(b"S", b"1577000000000\nS", hashlib.sha256).digest()
    assert url.endswith("&sign=" + urllib.parse.quote_plus(base64.b64encode(digest).decode()))


def test_sms_goes_through_the_provider_as_a_template_with_the_key_as_out_id() -> None:
    provider = RecordingSmsProvider()
    SmsChannel(provider, daily_cap=10).send(outgoing(channel="sms"))
    [sent] = provider.sent
    assert sent["phone"] == "13800138000" and sent["out_id"] == "k" * 40
    assert sent["params"]["service"] == "四点半课堂" and sent["params"]["time"] == "12月7日（周一）16:30"


def test_sms_without_provider_fails_permanently() -> None:
    with pytest.raises(ChannelError) as info:
        SmsChannel(None, daily_cap=10).send(outgoing(channel="sms"))
    assert info.value.permanent
