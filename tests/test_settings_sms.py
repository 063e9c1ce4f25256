"""SMS settings: a bad provider name or template map is an error naming the variable, at load."""

from __future__ import annotations

import pytest

from scheduler.errors import InvalidInput
from scheduler.messages.sms import SmsTemplate
from scheduler.settings import Settings

GOOD = "ROSTER_SHIFT_REMINDER=SMS_4623001:service,time,venue,role;ROSTER_COORDINATOR_NOTICE=SMS_4623002:subject"


def test_real_provider_settings_are_read_and_keys_kept_out_of_repr() -> None:
    settings = Settings.from_env({"ROSTER_SMS_PROVIDER": "Aliyun", "ROSTER_SMS_TEMPLATES": GOOD,
                                  "ROSTER_SMS_SIGN_NAME": "龙城街道", "ROSTER_SMS_ACCESS_KEY_ID": "LTAI5tKey",
                                  "ROSTER_SMS_ACCESS_KEY_SECRET": "s3cret", "ROSTER_SMS_TIMEOUT": "3"})
    assert settings.sms_provider == "aliyun" and settings.sms_sign_name == "龙城街道"
    assert (settings.sms_timeout, settings.sms_variable_limit, settings.sms_endpoint) == (3, 0, "")
    assert "s3cret" not in repr(settings) and "LTAI5tKey" not in repr(settings)


@pytest.mark.parametrize("name", ["alibaba", "twilio", "aliyun-sms"])
def test_unknown_sms_provider_is_an_error_naming_the_variable(name: str) -> None:
    with pytest.raises(InvalidInput) as info:
        Settings.from_env({"ROSTER_SMS_PROVIDER": name})
    assert info.value.field == "ROSTER_SMS_PROVIDER"
    assert str(info.value) == f"ROSTER_SMS_PROVIDER: must be one of fake, recording, aliyun, tencent, not {name!r}"


@pytest.mark.parametrize(("text", "problem"), [
    ("ROSTER_SHIFT_REMINDER", "'ROSTER_SHIFT_REMINDER' is not NAME=CODE:variable,variable"),
    ("ROSTER_SHIFT_REMINDER=SMS-1:service!", "is not NAME=CODE:variable,variable"),
    ("ROSTER_SHIFT_REMINDE=SMS_1:service", "unknown template ROSTER_SHIFT_REMINDE (known: ROSTER_SHIFT_REMINDER, "
                                           "ROSTER_GUARDIAN_COPY, ROSTER_COORDINATOR_NOTICE)"),
    ("ROSTER_SHIFT_REMINDER=SMS_1:service,name", "ROSTER_SHIFT_REMINDER has no variable name (it has: service, time, "
                                                 "date, clock, venue, role, change, link)"),
    # A guardian's copy never carries the volunteer's personal link.
    ("ROSTER_GUARDIAN_COPY=SMS_3:service,link", "ROSTER_GUARDIAN_COPY has no variable link (it has: service, time, "
                                                "date, clock, venue, role, change)"),
    ("ROSTER_SHIFT_REMINDER=SMS_1:time;ROSTER_SHIFT_REMINDER=SMS_2:time", "template ROSTER_SHIFT_REMINDER is given twice"),
    ("ROSTER_SHIFT_REMINDER=SMS_1:time,time", "template ROSTER_SHIFT_REMINDER names a variable twice"),
])
def test_bad_template_map_is_an_error_naming_the_variable(text: str, problem: str) -> None:
    with pytest.raises(InvalidInput) as info:
        Settings.from_env({"ROSTER_SMS_PROVIDER": "tencent", "ROSTER_SMS_TEMPLATES": text})
    assert info.value.field == "ROSTER_SMS_TEMPLATES" and str(info.value).startswith("ROSTER_SMS_TEMPLATES: ")
    assert str(info.value).endswith(problem)


def test_template_map_allows_spaces_and_a_template_without_variables() -> None:
    from scheduler.messages.sms import parse_templates

    parsed = parse_templates(" ROSTER_SHIFT_REMINDER = 2251234 : service, time ; ROSTER_COORDINATOR_NOTICE=SMS_9; ")
    assert parsed == {"ROSTER_SHIFT_REMINDER": SmsTemplate("2251234", ("service", "time")),
                      "ROSTER_COORDINATOR_NOTICE": SmsTemplate("SMS_9", ())}


@pytest.mark.parametrize(("name", "value"), [("ROSTER_SMS_VARIABLE_LIMIT", "-3"), ("ROSTER_SMS_VARIABLE_LIMIT", "lots"),
                                             ("ROSTER_SMS_TIMEOUT", "0")])
def test_bad_sms_numbers_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(InvalidInput) as info:
        Settings.from_env({name: value})
    assert info.value.field == name


def test_no_sms_configured_never_imports_the_sms_module() -> None:
    import subprocess
    import sys

    code = ("from scheduler.settings import Settings; import sys; Settings.from_env({}); "
            "print('scheduler.messages.sms' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"
