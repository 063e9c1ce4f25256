"""Settings come from ROSTER_* variables, with defaults under a local var/ folder."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from scheduler.errors import InvalidInput
from scheduler.settings import VARIABLES, Settings

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_live_under_the_local_var_folder() -> None:
    settings = Settings.from_env({})
    assert settings.database_url == "sqlite:///var/roster.db"
    assert settings.broker_url == "sqla+sqlite:///var/broker.db"
    assert settings.feed_dir == Path("var/feeds")
    assert settings.timezone == "Asia/Shanghai"
    assert settings.horizon_weeks == 12


def test_roster_home_moves_every_default() -> None:
    settings = Settings.from_env({"ROSTER_HOME": "/srv/roster"})
    assert settings.database_url == "sqlite:////srv/roster/roster.db"
    assert settings.feed_dir == Path("/srv/roster/feeds")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("ROSTER_TIMEZONE", "Mars/Olympus", "ROSTER_TIMEZONE: unknown time zone"),
        ("ROSTER_HORIZON_WEEKS", "twelve", "ROSTER_HORIZON_WEEKS: must be a whole number"),
        ("ROSTER_HORIZON_WEEKS", "0", "ROSTER_HORIZON_WEEKS: must be between 1 and 104"),
        ("ROSTER_SMTP_PORT", "smtp", "ROSTER_SMTP_PORT: must be a whole number"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(message)):
        Settings.from_env({name: value})


def test_credentials_never_appear_in_repr() -> None:
    settings = Settings.from_env({"ROSTER_SMTP_PASSWORD": "s3cret-pw", "ROSTER_DINGTALK_SECRET": "SECabc",
                                  "ROSTER_WECOM_WEBHOOK": "https://qyapi.example/key=abc"})
    assert "s3cret-pw" not in repr(settings)
    assert "SECabc" not in repr(settings)
    assert "key=abc" not in repr(settings)


def test_every_variable_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [name for name in VARIABLES if f"`{name}`" not in readme]
    assert missing == []
