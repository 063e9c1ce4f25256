"""Settings come from ROSTER_* variables, with defaults in the per-user data folder."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import platformdirs
import pytest

from scheduler.errors import InvalidInput, RosterError
from scheduler.settings import VARIABLES, Settings, default_home, redacted_url

ROOT = Path(__file__).resolve().parents[1]


def test_embedded_default_lives_in_the_per_user_data_folder_not_the_current_one() -> None:
    home = platformdirs.user_data_path("roster", appauthor=False)
    settings = Settings.from_env({})
    assert default_home() == home and home.is_absolute()
    assert settings.home == home
    assert settings.database_url == f"sqlite:///{home}/roster.db"
    assert settings.broker_url == f"sqla+sqlite:///{home}/broker.db"
    assert settings.feed_dir == home / "feeds"
    assert settings.timezone == "Asia/Shanghai"
    assert settings.horizon_weeks == 12


def _roster(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    code = f"import sys; sys.path.insert(0, {str(ROOT)!r}); import cli; sys.argv = ['roster', *{args!r}]; cli.main()"
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120)


def test_commands_run_from_any_folder_share_one_database(tmp_path: Path) -> None:
    """Run from two folders, the CLI finds the same data and never creates ./var (XDG_DATA_HOME: Linux)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "ROSTER_LANG": "en", "HOME": str(tmp_path / "home"),
           "XDG_DATA_HOME": str(tmp_path / "data")}
    first, second = tmp_path / "one", tmp_path / "two"
    first.mkdir()
    second.mkdir()
    assert _roster(["init"], first, env).returncode == 0
    assert _roster(["community", "add", "ailian", "--name", "爱联社区"], first, env).returncode == 0
    listed = _roster(["community", "list", "--json"], second, env)
    assert listed.returncode == 0, listed.stderr
    assert [c["name"] for c in json.loads(listed.stdout)] == ["爱联社区"]
    assert not (first / "var").exists() and not (second / "var").exists()
    assert (tmp_path / "data" / "roster" / "roster.db").exists()


def test_command_before_init_says_to_run_init_and_creates_nothing(tmp_path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "ROSTER_LANG": "en", "ROSTER_HOME": str(tmp_path / "fresh")}
    result = _roster(["volunteer", "list"], tmp_path, env)
    assert result.returncode == RosterError.exit_code
    assert "run `roster init`" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "fresh").exists()


def test_command_on_an_empty_database_says_to_run_init(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "ROSTER_LANG": "en", "ROSTER_HOME": str(tmp_path),
           "ROSTER_DATABASE_URL": f"sqlite:///{empty}"}
    result = _roster(["service", "list"], tmp_path, env)
    assert result.returncode == RosterError.exit_code
    assert result.stderr.startswith(f"error: the database sqlite:///{empty} is not set up: run `roster init`")
    assert "Traceback" not in result.stderr and "no such table" not in result.stderr


def test_command_on_an_unmigrated_postgresql_database_says_to_run_init(pg_url: str, tmp_path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "ROSTER_LANG": "en", "ROSTER_HOME": str(tmp_path),
           "ROSTER_DATABASE_URL": pg_url}
    result = _roster(["volunteer", "list"], tmp_path, env)
    assert result.returncode == RosterError.exit_code
    assert "run `roster init`" in result.stderr and "Traceback" not in result.stderr


def test_where_shows_the_database_without_its_password_and_the_feed_folder(tmp_path: Path) -> None:
    url = "postgresql+psycopg2://roster:s3cret@db.example:5432/roster"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "ROSTER_LANG": "en", "ROSTER_HOME": str(tmp_path / "h"),
           "ROSTER_DATABASE_URL": url}
    result = _roster(["where", "--json"], tmp_path, env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["database"] == redacted_url(url) == "postgresql+psycopg2://roster:***@db.example:5432/roster"
    assert data["feed_dir"] == str(tmp_path / "h" / "feeds") and data["home"] == str(tmp_path / "h")
    assert "s3cret" not in result.stdout
    local = _roster(["where"], tmp_path, {**env, "ROSTER_DATABASE_URL": ""})
    assert f"{tmp_path}/h/roster.db (missing: run `roster init`)" in local.stdout
    assert not (tmp_path / "h").exists()


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
