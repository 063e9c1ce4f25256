"""The volunteer pages (志愿者页面): a phone page behind each volunteer's personal link.

``create_app(settings)`` builds the Flask application; ``roster web`` serves it on the embedded
default, gunicorn in production (``docker-compose.yml``'s ``web`` service, behind nginx). Stateless:
the data is in the database, the session cookie only carries the CSRF token, signed with
ROSTER_WEB_SECRET (or a key kept in ROSTER_HOME), so any number of workers serve any request.

Rules (the issue's "Security and bad input"): a GET never changes anything (message apps fetch
links ahead of the person); every form carries a CSRF token (Flask-WTF); token lookups are rate
limited per client (Flask-Limiter, ROSTER_WEB_RATE_LIMIT); an unknown, rotated or malformed token
gets the same 404 as a missing page; no resource from another host; no other volunteer's name or
phone, counts only; every change goes through the same domain operations as the CLI, in one
transaction, and its events say ``"via": "web"``.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from flask import Flask, render_template
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from scheduler.settings import Settings

limiter = Limiter(get_remote_address, default_limits=[], headers_enabled=False)
csrf = CSRFProtect()


def secret_key(settings: Settings) -> str:
    """ROSTER_WEB_SECRET, else a random key made once and kept in ROSTER_HOME/web-secret (0600)."""
    if settings.web_secret:
        return settings.web_secret
    path = Path(settings.home) / "web-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32))
    return path.read_text().strip()


def create_app(settings: Settings | None = None, **overrides: Any) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=secret_key(settings),
        ROSTER_SETTINGS=settings,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.web_base_url.startswith("https://"),
        SESSION_COOKIE_NAME="roster",
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session cookie
        WTF_CSRF_SSL_STRICT=False,  # behind nginx the Referer check would need the proxied scheme
        RATELIMIT_STORAGE_URI=settings.web_limiter_storage,
        MAX_CONTENT_LENGTH=16 * 1024,
        TEMPLATES_AUTO_RELOAD=False,
    )
    app.config.update(overrides)
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]
    csrf.init_app(app)
    limiter.init_app(app)

    from web.views import pages

    app.register_blueprint(pages)
    from web.feedback import feedback

    app.register_blueprint(feedback)
    from web.checkin import checkin
    from web.hours import hours

    app.register_blueprint(checkin)
    app.register_blueprint(hours)

    @app.get("/favicon.ico")
    def favicon() -> tuple[str, int, dict[str, str]]:
        """Browsers (and WeChat's) ask for it whatever the page says: nothing, for a day, instead of
        a 404 page for every visit in the logs. The pages name no icon (``<link rel="icon" href="data:,">``)."""
        return "", 204, {"Cache-Control": "public, max-age=86400"}

    @app.errorhandler(404)
    def not_found(_: Exception) -> tuple[str, int]:
        return render_template("message.html", title="页面不存在",
                               text="链接无效或已失效。请使用协调人最新发给您的链接。"), 404

    @app.errorhandler(CSRFError)
    def bad_csrf(_: CSRFError) -> tuple[str, int]:
        return render_template("message.html", title="页面已过期", text="请返回上一页，刷新后再试一次。"), 400

    @app.errorhandler(429)
    def too_many(_: Exception) -> tuple[str, int]:
        return render_template("message.html", title="请稍后再试", text="操作太频繁，请稍后再试。"), 429

    @app.after_request
    def headers(response: Any) -> Any:
        # Nothing from another host; no framing; no caching of a personal page.
        response.headers.setdefault("Content-Security-Policy",
                                    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                                    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    return app
