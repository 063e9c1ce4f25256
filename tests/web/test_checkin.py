"""Check-in by the venue's QR code over HTTP (Flask's test client), on SQLite and PostgreSQL: the
poster's code scans (chromium renders it, zbar reads it) to a /c/ URL; with the personal cookie a
scan checks in, a second one out, through scheduler.attendance as web-qr; forged, altered, other
slots' and expired codes are refused with a page; the venue display's code changes every 30 s."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import Engine, select

from scheduler import rosters
from scheduler.db import dispose_engines, session_scope
from scheduler.models import Assignment, Attendance, Event
from scheduler.settings import Settings
from tests import factories as f
from tests.calendars.test_feeds_site_browser import decoded_codes, screenshot
from web import create_app

BASE = "https://v.longcheng.example"
#: Wednesday 2036-12-03 16:30-18:30 in Shenzhen: the code works 15:30-19:30 (60 min each way).
START = datetime(2036, 12, 3, 8, 30, tzinfo=UTC)
END = START + timedelta(hours=2)


@dataclass
class Clock:
    now: datetime = START - timedelta(minutes=10)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Venue:
    engine: Engine
    client: FlaskClient
    clock: Clock
    env: dict[str, str]
    ids: dict[str, int]
    tokens: dict[str, str] = field(default_factory=dict)

    def remember(self, who: str) -> None:
        """Open the personal link once: it leaves the roster_v cookie."""
        assert self.client.get(f"/v/{self.tokens[who]}").status_code == 200

    def scan(self, url: str) -> Any:
        assert url.startswith(f"{BASE}/c/")
        return self.client.get(url.removeprefix(BASE))

    def tap(self, url: str) -> Any:
        """Scan, then press the page's one button."""
        page = self.scan(url).get_data(as_text=True)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
        action = re.search(r'name="action" value="(in|out)"', page)
        assert csrf is not None and action is not None, page
        return self.client.post(url.removeprefix(BASE), data={"csrf_token": csrf.group(1),
                                                              "action": action.group(1)})

    def records(self) -> list[Attendance]:
        with session_scope(self.engine) as s:
            rows = list(s.scalars(select(Attendance).order_by(Attendance.id)))
            s.expunge_all()
            return rows


def settings_env(engine: Engine, tmp_path: Path) -> dict[str, str]:
    return {"ROSTER_HOME": str(tmp_path), "ROSTER_DATABASE_URL": str(engine.url), "ROSTER_WEB_BASE_URL": BASE}


@pytest.fixture
def venue(engine: Engine, tmp_path: Path) -> Venue:
    from scheduler.volunteers import web_token_of

    with session_scope(engine) as s:
        f.org(s)
        classroom = f.service(s, slug="ketang", roles=["辅导员:2:tutor"])
        occ = f.occurrence(s, classroom, start=START)
        wang, li = f.volunteer(s, name="王芳"), f.volunteer(s, name="李明")
        seat = rosters.assign(s, str(wang.id), occ.id, "辅导员", now=START - timedelta(days=7))
        tokens = {"wang": web_token_of(s, str(wang.id)).web_token or "", "li": web_token_of(s, str(li.id)).web_token or ""}
        ids = {"occurrence": occ.id, "seat": seat.id, "wang": wang.id, "li": li.id}
    env = settings_env(engine, tmp_path)
    clock = Clock()
    app = create_app(Settings.from_env(env), ROSTER_CLOCK=clock, TESTING=True)
    return Venue(engine, app.test_client(), clock, env, ids, tokens)


def roster(env: dict[str, str], *args: str) -> Any:
    from cli import cli

    try:
        return CliRunner(env=env).invoke(cli, list(args), catch_exceptions=False)
    finally:
        dispose_engines()


def poster_url(venue: Venue) -> str:
    """The URL in the poster's SVG (the browser test proves the printed code says the same)."""
    page = roster(venue.env, "checkin-poster", str(venue.ids["occurrence"])).output
    found = re.search(r"<title>(https://[^<]+/c/[^<]+)</title>", page)
    assert found is not None
    return html.unescape(found.group(1))


def display_code_url(venue: Venue, path: str) -> str:
    page = venue.client.get(path).get_data(as_text=True)
    found = re.search(r"<title>(https://[^<]+/c/[^<]+)</title>", page)
    assert found is not None, page
    return html.unescape(found.group(1))


def test_the_printed_poster_scans_to_a_checkin_url(venue: Venue, tmp_path: Path) -> None:
    out = tmp_path / "poster.html"
    done = roster(venue.env, "checkin-poster", str(venue.ids["occurrence"]), "--out", str(out))
    assert done.exit_code == 0, done.output
    assert "15:30-19:30" in done.output
    page = out.read_text(encoding="utf-8")
    assert "四点半课堂" in page and "顺景花园党群之家" in page and "12月3日 周三 16:30-18:30" in page
    assert "用手机扫码签到/签退" in page and "@page{size:A4" in page
    assert "王芳" not in page and "李明" not in page  # no one's name on a wall
    assert not re.search(r'(src|href)="(https?:)?//', page) and len(page.encode()) < 60 * 1024
    shot = tmp_path / "poster.png"
    screenshot(out, shot, 800, 1200)
    [scanned] = decoded_codes(shot)
    assert scanned.startswith(f"{BASE}/c/")
    assert f"<title>{html.escape(scanned)}</title>" in page  # the code prints what the page says
    # The scanned URL is what the app answers.
    venue.clock.now = START
    venue.remember("wang")
    assert "签到" in venue.scan(scanned).get_data(as_text=True)


def test_scanning_with_the_cookie_checks_in_then_out_as_web_qr(venue: Venue) -> None:
    url = poster_url(venue)
    venue.clock.now = START - timedelta(minutes=5, seconds=42)
    venue.remember("wang")
    page = venue.scan(url).get_data(as_text=True)
    assert "王芳，您好" in page and 'value="in"' in page and "<button" in page
    assert venue.records() == []  # the GET (a message app's preview) changed nothing
    done = venue.tap(url)
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/v/{venue.tokens['wang']}/hours")
    assert "签到成功（16:24）" in venue.client.get(done.headers["Location"]).get_data(as_text=True)
    [record] = venue.records()
    assert (record.status, record.checkin_method, record.recorded_by) == ("open", "web-qr", "web-qr")
    assert record.assignment_id == venue.ids["seat"]

    venue.clock.now = END + timedelta(minutes=3)
    assert 'value="out"' in venue.scan(url).get_data(as_text=True)
    done = venue.tap(url)
    shown = venue.client.get(done.headers["Location"]).get_data(as_text=True)
    assert "签退成功，本次服务 2 小时 9 分钟，已计入时长" in shown
    [record] = venue.records()
    assert (record.status, record.minutes, record.checkout_method) == ("approved", 129, "web-qr")
    with session_scope(venue.engine) as s:
        assert s.get(Assignment, venue.ids["seat"]).status == "attended"  # type: ignore[union-attr]
        kinds = [(e.payload["action"], e.payload["via"]) for e in s.scalars(select(Event).order_by(Event.id))
                 if e.kind == "attendance.recorded"]
    assert kinds == [("check_in", "web"), ("check_out", "web")]


def test_a_second_tap_of_the_same_button_changes_nothing(venue: Venue) -> None:
    url = poster_url(venue)
    venue.clock.now = START
    venue.remember("wang")
    page = venue.scan(url).get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf is not None
    for _ in range(2):  # a double tap posts the same form twice
        last = venue.client.post(url.removeprefix(BASE), data={"csrf_token": csrf.group(1), "action": "in"},
                                 follow_redirects=True)
    assert "无需重复签到" in last.get_data(as_text=True)
    assert [r.status for r in venue.records()] == ["open"]


def test_a_scan_inside_the_window_that_makes_a_long_record_waits_for_a_coordinator(venue: Venue) -> None:
    url = poster_url(venue)
    venue.remember("wang")
    venue.clock.now = START - timedelta(minutes=60)  # the first minute the code works
    venue.tap(url)
    venue.clock.now = END + timedelta(minutes=60)  # the last
    shown = venue.client.get(venue.tap(url).headers["Location"]).get_data(as_text=True)
    assert "协调人审核后计入" in shown
    [record] = venue.records()
    assert (record.status, record.minutes) == ("pending_approval", 240)


def test_without_the_personal_cookie_the_page_asks_for_the_link_first(venue: Venue) -> None:
    url = poster_url(venue)
    venue.clock.now = START
    page = venue.scan(url).get_data(as_text=True)
    assert "请先打开您的个人链接" in page and "<form" not in page
    venue.client.set_cookie("roster_v", "forged-value")  # an altered cookie is no one
    assert "请先打开您的个人链接" in venue.scan(url).get_data(as_text=True)
    venue.remember("li")  # a page with the form (and its CSRF token); then the cookie is gone
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', venue.scan(url).get_data(as_text=True))
    assert csrf is not None
    venue.client.delete_cookie("roster_v")
    refused = venue.client.post(url.removeprefix(BASE), data={"csrf_token": csrf.group(1), "action": "in"})
    assert refused.status_code == 400 and "个人链接" in refused.get_data(as_text=True)
    assert venue.records() == []


def test_the_volunteer_cookie_is_signed_httponly_samesite_and_secure(venue: Venue) -> None:
    answer = venue.client.get(f"/v/{venue.tokens['wang']}")
    [cookie] = [c for c in answer.headers.getlist("Set-Cookie") if c.startswith("roster_v=")]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie
    assert venue.tokens["wang"] not in cookie.split(";")[0].split(".")[-1]  # the signature part
    assert not cookie.startswith(f"roster_v={venue.tokens['wang']};")  # signed, not the bare token


@pytest.mark.parametrize("when, words", [
    (START - timedelta(minutes=61), "还没到签到时间：本场次 12月3日 15:30 起可以扫码签到"),
    (END + timedelta(minutes=61), "签到时间已过（12月3日 19:30 截止）"),
])
def test_a_code_outside_its_window_is_refused_with_a_page(venue: Venue, when: datetime, words: str) -> None:
    url = poster_url(venue)
    venue.remember("wang")
    venue.clock.now = START
    page = venue.scan(url).get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf is not None
    venue.clock.now = when
    shown = venue.scan(url)
    assert shown.status_code == 400 and words in shown.get_data(as_text=True)
    posted = venue.client.post(url.removeprefix(BASE), data={"csrf_token": csrf.group(1), "action": "in"})
    assert posted.status_code == 400 and words in posted.get_data(as_text=True)
    assert venue.records() == []


def test_forged_altered_and_foreign_codes_are_refused_with_a_page(venue: Venue, engine: Engine,
                                                                  tmp_path: Path) -> None:
    from web.checkin import poster_code

    url = poster_url(venue)
    venue.clock.now = START
    venue.remember("wang")
    code = url.removeprefix(f"{BASE}/c/")
    altered = code[:-3] + ("AAA" if not code.endswith("AAA") else "BBB")
    foreign = poster_code("another site's key", venue.ids["occurrence"], END + timedelta(hours=1))
    for bad in ("not-a-code", altered, foreign, code[: len(code) // 2]):
        answer = venue.client.get(f"/c/{bad}")
        assert answer.status_code == 400, bad
        assert "签到码无效" in answer.get_data(as_text=True) and "Traceback" not in answer.get_data(as_text=True)
    # A well-signed code for an occurrence that does not exist: the same 404 as any missing page.
    with create_app(Settings.from_env(settings_env(engine, tmp_path))).app_context():
        from flask import current_app

        missing = poster_code(current_app.config["SECRET_KEY"], 999_999, END)
    assert venue.client.get(f"/c/{missing}").status_code == 404
    assert venue.records() == []


def test_the_venue_display_shows_a_new_code_every_slot_and_an_old_one_stops_working(venue: Venue,
                                                                                     tmp_path: Path) -> None:
    done = roster(venue.env, "checkin-poster", str(venue.ids["occurrence"]), "--display")
    assert done.exit_code == 0, done.output
    display = done.output.strip()
    assert display.startswith(f"{BASE}/display/{venue.ids['occurrence']}/")
    path = display.removeprefix(BASE)

    venue.clock.now = START - timedelta(minutes=90)  # before the window: no code, the time it opens
    early = venue.client.get(path).get_data(as_text=True)
    assert "15:30 起可以扫码签到" in early and "<svg" not in early and 'http-equiv="refresh"' in early

    slot_start = datetime.fromtimestamp(int(START.timestamp()) // 30 * 30, UTC)
    venue.clock.now = slot_start + timedelta(seconds=5)
    page = venue.client.get(path).get_data(as_text=True)
    assert '<meta http-equiv="refresh" content="26">' in page and "王芳" not in page
    first = display_code_url(venue, path)
    venue.clock.now = slot_start + timedelta(seconds=29)
    assert display_code_url(venue, path) == first  # the same slot, the same code
    venue.clock.now = slot_start + timedelta(seconds=31)
    second = display_code_url(venue, path)
    assert second != first and second.startswith(f"{BASE}/c/")

    # What the screen shows scans to the same URL.
    shot_page = tmp_path / "display.html"
    shot_page.write_text(venue.client.get(path).get_data(as_text=True), encoding="utf-8")
    screenshot(shot_page, tmp_path / "display.png", 800, 900)
    assert decoded_codes(tmp_path / "display.png") == [second]

    venue.remember("wang")
    assert venue.scan(first).status_code == 200  # shown in the last slot: still taken
    venue.tap(first)
    assert [r.checkin_method for r in venue.records()] == ["web-qr"]
    venue.clock.now = slot_start + timedelta(seconds=61)  # two slots on: a photo of it no longer works
    refused = venue.scan(first)
    assert refused.status_code == 400 and "二维码已更新" in refused.get_data(as_text=True)
    assert venue.scan(second).status_code == 200


def test_a_display_address_with_a_wrong_key_is_a_missing_page(venue: Venue) -> None:
    from web.checkin import display_key

    venue.clock.now = START
    occ = venue.ids["occurrence"]
    assert venue.client.get(f"/display/{occ}/nonsense").status_code == 404
    with venue.client.application.app_context():
        from flask import current_app

        other = display_key(current_app.config["SECRET_KEY"], occ + 1)  # another occurrence's key
    assert venue.client.get(f"/display/{occ}/{other}").status_code == 404


def test_the_poster_is_refused_for_a_shift_whose_window_is_over(venue: Venue) -> None:
    from scheduler.errors import Conflict

    with session_scope(venue.engine) as s:
        old = f.occurrence(s, f.service(s, slug="old"), start=datetime(2020, 1, 6, 8, 30, tzinfo=UTC)).id
    from cli import cli

    done = CliRunner(env=venue.env).invoke(cli, ["checkin-poster", str(old)])
    dispose_engines()
    assert done.exit_code == Conflict.exit_code and "check-in window closed" in done.output
