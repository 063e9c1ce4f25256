"""A small local HTTP server for trying subscriptions against the feed folder (``roster feeds serve``).

Production serves the folder with nginx; this mirrors what nginx is configured to answer:
``text/calendar; charset=utf-8`` inline, ETag and Last-Modified, 304 on a matching conditional
request, 404 for anything that is not a published file (never a directory listing, so private
feed tokens cannot be enumerated).
"""

from __future__ import annotations

import hashlib
import re
from email.utils import formatdate, parsedate_to_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

_NAME = r"[A-Za-z0-9_-]{1,128}"
_ROUTES = re.compile(rf"^/(?:(?:branches|communities|volunteers)/{_NAME}\.ics|district\.ics|index\.html)$")
_TYPES = {".ics": "text/calendar; charset=utf-8", ".html": "text/html; charset=utf-8"}


class FeedRequestHandler(BaseHTTPRequestHandler):
    server_version = "RosterFeeds/1.0"
    root: Path = Path(".")

    def do_GET(self) -> None:
        self._answer(with_body=True)

    def do_HEAD(self) -> None:
        self._answer(with_body=False)

    def log_message(self, format: str, *args: Any) -> None:
        # Private feed URLs carry the token: keep them out of logs.
        pass

    def _resolve(self) -> Path | None:
        path = unquote(urlsplit(self.path).path)
        if path == "/":
            path = "/index.html"
        if not _ROUTES.match(path):
            return None
        target = self.root / path.lstrip("/")
        return target if target.is_file() else None

    def _answer(self, with_body: bool) -> None:
        target = self._resolve()
        if target is None:
            self._plain(HTTPStatus.NOT_FOUND, "not found\n", with_body)
            return
        try:
            data = target.read_bytes()
            mtime = target.stat().st_mtime
        except FileNotFoundError:  # replaced between the check and the read: gone now
            self._plain(HTTPStatus.NOT_FOUND, "not found\n", with_body)
            return
        except OSError:
            self._plain(HTTPStatus.INTERNAL_SERVER_ERROR, "feed unavailable\n", with_body)
            return
        etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
        last_modified = formatdate(int(mtime), usegmt=True)
        if self._not_modified(etag, int(mtime)):
            self.send_response(HTTPStatus.NOT_MODIFIED)
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", last_modified)
            self.end_headers()
            return
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", _TYPES[target.suffix])
        self.send_header("Content-Disposition", "inline")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", last_modified)
        self.send_header("Cache-Control", "public, max-age=300")
        self.end_headers()
        if with_body:
            self.wfile.write(data)

    def _not_modified(self, etag: str, mtime: int) -> bool:
        """RFC 9110 13.1: If-None-Match wins over If-Modified-Since when both are sent."""
        if_none_match = self.headers.get("If-None-Match")
        if if_none_match is not None:
            tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
            return etag in tags or "*" in tags
        since = self.headers.get("If-Modified-Since")
        if since:
            try:
                return int(parsedate_to_datetime(since).timestamp()) >= mtime
            except (TypeError, ValueError):
                return False
        return False

    def _plain(self, status: HTTPStatus, text: str, with_body: bool) -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if with_body:
            self.wfile.write(body)


def make_server(root: Path, host: str = "127.0.0.1", port: int = 8080) -> ThreadingHTTPServer:
    """A server for ``root`` (port 0 picks a free port: ``server.server_address[1]``)."""
    handler = type("BoundFeedRequestHandler", (FeedRequestHandler,), {"root": Path(root)})
    return ThreadingHTTPServer((host, port), handler)
