"""`roster feeds ...` commands and the local feed server over a real socket."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Callable, Iterator
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from scheduler.db import engine_for, session_scope
from scheduler.models import Volunteer
from tests.calendars.test_feeds_publish import DOMAIN, build_city

Invoke = Callable[..., Any]


@pytest.fixture
def cli_city(invoke: Invoke, roster_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Invoke:
    monkeypatch.setenv("ROSTER_DOMAIN", DOMAIN)
    monkeypatch.setenv("ROSTER_PUBLIC_BASE_URL", "https://feeds.test")
    build_city(engine_for(roster_env["ROSTER_DATABASE_URL"]))
    return invoke


def test_feeds_publish_all_then_only_dirty(cli_city: Invoke, roster_env: dict[str, str]) -> None:
    result = cli_city("feeds", "publish", "--all")
    assert result.exit_code == 0, result.output
    assert "8 written" in result.output
    feed_dir = Path(roster_env["ROSTER_FEED_DIR"])
    assert (feed_dir / "district.ics").read_bytes().startswith(b"BEGIN:VCALENDAR\r\n")
    result = cli_city("feeds", "publish", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["written"] == 0


def test_feeds_publish_no_district_leaves_it_for_later(cli_city: Invoke, roster_env: dict[str, str]) -> None:
    cli_city("feeds", "publish", "--all", "--no-district")
    feed_dir = Path(roster_env["ROSTER_FEED_DIR"])
    assert (feed_dir / "branches/shunjing.ics").exists() and not (feed_dir / "district.ics").exists()


def test_feeds_urls_json_lists_https_and_webcal(cli_city: Invoke) -> None:
    result = cli_city("feeds", "urls", "--json")
    assert result.exit_code == 0, result.output
    urls = {u["key"]: u for u in json.loads(result.output)}
    assert urls["branch:yuhua"]["webcal"] == "webcal://feeds.test/branches/yuhua.ics"
    assert urls["branch:yuhua"]["name"] == "玉华花园党支部"
    table = cli_city("feeds", "urls")
    assert "玉华花园党支部" in table.output and "https://feeds.test/district.ics" in table.output


def test_rotate_token_then_publish_removes_the_old_file(cli_city: Invoke, roster_env: dict[str, str]) -> None:
    cli_city("feeds", "publish", "--all")
    feed_dir = Path(roster_env["ROSTER_FEED_DIR"])
    engine = engine_for(roster_env["ROSTER_DATABASE_URL"])
    with session_scope(engine) as s:
        vol = s.scalars(select(Volunteer).order_by(Volunteer.id)).first()
        assert vol is not None
        vid, old_token = vol.id, vol.feed_token
    result = cli_city("volunteer", "rotate-token", str(vid))
    assert result.exit_code == 0, result.output
    new_token = result.output.strip().rsplit("/", 1)[1].removesuffix(".ics")
    assert new_token != old_token
    result = cli_city("feeds", "publish")
    assert "1 deleted" in result.output
    assert not (feed_dir / f"volunteers/{old_token}.ics").exists()
    assert (feed_dir / f"volunteers/{new_token}.ics").exists()


def test_index_page_lists_public_feeds_with_qr_codes(cli_city: Invoke, roster_env: dict[str, str]) -> None:
    cli_city("feeds", "publish", "--all")
    page = (Path(roster_env["ROSTER_FEED_DIR"]) / "index.html").read_text("utf-8")
    assert 'lang="zh-CN"' in page and 'name="viewport"' in page
    assert page.count("<svg") == 6  # district, two communities, three branches
    assert 'href="webcal://feeds.test/branches/shunjing.ics"' in page
    assert 'href="https://feeds.test/communities/longxi.ics"' in page
    assert "volunteers/" not in page


# --------------------------------------------------------------------------- the local server


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    from calendars.publish import write_atomic
    from calendars.serve import make_server

    root = tmp_path / "feeds"
    write_atomic(root / "district.ics", "BEGIN:VCALENDAR\r\nNAME:龙城\r\nEND:VCALENDAR\r\n".encode())
    write_atomic(root / "volunteers" / "secret-token_1.ics", b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")
    write_atomic(root / "index.html", "<!doctype html><p>订阅</p>".encode())
    server = make_server(root, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def get(port: int, path: str, headers: dict[str, str] | None = None,
        method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def test_serve_answers_text_calendar_inline_with_etag_and_last_modified(served: tuple[Path, int]) -> None:
    root, port = served
    status, headers, body = get(port, "/district.ics")
    assert status == 200
    assert headers["content-type"] == "text/calendar; charset=utf-8"
    assert headers["content-disposition"] == "inline"
    assert headers["etag"].startswith('"') and headers["last-modified"].endswith("GMT")
    assert body == (root / "district.ics").read_bytes()
    status, headers, _ = get(port, "/")
    assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"


def test_serve_answers_304_on_if_none_match_and_if_modified_since(served: tuple[Path, int]) -> None:
    root, port = served
    _, headers, _ = get(port, "/district.ics")
    status, again, body = get(port, "/district.ics", {"If-None-Match": headers["etag"]})
    assert status == 304 and body == b"" and again["etag"] == headers["etag"]
    status, _, _ = get(port, "/district.ics", {"If-Modified-Since": headers["last-modified"]})
    assert status == 304
    status, _, _ = get(port, "/district.ics", {"If-None-Match": '"stale"'})
    assert status == 200
    old = formatdate((root / "district.ics").stat().st_mtime - 3600, usegmt=True)
    status, _, _ = get(port, "/district.ics", {"If-Modified-Since": old})
    assert status == 200


def test_serve_changes_etag_when_the_feed_changes(served: tuple[Path, int]) -> None:
    from calendars.publish import write_atomic

    root, port = served
    _, first, _ = get(port, "/district.ics")
    write_atomic(root / "district.ics", b"BEGIN:VCALENDAR\r\nNAME:new\r\nEND:VCALENDAR\r\n")
    status, second, _ = get(port, "/district.ics", {"If-None-Match": first["etag"]})
    assert status == 200 and second["etag"] != first["etag"]


@pytest.mark.parametrize("path", [
    "/volunteers/", "/volunteers", "/branches/", "/nope.ics", "/volunteers/unknown.ics", "/../etc/passwd",
    "/volunteers/%2e%2e/district.ics", "/volunteers/.secret-token_1.ics.tmp",
])
def test_serve_404_for_unknown_paths_and_no_directory_listing(served: tuple[Path, int], path: str) -> None:
    _, port = served
    status, _, body = get(port, path)
    assert status == 404
    assert b"secret-token" not in body


def test_serve_head_has_headers_without_body(served: tuple[Path, int]) -> None:
    _, port = served
    status, headers, body = get(port, "/volunteers/secret-token_1.ics", method="HEAD")
    assert status == 200 and body == b"" and headers["content-type"].startswith("text/calendar")
