"""Aliyun and Tencent SMS through their real SDKs, against a local HTTP server standing for each
provider's endpoint: the server recomputes the request's signature itself (ACS3-HMAC-SHA256,
TC3-HMAC-SHA256) from what arrived, with the timestamp the request carries, and answers as the
provider documents: accepted, refused (permanently or for now), HTTP 500, or never."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from scheduler.messages import ShiftFacts, sms_params
from scheduler.messages.channels import ChannelError, Notice, Outgoing, SmsChannel, channels_from_settings
from scheduler.messages.sms import (
    ALIYUN_CODES,
    TEMPLATE_VARIABLES,
    AliyunSmsProvider,
    SmsTemplate,
    TencentSmsProvider,
    parse_templates,
    provider_from_settings,
)
from scheduler.reminders.dispatch import dispatch_due
from tests.workers_support import (
    NOW,
    LocalHttpServer,
    create_shift,
    reminders_of,
    scan,
    send_answer,
    settings_for,
)

ROOT = Path(__file__).resolve().parents[2]
AK, SECRET = "LTAI5tTestKeyId", "test-secret-不外传"
SIGN = "龙城街道"
START = datetime(2026, 12, 7, 8, 30, tzinfo=UTC)
FACTS = ShiftFacts(service_title="四点半课堂（爱联社区党群服务中心四楼活动室）", start_at=START,
                   end_at=START + timedelta(hours=2), timezone="Asia/Shanghai", venue="顺景花园党群之家",
                   role="辅导员")
REMINDER = "ROSTER_SHIFT_REMINDER=SMS_4623001:service,time,venue,role;ROSTER_COORDINATOR_NOTICE=SMS_4623002:subject"
TENCENT_TEMPLATES = "ROSTER_SHIFT_REMINDER=2251234:service,time,venue,role"


class ProviderEndpoint(LocalHttpServer):
    """A local HTTP server standing for the provider: records each request as it arrived and answers
    with ``status``, ``answer`` (JSON, or raw bytes) and ``content_type``."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = 200
        self.answer: Any = {}
        self.content_type = "application/json"
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                endpoint.requests.append({"method": "POST", "path": self.path, "body": raw,
                                          "headers": {k.lower(): v for k, v in self.headers.items()}})
                answer = endpoint.answer
                payload = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
                send_answer(self, endpoint.status, payload, endpoint.content_type)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        super().__init__(Handler)
        self.url = f"http://127.0.0.1:{self.port}"


@pytest.fixture
def endpoint() -> Iterator[ProviderEndpoint]:
    with ProviderEndpoint() as server:
        yield server


@pytest.fixture
def silent_url() -> Iterator[str]:
    """An endpoint that accepts the connection (the kernel completes it) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def aliyun(url: str, **kw: Any) -> AliyunSmsProvider:
    base: dict[str, Any] = dict(sign_name=SIGN, templates=parse_templates(REMINDER), access_key_id=AK,
                                access_key_secret=SECRET, endpoint=url, timeout=2.0)
    return AliyunSmsProvider(**{**base, **kw})


def tencent(url: str, **kw: Any) -> TencentSmsProvider:
    base: dict[str, Any] = dict(sign_name=SIGN, templates=parse_templates(TENCENT_TEMPLATES), access_key_id=AK,
                                access_key_secret=SECRET, endpoint=url, sdk_app_id="1400006666", timeout=2.0,
                                variable_limit=20)
    return TencentSmsProvider(**{**base, **kw})


def reminder_params() -> dict[str, str]:
    return sms_params("before:1440", FACTS)


# --- Aliyun: ACS3-HMAC-SHA256, recomputed here from the request as it arrived ----------------------

def acs3_signature_is_valid(request: dict[str, Any], secret: str) -> bool:
    """Alibaba Cloud's V3 signature: canonical request (method, path, sorted RFC 3986 query, the
    signed headers, the payload's SHA-256), hashed, HMAC-SHA256 with the AccessKey secret."""
    headers = request["headers"]
    algorithm, _, fields = headers["authorization"].partition(" ")
    parts = dict(item.split("=", 1) for item in fields.split(","))
    assert algorithm == "ACS3-HMAC-SHA256" and parts["Credential"] == AK
    signed = parts["SignedHeaders"].split(";")
    # The signature covers what makes a request unique and fresh, not just the host.
    assert {"host", "x-acs-action", "x-acs-version", "x-acs-date", "x-acs-signature-nonce",
            "x-acs-content-sha256"} <= set(signed)
    path, _, raw_query = request["path"].partition("?")
    query = sorted(urllib.parse.parse_qsl(raw_query, keep_blank_values=True))
    canonical_query = "&".join(f"{urllib.parse.quote(k, safe='~')}={urllib.parse.quote(v, safe='~')}"
                               for k, v in query)
    canonical_headers = "".join(f"{name}:{headers[name].strip()}\n" for name in signed)
    payload = hashlib.sha256(request["body"]).hexdigest()
    assert headers["x-acs-content-sha256"] == payload
    canonical = "\n".join([request["method"], path or "/", canonical_query, canonical_headers,
                           ";".join(signed), payload])
    to_sign = f"{algorithm}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    expected = hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["Signature"])


def aliyun_query(request: dict[str, Any]) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(request["path"].partition("?")[2], keep_blank_values=True))


def test_aliyun_sends_the_template_signed_and_returns_the_biz_id(endpoint: ProviderEndpoint) -> None:
    endpoint.answer = {"Code": "OK", "Message": "OK", "BizId": "900619746936498440^0", "RequestId": "F655A8D5"}
    message_id = aliyun(endpoint.url).send("13800138000", "ROSTER_SHIFT_REMINDER", reminder_params(), "k" * 40)
    assert message_id == "900619746936498440^0"
    [request] = endpoint.requests
    assert acs3_signature_is_valid(request, SECRET)
    assert not acs3_signature_is_valid(request, SECRET + "x")
    headers = request["headers"]
    assert headers["x-acs-action"] == "SendSms" and headers["x-acs-version"] == "2017-05-25"
    query = aliyun_query(request)
    assert query["PhoneNumbers"] == "13800138000" and query["SignName"] == "龙城街道"
    assert query["TemplateCode"] == "SMS_4623001" and query["OutId"] == "k" * 40
    # Exactly the template's variables, Chinese intact (UTF-8 in the query), the service name as
    # sms_params cut it (20 characters, within Aliyun's 35).
    assert json.loads(query["TemplateParam"]) == {"service": "四点半课堂（爱联社区党群服务中心四楼活动", "time": "12月7日（周一）16:30",
                                                  "venue": "顺景花园党群之家", "role": "辅导员"}
    assert "%E5%9B%9B%E7%82%B9%E5%8D%8A" in request["path"]  # 四点半, percent-encoded UTF-8


def test_aliyun_cuts_each_variable_by_characters_not_bytes(endpoint: ProviderEndpoint) -> None:
    endpoint.answer = {"Code": "OK", "BizId": "1^0"}
    templates = parse_templates("ROSTER_SHIFT_REMINDER=SMS_4623001:service,venue,role")
    aliyun(endpoint.url, variable_limit=5, templates=templates).send("13800138000", "ROSTER_SHIFT_REMINDER",
                                                                     reminder_params(), "k")
    values = json.loads(aliyun_query(endpoint.requests[0])["TemplateParam"])
    assert values["service"] == "四点半课堂" and values["venue"] == "顺景花园党" and values["role"] == "辅导员"
    assert AliyunSmsProvider().variable_limit == 35  # the documented default


@pytest.mark.parametrize(("code", "permanent"), [
    ("isv.MOBILE_NUMBER_ILLEGAL", True), ("isv.TEMPLATE_MISSING_PARAMETERS", True),
    ("isv.SMS_TEMPLATE_ILLEGAL", True), ("isv.SMS_SIGNATURE_ILLEGAL", True), ("isv.AMOUNT_NOT_ENOUGH", True),
    ("isv.BLACK_KEY_CONTROL_LIMIT", True), ("isv.BUSINESS_LIMIT_CONTROL", False),
    ("isv.DAY_LIMIT_CONTROL", False), ("isp.SYSTEM_ERROR", False), ("isv.SOMETHING_NEW", False),
])
def test_aliyun_refusal_codes_map_to_permanent_or_retryable(endpoint: ProviderEndpoint, code: str,
                                                            permanent: bool) -> None:
    endpoint.answer = {"Code": code, "Message": "触发业务流控", "RequestId": "R1"}
    with pytest.raises(ChannelError) as info:
        aliyun(endpoint.url).send("13800138000", "ROSTER_SHIFT_REMINDER", reminder_params(), "k")
    assert str(info.value) == f"Aliyun SMS refused: {code}" and info.value.permanent is permanent
    assert "13800138000" not in str(info.value) and "四点半" not in str(info.value)


@pytest.mark.parametrize(("status", "code", "permanent"), [
    (400, "SignatureDoesNotMatch", True), (404, "InvalidAccessKeyId.NotFound", True),
    (400, "Throttling.User", False), (503, "ServiceUnavailable", False), (500, "InternalError", False),
])
def test_aliyun_request_level_errors_map_by_code_then_status(endpoint: ProviderEndpoint, status: int, code: str,
                                                            permanent: bool) -> None:
    endpoint.status, endpoint.answer = status, {"Code": code, "Message": "no", "RequestId": "R2"}
    with pytest.raises(ChannelError) as info:
        aliyun(endpoint.url).send("13800138000", "ROSTER_SHIFT_REMINDER", reminder_params(), "k")
    assert str(info.value) == f"Aliyun SMS refused: {code} (HTTP {status})"
    assert info.value.permanent is permanent


def test_aliyun_http_500_without_json_is_retryable(endpoint: ProviderEndpoint) -> None:
    endpoint.status, endpoint.answer, endpoint.content_type = 500, b"<html>bad gateway</html>", "text/html"
    with pytest.raises(ChannelError) as info:
        aliyun(endpoint.url).send("13800138000", "ROSTER_SHIFT_REMINDER", reminder_params(), "k")
    assert not info.value.permanent and str(info.value).startswith("Aliyun SMS unavailable")


def test_aliyun_endpoint_that_never_answers_is_retryable_within_the_timeout(silent_url: str) -> None:
    started = time.monotonic()
    with pytest.raises(ChannelError) as info:
        aliyun(silent_url, timeout=1.0).send("13800138000", "ROSTER_SHIFT_REMINDER", reminder_params(), "k")
    assert not info.value.permanent and time.monotonic() - started < 8
    assert str(info.value).startswith("Aliyun SMS unavailable")


def test_aliyun_coordinator_notice_uses_its_own_template(endpoint: ProviderEndpoint) -> None:
    endpoint.answer = {"Code": "OK", "BizId": "2^0"}
    channel = SmsChannel(aliyun(endpoint.url), daily_cap=10)
    channel.send_notice(Notice(key="digest-1", subject="【排班周报】12月14日-20日：3 个空缺岗位", body="...",
                               phone="13900139000", recipient="coordinator"))
    query = aliyun_query(endpoint.requests[0])
    assert query["TemplateCode"] == "SMS_4623002" and query["PhoneNumbers"] == "13900139000"
    assert json.loads(query["TemplateParam"]) == {"subject": "【排班周报】12月14日-20日：3 个空缺岗位"}


# --- Tencent: TC3-HMAC-SHA256, recomputed here ------------------------------------------------------

def tc3_signature_is_valid(request: dict[str, Any], secret: str) -> bool:
    """Tencent Cloud API 3.0's signature: canonical request (method, path, query, content-type and
    host, the payload's SHA-256), then a key derived as HMAC("TC3"+secret, date) -> service ->
    "tc3_request", over "TC3-HMAC-SHA256\\n<timestamp>\\n<date>/<service>/tc3_request\\n<hash>"."""
    headers = request["headers"]
    algorithm, _, fields = headers["authorization"].partition(" ")
    parts = dict(item.strip().split("=", 1) for item in fields.split(","))
    assert algorithm == "TC3-HMAC-SHA256" and parts["SignedHeaders"] == "content-type;host"
    secret_id, date, service, terminator = parts["Credential"].split("/")
    assert (secret_id, service, terminator) == (AK, "sms", "tc3_request")
    timestamp = headers["x-tc-timestamp"]
    assert datetime.fromtimestamp(int(timestamp), UTC).strftime("%Y-%m-%d") == date  # the scope is the request's day
    canonical = "\n".join(["POST", "/", "", f"content-type:{headers['content-type']}\nhost:{headers['host']}\n",
                           "content-type;host", hashlib.sha256(request["body"]).hexdigest()])
    to_sign = "\n".join([algorithm, timestamp, f"{date}/{service}/tc3_request",
                         hashlib.sha256(canonical.encode()).hexdigest()])

    def mac(key: bytes, text: str) -> bytes:
        return hmac.new(key, text.encode(), hashlib.sha256).digest()

    key = mac(mac(mac(f"TC3{secret}".encode(), date), service), "tc3_request")
    return hmac.compare_digest(hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest(), parts["Signature"])


def tencent_ok(code: str = "Ok") -> dict[str, Any]:
    return {"Response": {"SendStatusSet": [{"SerialNo": "5000:104571066915705365784949619", "PhoneNumber":
                                            "+8613800138000", "Fee": 1, "SessionContext": "k", "Code": code,
                                            "Message": "send success", "IsoCode": "CN"}],
                         "RequestId": "a0aabda6-cf91-4f3e-a81f-9198114a2279"}}


def test_tencent_sends_positional_variables_signed_and_returns_the_serial_no(endpoint: ProviderEndpoint) -> None:
    endpoint.answer = tencent_ok()
    serial = tencent(endpoint.url, variable_limit=14).send("13800138000", "ROSTER_SHIFT_REMINDER", reminder_params(),
                                                          "k" * 40)
    assert serial == "5000:104571066915705365784949619"
    [request] = endpoint.requests
    assert tc3_signature_is_valid(request, SECRET) and not tc3_signature_is_valid(request, "other")
    headers = request["headers"]
    assert headers["x-tc-action"] == "SendSms" and headers["x-tc-version"] == "2021-01-11"
    assert headers["x-tc-region"] == "ap-guangzhou"
    body = json.loads(request["body"])
    assert body["PhoneNumberSet"] == ["+8613800138000"] and body["SmsSdkAppId"] == "1400006666"
    assert body["TemplateId"] == "2251234" and body["SignName"] == "龙城街道" and body["SessionContext"] == "k" * 40
    # In the template's order; each cut to the limit by characters.
    assert body["TemplateParamSet"] == ["四点半课堂（爱联社区党群服务", "12月7日（周一）16:30", "顺景花园党群之家", "辅导员"]


def test_tencent_default_limit_cuts_text_but_refuses_to_cut_the_time(endpoint: ProviderEndpoint) -> None:
    endpoint.answer = tencent_ok()
    provider = tencent(endpoint.url, templates=parse_templates("ROSTER_SHIFT_REMINDER=2251234:service,venue"),
                       variable_limit=0)
    assert provider.variable_limit == 12  # the documented per-variable limit
    provider.send("13800138000", "ROSTER_SHIFT_REMINDER", reminder_params(), "k")
    assert json.loads(endpoint.requests[0]["body"])["TemplateParamSet"] == ["四点半课堂（爱联社区党群", "顺景花园党群之家"]
    # "12月7日（周一）16:30" is 14 characters: cut, it would give the volunteer a wrong time.
    with pytest.raises(ChannelError) as info:
        tencent(endpoint.url, variable_limit=0).send("13800138000", "ROSTER_SHIFT_REMINDER", reminder_params(), "k")
    assert info.value.permanent and "variable time" in str(info.value) and "ROSTER_SMS_VARIABLE_LIMIT" in str(info.value)
    assert len(endpoint.requests) == 1


@pytest.mark.parametrize(("code", "permanent"), [
    ("LimitExceeded.PhoneNumberDailyLimit", False), ("LimitExceeded.DeliveryFrequencyLimit", False),
    ("InvalidParameterValue.IncorrectPhoneNumber", True), ("FailedOperation.InsufficientBalanceInSmsPackage", True),
    ("FailedOperation.PhoneNumberInBlacklist", True), ("FailedOperation.TemplateIncorrectOrUnapproved", True),
    ("InternalError.Timeout", False),
])
def test_tencent_per_number_refusals_map_to_permanent_or_retryable(endpoint: ProviderEndpoint, code: str,
                                                                   permanent: bool) -> None:
    endpoint.answer = tencent_ok(code)
    with pytest.raises(ChannelError) as info:
        tencent(endpoint.url).send("13800138000", "ROSTER_SHIFT_REMINDER", reminder_params(), "k")
    assert str(info.value) == f"Tencent SMS refused: {code}" and info.value.permanent is permanent
    assert "138" not in str(info.value)


@pytest.mark.parametrize(("code", "permanent"), [
    ("AuthFailure.SignatureFailure", True), ("AuthFailure.SecretIdNotFound", True),
    ("InvalidParameterValue.SdkAppIdNotExist", True), ("UnauthorizedOperation.ServiceSuspendDueToArrears", True),
    ("RequestLimitExceeded", False), ("InternalError.OtherError", False), ("LimitExceeded.AppDailyLimit", False),
])
def test_tencent_request_errors_map_to_permanent_or_retryable(endpoint: ProviderEndpoint, code: str,
                                                              permanent: bool) -> None:
    endpoint.answer = {"Response": {"Error": {"Code": code, "Message": "no"}, "RequestId": "r"}}
    with pytest.raises(ChannelError) as info:
        tencent(endpoint.url).send("13800138000", "ROSTER_SHIFT_REMINDER", reminder_params(), "k")
    assert str(info.value) == f"Tencent SMS refused: {code}" and info.value.permanent is permanent


def test_tencent_http_500_is_retryable(endpoint: ProviderEndpoint) -> None:
    endpoint.status, endpoint.answer, endpoint.content_type = 500, b"<html>oops</html>", "text/html"
    with pytest.raises(ChannelError) as info:
        tencent(endpoint.url).send("13800138000", "ROSTER_SHIFT_REMINDER", reminder_params(), "k")
    assert str(info.value) == "Tencent SMS refused: ServerNetworkError" and not info.value.permanent


def test_tencent_endpoint_that_never_answers_is_retryable_within_the_timeout(silent_url: str) -> None:
    started = time.monotonic()
    with pytest.raises(ChannelError) as info:
        tencent(silent_url, timeout=1.0).send("13800138000", "ROSTER_SHIFT_REMINDER", reminder_params(), "k")
    assert str(info.value) == "Tencent SMS refused: ClientNetworkError" and not info.value.permanent
    assert time.monotonic() - started < 8


# --- configuration ------------------------------------------------------------------------------------

def test_missing_keys_fail_permanently_naming_the_variables() -> None:
    with pytest.raises(ChannelError) as info:
        TencentSmsProvider(templates=parse_templates(TENCENT_TEMPLATES)).send("13800138000", "ROSTER_SHIFT_REMINDER",
                                                                             reminder_params(), "k")
    assert info.value.permanent
    assert str(info.value) == ("Tencent SMS is not configured (ROSTER_SMS_ACCESS_KEY_ID, ROSTER_SMS_ACCESS_KEY_SECRET, "
                               "ROSTER_SMS_SIGN_NAME, ROSTER_SMS_SDK_APP_ID)")


def test_a_template_the_configuration_lacks_fails_permanently_naming_it(endpoint: ProviderEndpoint) -> None:
    provider = aliyun(endpoint.url, templates={"ROSTER_SHIFT_REMINDER": SmsTemplate("SMS_1", ("service",))})
    with pytest.raises(ChannelError) as info:
        SmsChannel(provider, 10).send_notice(Notice(key="n", subject="s", body="b", phone="13900139000"))
    assert info.value.permanent and "ROSTER_COORDINATOR_NOTICE" in str(info.value)
    assert endpoint.requests == []


def test_every_template_the_channel_sends_knows_the_parameters_it_is_given() -> None:
    assert SmsChannel.TEMPLATE in TEMPLATE_VARIABLES and "ROSTER_COORDINATOR_NOTICE" in TEMPLATE_VARIABLES
    for kind in ("before:1440", "moved:1:0", "cancelled:2:0", "promoted"):
        assert set(sms_params(kind, FACTS, "http://127.0.0.1:8088/v/t")) == set(TEMPLATE_VARIABLES[SmsChannel.TEMPLATE])


def test_keys_stay_out_of_repr() -> None:
    provider = aliyun("http://127.0.0.1:1")
    settings = settings_for("sqlite://", sms_provider="aliyun", sms_access_key_id=AK, sms_access_key_secret=SECRET)
    for text in (repr(provider), repr(settings)):
        assert SECRET not in text and AK not in text
    assert ALIYUN_CODES["isv.BUSINESS_LIMIT_CONTROL"] is False


def test_settings_build_the_configured_provider() -> None:
    settings = settings_for("sqlite://", sms_provider="tencent", sms_templates=TENCENT_TEMPLATES, sms_sign_name=SIGN,
                            sms_sdk_app_id="1400006666", sms_variable_limit=20, sms_region="ap-nanjing")
    provider = provider_from_settings(settings)
    assert isinstance(provider, TencentSmsProvider)
    assert (provider.variable_limit, provider.region, provider.sdk_app_id) == (20, "ap-nanjing", "1400006666")
    assert provider.templates["ROSTER_SHIFT_REMINDER"] == SmsTemplate("2251234", ("service", "time", "venue", "role"))
    channel = channels_from_settings(settings).get("sms")
    assert isinstance(channel, SmsChannel) and isinstance(channel.provider, TencentSmsProvider)


def test_roster_help_imports_no_sms_sdk() -> None:
    sdks = ("alibabacloud_dysmsapi20170525", "alibabacloud_tea_openapi", "darabonba", "tencentcloud")
    code = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); import cli; import scheduler.messages.channels; "
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {sdks!r}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


# --- through the dispatcher ----------------------------------------------------------------------------

def test_reminders_reach_aliyun_through_the_dispatcher_and_the_daily_cap_holds(engine: Engine,
                                                                              endpoint: ProviderEndpoint) -> None:
    endpoint.answer = {"Code": "OK", "Message": "OK", "BizId": "3^0"}
    shift = create_shift(engine, NOW + timedelta(hours=3), offsets=[170, 160, 150], channel="sms")
    for minutes in (10, 20, 30):
        assert scan(engine, NOW + timedelta(minutes=minutes), channel="sms") == 1
    settings = settings_for(str(engine.url), sms_provider="aliyun", sms_templates=REMINDER, sms_sign_name=SIGN,
                            sms_access_key_id=AK, sms_access_key_secret=SECRET, sms_endpoint=endpoint.url,
                            sms_daily_cap=2)
    result = dispatch_due(engine, settings, policy=settings.policy(), now=NOW + timedelta(minutes=30),
                          channels=channels_from_settings(settings))
    assert (result.sent, result.failed) == (2, 1) and len(endpoint.requests) == 2
    assert all(acs3_signature_is_valid(request, SECRET) for request in endpoint.requests)
    keys = {aliyun_query(request)["OutId"] for request in endpoint.requests}
    assert keys <= {r.idempotency_key for r in reminders_of(engine, shift)}
    assert len({aliyun_query(request)["PhoneNumbers"] for request in endpoint.requests}) == 1  # one volunteer
    [failed] = [r for r in reminders_of(engine, shift) if r.status == "failed"]
    assert "cap" in (failed.last_error or "")


def test_outgoing_without_phone_never_reaches_the_provider(endpoint: ProviderEndpoint) -> None:
    out = Outgoing(reminder_id=1, idempotency_key="k", kind="before:1440", channel="sms", volunteer_id=3,
                   facts=FACTS, phone=None)
    with pytest.raises(ChannelError) as info:
        SmsChannel(aliyun(endpoint.url), 10).send(out)
    assert info.value.permanent and endpoint.requests == []
