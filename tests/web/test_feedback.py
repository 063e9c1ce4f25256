"""Satisfaction ratings (满意度) over HTTP and from the CLI, on SQLite and PostgreSQL: the venue's QR
opens an anonymous 1-5 page; limits per device and per client; the report; comments for coordinators
only; the weekly digest's line."""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, select

from scheduler.db import session_scope
from scheduler.models import Rating, Service
from scheduler.settings import Settings
from tests import factories as f
from web import create_app, secret_key
from web.feedback import rating_url, service_key, service_of_key

#: Saturday 2026-12-05 10:00 in Shenzhen, during the clinic (09:00-11:00).
NOW = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)
CLINIC = datetime(2026, 12, 5, 1, 0, tzinfo=UTC)
PHONE_BROWSER = "Mozilla/5.0 (iPhone) MicroMessenger/8.0"


@dataclass
class Venue:
    engine: Engine
    settings: Settings
    clock: list[datetime]
    ids: dict[str, int] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    tokens: dict[int, str] = field(default_factory=dict)

    def app(self, **config: Any) -> Any:
        return create_app(self.settings, ROSTER_CLOCK=lambda: self.clock[0], TESTING=True, **config)

    def client(self, **config: Any) -> FlaskClient:
        return self.app(**config).test_client()  # type: ignore[no-any-return]

    def rate(self, client: FlaskClient, which: str = "clinic", stars: str = "5", comment: str = "",
             address: str = "10.1.1.1", agent: str = PHONE_BROWSER, csrf: bool = True) -> Any:
        env = {"REMOTE_ADDR": address}
        headers = {"User-Agent": agent}
        page = client.get(f"/r/{self.keys[which]}", environ_base=env, headers=headers).get_data(as_text=True)
        form = {"stars": stars, "comment": comment}
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        if token is not None:  # a page that thanks instead has no form: a form kept from before (back button)
            self.tokens[id(client)] = token.group(1)
        if csrf:
            form["csrf_token"] = self.tokens[id(client)]
        return client.post(f"/r/{self.keys[which]}", data=form, environ_base=env, headers=headers)

    def ratings(self) -> list[Rating]:
        with session_scope(self.engine) as s:
            rows = list(s.scalars(select(Rating).order_by(Rating.id)))
            s.expunge_all()
            return rows


@pytest.fixture
def venue(engine: Engine, tmp_path: Path) -> Venue:
    settings = Settings.from_env({"ROSTER_HOME": str(tmp_path), "ROSTER_DATABASE_URL": str(engine.url),
                                  "ROSTER_WEB_BASE_URL": "https://v.longcheng.example"})
    found = Venue(engine, settings, [NOW])
    with session_scope(engine) as s:
        f.org(s)
        f.branch(s, slug="zilu", name="紫麓花园党支部")
        clinic = f.service(s, slug="clinic", title="睿智义诊服务", rrule="FREQ=WEEKLY;BYDAY=SA",
                           venue="爱联社区党群服务中心", roles=["医生:1"])
        reading = f.service(s, slug="reading", title="亲子阅读", branch="zilu", rrule="FREQ=WEEKLY;BYDAY=SU")
        visits = f.service(s, slug="visits", title="关爱空巢老人", visibility="private", venue="某小区3栋1201")
        found.ids.update(clinic=clinic.id, reading=reading.id, visits=visits.id,
                         shift=f.occurrence(s, clinic, start=CLINIC).id)
    secret = secret_key(settings)
    found.keys.update({name: service_key(secret, found.ids[name]) for name in ("clinic", "reading", "visits")})
    return found


def test_the_poster_carries_a_qr_of_the_signed_rating_address(invoke: Any, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROSTER_WEB_BASE_URL", "https://v.longcheng.example")
    monkeypatch.setenv("ROSTER_WEB_SECRET", "poster-secret")
    invoke("community", "add", "ailian", "--name", "爱联社区")
    invoke("branch", "add", "shunjing", "--name", "顺景花园党支部", "--community", "ailian")
    invoke("service", "add", "clinic", "--title", "睿智义诊服务", "--branch", "shunjing", "--every", "saturday",
           "--start-date", "2026-12-05", "--time", "09:00", "--duration", "2h", "--role", "医生:1",
           "--venue", "爱联社区党群服务中心")
    out = tmp_path / "评价.html"
    done = invoke("feedback", "poster", "clinic", "--out", str(out))
    assert done.exit_code == 0, done.output
    page = out.read_text()
    assert "<svg" in page and "扫码评价本次服务" in page and "睿智义诊服务" in page and "爱联社区党群服务中心" in page
    url = "https://v.longcheng.example/r/" + service_key("poster-secret", 1)
    assert url in page and len(out.read_bytes()) < 60 * 1024
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert service_of_key("poster-secret", url.rsplit("/", 1)[1]) == 1
    assert rating_url("https://v.longcheng.example/", "poster-secret", 1) == url
    assert invoke("feedback", "poster", "nothing").exit_code == 3


def test_the_rating_page_is_public_anonymous_and_works_without_javascript(venue: Venue) -> None:
    answer = venue.client().get(f"/r/{venue.keys['clinic']}")
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "睿智义诊服务" in page and "爱联社区党群服务中心" in page
    assert page.count('type="radio" name="stars"') == 5 and 'name="csrf_token"' in page
    assert 'maxlength="200"' in page and "<script" not in page and 'type="tel"' not in page
    assert "default-src 'self'" in answer.headers["Content-Security-Policy"] and len(answer.get_data()) < 60 * 1024
    # A home visit's page never shows the home.
    assert "1201" not in venue.client().get(f"/r/{venue.keys['visits']}").get_data(as_text=True)


def test_forged_altered_and_unknown_keys_get_the_same_404(venue: Venue) -> None:
    client = venue.client()
    missing = client.get("/nothing-here").get_data()
    other_secret = service_key("another-secret", venue.ids["clinic"])
    good = venue.keys["clinic"]  # a character inside the signature (the last one's low bits are padding)
    altered = good[:-5] + ("A" if good[-5] != "A" else "B") + good[-4:]
    for key in (other_secret, altered, "MQ", "x" * 300, service_key(secret_key(venue.settings), 9999)):
        for answer in (client.get(f"/r/{key}"), client.post(f"/r/{key}", data={"stars": "5"})):
            assert answer.status_code in (404, 400), key
        assert client.get(f"/r/{key}").get_data() == missing
    with session_scope(venue.engine) as s:
        s.get(Service, venue.ids["reading"]).active = False  # type: ignore[union-attr]
    assert client.get(f"/r/{venue.keys['reading']}").status_code == 404


def test_a_rating_is_stored_with_the_shift_on_now_and_no_address(venue: Venue) -> None:
    client = venue.client()
    done = venue.rate(client, stars="5", comment="医生很耐心，谢谢！")
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/r/{venue.keys['clinic']}")
    cookie = done.headers.get("Set-Cookie", "")
    assert "roster_rated=" in cookie and "HttpOnly" in cookie and "Path=/r/" in cookie and "Secure" in cookie
    assert "感谢您的评价" in client.get(done.headers["Location"]).get_data(as_text=True)
    [rating] = venue.ratings()
    assert (rating.service_id, rating.occurrence_id, rating.stars, rating.comment) == (
        venue.ids["clinic"], venue.ids["shift"], 5, "医生很耐心，谢谢！")
    assert rating.created_at == NOW and len(rating.client_hash) == 32 and "10.1.1.1" not in rating.client_hash
    # Another service, no shift on: stored without one.
    venue.rate(client, "reading", stars="4")
    assert venue.ratings()[1].occurrence_id is None


def test_one_rating_per_service_per_device_in_twelve_hours(venue: Venue) -> None:
    client = venue.client()
    venue.rate(client, stars="5")
    again = venue.rate(client, stars="1")
    assert again.status_code == 302
    page = client.get(f"/r/{venue.keys['clinic']}").get_data(as_text=True)
    assert "已评价过" in page and 'name="stars"' not in page
    assert [r.stars for r in venue.ratings()] == [5]
    venue.rate(client, "reading", stars="3")  # another service is another rating
    venue.clock[0] = NOW + timedelta(hours=12, minutes=1)
    venue.rate(client, stars="4")
    assert [r.stars for r in venue.ratings()] == [5, 3, 4]
    # A cookie signed with another key counts for nothing; the form comes back.
    fresh = venue.client()
    fresh.set_cookie("roster_rated", "eyIxIjoxfQ.forged", path="/r/")
    assert 'name="stars"' in fresh.get(f"/r/{venue.keys['clinic']}").get_data(as_text=True)


def test_posts_are_limited_per_client_not_per_venue_wifi(venue: Venue) -> None:
    app = venue.app(ROSTER_RATING_LIMIT="2 per hour")
    codes = [venue.rate(app.test_client(), stars="5").status_code for _ in range(3)]  # new devices, same phone
    assert codes == [302, 302, 429]
    other_phone = venue.rate(app.test_client(), stars="4", agent="Mozilla/5.0 (Android) MicroMessenger/8.0")
    assert other_phone.status_code == 302
    assert len(venue.ratings()) == 3


def test_the_form_needs_its_csrf_token_and_a_get_stores_nothing(venue: Venue) -> None:
    client = venue.client()
    refused = venue.rate(client, csrf=False)
    assert refused.status_code == 400 and "页面已过期" in refused.get_data(as_text=True)
    client.get(f"/r/{venue.keys['clinic']}?stars=5")
    assert venue.ratings() == []


@pytest.mark.parametrize(("stars", "comment", "said"), [
    ("", "", "请选择 1 到 5 颗星"),
    ("6", "", "请选择 1 到 5 颗星"),
    ("5", "x" * 201, "留言最多 200 字"),
    ("5", "有事请打13800138000", "不要写电话号码"),
    ("4", "我的身份证 11010519491231002X", "不要写电话号码、身份证号"),
    ("4", "联系 a.b@example.cn", "邮箱"),
    ("4", "好\u202e评", "看不见的排版控制字符"),
])
def test_bad_input_is_refused_with_a_clear_message_and_nothing_stored(venue: Venue, stars: str, comment: str,
                                                                      said: str) -> None:
    client = venue.client()
    answer = venue.rate(client, stars=stars, comment=comment)
    assert answer.status_code == 302 and "roster_rated=" not in answer.headers.get("Set-Cookie", "")
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert said in page and 'name="stars"' in page
    assert venue.ratings() == []


def _ratings(venue: Venue) -> None:
    """Ratings over November: clinic (branch shunjing) 5,5,4,2; reading (branch zilu) 3,5; one in December."""
    with session_scope(venue.engine) as s:
        from scheduler.feedback import record_rating

        day = datetime(2026, 11, 10, 4, 0, tzinfo=UTC)
        for n, stars in enumerate((5, 5, 4, 2)):
            record_rating(s, venue.ids["clinic"], stars, "等候时间有点长" if stars == 2 else "", "c", day + timedelta(hours=n))
        for stars in (3, 5):
            record_rating(s, venue.ids["reading"], stars, "", "c", day)
        record_rating(s, venue.ids["reading"], 1, "", "c", datetime(2026, 12, 1, 4, 0, tzinfo=UTC))


def test_the_report_gives_count_mean_and_the_share_of_four_and_five(venue: Venue, invoke: Any,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    _ratings(venue)
    monkeypatch.setenv("ROSTER_DATABASE_URL", str(venue.engine.url))
    report = invoke("feedback", "report", "--from", "2026-11-01", "--to", "2026-11-30", "--json")
    assert report.exit_code == 0, report.output
    data = json.loads(report.output)
    assert (data["count"], data["satisfied"]) == (6, round(4 / 6, 4))
    assert {r["key"]: (r["count"], r["mean"], r["satisfied"]) for r in data["rows"]} == {
        "clinic": (4, 4.0, 0.75), "reading": (2, 4.0, 0.5)}
    by_branch = json.loads(invoke("feedback", "report", "--from", "2026-11-01", "--to", "2026-11-30",
                                  "--by", "branch", "--json").output)
    assert {r["key"]: r["label"] for r in by_branch["rows"]} == {"shunjing": "顺景花园党支部", "zilu": "紫麓花园党支部"}
    by_community = json.loads(invoke("feedback", "report", "--from", "2026-11-01", "--to", "2026-12-31",
                                     "--by", "community", "--json").output)
    assert [(r["key"], r["count"]) for r in by_community["rows"]] == [("ailian", 7)]
    table = invoke("feedback", "report", "--from", "2026-11-01", "--to", "2026-11-30").output
    assert "睿智义诊服务" in table and "75%" in table and "等候时间" not in table  # no comments in the report
    bad = invoke("feedback", "report", "--from", "2026-11-30", "--to", "2026-11-01")
    assert bad.exit_code == 2 and "--to" in bad.output


def test_comments_are_for_coordinators_on_the_command_line(venue: Venue, invoke: Any,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    _ratings(venue)
    with session_scope(venue.engine) as s:
        from scheduler.feedback import record_rating

        record_rating(s, venue.ids["clinic"], 4, "[/b] 很好", "c", datetime(2026, 11, 11, 4, 0, tzinfo=UTC))
    monkeypatch.setenv("ROSTER_DATABASE_URL", str(venue.engine.url))
    listed = invoke("feedback", "comments", "clinic", "--from", "2026-11-01", "--to", "2026-11-30")
    assert listed.exit_code == 0, listed.output
    assert "等候时间有点长" in listed.output and "[/b] 很好" in listed.output  # typed text is not markup
    assert "\\[/b]" not in listed.output  # nor escaped as markup (the table prints plain text)
    assert "when (local)" in listed.output and "Tue 10 Nov 2026 15:00" in listed.output  # 07:00 UTC in Shanghai
    rows = json.loads(invoke("feedback", "comments", "clinic", "--from", "2026-11-01", "--to", "2026-11-30",
                             "--json").output)
    assert [(r["stars"], r["comment"]) for r in rows] == [(4, "[/b] 很好"), (2, "等候时间有点长")]
    assert set(rows[0]) == {"created_at", "stars", "comment"}  # nothing about who or where from
    # The public page never shows them.
    assert "等候时间" not in venue.client().get(f"/r/{venue.keys['clinic']}").get_data(as_text=True)


def test_the_report_and_comments_speak_chinese_with_roster_lang_zh_cn(venue: Venue, invoke: Any,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    _ratings(venue)
    monkeypatch.setenv("ROSTER_DATABASE_URL", str(venue.engine.url))
    monkeypatch.setenv("ROSTER_LANG", "zh_CN")
    report = invoke("feedback", "report", "--from", "2026-11-01", "--to", "2026-11-30", "--by", "branch").output
    assert report.startswith("2026年11月1日（周日）至2026年11月30日（周一）的评价：6 条，67% 为 4-5 星\n")
    for header in ("支部", "名称", "评价数", "平均分", "4-5 星占比"):
        assert header in report
    assert "顺景花园党支部" in report and "75%" in report
    empty = invoke("feedback", "report", "--from", "2027-01-01", "--to", "2027-01-31").output
    assert empty == "2027年1月1日（周五）至2027年1月31日（周日）的评价：暂无\n"
    listed = invoke("feedback", "comments", "clinic", "--from", "2026-11-01", "--to", "2026-11-30").output
    for header in ("时间（当地）", "星级", "留言"):
        assert header in listed
    assert "2026年11月10日（周二）15:00" in listed and "等候时间有点长" in listed
    bad = invoke("feedback", "report", "--from", "2026-11-30", "--to", "2026-11-01")
    assert bad.exit_code == 2 and "2026-11-01 早于 --from 2026-11-30" in bad.output
    # JSON keeps its English keys and values.
    data = json.loads(invoke("feedback", "report", "--from", "2026-11-01", "--to", "2026-11-30", "--json").output)
    assert (data["by"], data["count"]) == ("service", 6)


def test_the_weekly_digest_tells_each_coordinator_their_scopes_satisfaction(venue: Venue) -> None:
    from scheduler.feedback import record_rating
    from scheduler.messages.channels import ChannelSet, ConsoleChannel
    from scheduler.organisations.coordinators import add_coordinator
    from scheduler.reminders.digest import send_weekly_digest

    friday = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)
    with session_scope(venue.engine) as s:
        for stars in (5, 4, 4, 1):
            record_rating(s, venue.ids["clinic"], stars, "不写进周报的留言", "c", friday - timedelta(days=2))
        record_rating(s, venue.ids["clinic"], 1, "", "c", friday - timedelta(days=9))  # before the week
        add_coordinator(s, "陈书记", branch="shunjing")
        add_coordinator(s, "林书记", branch="zilu")
    out = io.StringIO()
    with session_scope(venue.engine) as s:
        send_weekly_digest(s, ChannelSet({"console": lambda: ConsoleChannel(out)}), date(2026, 12, 4),
                           "Asia/Shanghai", now=friday)
    text = out.getvalue()
    assert text.count("过去一周服务评价 4 条，平均 3.5 分，满意（4-5 星）占 75%。") == 1  # shunjing only
    assert "不写进周报的留言" not in text and text.count("【排班周报】") == 2
