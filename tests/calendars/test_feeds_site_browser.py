"""The subscribe page as a phone shows it: rendered by a real browser, every QR code read back by zbar."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from calendars.publish import publish_dirty
from calendars.site import site_feeds
from demo.loader import load_demo
from scheduler.db import session_scope
from scheduler.settings import Settings
from tests.conftest import service_missing

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        service_missing(f"{name} is not installed: run `make test-tools`")
    return str(found)


def screenshot(page: Path, out: Path, width: int, height: int) -> None:
    """Debian's chromium, headless, one full-height screenshot of a local file at device scale 1."""
    profile = out.parent / "chromium-profile"
    subprocess.run(
        [tool("chromium"), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--force-device-scale-factor=1", f"--user-data-dir={profile}",
         f"--window-size={width},{height}", f"--screenshot={out}", page.as_uri()],
        check=True, capture_output=True, timeout=180,
    )
    assert out.exists() and out.stat().st_size > 0


def decoded_codes(image: Path) -> list[str]:
    """Every QR code zbar finds in the image (zbarimg exits 4 when it finds none)."""
    done = subprocess.run([tool("zbarimg"), "--quiet", "--raw", "-Sdisable", "-Sqrcode.enable", str(image)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 4), done.stderr
    return [line for line in done.stdout.splitlines() if line]


@pytest.fixture
def demo_page(sqlite_engine: Engine, tmp_path: Path) -> tuple[Path, list[str]]:
    """The demo's 11 communities and 13 branches (25 feeds with the district's): a long page."""
    settings = Settings.from_env({
        "ROSTER_HOME": str(tmp_path / "var"), "ROSTER_FEED_DIR": str(tmp_path / "feeds"),
        "ROSTER_DOMAIN": "feeds.test", "ROSTER_PUBLIC_BASE_URL": "https://feeds.longcheng.example.cn",
    })
    with session_scope(sqlite_engine) as s:
        load_demo(s, date(2026, 11, 30))
    with session_scope(sqlite_engine) as s:
        publish_dirty(s, settings, now=NOW, all_feeds=True)
        urls = [feed["https"] for feed in site_feeds(s, settings)]
    return settings.feed_dir / "index.html", urls


@pytest.mark.parametrize("width", [412, 1024], ids=["phone", "desktop"])
def test_every_qr_code_on_the_subscribe_page_scans_to_its_feed(
    demo_page: tuple[Path, list[str]], tmp_path: Path, width: int
) -> None:
    page, urls = demo_page
    assert len(urls) >= 20
    shot = tmp_path / f"index-{width}.png"
    screenshot(page, shot, width, 400 + 260 * len(urls))
    assert sorted(decoded_codes(shot)) == sorted(urls)
