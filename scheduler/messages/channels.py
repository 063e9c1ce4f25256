"""Reminder channels: console, email (SMTP), WeCom and DingTalk group robots, SMS via a provider.

A channel sends one :class:`Outgoing` message or raises :class:`ChannelError` (``permanent`` when
retrying cannot help). Channels are the edge of the world: they never touch the database; the
dispatcher counts sends for rate limits (``ChannelSend`` rows) and records outcomes.

Idempotency keys, wherever the channel takes one: the email ``Message-ID`` is derived from the
reminder's key; robot webhooks get an ``Idempotency-Key`` header (ignored by WeCom/DingTalk, honoured
by relays that deduplicate); SMS providers get it as ``out_id``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import smtplib
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate
from typing import IO, Any, Protocol

from scheduler.messages import ShiftFacts, group_message, personal_message, sms_params
from scheduler.messages.errors import ChannelError  # apart, so that scheduler.messages.sms needs no channels

#: A WeCom/DingTalk robot takes 20 messages a minute.
ROBOT_RATE_LIMIT = (20, 60)
#: WeCom caps a text message at 2048 bytes of UTF-8.
WECOM_TEXT_BYTES = 2048
HTTP_TIMEOUT = 10.0


@dataclass(frozen=True)
class Outgoing:
    """One message to send: plain data, no ORM objects (the send happens outside any transaction)."""

    reminder_id: int
    idempotency_key: str
    kind: str
    channel: str
    volunteer_id: int
    facts: ShiftFacts
    email: str | None = None
    phone: str | None = None
    #: The volunteer's personal link to their pages (confirm, decline...): personal channels only.
    link: str | None = None


@dataclass(frozen=True)
class Notice:
    """A message to a coordinator: a digest or a warning (no volunteer's personal data)."""

    key: str
    subject: str
    body: str
    email: str | None = None
    phone: str | None = None
    #: The volunteer's personal link to their pages (confirm, decline...): personal channels only.
    link: str | None = None
    recipient: str = ""


def target_hash(target: str) -> str:
    """What ``ChannelSend.target`` stores: a hash of the robot URL or phone number, never the value."""
    return hashlib.sha256(target.encode()).hexdigest()[:32]


class Channel:
    """Base of every channel."""

    name = "base"
    #: Posts into a group chat: the text carries no personal data.
    group = False
    #: (messages, seconds) per target, counted from ChannelSend rows; None: unlimited.
    rate_limit: tuple[int, int] | None = None
    #: Messages per target per local day; None: unlimited.
    daily_cap: int | None = None
    #: Record each accepted message at once (a separate short transaction), so that a crash
    #: duplicates at most the one message in flight. Local channels batch their marks instead.
    mark_each = True

    def target(self, out: Outgoing) -> str:
        """The raw address the rate limit counts against (hashed before it is stored)."""
        return self.name

    def send(self, out: Outgoing) -> None:
        raise NotImplementedError

    def send_notice(self, notice: Notice) -> None:
        """A message to a coordinator (digest, warning): no shift facts, free text."""
        raise ChannelError(f"{self.name} cannot carry coordinator notices", permanent=True)

    def close(self) -> None:
        """Release connections held across a batch."""


class NullChannel(Channel):
    """Accepts and discards (benchmarks)."""

    name = "null"
    mark_each = False

    def __init__(self) -> None:
        self.count = 0

    def send(self, out: Outgoing) -> None:
        self.count += 1


class ConsoleChannel(Channel):
    """Writes the message to a stream (the embedded mode's default; the demo shows it)."""

    name = "console"
    mark_each = False

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream

    def send(self, out: Outgoing) -> None:
        text = personal_message(out.kind, out.facts, out.link)
        stream = self.stream or sys.stdout
        # The volunteer is named by id only: console output ends up in logs.
        stream.write(f"[提醒 #{out.reminder_id} → 志愿者#{out.volunteer_id}] {text.subject}\n{text.body}\n")
        stream.flush()

    def send_notice(self, notice: Notice) -> None:
        stream = self.stream or sys.stdout
        stream.write(f"[通知 → {notice.recipient}] {notice.subject}\n{notice.body}\n")
        stream.flush()


class EmailChannel(Channel):
    """SMTP, one connection reused across a batch; UTF-8 headers and body (RFC 2047 / 6532)."""

    name = "email"

    def __init__(self, host: str, port: int, sender: str, domain: str, user: str = "", password: str = "",
                 starttls: bool = False, timeout: float = 30.0) -> None:
        self.host, self.port, self.sender, self.domain = host, port, sender, domain
        self.user, self._password, self.starttls, self.timeout = user, password, starttls, timeout
        self._smtp: smtplib.SMTP | None = None

    def target(self, out: Outgoing) -> str:
        return out.email or ""

    def build(self, out: Outgoing) -> EmailMessage:
        text = personal_message(out.kind, out.facts, out.link)
        return self._message(out.email or "", text.subject, text.body, out.idempotency_key)

    def _message(self, to: str, subject: str, body: str, key: str) -> EmailMessage:
        message = EmailMessage()  # default policy: non-ASCII headers are RFC 2047 encoded
        message["Subject"] = subject
        message["From"] = self.sender
        message["To"] = to
        message["Date"] = formatdate(localtime=False)
        # Derived from the reminder's idempotency key: a resend after a crash carries the same
        # Message-ID, so a mail server or client that deduplicates drops the copy.
        message["Message-ID"] = f"<{key}@{self.domain}>"
        message["X-Roster-Reminder"] = key
        message.set_content(body, charset="utf-8")
        return message

    def send_notice(self, notice: Notice) -> None:
        if not notice.email:
            raise ChannelError(f"{notice.recipient} has no email address", permanent=True)
        self._deliver(self._message(notice.email, notice.subject, notice.body, notice.key))

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is None:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            if self.starttls:
                smtp.starttls()
            if self.user:
                smtp.login(self.user, self._password)
            self._smtp = smtp
        return self._smtp

    def send(self, out: Outgoing) -> None:
        if not self.host:
            raise ChannelError("email is not configured (ROSTER_SMTP_HOST)", permanent=True)
        if not out.email:
            raise ChannelError(f"volunteer #{out.volunteer_id} has no email address", permanent=True)
        self._deliver(self.build(out))

    def _deliver(self, message: EmailMessage) -> None:
        if not self.host:
            raise ChannelError("email is not configured (ROSTER_SMTP_HOST)", permanent=True)
        for attempt in (1, 2):
            try:
                self._connection().send_message(message)
                return
            except smtplib.SMTPServerDisconnected as exc:
                # A reused connection the server timed out: reconnect once.
                self._smtp = None
                if attempt == 2:
                    raise ChannelError(f"SMTP server disconnected: {exc}") from None
            except smtplib.SMTPRecipientsRefused as exc:
                codes = [code for code, _ in exc.recipients.values()]
                raise ChannelError(f"SMTP refused the recipient ({codes})",
                                   permanent=all(c >= 500 for c in codes)) from None
            except smtplib.SMTPResponseException as exc:
                self.close()
                raise ChannelError(f"SMTP {exc.smtp_code}", permanent=exc.smtp_code >= 500) from None
            except (OSError, smtplib.SMTPException) as exc:
                self.close()
                raise ChannelError(f"SMTP unavailable: {type(exc).__name__}") from None

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (OSError, smtplib.SMTPException):
                pass
            self._smtp = None


def post_json(url: str, body: dict[str, Any], headers: dict[str, str], timeout: float = HTTP_TIMEOUT
              ) -> dict[str, Any]:
    """POST JSON (UTF-8) and return the JSON answer; errors never quote the URL (it holds a key)."""
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(url, data=data, method="POST", headers={
        "Content-Type": "application/json; charset=utf-8", **headers})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        exc.close()  # an HTTPError holds the open response; close it rather than leak the socket
        raise ChannelError(f"HTTP {exc.code}", permanent=400 <= exc.code < 500 and exc.code != 429) from None
    except (TimeoutError, urllib.error.URLError, OSError) as exc:
        raise ChannelError(f"webhook unreachable: {type(exc).__name__}") from None
    try:
        answer = json.loads(raw.decode("utf-8") or "{}")
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ChannelError("webhook answered with something that is not JSON") from None
    return answer if isinstance(answer, dict) else {}


def truncate_utf8(text: str, limit: int) -> str:
    """At most ``limit`` bytes of UTF-8, never splitting a character."""
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text
    return raw[:limit].decode("utf-8", errors="ignore")


class WeComRobotChannel(Channel):
    """WeCom (企业微信) group robot webhook: ``msgtype`` text, <= 2048 bytes, 20 messages/min."""

    name = "wecom"
    group = True
    rate_limit = ROBOT_RATE_LIMIT
    #: errcode values worth retrying: system busy, and the robot's own rate limit.
    TRANSIENT = {-1, 45009}

    def __init__(self, webhook: str) -> None:
        self._webhook = webhook

    def target(self, out: Outgoing) -> str:
        return self._webhook

    def body(self, out: Outgoing) -> dict[str, Any]:
        # Group message: no mention of the volunteer. WeCom renders a mention as "@name" to the
        # whole group, so even mentioning by user id would expose who is on the shift.
        return {"msgtype": "text", "text": {"content": truncate_utf8(group_message(out.kind, out.facts),
                                                                    WECOM_TEXT_BYTES)}}

    def send(self, out: Outgoing) -> None:
        if not self._webhook:
            raise ChannelError("WeCom robot is not configured (ROSTER_WECOM_WEBHOOK)", permanent=True)
        self._post(self.body(out), out.idempotency_key)

    def _post(self, body: dict[str, Any], key: str) -> None:
        if not self._webhook:
            raise ChannelError("WeCom robot is not configured (ROSTER_WECOM_WEBHOOK)", permanent=True)
        answer = post_json(self._webhook, body, {"Idempotency-Key": key})
        code = answer.get("errcode", 0)
        if code != 0:
            raise ChannelError(f"WeCom errcode {code}", permanent=code not in self.TRANSIENT)

    def send_notice(self, notice: Notice) -> None:
        text = truncate_utf8(f"{notice.subject}\n{notice.body}", WECOM_TEXT_BYTES)
        self._post({"msgtype": "text", "text": {"content": text}}, notice.key)


def dingtalk_signed_url(webhook: str, secret: str, timestamp_ms: int | None = None) -> str:
    """The robot URL with ``timestamp`` and ``sign`` = base64(HMAC-SHA256(secret, "ts\\nsecret"))."""
    timestamp = str(timestamp_ms if timestamp_ms is not None else int(time.time() * 1000))
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    sign = urllib.parse.quote_plus(base64.b64encode(digest))
    joiner = "&" if "?" in webhook else "?"
    return f"{webhook}{joiner}timestamp={timestamp}&sign={sign}"


class DingTalkRobotChannel(Channel):
    """DingTalk (钉钉) group robot with a signed URL (HMAC-SHA256); 20 messages/min."""

    name = "dingtalk"
    group = True
    rate_limit = ROBOT_RATE_LIMIT
    TRANSIENT = {-1, 130101}

    def __init__(self, webhook: str, secret: str) -> None:
        self._webhook, self._secret = webhook, secret

    def target(self, out: Outgoing) -> str:
        return self._webhook

    def body(self, out: Outgoing) -> dict[str, Any]:
        # No at.atMobiles (a phone number) and no at.atUserIds (rendered as the name to the group).
        return {"msgtype": "text", "text": {"content": group_message(out.kind, out.facts)},
                "at": {"isAtAll": False}}

    def send(self, out: Outgoing) -> None:
        if not self._webhook or not self._secret:
            raise ChannelError("DingTalk robot is not configured (ROSTER_DINGTALK_WEBHOOK and _SECRET)",
                               permanent=True)
        self._post(self.body(out), out.idempotency_key)

    def _post(self, body: dict[str, Any], key: str) -> None:
        if not self._webhook or not self._secret:
            raise ChannelError("DingTalk robot is not configured (ROSTER_DINGTALK_WEBHOOK and _SECRET)",
                               permanent=True)
        url = dingtalk_signed_url(self._webhook, self._secret)
        answer = post_json(url, body, {"Idempotency-Key": key})
        code = answer.get("errcode", 0)
        if code != 0:
            raise ChannelError(f"DingTalk errcode {code}", permanent=code not in self.TRANSIENT)

    def send_notice(self, notice: Notice) -> None:
        self._post({"msgtype": "text", "text": {"content": f"{notice.subject}\n{notice.body}"},
                    "at": {"isAtAll": False}}, notice.key)


class SmsProvider(Protocol):
    """Aliyun and Tencent send a registered template with parameters, not free text."""

    def send(self, phone: str, template: str, params: dict[str, str], out_id: str) -> str:
        """Send; return the provider's message id or raise ChannelError."""
        ...


@dataclass
class RecordingSmsProvider:
    """A fake provider that records what it was sent (the one edge we cannot reach in tests)."""

    sent: list[dict[str, Any]] = field(default_factory=list)
    #: Fail this many sends (transiently) before accepting: exercises retries.
    fail_next: int = 0

    def send(self, phone: str, template: str, params: dict[str, str], out_id: str) -> str:
        if self.fail_next > 0:
            self.fail_next -= 1
            raise ChannelError("SMS provider busy")
        self.sent.append({"phone": phone, "template": template, "params": dict(params), "out_id": out_id})
        return f"fake-{len(self.sent)}"


class SmsChannel(Channel):
    """SMS through a provider; capped per number per day (notification traffic rules)."""

    name = "sms"
    TEMPLATE = "ROSTER_SHIFT_REMINDER"

    def __init__(self, provider: SmsProvider | None, daily_cap: int) -> None:
        self.provider = provider
        self.daily_cap = daily_cap

    def target(self, out: Outgoing) -> str:
        return out.phone or ""

    def send(self, out: Outgoing) -> None:
        if self.provider is None:
            raise ChannelError("SMS provider is not configured (ROSTER_SMS_PROVIDER)", permanent=True)
        if not out.phone:
            raise ChannelError(f"volunteer #{out.volunteer_id} has no phone number", permanent=True)
        self.provider.send(out.phone, self.TEMPLATE, sms_params(out.kind, out.facts, out.link), out.idempotency_key)

    def send_notice(self, notice: Notice) -> None:
        if self.provider is None:
            raise ChannelError("SMS provider is not configured (ROSTER_SMS_PROVIDER)", permanent=True)
        if not notice.phone:
            raise ChannelError(f"{notice.recipient} has no phone number", permanent=True)
        self.provider.send(notice.phone, "ROSTER_COORDINATOR_NOTICE", {"subject": notice.subject[:30]},
                           notice.key)


#: The ledger's channel for a minor's reminders copied to the guardian (by SMS, to the phone of the
#: consent in force that asked for copies; ``scheduler.reminders.dispatch`` owes and resolves them).
GUARDIAN_CHANNEL = "guardian"


class GuardianSmsChannel(SmsChannel):
    """A copy of a minor's reminder to the guardian: the SMS provider, a template of its own
    (``ROSTER_GUARDIAN_COPY``: it speaks to a parent, and carries no personal link). Named ``sms``
    for the limits, so the guardian's number shares the daily cap of its other text messages."""

    TEMPLATE = "ROSTER_GUARDIAN_COPY"

    def send(self, out: Outgoing) -> None:
        if self.provider is None:
            raise ChannelError("SMS provider is not configured (ROSTER_SMS_PROVIDER)", permanent=True)
        if not out.phone:
            raise ChannelError(f"the guardian of volunteer #{out.volunteer_id} has no phone number", permanent=True)
        self.provider.send(out.phone, self.TEMPLATE, sms_params(out.kind, out.facts), out.idempotency_key)


class ChannelSet:
    """The channels of one process, built lazily from settings."""

    def __init__(self, factories: dict[str, Any]) -> None:
        self._factories = factories
        self._built: dict[str, Channel] = {}

    def get(self, name: str) -> Channel:
        channel = self._built.get(name)
        if channel is None:
            factory = self._factories.get(name)
            if factory is None:
                raise ChannelError(f"unknown reminder channel {name!r}", permanent=True)
            channel = self._built[name] = factory()
        return channel

    def close(self) -> None:
        for channel in self._built.values():
            channel.close()


def channels_from_settings(settings: Any, sms_provider: SmsProvider | None = None,
                           stream: IO[str] | None = None, null: NullChannel | None = None) -> ChannelSet:
    """Every channel, configured from ``Settings``; unconfigured ones fail permanently when used.
    ``ROSTER_SMS_PROVIDER`` aliyun or tencent: the real provider (scheduler/messages/sms.py), built
    with the SMS channel, so that its SDK is imported only by a process that sends SMS."""
    if sms_provider is None and settings.sms_provider in ("fake", "recording"):
        sms_provider = RecordingSmsProvider()

    built: list[SmsProvider | None] = []

    def provider() -> SmsProvider | None:
        if not built:  # one provider for the volunteer's and the guardian's channel
            chosen = sms_provider
            if chosen is None and settings.sms_provider in ("aliyun", "tencent"):
                from scheduler.messages.sms import provider_from_settings

                chosen = provider_from_settings(settings)
            built.append(chosen)
        return built[0]

    def sms_channel() -> SmsChannel:
        return SmsChannel(provider(), settings.sms_daily_cap)

    def guardian_channel() -> SmsChannel:
        return GuardianSmsChannel(provider(), settings.sms_daily_cap)

    return ChannelSet({
        "console": lambda: ConsoleChannel(stream),
        "null": lambda: null or NullChannel(),
        "email": lambda: EmailChannel(settings.smtp_host, settings.smtp_port, settings.smtp_from,
                                      settings.domain, settings.smtp_user, settings.smtp_password,
                                      settings.smtp_starttls),
        "wecom": lambda: WeComRobotChannel(settings.wecom_webhook),
        "dingtalk": lambda: DingTalkRobotChannel(settings.dingtalk_webhook, settings.dingtalk_secret),
        "sms": sms_channel,
        GUARDIAN_CHANNEL: guardian_channel,
    })
