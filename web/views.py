"""The pages behind a volunteer's personal link: my shifts, seats I can take, hand over.

Every route takes the token first and answers 404 for anything it does not know; every change is
a POST with a CSRF token, made in one transaction by the same operations as the CLI, then a
redirect to a page that only reads (post/redirect/get).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from scheduler.db import engine_for, run_in_transaction, run_read, utcnow
from scheduler.errors import (
    CapacityFull,
    CheckRefused,
    Conflict,
    DatabaseBusy,
    InvalidInput,
    NotFound,
    RosterError,
)
from scheduler.models import Assignment, Volunteer
from scheduler.settings import Settings
from web import limiter
from web.cookie import remember_volunteer

T = TypeVar("T")
pages = Blueprint("pages", __name__)

WEEKDAYS = "一二三四五六日"
STATUS_WORDS = {"invited": "待确认", "confirmed": "已确认", "waitlisted": "候补"}
#: Cards on the seats page (可报名): free seats and full roles, and with "more" (``?more=1``). A
#: page of 20 + 10 cards stays small and quick (bench/bench_web.py); the rest are a tap away.
FREE_PAGE, FULL_PAGE, FREE_MORE, FULL_MORE = 20, 10, 60, 30


def _settings() -> Settings:
    settings: Settings = current_app.config["ROSTER_SETTINGS"]
    return settings


def _engine() -> Engine:
    settings = _settings()
    return engine_for(settings.database_url, settings.lock_timeout)


def _limit() -> str:
    return _settings().web_rate_limit


def _now() -> datetime:
    clock: Callable[[], datetime] | None = current_app.config.get("ROSTER_CLOCK")
    return clock() if clock is not None else utcnow()


def _read(work: Callable[[Session], T]) -> T:
    return run_read(_engine(), work)


def _write(work: Callable[[Session], T]) -> T:
    return run_in_transaction(_engine(), work, via="web")


def _volunteer(session: Session, token: str) -> Volunteer:
    from scheduler.volunteers import volunteer_by_web_token

    volunteer = volunteer_by_web_token(session, token)
    if volunteer is None:
        abort(404)
    return volunteer


def _own(session: Session, token: str, assignment_id: int) -> tuple[Volunteer, Assignment]:
    volunteer = _volunteer(session, token)
    assignment = session.get(Assignment, assignment_id)
    if assignment is None or assignment.volunteer_id != volunteer.id:
        abort(404)
    return volunteer, assignment


def when(start: datetime, end: datetime, timezone: str) -> str:
    """``12月7日 周一 16:30-18:30`` in the service's zone."""
    tz = ZoneInfo(timezone)
    local, stop = start.astimezone(tz), end.astimezone(tz)
    return f"{local.month}月{local.day}日 周{WEEKDAYS[local.weekday()]} {local:%H:%M}-{stop:%H:%M}"


def _refusal(exc: RosterError) -> str:
    """What a volunteer reads: plain Chinese, no ids, no one else's details."""
    if isinstance(exc, CapacityFull):
        return "名额已满：刚刚被别人报走了。您可以报名候补。"
    if isinstance(exc, CheckRefused):
        return "不符合该岗位的报名条件（技能、时间、请假日期或每月时长上限）。"
    if isinstance(exc, DatabaseBusy):
        return "系统繁忙，请稍后再试。"
    if isinstance(exc, InvalidInput):
        return f"填写有误：{exc.field}。"
    if isinstance(exc, NotFound):
        return "没有找到对应的志愿者或场次。"
    if isinstance(exc, Conflict):
        return "这个班次的状态已经变了，请刷新后查看。"
    return "操作没有完成，请稍后再试。"


def _act(token: str, work: Callable[[Session], str], back: str = "pages.shifts",
         refused: str | None = None) -> Response:
    """Run ``work`` in one transaction; flash its message, or the refusal; go to ``back`` (or to
    ``refused`` after a refusal)."""
    try:
        flash(_write(work), "ok")
    except RosterError as exc:
        flash(_refusal(exc), "error")
        return redirect(url_for(refused or back, token=token))
    return redirect(url_for(back, token=token))


@pages.get("/healthz")
def healthz() -> tuple[str, int]:
    return "ok", 200


@pages.get("/v/<token>")
@limiter.limit(_limit)
def shifts(token: str) -> Response:
    """我的排班: coming shifts, and shifts offered to me. Leaves the signed ``roster_v`` cookie that
    tells the venue's check-in code who is scanning (web.cookie)."""
    from scheduler.rosters.open_seats import handovers_for, my_shifts

    now = _now()

    def load(session: Session) -> dict[str, Any]:
        volunteer = _volunteer(session, token)
        # Plain columns, one query each for my shifts and the shifts offered to me (bench/bench_web.py).
        rows = [{"id": shift.assignment_id, "title": shift.title, "role": shift.role, "venue": shift.venue,
                 "status": shift.status, "status_word": STATUS_WORDS.get(shift.status, shift.status),
                 "when": when(shift.start, shift.end, shift.timezone), "begun": shift.start <= now,
                 "offered": shift.offered, "waitlist_pos": shift.waitlist_pos}
                for shift in my_shifts(session, volunteer, now)]
        offered = [{"id": shift.assignment_id, "title": shift.title, "role": shift.role, "venue": shift.venue,
                    "when": when(shift.start, shift.end, shift.timezone)}
                   for shift in handovers_for(session, volunteer, now)]
        return {"name": volunteer.name, "shifts": rows, "offered": offered}

    return remember_volunteer(make_response(render_template("shifts.html", token=token, **_read(load))), token)


@pages.get("/v/<token>/open")
@limiter.limit(_limit)
def open_list(token: str) -> str:
    """可报名: open seats of my branch, then my community, that I may take."""
    from scheduler.rosters.open_seats import open_seats

    now = _now()

    more = request.args.get("more") == "1"
    free_limit, full_limit = (FREE_MORE, FULL_MORE) if more else (FREE_PAGE, FULL_PAGE)

    def load(session: Session) -> dict[str, Any]:
        volunteer = _volunteer(session, token)
        # One more than shown of each: whether a "more" link is worth offering.
        free, full = open_seats(session, volunteer, now, limit=free_limit + 1, full_limit=full_limit + 1)

        def view(seat: Any) -> dict[str, Any]:
            return {"occurrence_id": seat.occurrence_id, "role_id": seat.role_id, "title": seat.title,
                    "role": seat.role, "venue": seat.venue, "free": seat.free,
                    "tier": "本支部" if seat.tier == "branch" else "本社区",
                    "when": when(seat.start, seat.end, seat.timezone)}

        return {"free": [view(s) for s in free[:free_limit]], "full": [view(s) for s in full[:full_limit]],
                "more": not more and (len(free) > free_limit or len(full) > full_limit)}

    return render_template("open.html", token=token, **_read(load))


@pages.post("/v/<token>/claim/<int:occurrence_id>/<int:role_id>")
@limiter.limit(_limit)
def claim(token: str, occurrence_id: int, role_id: int) -> Response:
    """Take an open seat (or, with waitlist=1, join the full role's waitlist)."""
    from scheduler import rosters
    from scheduler.models import Role

    waitlist = request.form.get("waitlist") == "1"
    now = _now()

    def work(session: Session) -> str:
        from scheduler.models import Occurrence

        volunteer = _volunteer(session, token)
        role = session.get(Role, role_id)
        occurrence = session.get(Occurrence, occurrence_id)
        if role is None or occurrence is None or occurrence.service_id != role.service_id:
            raise NotFound("seat", occurrence_id)
        assignment = rosters.assign(session, str(volunteer.id), occurrence_id, role.name, waitlist=waitlist,
                                    now=now, policy=_settings().policy())
        if assignment.status == "waitlisted":
            return f"已报名候补（第 {assignment.waitlist_pos} 位）。有空位时会通知您。"
        return "报名成功！请在「我的排班」中确认。"

    # Refused (the last seat just went, a check failed): back to the seats, where a full role
    # offers its waitlist.
    return _act(token, work, refused="pages.open_list")


@pages.post("/v/<token>/s/<int:assignment_id>/confirm")
@limiter.limit(_limit)
def confirm(token: str, assignment_id: int) -> Response:
    from scheduler import rosters

    now = _now()

    def work(session: Session) -> str:
        _own(session, token, assignment_id)
        rosters.confirm(session, assignment_id, now=now, policy=_settings().policy())
        return "已确认，感谢您！"

    return _act(token, work)


@pages.get("/v/<token>/s/<int:assignment_id>/decline")
@limiter.limit(_limit)
def decline_form(token: str, assignment_id: int) -> str:
    """A page with one button (a link a message app fetches changes nothing)."""
    def load(session: Session) -> dict[str, Any]:
        _, assignment = _own(session, token, assignment_id)
        occurrence = assignment.occurrence
        return {"id": assignment.id, "title": occurrence.service.title, "role": assignment.role.name,
                "when": when(occurrence.start_at, occurrence.end_at, occurrence.service.timezone)}

    return render_template("decline.html", token=token, shift=_read(load))


@pages.post("/v/<token>/s/<int:assignment_id>/decline")
@limiter.limit(_limit)
def decline(token: str, assignment_id: int) -> Response:
    from scheduler import rosters

    reason = request.form.get("reason", "").strip() or None
    now = _now()

    def work(session: Session) -> str:
        _own(session, token, assignment_id)
        result = rosters.decline_shift(session, assignment_id, reason, now=now, policy=_settings().policy())
        return "已请假。" + ("候补志愿者已补上您的位置。" if result.promoted else "")

    return _act(token, work)


@pages.post("/v/<token>/s/<int:assignment_id>/handover")
@limiter.limit(_limit)
def handover(token: str, assignment_id: int) -> Response:
    from scheduler.rosters.open_seats import offer_handover

    phone = request.form.get("phone", "")
    now = _now()

    def work(session: Session) -> str:
        _, assignment = _own(session, token, assignment_id)
        offer_handover(session, assignment, phone, now)
        return "已发出转让邀请；对方在自己的页面接受后，班次即转给对方。"

    return _act(token, work)


@pages.post("/v/<token>/s/<int:assignment_id>/withdraw")
@limiter.limit(_limit)
def withdraw(token: str, assignment_id: int) -> Response:
    from scheduler.rosters.open_seats import withdraw_handover

    def work(session: Session) -> str:
        _, assignment = _own(session, token, assignment_id)
        return "已撤回转让。" if withdraw_handover(session, assignment) else "没有待接受的转让。"

    return _act(token, work)


@pages.post("/v/<token>/accept/<int:assignment_id>")
@limiter.limit(_limit)
def accept(token: str, assignment_id: int) -> Response:
    from scheduler.rosters.open_seats import accept_handover

    now = _now()

    def work(session: Session) -> str:
        volunteer = _volunteer(session, token)
        accept_handover(session, assignment_id, volunteer, now, _settings().policy())
        return "已接受转让，班次已转到您的名下。"

    return _act(token, work)
