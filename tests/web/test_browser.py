"""The volunteer pages in a real browser (Debian's chromium, headless, a 375 px phone viewport), served
for real by werkzeug on 127.0.0.1, on SQLite and PostgreSQL: what a volunteer sees and taps, from the
link in a reminder to confirm, decline, claim, hand over and accept; with JavaScript off too."""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import Engine, select

from scheduler import rosters
from scheduler.db import session_scope
from scheduler.models import Assignment
from scheduler.settings import Settings
from tests import factories as f
from tests.conftest import service_missing
from web import create_app

#: Monday 2026-12-07 10:00 in Shenzhen; the shift is on Wednesday 16:30.
NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
SHIFT = NOW + timedelta(days=2, hours=6, minutes=30)
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
PHONE_WIDTH = 375

#: Real browser processes, like the worker tests: run by `make test`, left out of the dated runs
#: (the pages take their clock from the app, so the date cannot matter; a chromium under
#: libfaketime on a loaded machine timed out once).
pytestmark = pytest.mark.slow


def _browser(javascript: bool) -> Any:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        service_missing("chromium and chromedriver are not installed: run make test-tools")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    # A desktop window has a minimum width above 375 px; a phone's viewport comes from emulation.
    options.add_experimental_option("mobileEmulation", {
        "deviceMetrics": {"width": PHONE_WIDTH, "height": 812, "pixelRatio": 3.0},
        "userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile MicroMessenger/8.0.50"})
    if not javascript:
        options.add_argument("--blink-settings=scriptEnabled=false")
    driver: Any = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(20)
    driver.command_executor.client_config.timeout = 30  # a stuck command fails the test, not after 3 x 120 s
    driver.roster_javascript = javascript
    return driver


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    driver = _browser(javascript=True)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def browser_without_js() -> Iterator[Any]:
    driver = _browser(javascript=False)
    yield driver
    driver.quit()


@dataclass
class LiveSite:
    engine: Engine
    url: str
    tokens: dict[str, str]
    ids: dict[str, int]
    phones: dict[str, str]
    #: The app's clock (``clock[0]``): tests move it.
    clock: list[datetime]

    def link(self, who: str, path: str = "") -> str:
        return f"{self.url}/v/{self.tokens[who]}{path}"

    def status(self, assignment_id: int) -> tuple[str, str | None]:
        with session_scope(self.engine) as s:
            row = s.get(Assignment, assignment_id)
            assert row is not None
            return row.status, row.reason

    def seat_of(self, who: str) -> Assignment | None:
        with session_scope(self.engine) as s:
            row = s.scalar(select(Assignment).where(Assignment.volunteer_id == self.ids[who],
                                                    Assignment.status != "cancelled"))
            if row is not None:
                s.expunge(row)
            return row


@pytest.fixture
def live(engine: Engine, tmp_path: Path) -> Iterator[LiveSite]:
    """The app served by werkzeug in a thread on a free port: Wang holds one of the Wednesday
    classroom's two tutor seats; Li and Zhao hold none."""
    from werkzeug.serving import make_server

    from scheduler.volunteers import web_token_of

    with session_scope(engine) as s:
        f.org(s)
        classroom = f.service(s, slug="ketang", roles=["辅导员:2:tutor", "看护:1"])
        occ = f.occurrence(s, classroom, start=SHIFT)
        people = {key: f.volunteer(s, name=name) for key, name in (("wang", "王芳"), ("li", "李明"), ("zhao", "赵丽"))}
        held = rosters.assign(s, str(people["wang"].id), occ.id, "辅导员", now=NOW)
        tokens = {key: web_token_of(s, str(v.id)).web_token or "" for key, v in people.items()}
        phones = {key: v.phone or "" for key, v in people.items()}
        ids = {"occurrence": occ.id, "held": held.id, "tutor": classroom.roles[0].id,
               **{key: v.id for key, v in people.items()}}
    settings = Settings.from_env({"ROSTER_HOME": str(tmp_path), "ROSTER_DATABASE_URL": str(engine.url),
                                  "ROSTER_WEB_BASE_URL": "http://127.0.0.1"})
    clock = [NOW]
    server = make_server("127.0.0.1", 0, create_app(settings, ROSTER_CLOCK=lambda: clock[0]), threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="web", daemon=True)
    thread.start()
    try:
        yield LiveSite(engine, f"http://127.0.0.1:{server.server_port}", tokens, ids, phones, clock)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def reminder_link(live: LiveSite) -> str:
    """Send the day-before reminders to the console and take the personal link out of the text."""
    from scheduler.messages.channels import ChannelSet, ConsoleChannel
    from scheduler.policy import DEFAULT_POLICY
    from scheduler.reminders.dispatch import dispatch_due
    from tests.workers_support import settings_for

    stream = io.StringIO()
    dispatch_due(live.engine, settings_for(str(live.engine.url), web_base_url=live.url), now=SHIFT - timedelta(hours=23),
                 policy=DEFAULT_POLICY, channels=ChannelSet({"console": lambda: ConsoleChannel(stream)}))
    links = set(re.findall(re.escape(live.url) + r"/v/[A-Za-z0-9_-]+", stream.getvalue()))
    assert links == {live.link("wang")}, stream.getvalue()
    return links.pop()


def open_page(driver: Any, url: str) -> None:
    driver.delete_all_cookies()  # each volunteer's phone has its own cookie jar
    driver.get(url)


def tap(driver: Any, xpath: str, then: str) -> str:
    """Tap the element, wait for the page that follows to show ``then``; return that page's text."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.expected_conditions import staleness_of
    from selenium.webdriver.support.ui import WebDriverWait

    before = driver.find_element(By.TAG_NAME, "html")
    target = driver.find_element(By.XPATH, xpath)
    if driver.roster_javascript:
        target.click()
    else:
        # chromedriver's click waits on a script that never runs with JavaScript off, and hangs;
        # Enter on the focused button is the keyboard's tap, and submits the form natively.
        from selenium.webdriver.common.keys import Keys

        target.send_keys(Keys.ENTER)
    wait = WebDriverWait(driver, 30, ignored_exceptions=(StaleElementReferenceException,))
    def replaced(_: Any) -> bool:
        # The next page has replaced this one. Chromium sometimes says so with "Node with given id
        # does not belong to the document" instead of a stale-element error: the same answer.
        try:
            return bool(staleness_of(before)(driver))
        except WebDriverException:
            return True

    wait.until(replaced)
    wait.until(lambda d: then in d.find_element(By.TAG_NAME, "body").text)
    text: str = driver.find_element(By.TAG_NAME, "body").text
    return text


def fits_a_phone_and_stays_home(driver: Any, live: LiveSite) -> None:
    """No sideways scroll at 375 px; every request the page made went to the app's own host."""
    assert driver.execute_script("return window.innerWidth") == PHONE_WIDTH
    width = driver.execute_script("return document.documentElement.scrollWidth")
    assert width <= PHONE_WIDTH, f"{driver.current_url} scrolls sideways: {width}px"
    requested = driver.execute_script(
        "return performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))"
        ".map(e => e.name)")
    assert requested and {urlsplit(name).netloc for name in requested} == {urlsplit(live.url).netloc}, requested


def test_the_link_in_a_reminder_opens_my_shifts_and_confirm_shows_confirmed(browser: Any, live: LiveSite) -> None:
    open_page(browser, reminder_link(live))
    page = browser.find_element("tag name", "body").text
    assert "王芳，您好" in page and "12月9日 周三 16:30-18:30" in page and "待确认" in page
    fits_a_phone_and_stays_home(browser, live)
    done = tap(browser, f"//div[@data-shift='{live.ids['held']}']//button[.='确认参加']", then="已确认，感谢您")
    assert "已确认" in done.split("已确认，感谢您", 1)[1]  # the shift's tag, under the notice
    assert live.status(live.ids["held"]) == ("confirmed", None)
    fits_a_phone_and_stays_home(browser, live)


def test_decline_with_a_reason_from_the_one_button_page(browser: Any, live: LiveSite) -> None:
    from selenium.webdriver.common.by import By

    open_page(browser, live.link("wang"))
    tap(browser, f"//div[@data-shift='{live.ids['held']}']//button[.='请假']", then="确认请假")
    assert live.status(live.ids["held"]) == ("invited", None)  # the page with the button changed nothing
    fits_a_phone_and_stays_home(browser, live)
    browser.find_element(By.NAME, "reason").send_keys("孩子生病")
    page = tap(browser, "//button[.='确认请假']", then="已请假")
    assert "近期没有排班" in page
    assert live.status(live.ids["held"]) == ("declined", "孩子生病")


def test_claim_an_open_seat_from_seats_i_can_take(browser: Any, live: LiveSite) -> None:
    open_page(browser, live.link("li"))
    assert "近期没有排班" in browser.find_element("tag name", "body").text
    listed = tap(browser, "//nav/a[.='可报名']", then="可报名的岗位")
    assert "余 1 个名额" in listed and "王芳" not in listed
    fits_a_phone_and_stays_home(browser, live)
    seat = f"{live.ids['occurrence']}-{live.ids['tutor']}"
    page = tap(browser, f"//div[@data-seat='{seat}']//button[.='报名']", then="报名成功")
    assert "待确认" in page and "四点半课堂" in page
    mine = live.seat_of("li")
    assert mine is not None and (mine.status, mine.role_id, mine.seat_no) == ("invited", live.ids["tutor"], 2)


def test_hand_over_by_phone_and_the_other_volunteer_accepts_from_their_page(browser: Any, live: LiveSite) -> None:
    from selenium.webdriver.common.by import By

    open_page(browser, live.link("wang"))
    card = f"//div[@data-shift='{live.ids['held']}']"
    browser.find_element(By.XPATH, f"{card}//summary").click()
    browser.find_element(By.XPATH, f"{card}//input[@name='phone']").send_keys(live.phones["li"])
    fits_a_phone_and_stays_home(browser, live)  # with the hand-over form open
    tap(browser, f"{card}//button[.='发出转让']", then="已发出转让邀请")
    assert live.seat_of("li") is None  # nothing moves until Li accepts

    open_page(browser, live.link("li"))
    offered = browser.find_element(By.TAG_NAME, "body").text
    assert "转让给您" in offered and "王芳" not in offered and live.phones["wang"] not in offered
    page = tap(browser, f"//div[@data-offer='{live.ids['held']}']//button[.='接受转让']", then="已接受转让")
    assert "四点半课堂" in page and "待确认" in page
    assert live.status(live.ids["held"])[0] == "cancelled"
    taken = live.seat_of("li")
    assert taken is not None and (taken.status, taken.seat_no) == ("invited", 1)
    open_page(browser, live.link("wang"))
    assert "近期没有排班" in browser.find_element(By.TAG_NAME, "body").text


def test_confirm_works_with_javascript_off(browser_without_js: Any, live: LiveSite) -> None:
    from selenium.webdriver.common.by import By

    open_page(browser_without_js, reminder_link(live))
    # The browser really runs no script: a page that writes with one shows nothing.
    browser_without_js.get("data:text/html,<body><script>document.write('scripted')</script>plain</body>")
    assert browser_without_js.find_element(By.TAG_NAME, "body").text == "plain"
    open_page(browser_without_js, live.link("wang"))
    tap(browser_without_js, f"//div[@data-shift='{live.ids['held']}']//button[.='确认参加']", then="已确认，感谢您")
    assert live.status(live.ids["held"]) == ("confirmed", None)


def printed_codes(browser: Any, html: str, stem: Path) -> list[str]:
    """The QR codes of a printed page: the HTML shown at A4 size (not the phone's), screenshot,
    read back by zbar."""
    from tests.calendars.test_feeds_site_browser import decoded_codes

    page, shot = stem.with_suffix(".html"), stem.with_suffix(".png")
    page.write_text(html, encoding="utf-8")
    browser.set_window_size(900, 1300)
    try:
        browser.get(page.as_uri())
        browser.save_screenshot(str(shot))
    finally:
        browser.set_window_size(PHONE_WIDTH, 812)
    return decoded_codes(shot)


def test_the_rating_poster_scans_to_a_page_where_a_visitor_rates_the_service(
        browser: Any, live: LiveSite, tmp_path: Path) -> None:
    """The venue's poster, printed and scanned: decode its QR from a screenshot, open the URL on the
    phone, pick five stars, send; the rating is stored with no one's name."""
    from scheduler.models import Occurrence, Rating
    from web.feedback import poster_html

    with session_scope(live.engine) as s:
        occurrence = s.get(Occurrence, live.ids["occurrence"])
        assert occurrence is not None
        service_id = occurrence.service_id
    settings = Settings.from_env({"ROSTER_HOME": str(tmp_path), "ROSTER_DATABASE_URL": str(live.engine.url),
                                  "ROSTER_WEB_BASE_URL": live.url})
    [url] = [code for code in printed_codes(browser, poster_html(settings, service_id, "四点半课堂", "顺景花园党群之家"),
                                             tmp_path / "poster") if "/r/" in code]
    assert url.startswith(f"{live.url}/r/")
    open_page(browser, url)
    fits_a_phone_and_stays_home(browser, live)
    from selenium.webdriver.common.by import By

    browser.find_element(By.XPATH, "//input[@name='stars'][@value='5']/..").click()
    browser.find_element(By.ID, "comment").send_keys("老师很耐心")
    text = tap(browser, "//button[@type='submit']", then="感谢您的评价")
    assert "王芳" not in text
    with session_scope(live.engine) as s:
        [rating] = s.scalars(select(Rating)).all()
        assert (rating.service_id, rating.stars, rating.comment) == (service_id, 5, "老师很耐心")


def test_the_checkin_poster_scans_to_one_button_that_checks_the_volunteer_in(
        browser: Any, live: LiveSite, tmp_path: Path) -> None:
    """The venue's check-in poster, printed and scanned half an hour before the shift by a
    volunteer whose phone has opened their personal link: one tap of 签到 records the check-in,
    made "web-qr"."""
    from selenium.webdriver.common.by import By

    from scheduler.models import Attendance
    from scheduler.policy import DEFAULT_POLICY
    from web.checkin import poster_facts, poster_html

    live.clock[0] = SHIFT - timedelta(minutes=30)
    settings = Settings.from_env({"ROSTER_HOME": str(tmp_path), "ROSTER_DATABASE_URL": str(live.engine.url),
                                  "ROSTER_WEB_BASE_URL": live.url})
    with session_scope(live.engine) as s:
        facts = poster_facts(s, live.ids["occurrence"], DEFAULT_POLICY, live.clock[0])
    [url] = [code for code in printed_codes(browser, poster_html(settings, facts), tmp_path / "checkin")
             if "/c/" in code]
    open_page(browser, live.link("wang"))  # the phone has opened its personal link once
    browser.get(url)
    fits_a_phone_and_stays_home(browser, live)
    assert browser.find_elements(By.XPATH, "//button[contains(., '签到')]")
    tap(browser, "//button[contains(., '签到')]", then="签到")
    with session_scope(live.engine) as s:
        [record] = s.scalars(select(Attendance)).all()
        assert record.volunteer_id == live.ids["wang"] and record.checkin_method == "web-qr"
