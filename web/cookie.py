"""The volunteer cookie (``roster_v``): who is scanning the venue's check-in code.

Opening the personal link (``GET /v/<token>``) leaves the token in a signed, HttpOnly cookie, so
that a scan of the venue's QR code (``/c/<code>``, the same for everyone at the venue) knows whose
check-in it is. It is signed with the app's key (a forged or altered cookie is ignored), HttpOnly,
SameSite=Lax and Secure behind https; a rotated token in it no longer finds anyone.
"""

from __future__ import annotations

from flask import current_app, request
from itsdangerous import BadSignature, URLSafeSerializer
from werkzeug.wrappers import Response

VOLUNTEER_COOKIE = "roster_v"
#: Long enough to cover a season of shifts; opening the link again renews it.
COOKIE_MAX_AGE = 180 * 24 * 3600


def _signer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="roster.volunteer-cookie")


def remember_volunteer(response: Response, token: str) -> Response:
    """Set the signed cookie carrying the volunteer's personal token on ``response``."""
    response.set_cookie(VOLUNTEER_COOKIE, _signer().dumps(token), max_age=COOKIE_MAX_AGE, path="/",
                        httponly=True, samesite="Lax", secure=bool(current_app.config["SESSION_COOKIE_SECURE"]))
    return response


def remembered_token() -> str | None:
    """The personal token from the request's cookie, or None (absent, forged or altered)."""
    raw = request.cookies.get(VOLUNTEER_COOKIE)
    if not raw:
        return None
    try:
        token = _signer().loads(raw)
    except BadSignature:
        return None
    return token if isinstance(token, str) else None
