"""SMS through Aliyun (阿里云短信服务, Dysmsapi 2017-05-25) and Tencent Cloud (腾讯云短信, SMS 2021-01-11),
with their official Python SDKs.

Both send a registered template, not free text: the channel names a template (``ROSTER_SHIFT_REMINDER``,
``ROSTER_COORDINATOR_NOTICE``) and gives named parameters (``scheduler.messages.sms_params``);
``ROSTER_SMS_TEMPLATES`` maps each name to the provider's template code and the variables it takes,
in order (Tencent's variables are positional: ``{1}``, ``{2}``...). Values are cut to the provider's
per-variable limit by characters (a Chinese character counts as one, as both providers count).

The SDKs are imported when the first message is sent, never at import time: ``roster --help`` and
every command that never sends an SMS do not pay for them.

Nothing here names the phone number or the parameters in an exception or a log line: a refusal reads
``Aliyun SMS refused: isv.MOBILE_NUMBER_ILLEGAL`` and is stored as such in the reminder's record.
"""

from __future__ import annotations

import json
import logging
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from scheduler.errors import InvalidInput
from scheduler.i18n import _
from scheduler.messages.errors import ChannelError

#: The templates the SMS channel sends and the parameters each can use (``sms_params`` gives the
#: reminder's; a coordinator notice carries only its subject).
TEMPLATE_VARIABLES: dict[str, tuple[str, ...]] = {
    "ROSTER_SHIFT_REMINDER": ("service", "time", "date", "clock", "venue", "role", "change", "link"),
    "ROSTER_GUARDIAN_COPY": ("service", "time", "date", "clock", "venue", "role", "change"),
    "ROSTER_COORDINATOR_NOTICE": ("subject",),
}

PROVIDERS = ("", "fake", "recording", "aliyun", "tencent")

#: Characters per variable value. Aliyun: a notification template's ordinary variable (name,
#: address, other text) takes at most 35 characters (help.aliyun.com, 通知短信模板规范 → 变量规范,
#: document_detail/463270; over it the API answers isv.PARAM_LENGTH_LIMIT). Tencent: an account with
#: personal verification takes at most 12 characters per variable, an enterprise account is not
#: limited per variable (cloud.tencent.com/document/product/382/40653; over it
#: InvalidParameterValue.TemplateParameterLengthLimit, legacy code 1036 "单个模板变量字符数超过12个").
#: ROSTER_SMS_VARIABLE_LIMIT overrides either.
VARIABLE_LIMITS = {"aliyun": 35, "tencent": 12}
#: Cut, a time or a link would send the volunteer somewhere wrong: over the limit, the send fails
#: permanently instead (raise ROSTER_SMS_VARIABLE_LIMIT where the account allows, or drop the variable).
NEVER_CUT = frozenset({"time", "date", "clock", "link"})
DEFAULT_REGIONS = {"aliyun": "cn-hangzhou", "tencent": "ap-guangzhou"}
#: Seconds to connect and, again, to read: a dead endpoint is a retryable failure in seconds.
DEFAULT_TIMEOUT = 5.0

# Aliyun SendSms answers HTTP 200 with ``Code`` "OK" or a refusal code; request-level failures come
# as HTTP 4xx/5xx with a ``Code``. Source: help.aliyun.com/document_detail/101346.html (API错误码)
# and the OpenAPI common errors (signature, access key, throttling). True: permanent, retrying
# cannot help; False: retry later. Balance problems are permanent on purpose: they need a person
# (a top-up), a permanent failure is what coordinators see, and `roster reminders retry` resends.
ALIYUN_CODES: dict[str, bool] = {
    "isv.MOBILE_NUMBER_ILLEGAL": True,  # 手机号码格式错误
    "isv.MOBILE_COUNT_OVER_LIMIT": True,
    "isv.TEMPLATE_MISSING_PARAMETERS": True,  # 模板变量缺少参数
    "isv.INVALID_PARAMETERS": True,
    "isv.INVALID_JSON_PARAM": True,
    "isv.PARAM_LENGTH_LIMIT": True,  # 变量长度受限
    "isv.PARAM_NOT_SUPPORT_URL": True,  # 不支持 URL 为变量
    "isv.BLACK_KEY_CONTROL_LIMIT": True,  # 变量中有黑名单关键字
    "isv.SMS_TEMPLATE_ILLEGAL": True,  # 模板不合法（不存在或未审核通过）
    "isv.SMS_SIGNATURE_ILLEGAL": True,  # 签名不合法
    "isv.SMS_SIGN_ILLEGAL": True,
    "isv.SIGN_STATE_ILLEGAL": True,
    "isv.SMS_SIGNATURE_SCENE_ILLEGAL": True,  # 签名和模板类型不一致
    "isv.SMS_CONTENT_ILLEGAL": True,
    "isv.DOMESTIC_NUMBER_NOT_SUPPORTED": True,
    "isv.DENY_IP_RANGE": True,
    "isv.EXTEND_CODE_ERROR": True,
    "isv.ACCOUNT_NOT_EXISTS": True,
    "isv.ACCOUNT_ABNORMAL": True,
    "isv.PRODUCT_UN_SUBSCRIPT": True,
    "isv.PRODUCT_UNSUBSCRIBE": True,
    "isv.AMOUNT_NOT_ENOUGH": True,  # 余额不足
    "isv.OUT_OF_SERVICE": True,  # 业务停机（欠费）
    "isp.RAM_PERMISSION_DENY": True,
    "SignatureDoesNotMatch": True,
    "IncompleteSignature": True,
    "InvalidAccessKeyId.NotFound": True,
    "InvalidAccessKeyId.Inactive": True,
    "Forbidden.RAM": True,
    "isv.BUSINESS_LIMIT_CONTROL": False,  # 触发业务流控 (per number per minute/hour/day)
    "isv.DAY_LIMIT_CONTROL": False,  # the account's daily quota set in the console
    "isv.MONTH_LIMIT_CONTROL": False,
    "isp.SYSTEM_ERROR": False,
    "isp.GATEWAY_ERROR": False,
    "isp.UNKNOWN": False,
    "Throttling": False,
    "Throttling.User": False,
    "Throttling.Api": False,
    "ServiceUnavailable": False,
    "InternalError": False,
}

# Tencent: a request-level error comes as TencentCloudSDKException (``Response.Error.Code``), a
# per-number result as ``SendStatusSet[i].Code`` ("Ok" when accepted). Sources: SendSms's error
# codes, cloud.tencent.com/document/api/382/55981 (and tencentcloud/sms/v20210111/errorcodes.py),
# the common error codes /document/api/382/52075, the SMS 3.0 send codes /document/api/382/59177.
# Exact codes first, then the class (the part before the first dot).
TENCENT_CODES: dict[str, bool] = {
    "LimitExceeded.PhoneNumberCountLimit": True,  # over 200 numbers in one request
    "LimitExceeded.AppCountryOrRegionInBlacklist": True,
    "InternalError.RestApiInterfaceNotExist": True,
    "AuthFailure.SignatureExpire": True,  # the clock is off by more than 5 minutes: needs a person
    "FailedOperation.FailResolvePacket": True,
    "FailedOperation.InsufficientBalanceInSmsPackage": True,  # 套餐包余量不足
    "FailedOperation.PhoneNumberInBlacklist": True,  # 免打扰名单（用户退订）
    "FailedOperation.SignatureIncorrectOrUnapproved": True,
    "FailedOperation.TemplateIncorrectOrUnapproved": True,
    "FailedOperation.TemplateParamSetNotMatchApprovedTemplate": True,
    "FailedOperation.ContainSensitiveWord": True,
    "FailedOperation.OtherError": False,
    "InternalError.Timeout": False,  # 请求下发短信超时: retry
    "InternalError.SendAndRecvFail": False,
    "RequestLimitExceeded": False,
    "ClientNetworkError": False,  # the SDK's own code: connection refused, timeout
    "ServerNetworkError": False,  # the SDK's own code: an HTTP status other than 200
}
TENCENT_CLASSES: dict[str, bool] = {
    "AuthFailure": True,
    "InvalidParameter": True,
    "InvalidParameterValue": True,  # e.g. InvalidParameterValue.IncorrectPhoneNumber
    "MissingParameter": True,
    "UnsupportedOperation": True,
    "UnauthorizedOperation": True,  # e.g. ServiceSuspendDueToArrears (欠费停服)
    "FailedOperation": True,
    "InvalidAction": True,
    "LimitExceeded": False,  # e.g. LimitExceeded.PhoneNumberDailyLimit: the provider's frequency rules
    "RequestLimitExceeded": False,
    "InternalError": False,
    "ResourceUnavailable": False,
}

ALIYUN_PERMANENT_HTTP = range(400, 500)


@dataclass(frozen=True)
class SmsTemplate:
    """A template registered with the provider: its code (Aliyun ``SMS_...``, Tencent a number) and
    the variables it takes, in the template's order."""

    code: str
    variables: tuple[str, ...]


_ENTRY = re.compile(r"^(?P<name>[A-Z][A-Z0-9_]*)=(?P<code>[A-Za-z0-9_-]+)(?::(?P<vars>[a-z_,]*))?$")


def parse_templates(text: str, variable: str = "ROSTER_SMS_TEMPLATES") -> dict[str, SmsTemplate]:
    """``NAME=CODE:var1,var2;NAME=CODE:var`` (e.g. ``ROSTER_SHIFT_REMINDER=SMS_4623:service,time``);
    a bad entry, an unknown template name or variable is InvalidInput naming ``variable``."""
    templates: dict[str, SmsTemplate] = {}
    for raw in filter(None, (part.strip() for part in text.split(";"))):
        match = _ENTRY.match(raw.replace(" ", ""))
        if match is None:
            raise InvalidInput(variable, _("{entry} is not NAME=CODE:variable,variable").format(
                entry=repr(raw)))
        name = match["name"]
        known = TEMPLATE_VARIABLES.get(name)
        if known is None:
            raise InvalidInput(variable, _("unknown template {name} (known: {known})").format(
                name=name, known=", ".join(TEMPLATE_VARIABLES)))
        if name in templates:
            raise InvalidInput(variable, _("template {name} is given twice").format(name=name))
        names = tuple(v for v in (match["vars"] or "").split(",") if v)
        for var in names:
            if var not in known:
                raise InvalidInput(variable, _("{name} has no variable {var} (it has: {known})").format(
                    name=name, var=var, known=", ".join(known)))
        if len(set(names)) != len(names):
            raise InvalidInput(variable, _("template {name} names a variable twice").format(name=name))
        templates[name] = SmsTemplate(match["code"], names)
    return templates


def truncate_chars(text: str, limit: int) -> str:
    """At most ``limit`` characters (code points: a Chinese character is one, as the providers count)."""
    return text if len(text) <= limit else text[:limit]


def mainland_e164(phone: str) -> str:
    """``+8613800138000`` from ``13800138000``, ``86...`` or ``0086...``; other ``+`` numbers unchanged."""
    digits = re.sub(r"[\s()-]", "", phone)
    if digits.startswith("+"):
        return digits
    if digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return f"+86{digits}"


def classify(code: str, exact: Mapping[str, bool], classes: Mapping[str, bool], default: bool) -> bool:
    """Permanent (True) or retryable (False): the exact code, else its class, else ``default``."""
    if code in exact:
        return exact[code]
    return classes.get(code.split(".", 1)[0], default)


def split_endpoint(endpoint: str) -> tuple[str, str]:
    """(scheme, host[:port]) of ``http://127.0.0.1:8080`` or a bare ``dysmsapi.aliyuncs.com``."""
    if "://" not in endpoint:
        return "https", endpoint.rstrip("/")
    parts = urllib.parse.urlsplit(endpoint)
    return parts.scheme or "https", parts.netloc


@dataclass
class _TemplateProvider:
    """What both providers share: configuration checks, the template, values cut to the limit."""

    name = "SMS"
    #: The variables the provider needs, named for the error a coordinator reads.
    required: tuple[tuple[str, str], ...] = ()

    sign_name: str = ""
    templates: Mapping[str, SmsTemplate] = field(default_factory=dict)
    access_key_id: str = field(default="", repr=False)
    access_key_secret: str = field(default="", repr=False)
    region: str = ""
    endpoint: str = ""
    variable_limit: int = 0
    timeout: float = DEFAULT_TIMEOUT
    _client: Any = field(default=None, init=False, repr=False)

    def _check_configured(self) -> None:
        missing = [var for attr, var in (("access_key_id", "ROSTER_SMS_ACCESS_KEY_ID"),
                                         ("access_key_secret", "ROSTER_SMS_ACCESS_KEY_SECRET"),
                                         ("sign_name", "ROSTER_SMS_SIGN_NAME"), *self.required)
                   if not getattr(self, attr)]
        if missing:
            raise ChannelError(f"{self.name} is not configured ({', '.join(missing)})", permanent=True)

    def _template(self, template: str) -> SmsTemplate:
        found = self.templates.get(template)
        if found is None:
            raise ChannelError(f"no {self.name} template for {template} (ROSTER_SMS_TEMPLATES)", permanent=True)
        return found

    def _values(self, found: SmsTemplate, params: Mapping[str, str]) -> list[tuple[str, str]]:
        values = []
        for var in found.variables:
            value = str(params.get(var, ""))
            if var in NEVER_CUT and len(value) > self.variable_limit:
                raise ChannelError(f"{self.name}: variable {var} has {len(value)} characters, over the limit of "
                                   f"{self.variable_limit} (ROSTER_SMS_VARIABLE_LIMIT)", permanent=True)
            values.append((var, truncate_chars(value, self.variable_limit)))
        return values


@dataclass
class AliyunSmsProvider(_TemplateProvider):
    """Aliyun SMS (Dysmsapi ``SendSms``) through ``alibabacloud_dysmsapi20170525``; the SDK signs with
    ACS3-HMAC-SHA256 (the V3 signature in the ``Authorization`` header)."""

    name = "Aliyun SMS"

    def __post_init__(self) -> None:
        self.variable_limit = self.variable_limit or VARIABLE_LIMITS["aliyun"]
        self.region = self.region or DEFAULT_REGIONS["aliyun"]

    def client(self) -> Any:
        if self._client is None:
            from alibabacloud_dysmsapi20170525.client import Client
            from alibabacloud_tea_openapi.models import Config

            config = Config(access_key_id=self.access_key_id, access_key_secret=self.access_key_secret,
                            region_id=self.region, connect_timeout=int(self.timeout * 1000),
                            read_timeout=int(self.timeout * 1000))
            if self.endpoint:
                config.protocol, config.endpoint = split_endpoint(self.endpoint)
            self._client = Client(config)
        return self._client

    def send(self, phone: str, template: str, params: dict[str, str], out_id: str) -> str:
        self._check_configured()
        found = self._template(template)
        from alibabacloud_dysmsapi20170525.models import SendSmsRequest

        request = SendSmsRequest(phone_numbers=re.sub(r"[\s()-]", "", phone), sign_name=self.sign_name,
                                 template_code=found.code, out_id=out_id,
                                 template_param=json.dumps(dict(self._values(found, params)), ensure_ascii=False))
        try:
            response = self.client().send_sms(request)
        except Exception as exc:  # the dispatcher takes ChannelError only: every SDK failure becomes one
            raise self._failure(exc) from None
        body = response.body
        code = getattr(body, "code", None) or ""
        if code != "OK":
            raise ChannelError(f"Aliyun SMS refused: {code or 'no code'}",
                               permanent=ALIYUN_CODES.get(code, False))
        return str(getattr(body, "biz_id", "") or "")

    def _failure(self, exc: Exception) -> ChannelError:
        code = getattr(exc, "code", None)
        status = getattr(exc, "status_code", None) or getattr(exc, "statusCode", None)
        if code and status:  # the endpoint answered with an error status and a code
            code = str(code)
            permanent = ALIYUN_CODES.get(code, isinstance(status, int) and status in ALIYUN_PERMANENT_HTTP
                                         and status != 429)
            return ChannelError(f"Aliyun SMS refused: {code} (HTTP {status})", permanent=permanent)
        inner = getattr(exc, "inner_exception", None)
        what = type(inner).__name__ if inner is not None else type(exc).__name__
        return ChannelError(f"Aliyun SMS unavailable: {what}")


@dataclass
class TencentSmsProvider(_TemplateProvider):
    """Tencent Cloud SMS (``SendSms``, 2021-01-11) through ``tencentcloud-sdk-python-sms``; the SDK signs
    with TC3-HMAC-SHA256. Variables go as ``TemplateParamSet``, in the template's order."""

    name = "Tencent SMS"
    required: tuple[tuple[str, str], ...] = (("sdk_app_id", "ROSTER_SMS_SDK_APP_ID"),)
    sdk_app_id: str = ""

    def __post_init__(self) -> None:
        self.variable_limit = self.variable_limit or VARIABLE_LIMITS["tencent"]
        self.region = self.region or DEFAULT_REGIONS["tencent"]

    def client(self) -> Any:
        if self._client is None:
            from tencentcloud.common import credential
            from tencentcloud.common.profile.client_profile import ClientProfile
            from tencentcloud.common.profile.http_profile import HttpProfile
            from tencentcloud.sms.v20210111.sms_client import SmsClient

            # The SDK logs each request (phone numbers included) at DEBUG: keep it out of our logs.
            logging.getLogger("tencentcloud_sdk_common").setLevel(logging.WARNING)
            http = HttpProfile(reqTimeout=self.timeout)
            if self.endpoint:
                http.protocol, http.endpoint = split_endpoint(self.endpoint)
                http.scheme = http.protocol
            self._client = SmsClient(credential.Credential(self.access_key_id, self.access_key_secret),
                                     self.region, ClientProfile(httpProfile=http))
        return self._client

    def send(self, phone: str, template: str, params: dict[str, str], out_id: str) -> str:
        self._check_configured()
        found = self._template(template)
        from tencentcloud.sms.v20210111 import models

        request = models.SendSmsRequest()
        request.SmsSdkAppId = self.sdk_app_id
        request.SignName = self.sign_name
        request.TemplateId = found.code
        request.TemplateParamSet = [value for _, value in self._values(found, params)]
        request.PhoneNumberSet = [mainland_e164(phone)]
        request.SessionContext = out_id  # returned as is; the idempotency key (less than 512 bytes)
        try:
            response = self.client().SendSms(request)
        except Exception as exc:  # the dispatcher takes ChannelError only: every SDK failure becomes one
            code = str(getattr(exc, "code", "") or type(exc).__name__)
            raise ChannelError(f"Tencent SMS refused: {code}",
                               permanent=classify(code, TENCENT_CODES, TENCENT_CLASSES, False)) from None
        statuses = response.SendStatusSet or []
        if not statuses:
            raise ChannelError("Tencent SMS answered without a send status")
        status = statuses[0]
        if status.Code != "Ok":
            code = str(status.Code or "no code")
            raise ChannelError(f"Tencent SMS refused: {code}",
                               permanent=classify(code, TENCENT_CODES, TENCENT_CLASSES, False))
        return str(status.SerialNo or "")


def provider_from_settings(settings: Any) -> AliyunSmsProvider | TencentSmsProvider | None:
    """The real provider ``settings.sms_provider`` names (None for none or the fakes); unconfigured
    keys fail each send permanently, naming the variables, as email and the robots do."""
    common: dict[str, Any] = dict(
        sign_name=settings.sms_sign_name, templates=parse_templates(settings.sms_templates),
        access_key_id=settings.sms_access_key_id, access_key_secret=settings.sms_access_key_secret,
        region=settings.sms_region, endpoint=settings.sms_endpoint, variable_limit=settings.sms_variable_limit,
        timeout=settings.sms_timeout)
    if settings.sms_provider == "aliyun":
        return AliyunSmsProvider(**common)
    if settings.sms_provider == "tencent":
        return TencentSmsProvider(**common, sdk_app_id=settings.sms_sdk_app_id)
    return None
