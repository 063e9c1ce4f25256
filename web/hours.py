"""我的时长: a volunteer's own hours behind their personal link (approved and pending, the star
level, and the records behind them). Totals and levels come from ``scheduler.attendance.hours``,
the same as ``roster hours report``; nobody else's records are read."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, make_response, render_template
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from web import limiter
from web.cookie import remember_volunteer
from web.views import WEEKDAYS, _limit, _read, _volunteer

hours = Blueprint("hours", __name__)


def minutes_words(minutes: int | None) -> str:
    """``125`` -> ``2 小时 5 分钟``."""
    if minutes is None:
        return ""
    whole, rest = divmod(minutes, 60)
    return f"{whole} 小时 {rest} 分钟" if whole else f"{rest} 分钟"


@hours.get("/v/<token>/hours")
@limiter.limit(_limit)
def my_hours(token: str) -> Response:
    from scheduler.attendance.hours import hours_text, volunteer_hours

    def load(session: Session) -> dict[str, Any]:
        volunteer = _volunteer(session, token)
        mine = volunteer_hours(session, volunteer.id)
        records = []
        for record in mine.records:
            local = record.check_in.astimezone(ZoneInfo(record.timezone))
            records.append({"date": f"{local.year}年{local.month}月{local.day}日 周{WEEKDAYS[local.weekday()]}",
                            "time": f"{local:%H:%M}", "service": record.service,
                            "minutes": minutes_words(record.minutes), "status": record.status,
                            "status_label": record.status_label})
        upcoming = mine.next_star
        return {"name": volunteer.name, "approved": hours_text(mine.approved_minutes),
                "pending": hours_text(mine.pending_minutes), "star": mine.star, "records": records,
                "next_star": upcoming[0] if upcoming else "",
                "to_next": hours_text(upcoming[1]) if upcoming else ""}

    response = make_response(render_template("hours.html", token=token, **_read(load)))
    return remember_volunteer(response, token)
