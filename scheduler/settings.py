"""One settings object, built from ``ROSTER_*`` environment variables at the entry points."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from scheduler.errors import InvalidInput
from scheduler.i18n import _
from scheduler.policy import OperationPolicy

#: Every variable the settings read, with its default (``{var}`` is ROSTER_HOME; its own default,
#: left empty here, is the platform's per-user data folder: see ``default_home``).
VARIABLES: dict[str, str] = {
    "ROSTER_HOME": "",
    "ROSTER_DATABASE_URL": "sqlite:///{var}/roster.db",
    "ROSTER_BROKER_URL": "sqla+sqlite:///{var}/broker.db",
    "ROSTER_FEED_DIR": "{var}/feeds",
    "ROSTER_PUBLIC_BASE_URL": "http://localhost:8080",
    "ROSTER_TIMEZONE": "Asia/Shanghai",
    "ROSTER_HORIZON_WEEKS": "12",
    "ROSTER_DOMAIN": "roster.longcheng.example",
    "ROSTER_REMINDER_CHANNEL": "console",
    "ROSTER_QUIET_HOURS": "22:00-07:30",
    "ROSTER_SMTP_HOST": "",
    "ROSTER_SMTP_PORT": "25",
    "ROSTER_SMTP_USER": "",
    "ROSTER_SMTP_PASSWORD": "",
    "ROSTER_SMTP_FROM": "roster@localhost",
    "ROSTER_SMTP_STARTTLS": "0",
    "ROSTER_WECOM_WEBHOOK": "",
    "ROSTER_DINGTALK_WEBHOOK": "",
    "ROSTER_DINGTALK_SECRET": "",
    "ROSTER_SMS_PROVIDER": "",
    "ROSTER_SMS_DAILY_CAP": "10",
    "ROSTER_SMS_SIGN_NAME": "",
    "ROSTER_SMS_TEMPLATES": "",
    "ROSTER_SMS_ACCESS_KEY_ID": "",
    "ROSTER_SMS_ACCESS_KEY_SECRET": "",
    "ROSTER_SMS_SDK_APP_ID": "",
    "ROSTER_SMS_REGION": "",
    "ROSTER_SMS_ENDPOINT": "",
    "ROSTER_SMS_VARIABLE_LIMIT": "",
    "ROSTER_SMS_TIMEOUT": "5",
    "ROSTER_LOG_LEVEL": "INFO",
    "ROSTER_RELAY_INTERVAL": "5",
    "ROSTER_DISPATCH_INTERVAL": "30",
    "ROSTER_DISPATCH_BATCH": "200",
    "ROSTER_REMINDER_LEASE": "300",
    "ROSTER_EARLY_CHECKIN_MINUTES": "60",
    "ROSTER_OVERTIME_MINUTES": "60",
    "ROSTER_LOCK_TIMEOUT": "5",
    "ROSTER_WEB_BASE_URL": "http://127.0.0.1:8088",
    "ROSTER_WEB_SECRET": "",
    "ROSTER_WEB_RATE_LIMIT": "30 per minute",
    "ROSTER_WEB_LIMITER_STORAGE": "memory://",
}


def default_home() -> Path:
    """The embedded default's folder: the platform's per-user data folder (``~/.local/share/roster``
    on Linux, ``~/Library/Application Support/roster`` on macOS, ``%LOCALAPPDATA%\\roster`` on
    Windows), so that the data does not depend on the folder a command is run from."""
    from platformdirs import user_data_path

    return user_data_path("roster", appauthor=False)


def redacted_url(url: str) -> str:
    """``url`` without its password (database and broker URLs may carry one): safe to print."""
    return re.sub(r"//([^/@:]*):[^/@]*@", r"//\1:***@", url)


@dataclass(frozen=True)
class Settings:
    """Configuration of one process; secrets never leave it (no repr of credentials)."""

    home: Path
    database_url: str
    broker_url: str
    feed_dir: Path
    public_base_url: str
    timezone: str
    horizon_weeks: int
    domain: str
    reminder_channel: str
    quiet_hours: str
    smtp_host: str
    smtp_port: int
    smtp_user: str
    smtp_password: str = field(repr=False)
    smtp_from: str = "roster@localhost"
    smtp_starttls: bool = False
    wecom_webhook: str = field(default="", repr=False)
    dingtalk_webhook: str = field(default="", repr=False)
    dingtalk_secret: str = field(default="", repr=False)
    sms_provider: str = ""
    sms_daily_cap: int = 10
    #: SMS through Aliyun or Tencent (scheduler/messages/sms.py): the sign name (签名), the
    #: templates (``NAME=CODE:var,var;...``, checked at load), the keys, Tencent's SdkAppId, the
    #: region, an endpoint override (``http://127.0.0.1:PORT`` in tests), characters per variable
    #: (0: the provider's documented limit) and the connect/read timeout in seconds.
    sms_sign_name: str = ""
    sms_templates: str = ""
    sms_access_key_id: str = field(default="", repr=False)
    sms_access_key_secret: str = field(default="", repr=False)
    sms_sdk_app_id: str = ""
    sms_region: str = ""
    sms_endpoint: str = ""
    sms_variable_limit: int = 0
    sms_timeout: float = 5
    log_level: str = "INFO"
    #: Worker tuning: seconds between relay ticks and dispatch ticks, claim batch, lease seconds.
    relay_interval: float = 5
    dispatch_interval: float = 30
    dispatch_batch: int = 200
    reminder_lease: int = 300
    #: Attendance review margins (minutes): a check-in earlier than this before the shift, and a
    #: record longer than the shift plus this, wait for a coordinator.
    early_checkin_minutes: int = 60
    overtime_minutes: int = 60
    #: Seconds a transaction waits for another's lock before "database busy" (exit 8).
    lock_timeout: float = 5
    #: The volunteer pages: their public address (the links in reminders), the key that signs their
    #: cookies (a file in ROSTER_HOME when unset), token lookups allowed per client, the limiter's
    #: storage (``redis://...`` when several web workers share the limits).
    web_base_url: str = "http://127.0.0.1:8088"
    web_secret: str = field(default="", repr=False)
    web_rate_limit: str = "30 per minute"
    web_limiter_storage: str = "memory://"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``environ`` (default ``os.environ``); bad values name the variable."""
        env = os.environ if environ is None else environ
        home = env.get("ROSTER_HOME") or str(default_home())

        def get(name: str) -> str:
            value = env.get(name)
            if value is None or value == "":
                value = VARIABLES[name]
            return value.replace("{var}", home)

        def get_int(name: str) -> int:
            raw = get(name)
            try:
                return int(raw)
            except ValueError:
                raise InvalidInput(name, _("must be a whole number, not {raw}").format(
                    raw=repr(raw))) from None

        def get_positive(name: str) -> float:
            raw = get(name)
            try:
                value = float(raw)
            except ValueError:
                value = -1
            if value <= 0:
                raise InvalidInput(name, _("must be a positive number, not {raw}").format(raw=repr(raw)))
            return value

        def get_minutes(name: str) -> int:
            value = get_int(name)
            if not 0 <= value <= 24 * 60:
                raise InvalidInput(name, _("must be between 0 and 1440 minutes, not {value}").format(
                    value=value))
            return value

        timezone = get("ROSTER_TIMEZONE")
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidInput("ROSTER_TIMEZONE", _("unknown time zone {timezone}").format(
                timezone=repr(timezone))) from None
        sms_provider = get("ROSTER_SMS_PROVIDER").strip().lower()
        sms_templates = get("ROSTER_SMS_TEMPLATES")
        if sms_provider or sms_templates:
            # Only then: a process without SMS never imports the SMS module.
            from scheduler.messages.sms import PROVIDERS, parse_templates

            if sms_provider not in PROVIDERS:
                raise InvalidInput("ROSTER_SMS_PROVIDER", _("must be one of {choices}, not {raw}").format(
                    choices=", ".join(p for p in PROVIDERS if p), raw=repr(sms_provider)))
            parse_templates(sms_templates)
        # Empty: the provider's documented limit (scheduler.messages.sms.VARIABLE_LIMITS).
        sms_variable_limit = int(get_positive("ROSTER_SMS_VARIABLE_LIMIT")) if get("ROSTER_SMS_VARIABLE_LIMIT") else 0
        horizon = get_int("ROSTER_HORIZON_WEEKS")
        if not 1 <= horizon <= 104:
            raise InvalidInput("ROSTER_HORIZON_WEEKS", "must be between 1 and 104 weeks")
        return cls(
            home=Path(home),
            database_url=get("ROSTER_DATABASE_URL"),
            broker_url=get("ROSTER_BROKER_URL"),
            feed_dir=Path(get("ROSTER_FEED_DIR")),
            public_base_url=get("ROSTER_PUBLIC_BASE_URL").rstrip("/"),
            timezone=timezone,
            horizon_weeks=horizon,
            domain=get("ROSTER_DOMAIN"),
            reminder_channel=get("ROSTER_REMINDER_CHANNEL"),
            quiet_hours=get("ROSTER_QUIET_HOURS"),
            smtp_host=get("ROSTER_SMTP_HOST"),
            smtp_port=get_int("ROSTER_SMTP_PORT"),
            smtp_user=get("ROSTER_SMTP_USER"),
            smtp_password=get("ROSTER_SMTP_PASSWORD"),
            smtp_from=get("ROSTER_SMTP_FROM"),
            smtp_starttls=get("ROSTER_SMTP_STARTTLS") in {"1", "true", "yes"},
            wecom_webhook=get("ROSTER_WECOM_WEBHOOK"),
            dingtalk_webhook=get("ROSTER_DINGTALK_WEBHOOK"),
            dingtalk_secret=get("ROSTER_DINGTALK_SECRET"),
            sms_provider=sms_provider,
            sms_daily_cap=get_int("ROSTER_SMS_DAILY_CAP"),
            sms_sign_name=get("ROSTER_SMS_SIGN_NAME").strip(),
            sms_templates=sms_templates,
            sms_access_key_id=get("ROSTER_SMS_ACCESS_KEY_ID").strip(),
            sms_access_key_secret=get("ROSTER_SMS_ACCESS_KEY_SECRET").strip(),
            sms_sdk_app_id=get("ROSTER_SMS_SDK_APP_ID").strip(),
            sms_region=get("ROSTER_SMS_REGION").strip(),
            sms_endpoint=get("ROSTER_SMS_ENDPOINT").strip(),
            sms_variable_limit=sms_variable_limit,
            sms_timeout=get_positive("ROSTER_SMS_TIMEOUT"),
            log_level=get("ROSTER_LOG_LEVEL"),
            relay_interval=get_positive("ROSTER_RELAY_INTERVAL"),
            dispatch_interval=get_positive("ROSTER_DISPATCH_INTERVAL"),
            dispatch_batch=int(get_positive("ROSTER_DISPATCH_BATCH")),
            reminder_lease=int(get_positive("ROSTER_REMINDER_LEASE")),
            early_checkin_minutes=get_minutes("ROSTER_EARLY_CHECKIN_MINUTES"),
            overtime_minutes=get_minutes("ROSTER_OVERTIME_MINUTES"),
            lock_timeout=get_positive("ROSTER_LOCK_TIMEOUT"),
            web_base_url=get("ROSTER_WEB_BASE_URL").rstrip("/"),
            web_secret=get("ROSTER_WEB_SECRET"),
            web_rate_limit=get("ROSTER_WEB_RATE_LIMIT"),
            web_limiter_storage=get("ROSTER_WEB_LIMITER_STORAGE"),
        )

    def policy(self) -> OperationPolicy:
        """The operation policy the entry points pass to operations (quiet hours, default channel,
        attendance review margins); a bad ROSTER_QUIET_HOURS is InvalidInput (exit 4)."""
        return OperationPolicy.from_text(self.quiet_hours, self.reminder_channel,
                                         self.early_checkin_minutes, self.overtime_minutes)

    def sqlite_path(self) -> Path | None:
        """The database file of a ``sqlite:///`` URL (None for an in-memory or server database)."""
        if "sqlite:///" not in self.database_url:
            return None
        path = self.database_url.split("sqlite:///", 1)[1].split("?", 1)[0]
        return Path(path) if path and path != ":memory:" else None

    def where(self) -> dict[str, str]:
        """Which data this process uses, safe to print (passwords hidden)."""
        return {"home": str(self.home), "database": redacted_url(self.database_url),
                "broker": redacted_url(self.broker_url), "feed_dir": str(self.feed_dir),
                "public_base_url": self.public_base_url}

    def ensure_dirs(self) -> None:
        """Create the local folders the embedded default writes into."""
        for url in (self.database_url, self.broker_url):
            if "sqlite:///" in url:
                path = url.split("sqlite:///", 1)[1]
                if path and path != ":memory:":
                    Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.feed_dir.mkdir(parents=True, exist_ok=True)
