"""Check-in by the venue's QR code (扫码签到/签退).

A coordinator prints a poster (``roster checkin-poster OCCURRENCE``) or opens a venue display
(``roster checkin-poster OCCURRENCE --display`` prints its address) whose QR code is
``{ROSTER_WEB_BASE_URL}/c/<code>``. The code needs no database row and cannot be forged: it is the
occurrence id and either the end of the check-in window (a poster) or the current 30-second slot
(a display, which shows a new code every slot), signed with itsdangerous under the app's key.

The window runs from ``ROSTER_EARLY_CHECKIN_MINUTES`` before the shift to ``ROSTER_OVERTIME_MINUTES``
after it. Outside it a code is refused with a plain Chinese reason; inside it, the check-in and
check-out go through ``scheduler.attendance`` exactly as ``roster checkin``/``checkout`` do (so its
review rules send unusual records to 待审核), recorded as made by ``web-qr``.

Who scans is known from the signed ``roster_v`` cookie the personal link sets (``web.cookie``):
``GET /c/<code>`` only shows one button (签到 or 签退), ``POST /c/<code>`` (CSRF) acts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from itsdangerous import BadSignature, URLSafeSerializer
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from scheduler.errors import RosterError
from scheduler.models import (
    Attendance,
    AttendanceMethod,
    AttendanceStatus,
    Occurrence,
    OccurrenceStatus,
    Visibility,
)
from scheduler.policy import OperationPolicy
from scheduler.settings import Settings
from web import limiter
from web.cookie import remembered_token
from web.views import _limit, _now, _read, _refusal, _settings, _write, when

checkin = Blueprint("checkin", __name__)

#: A venue display shows a new code every slot; a code is taken during its slot and the next.
SLOT_SECONDS = 30
#: ``recorded_by`` of a record the volunteer made by scanning.
SCANNED_BY = "web-qr"
_CODE_SALT = "roster.checkin-code"
_DISPLAY_SALT = "roster.checkin-display"
#: Where a private service (a home visit) takes place is a beneficiary's home: never on a poster.
PRIVATE_VENUE = "入户服务"


@dataclass(frozen=True)
class CheckinCode:
    """What a scanned code says: the occurrence, and until when (a poster) or which slot (a display)."""

    occurrence_id: int
    closes: datetime | None = None
    slot: int | None = None


def _serializer(secret: str, salt: str) -> URLSafeSerializer:
    # No timestamp of its own: a code says when it is valid (window end, or its 30-s slot), read
    # against the injected clock; the same slot always gives the same code.
    return URLSafeSerializer(secret, salt=salt)


def checkin_window(occurrence: Occurrence, policy: OperationPolicy) -> tuple[datetime, datetime]:
    """When the venue's code works: from the early check-in margin before the shift to the
    overtime margin after it (the margins of the attendance review, docs/hours.md)."""
    return (occurrence.start_at - timedelta(minutes=policy.early_checkin_minutes),
            occurrence.end_at + timedelta(minutes=policy.overtime_minutes))


def slot_of(moment: datetime) -> int:
    """The 30-second slot ``moment`` falls in (counted from the Unix epoch)."""
    return int(moment.timestamp()) // SLOT_SECONDS


def poster_code(secret: str, occurrence_id: int, closes: datetime) -> str:
    return _serializer(secret, _CODE_SALT).dumps({"o": occurrence_id, "e": int(closes.timestamp())})


def display_code(secret: str, occurrence_id: int, slot: int) -> str:
    return _serializer(secret, _CODE_SALT).dumps({"o": occurrence_id, "s": slot})


def display_key(secret: str, occurrence_id: int) -> str:
    """The key in a venue display's address: whoever has it sees the live code, so it goes to the
    coordinator only (the CLI prints it), never into a group message."""
    return _serializer(secret, _DISPLAY_SALT).dumps(occurrence_id)


def display_key_matches(secret: str, key: str, occurrence_id: int) -> bool:
    try:
        return bool(_serializer(secret, _DISPLAY_SALT).loads(key) == occurrence_id)
    except BadSignature:
        return False


def read_code(secret: str, code: str) -> CheckinCode | None:
    """The code's contents, or None when it was not signed by us (forged, altered, truncated)."""
    try:
        data = _serializer(secret, _CODE_SALT).loads(code)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("o"), int):
        return None
    if isinstance(data.get("e"), int):
        return CheckinCode(data["o"], closes=datetime.fromtimestamp(data["e"], UTC))
    if isinstance(data.get("s"), int):
        return CheckinCode(data["o"], slot=data["s"])
    return None


def code_refusal(code: CheckinCode, occurrence: Occurrence, now: datetime, policy: OperationPolicy) -> str | None:
    """Why this code does not work now (plain Chinese for the volunteer), or None."""
    tz = ZoneInfo(occurrence.service.timezone)
    if occurrence.status == OccurrenceStatus.CANCELLED:
        return "本场次已取消，不能签到。"
    opens, closes = checkin_window(occurrence, policy)
    if now < opens:
        local = opens.astimezone(tz)
        return f"还没到签到时间：本场次 {local.month}月{local.day}日 {local:%H:%M} 起可以扫码签到。"
    if now > closes or (code.closes is not None and now > code.closes):
        local = min(closes, code.closes or closes).astimezone(tz)
        return (f"签到时间已过（{local.month}月{local.day}日 {local:%H:%M} 截止），这个二维码已失效。"
                "如需补签或签退，请联系协调人。")
    # The slot shown and the next one: the time to scan and tap; one back for a worker's clock ahead.
    if code.slot is not None and not -1 <= slot_of(now) - code.slot <= 1:
        return "二维码已更新：请重新扫描现场屏幕上的二维码。"
    return None


def qr_svg(url: str, scale: int = 8) -> Markup:
    """An inline SVG QR code with its 4-module quiet zone (ISO/IEC 18004), sized by the page's CSS."""
    import segno

    code = segno.make(url, error="m")
    width, height = code.symbol_size(scale=scale, border=4)
    svg = str(code.svg_inline(scale=scale, border=4, omitsize=True, title=url))
    return Markup(svg.replace("<svg ", f'<svg class="qr" width="{width}" height="{height}" ', 1))


def _facts(occurrence: Occurrence, policy: OperationPolicy) -> dict[str, Any]:
    """What a poster, a display and the scan page say about the shift: nothing about anyone."""
    service = occurrence.service
    tz = ZoneInfo(service.timezone)
    opens, closes = checkin_window(occurrence, policy)
    return {
        "occurrence_id": occurrence.id, "title": service.title,
        "venue": PRIVATE_VENUE if service.visibility == Visibility.PRIVATE else service.venue,
        "when": when(occurrence.start_at, occurrence.end_at, service.timezone),
        "opens": f"{opens.astimezone(tz):%H:%M}", "closes": f"{closes.astimezone(tz):%H:%M}",
        "closes_at": closes,
    }


def poster_facts(session: Session, occurrence_id: int | str, policy: OperationPolicy,
                 now: datetime) -> dict[str, Any]:
    """The shift a poster is for; refused for a cancelled shift or a window already over."""
    from scheduler.errors import Conflict
    from scheduler.i18n import _
    from scheduler.planning.occurrences import get_occurrence

    occurrence = get_occurrence(session, occurrence_id)
    if occurrence.status == OccurrenceStatus.CANCELLED:
        raise Conflict(_("occurrence: #{id} was cancelled; nobody can check in").format(id=occurrence.id))
    facts = _facts(occurrence, policy)
    if now > facts["closes_at"]:
        raise Conflict(_("occurrence: #{id}'s check-in window closed at {closes}").format(
            id=occurrence.id, closes=facts["closes_at"].isoformat()))
    return facts


def poster_html(settings: Settings, facts: dict[str, Any]) -> str:
    """The printable A4 poster (HTML, Chinese) with the shift's code."""
    from web import create_app, secret_key

    url = f"{settings.web_base_url}/c/{poster_code(secret_key(settings), facts['occurrence_id'], facts['closes_at'])}"
    app = create_app(settings)
    with app.app_context():
        return render_template("poster.html", qr=qr_svg(url, scale=10), url=url, **facts)


def display_url(settings: Settings, occurrence_id: int) -> str:
    from web import secret_key

    return f"{settings.web_base_url}/display/{occurrence_id}/{display_key(secret_key(settings), occurrence_id)}"


# --------------------------------------------------------------------------- routes


def _secret() -> str:
    secret: str = current_app.config["SECRET_KEY"]
    return secret


def _refused(title: str, text: str, status: int = 400) -> tuple[str, int]:
    return render_template("message.html", title=title, text=text), status


_FORGED = ("签到码无效", "这不是本系统的签到二维码，或已被改动。请扫描现场张贴或屏幕上的二维码。")


class _CodeRefused(Exception):
    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def _open_record(session: Session, volunteer_id: int, occurrence_id: int | None = None) -> Attendance | None:
    """The volunteer's open check-in (at this occurrence, or anywhere)."""
    query = select(Attendance).where(Attendance.volunteer_id == volunteer_id,
                                     Attendance.status == AttendanceStatus.OPEN)
    if occurrence_id is not None:
        query = query.where(Attendance.occurrence_id == occurrence_id)
    return session.scalar(query.order_by(Attendance.id).limit(1))


def _occurrence(session: Session, code: CheckinCode) -> Occurrence:
    occurrence = session.get(Occurrence, code.occurrence_id)
    if occurrence is None:
        abort(404)
    return occurrence


@checkin.get("/c/<code>")
@limiter.limit(_limit)
def scan(code: str) -> str | tuple[str, int]:
    """The page a scan opens: one button, 签到 or 签退 (a GET changes nothing)."""
    from scheduler.volunteers import volunteer_by_web_token

    parsed = read_code(_secret(), code)
    if parsed is None:
        return _refused(*_FORGED)
    now, policy, token = _now(), _settings().policy(), remembered_token()

    def load(session: Session) -> dict[str, Any]:
        occurrence = _occurrence(session, parsed)
        volunteer = volunteer_by_web_token(session, token) if token else None
        current = _open_record(session, volunteer.id, occurrence.id) if volunteer else None
        since = current.check_in.astimezone(ZoneInfo(occurrence.service.timezone)) if current else None
        return {"refusal": code_refusal(parsed, occurrence, now, policy), "shift": _facts(occurrence, policy),
                "name": volunteer.name if volunteer else None, "checked_in": f"{since:%H:%M}" if since else None}

    page = _read(load)
    if page["refusal"]:
        return _refused("无法签到", page["refusal"])
    return render_template("checkin_scan.html", code=code, **page)


@checkin.post("/c/<code>")
@limiter.limit(_limit)
def scan_act(code: str) -> Response | tuple[str, int]:
    """签到 or 签退 (the form's ``action``: a second tap of the same button changes nothing)."""
    from scheduler import attendance
    from scheduler.volunteers import volunteer_by_web_token

    parsed = read_code(_secret(), code)
    if parsed is None:
        return _refused(*_FORGED)
    action = request.form.get("action", "")
    if action not in ("in", "out"):
        return _refused("无法签到", "请求不完整：action（签到或签退）。请重新扫码。")
    token = remembered_token()
    now, policy = _now(), _settings().policy()

    def work(session: Session) -> str:
        occurrence = _occurrence(session, parsed)
        refusal = code_refusal(parsed, occurrence, now, policy)
        if refusal:
            raise _CodeRefused(refusal)
        volunteer = volunteer_by_web_token(session, token) if token else None
        if volunteer is None:
            raise _CodeRefused("请先打开协调人发给您的个人链接一次，再扫码签到。")
        tz = ZoneInfo(occurrence.service.timezone)
        current = _open_record(session, volunteer.id, occurrence.id)
        if action == "in":
            if current is not None:
                return f"您已于 {current.check_in.astimezone(tz):%H:%M} 签到，无需重复签到。"
            if _open_record(session, volunteer.id) is not None:
                return "您在另一场次还没有签退，请先在那里签退，或联系协调人。"
            record = attendance.checkin(session, str(volunteer.id), occurrence.id, by=SCANNED_BY, now=now,
                                        method=AttendanceMethod.WEB_QR)
            return f"签到成功（{record.check_in.astimezone(tz):%H:%M}）。离开时请再扫一次码签退。"
        if current is None:
            return "您还没有在本场次签到，无需签退。"
        record = attendance.checkout(session, str(volunteer.id), occurrence.id, by=SCANNED_BY, now=now,
                                     policy=policy, method=AttendanceMethod.WEB_QR)
        spent = attendance.minutes_text(record.minutes).replace(" h ", " 小时 ").replace(" min", " 分钟")
        if record.status == AttendanceStatus.PENDING_APPROVAL:
            return f"签退成功，本次 {spent}。时长超出常规，协调人审核后计入。"
        return f"签退成功，本次服务 {spent}，已计入时长。感谢您！"

    try:
        flash(_write(work), "ok")
    except _CodeRefused as refused:
        return _refused("无法签到", refused.text)
    except RosterError as exc:
        flash(_refusal(exc), "error")
    assert token is not None  # work refused a missing one
    return redirect(url_for("hours.my_hours", token=token))


@checkin.get("/display/<int:occurrence_id>/<key>")
@limiter.limit(_limit)
def display(occurrence_id: int, key: str) -> str:
    """The venue display: the shift and a code that changes every 30 s (the page reloads itself)."""
    secret = _secret()
    if not display_key_matches(secret, key, occurrence_id):
        abort(404)
    now, settings = _now(), _settings()
    policy = settings.policy()

    def load(session: Session) -> dict[str, Any]:
        occurrence = _occurrence(session, CheckinCode(occurrence_id))
        slot = slot_of(now)
        return {"shift": _facts(occurrence, policy), "slot": slot,
                "refusal": code_refusal(CheckinCode(occurrence_id, slot=slot), occurrence, now, policy)}

    page = _read(load)
    qr = None
    if not page["refusal"]:
        qr = qr_svg(f"{settings.web_base_url}/c/{display_code(secret, occurrence_id, page['slot'])}", scale=8)
    # Reload just after the next slot begins, so the screen and the codes stay in step.
    refresh = SLOT_SECONDS - int(now.timestamp()) % SLOT_SECONDS + 1
    return render_template("checkin_display.html", qr=qr, refresh=refresh, **page)
