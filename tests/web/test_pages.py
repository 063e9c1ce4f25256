"""The volunteer pages over HTTP (Flask's test client), on SQLite and PostgreSQL: the flows and the
security rules (404 for any bad token, CSRF, no GET changes state, rate limits, no one else's name)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, select

from scheduler import rosters
from scheduler.db import session_scope
from scheduler.models import Assignment, Event, Reminder
from scheduler.settings import Settings
from tests import factories as f
from web import create_app

#: Monday 2026-12-07 10:00 in Shenzhen; the shifts are that week.
NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
SHIFT = NOW + timedelta(days=2, hours=6, minutes=30)  # Wednesday 16:30


@dataclass
class Site:
    engine: Engine
    client: FlaskClient
    tokens: dict[str, str]
    ids: dict[str, int]

    def page(self, who: str, path: str = "") -> Any:
        return self.client.get(f"/v/{self.tokens[who]}{path}")

    def post(self, who: str, path: str, data: dict[str, str] | None = None, csrf: bool = True) -> Any:
        form = dict(data or {})
        if csrf:
            form["csrf_token"] = self.csrf(who)
        return self.client.post(f"/v/{self.tokens[who]}{path}", data=form)

    def csrf(self, who: str) -> str:
        found = re.search(r'name="csrf_token" value="([^"]+)"', self.page(who).get_data(as_text=True))
        if found is None:  # a page without forms: the seats page always has one when seats are open
            found = re.search(r'name="csrf_token" value="([^"]+)"', self.page(who, "/open").get_data(as_text=True))
        assert found is not None
        return found.group(1)

    def events(self) -> list[Event]:
        with session_scope(self.engine) as s:
            rows = list(s.scalars(select(Event).order_by(Event.id)))
            s.expunge_all()
            return rows


def make_app(engine: Engine, tmp_path: Path, **env: str) -> Any:
    settings = Settings.from_env({"ROSTER_HOME": str(tmp_path), "ROSTER_DATABASE_URL": str(engine.url),
                                  "ROSTER_WEB_BASE_URL": "https://v.longcheng.example", **env})
    return create_app(settings, ROSTER_CLOCK=lambda: NOW, TESTING=True)


@pytest.fixture
def site(engine: Engine, tmp_path: Path) -> Site:
    from scheduler.volunteers import web_token_of

    with session_scope(engine) as s:
        f.org(s)
        classroom = f.service(s, slug="ketang", roles=["辅导员:2:tutor", "看护:1"])
        occ = f.occurrence(s, classroom, start=SHIFT)
        wang, li, zhao = (f.volunteer(s, name=name) for name in ("王芳", "李明", "赵丽"))
        held = rosters.assign(s, str(wang.id), occ.id, "辅导员", now=NOW)
        tokens = {name: web_token_of(s, str(v.id)).web_token or "" for name, v in
                  (("wang", wang), ("li", li), ("zhao", zhao))}
        ids = {"occurrence": occ.id, "held": held.id, "wang": wang.id, "li": li.id, "zhao": zhao.id,
               "tutor": classroom.roles[0].id, "carer": classroom.roles[1].id}
    return Site(engine, make_app(engine, tmp_path).test_client(), tokens, ids)


def test_my_shifts_shows_the_coming_shift_and_confirm_goes_through_the_domain(site: Site) -> None:
    page = site.page("wang").get_data(as_text=True)
    assert "四点半课堂" in page and "12月9日 周三 16:30-18:30" in page and "待确认" in page
    assert "顺景花园党群之家" in page and "辅导员" in page
    done = site.post("wang", f"/s/{site.ids['held']}/confirm")
    assert done.status_code == 302
    assert "已确认，感谢您" in site.client.get(done.headers["Location"]).get_data(as_text=True)
    with session_scope(site.engine) as s:
        assert s.get(Assignment, site.ids["held"]).status == "confirmed"  # type: ignore[union-attr]
    [changed] = [e for e in site.events() if e.kind == "assignment.changed"]
    assert changed.payload["via"] == "web" and changed.payload["status"] == "confirmed"


def test_decline_with_a_reason_promotes_the_waitlist_and_tells_them(site: Site) -> None:
    with session_scope(site.engine) as s:
        rosters.assign(s, str(site.ids["li"]), site.ids["occurrence"], "看护", now=NOW)
        waiting = rosters.assign(s, str(site.ids["zhao"]), site.ids["occurrence"], "看护", waitlist=True, now=NOW)
        carer = s.scalar(select(Assignment.id).where(Assignment.volunteer_id == site.ids["li"]))
    form = site.page("li", f"/s/{carer}/decline")
    assert form.status_code == 200 and "确认请假" in form.get_data(as_text=True)
    with session_scope(site.engine) as s:  # the GET (a message app's preview) changed nothing
        assert s.get(Assignment, carer).status == "invited"  # type: ignore[union-attr]
    site.post("li", f"/s/{carer}/decline", {"reason": "孩子生病"})
    with session_scope(site.engine) as s:
        declined = s.get(Assignment, carer)
        promoted = s.get(Assignment, waiting.id)
        assert declined is not None and (declined.status, declined.reason) == ("declined", "孩子生病")
        assert promoted is not None and promoted.status == "invited"
        assert s.scalar(select(Reminder.kind).where(Reminder.assignment_id == waiting.id)) == "promoted"


def test_seats_i_can_take_lists_only_what_passes_every_check_and_claim_takes_one(site: Site) -> None:
    listed = site.page("li", "/open").get_data(as_text=True)
    assert f'data-seat="{site.ids["occurrence"]}-{site.ids["tutor"]}"' in listed  # 1 of 2 tutor seats left
    assert "余 1 个名额" in listed and "王芳" not in listed  # counts, never names
    site.post("li", f"/claim/{site.ids['occurrence']}/{site.ids['tutor']}")
    with session_scope(site.engine) as s:
        mine = s.scalar(select(Assignment).where(Assignment.volunteer_id == site.ids["li"]))
        assert mine is not None and (mine.status, mine.seat_no) == ("invited", 2)
    # Now full: offered as a waitlist to the third volunteer, who joins it.
    again = site.page("zhao", "/open").get_data(as_text=True)
    assert f'data-full="{site.ids["occurrence"]}-{site.ids["tutor"]}"' in again
    site.post("zhao", f"/claim/{site.ids['occurrence']}/{site.ids['tutor']}", {"waitlist": "1"})
    assert "候补" in site.page("zhao").get_data(as_text=True)


def test_a_seat_that_fails_a_check_is_not_offered_and_cannot_be_claimed(site: Site) -> None:
    with session_scope(site.engine) as s:
        untrained = f.volunteer(s, name="孙强", skills=[])
        from scheduler.volunteers import web_token_of

        site.tokens["sun"] = web_token_of(s, str(untrained.id)).web_token or ""
    listed = site.page("sun", "/open").get_data(as_text=True)
    assert f'data-seat="{site.ids["occurrence"]}-{site.ids["tutor"]}"' not in listed  # needs "tutor"
    assert f'data-seat="{site.ids["occurrence"]}-{site.ids["carer"]}"' in listed
    token = re.search(r'name="csrf_token" value="([^"]+)"', listed)
    assert token is not None
    refused = site.client.post(f"/v/{site.tokens['sun']}/claim/{site.ids['occurrence']}/{site.ids['tutor']}",
                               data={"csrf_token": token.group(1)}, follow_redirects=True)
    assert "不符合该岗位的报名条件" in refused.get_data(as_text=True)
    with session_scope(site.engine) as s:
        assert s.scalar(select(Assignment).where(Assignment.volunteer_id == untrained.id)) is None


def test_hand_over_moves_the_shift_when_the_taker_accepts_and_both_are_told(site: Site) -> None:
    with session_scope(site.engine) as s:
        li_phone = s.get(type(s.get(Assignment, site.ids["held"]).volunteer), site.ids["li"]).phone  # type: ignore[union-attr]
    site.post("wang", f"/s/{site.ids['held']}/handover", {"phone": li_phone})
    assert "已发出转让邀请" in site.page("wang").get_data(as_text=True)
    offered = site.page("li").get_data(as_text=True)
    assert f'data-offer="{site.ids["held"]}"' in offered and "接受转让" in offered and "王芳" not in offered
    site.post("li", f"/accept/{site.ids['held']}")
    with session_scope(site.engine) as s:
        old = s.get(Assignment, site.ids["held"])
        new = s.scalar(select(Assignment).where(Assignment.volunteer_id == site.ids["li"]))
        assert old is not None and old.status == "cancelled"
        assert new is not None and (new.status, new.seat_no) == ("invited", 1)
        told = {r.assignment_id: r.kind for r in s.scalars(select(Reminder))}
        assert told[old.id].startswith(("unassigned", "assigned")) and told[new.id].startswith("assigned")
    # The taker cannot accept twice; the giver no longer has the shift.
    assert "没有找到" in site.client.post(f"/v/{site.tokens['li']}/accept/{site.ids['held']}",
                                       data={"csrf_token": site.csrf("li")},
                                       follow_redirects=True).get_data(as_text=True)


def test_unknown_rotated_and_malformed_tokens_get_the_same_404(site: Site, engine: Engine) -> None:
    from scheduler.volunteers import web_token_of

    missing = site.client.get("/nothing-here")
    old = site.tokens["wang"]
    with session_scope(engine) as s:
        web_token_of(s, str(site.ids["wang"]), rotate=True)
    for path in (f"/v/{old}", "/v/" + "A" * 22, "/v/short", "/v/%E4%BD%A0%E5%A5%BD" * 3, "/v/" + "x" * 300,
                 f"/v/{old}/open", f"/v/{old}/s/{site.ids['held']}/decline"):
        answer = site.client.get(path)
        assert answer.status_code == 404 and answer.get_data() == missing.get_data(), path
    # Someone else's shift through one's own link is a 404 too.
    assert site.page("li", f"/s/{site.ids['held']}/decline").status_code == 404


def test_forms_need_the_csrf_token_and_gets_change_nothing(site: Site) -> None:
    before = len(site.events())
    refused = site.post("wang", f"/s/{site.ids['held']}/confirm", csrf=False)
    assert refused.status_code == 400 and "页面已过期" in refused.get_data(as_text=True)
    for path in (f"/s/{site.ids['held']}/confirm", f"/claim/{site.ids['occurrence']}/{site.ids['tutor']}",
                 f"/accept/{site.ids['held']}"):
        assert site.page("wang", path).status_code == 405
    for path in ("", "/open", f"/s/{site.ids['held']}/decline"):
        assert site.page("wang", path).status_code == 200
    assert len(site.events()) == before
    with session_scope(site.engine) as s:
        assert s.get(Assignment, site.ids["held"]).status == "invited"  # type: ignore[union-attr]


def test_cookies_are_httponly_samesite_and_secure_behind_https(site: Site) -> None:
    answer = site.page("wang")
    cookie = answer.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie
    assert "default-src 'self'" in answer.headers["Content-Security-Policy"]
    page = answer.get_data(as_text=True)
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing from another host
    assert len(answer.get_data()) < 60 * 1024


def test_token_lookups_are_rate_limited_per_client(engine: Engine, tmp_path: Path, site: Site) -> None:
    client = make_app(engine, tmp_path, ROSTER_WEB_RATE_LIMIT="5 per minute").test_client()
    codes = [client.get("/v/" + "B" * 22, environ_base={"REMOTE_ADDR": "10.0.0.1"}).status_code for _ in range(7)]
    assert codes[:5] == [404] * 5 and codes[5:] == [429, 429]
    other = client.get(f"/v/{site.tokens['wang']}", environ_base={"REMOTE_ADDR": "10.0.0.2"})
    assert other.status_code == 200


def test_typed_text_is_validated_like_the_cli(site: Site) -> None:
    before = len(site.events())
    site.post("wang", f"/s/{site.ids['held']}/decline", {"reason": "x" * 301})
    with session_scope(site.engine) as s:
        assert s.get(Assignment, site.ids["held"]).status == "invited"  # type: ignore[union-attr]
    assert "填写有误：reason" in site.page("wang").get_data(as_text=True)
    site.post("wang", f"/s/{site.ids['held']}/handover", {"phone": "12345"})
    assert "填写有误：phone" in site.page("wang").get_data(as_text=True)
    assert len(site.events()) == before  # nothing written


def test_reminders_carry_the_personal_link(site: Site) -> None:
    import io

    from scheduler.messages.channels import ChannelSet, ConsoleChannel
    from scheduler.policy import DEFAULT_POLICY
    from scheduler.reminders.dispatch import dispatch_due
    from tests.workers_support import settings_for

    stream = io.StringIO()
    settings = settings_for(str(site.engine.url), web_base_url="https://v.longcheng.example")
    dispatch_due(site.engine, settings, now=SHIFT - timedelta(hours=23), policy=DEFAULT_POLICY,
                 channels=ChannelSet({"console": lambda: ConsoleChannel(stream)}))
    text = stream.getvalue()
    link = f"https://v.longcheng.example/v/{site.tokens['wang']}"
    assert f"确认或请假：{link}" in text and len(link) < 60


def test_the_loser_of_a_race_for_the_last_seat_is_told_and_offered_the_waitlist(site: Site) -> None:
    seat = f"/claim/{site.ids['occurrence']}/{site.ids['tutor']}"
    li_form, zhao_form = site.csrf("li"), site.csrf("zhao")  # both saw the last free seat
    site.client.post(f"/v/{site.tokens['li']}{seat}", data={"csrf_token": li_form})
    lost = site.client.post(f"/v/{site.tokens['zhao']}{seat}", data={"csrf_token": zhao_form})
    assert lost.status_code == 302 and lost.headers["Location"].endswith("/open")
    page = site.client.get(lost.headers["Location"]).get_data(as_text=True)
    assert "名额已满" in page and "报名候补" in page
    with session_scope(site.engine) as s:
        assert s.scalar(select(Assignment).where(Assignment.volunteer_id == site.ids["zhao"])) is None


def test_roster_web_logs_no_request_path_a_token_could_be_read_from(tmp_path: Path) -> None:
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request

    env = dict(os.environ, ROSTER_HOME=str(tmp_path))
    roster = str(Path(sys.executable).parent / "roster")
    subprocess.run([roster, "init"], env=env, check=True, capture_output=True, timeout=60)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([roster, "web", "--port", str(port)], env=env, stderr=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    token = "Zq" * 11
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v/{token}", timeout=5)
            except urllib.error.HTTPError as answer:
                assert answer.code == 404
                break
            except OSError:
                assert time.monotonic() < deadline, "roster web did not start"
                time.sleep(0.2)
    finally:
        server.terminate()
        out, err = server.communicate(timeout=30)
    assert token not in out + err and "volunteer pages on" in err


def test_the_pages_name_no_icon_and_favicon_is_an_empty_answer_not_a_404(site: Site) -> None:
    """Browsers ask for /favicon.ico whatever a page says; the pages point the icon at nothing (no
    request, no resource from another host) and the path answers 204, cacheable, not the 404 page."""
    page = site.page("wang").get_data(as_text=True)
    assert '<link rel="icon" href="data:,">' in page
    icon = site.client.get("/favicon.ico")
    assert icon.status_code == 204 and icon.get_data() == b""
    assert "max-age=86400" in icon.headers["Cache-Control"]
    assert site.client.post("/favicon.ico").status_code == 405
