"""满意度评价: the public page behind a service's QR code at its venue (``roster feedback poster``).

``/r/<key>``: the key is the service id signed with the web secret (itsdangerous), so a key cannot
be guessed or altered, and a poster keeps working as long as the secret does. Anyone may rate; no one
is asked who they are. Limits: one rating per service per device per 12 hours (a signed cookie that
holds only service ids and times), and 5 posts an hour per client (the app's ``ROSTER_RATING_LIMIT``
setting, a Flask-Limiter string), a client being a keyed hash of its address and browser (Flask-Limiter), so that visitors behind one
venue's Wi-Fi do not share one allowance. The rating stores that hash, never the address.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from scheduler.errors import InvalidInput, NotFound, RosterError
from scheduler.settings import Settings
from web import limiter
from web.views import _limit, _now, _read, _refusal, _settings, _write

feedback = Blueprint("feedback", __name__)

#: A device rates a service once in this many seconds.
RATE_AGAIN_AFTER = 12 * 3600
RATED_COOKIE = "roster_rated"
_KEY_SALT = "roster.feedback.service"
_COOKIE_SALT = "roster.feedback.rated"
STAR_WORDS = {5: "非常满意", 4: "满意", 3: "一般", 2: "不太满意", 1: "不满意"}


def service_key(secret: str, service_id: int) -> str:
    """The signed key of a service's rating page (``/r/<key>``)."""
    return str(URLSafeSerializer(secret, salt=_KEY_SALT).dumps(service_id))


def service_of_key(secret: str, key: str) -> int | None:
    """The service id a key was signed for; None for anything else."""
    if len(key) > 100:
        return None
    try:
        value = URLSafeSerializer(secret, salt=_KEY_SALT).loads(key)
    except BadSignature:
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def rating_url(base_url: str, secret: str, service_id: int) -> str:
    return f"{base_url.rstrip('/')}/r/{service_key(secret, service_id)}"


def _secret() -> str:
    return str(current_app.config["SECRET_KEY"])


def _rating_limit() -> str:
    return str(current_app.config.get("ROSTER_RATING_LIMIT", "5 per hour"))


def _client() -> str:
    from scheduler.feedback import client_hash

    return client_hash(_secret(), request.remote_addr or "", request.headers.get("User-Agent", "")[:300])


def _service_id(key: str) -> int:
    service_id = service_of_key(_secret(), key)
    if service_id is None:
        abort(404)
    return service_id


def _rated(now: float) -> dict[str, int]:
    """service id -> when this device rated it, for the ratings still inside the 12 hours."""
    raw = request.cookies.get(RATED_COOKIE)
    if not raw:
        return {}
    try:
        data = URLSafeSerializer(_secret(), salt=_COOKIE_SALT).loads(raw)
    except BadSignature:
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): int(t) for k, t in data.items()
            if isinstance(t, int) and now - RATE_AGAIN_AFTER < t <= now + 60}


@feedback.get("/r/<key>")
@limiter.limit(_limit)
def rate_form(key: str) -> str:
    """The rating page: the service's public facts, five choices, an optional comment."""
    from scheduler.feedback import public_venue, rateable_service

    service_id = _service_id(key)

    def load(session: Session) -> dict[str, Any]:
        try:
            service = rateable_service(session, service_id)
        except NotFound:
            abort(404)
        return {"title": service.title, "venue": public_venue(service)}

    done = str(service_id) in _rated(_now().timestamp())
    return render_template("feedback.html", key=key, service=_read(load), done=done, stars=STAR_WORDS,
                           max_comment=200)


@feedback.post("/r/<key>")
@limiter.limit(_limit)
@limiter.limit(_rating_limit, key_func=_client)
def rate(key: str) -> Response:
    """Store one rating, then back to the page (which now thanks instead of asking)."""
    from scheduler.feedback import record_rating

    service_id = _service_id(key)
    now = _now()
    rated = _rated(now.timestamp())
    back = redirect(url_for("feedback.rate_form", key=key))
    if str(service_id) in rated:
        flash("您已评价过这项服务，12 小时内只能评价一次。谢谢！", "ok")
        return back
    stars, comment, client = request.form.get("stars", ""), request.form.get("comment", ""), _client()

    def work(session: Session) -> None:
        record_rating(session, service_id, stars, comment, client, now)

    try:
        _write(work)
    except NotFound:
        abort(404)
    except InvalidInput as exc:
        flash(_wording(exc), "error")
        return back
    except RosterError as exc:
        flash(_refusal(exc), "error")
        return back
    flash("感谢您的评价！", "ok")
    rated[str(service_id)] = int(now.timestamp())
    settings = _settings()
    back.set_cookie(RATED_COOKIE, URLSafeSerializer(_secret(), salt=_COOKIE_SALT).dumps(rated),
                    max_age=RATE_AGAIN_AFTER, path="/r/", httponly=True, samesite="Lax",
                    secure=settings.web_base_url.startswith("https://"))
    return back


def _wording(exc: InvalidInput) -> str:
    if exc.field == "stars":
        return "请选择 1 到 5 颗星。"
    if exc.field == "comment" and "characters long" in exc.problem:
        return "留言最多 200 字。"
    if exc.field == "comment" and "direction control" in exc.problem:
        return "留言中有看不见的排版控制字符，请删掉后再试。"
    if exc.field == "comment":  # scheduler.privacy refused it
        return "留言中请不要写电话号码、身份证号、邮箱或姓名。"
    return _refusal(exc)


# --------------------------------------------------------------------------- the poster


def qr_svg(url: str, scale: int = 10) -> Any:
    """An inline SVG QR code (segno) with its 4-module quiet zone, sized by the page's CSS."""
    import segno
    from markupsafe import Markup

    code = segno.make(url, error="m")
    width, height = code.symbol_size(scale=scale, border=4)
    svg = str(code.svg_inline(scale=scale, border=4, omitsize=True))
    return Markup(svg.replace("<svg ", f'<svg class="qr" width="{width}" height="{height}" ', 1))


def poster_html(settings: Settings, service_id: int, title: str, venue: str) -> str:
    """The printable A4 poster (HTML, Chinese) with the QR code of the service's rating page."""
    from web import create_app, secret_key

    url = rating_url(settings.web_base_url, secret_key(settings), service_id)
    app = create_app(settings)
    with app.app_context():
        return render_template("feedback_poster.html", qr=qr_svg(url), url=url, title=title, venue=venue)
