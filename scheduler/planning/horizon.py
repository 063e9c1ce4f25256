"""The planning horizon's warning: while the occurrences planned ahead reach a year without official
holiday data (planned provisionally), every coordinator is told once a day, through the same
once-per-period notices as the weekly digest (:mod:`scheduler.reminders.digest`)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.db import utcnow
from scheduler.messages import horizon_warning_text
from scheduler.messages.channels import ChannelSet
from scheduler.models import Coordinator
from scheduler.planning.holidays import HolidayCalendar
from scheduler.reminders.digest import NoticeResult, already_notified, lock_notices, notify_coordinator


def years_without_holiday_data(session: Session, today: date, horizon_weeks: int) -> list[int]:
    """Years the planning horizon reaches that have neither loaded nor packaged official data."""
    calendar = HolidayCalendar.from_session(session)
    last = today + timedelta(weeks=horizon_weeks)
    return [year for year in range(today.year, last.year + 1) if calendar.schedule(year) is None]


def send_horizon_warning(session: Session, channels: ChannelSet, today: date, horizon_weeks: int,
                         now: datetime | None = None) -> NoticeResult:
    """Warn every coordinator, once a day, while the horizon reaches years without official data."""
    now = now or utcnow()
    years = years_without_holiday_data(session, today, horizon_weeks)
    result = NoticeResult(detail={"years": years})
    if not years:
        return result
    lock_notices(session)
    period = today.isoformat()
    done = already_notified(session, "horizon.warned", now - timedelta(days=2))
    message = horizon_warning_text(years, (today + timedelta(weeks=horizon_weeks)).isoformat())
    for coordinator in session.scalars(select(Coordinator).order_by(Coordinator.id)):
        if (coordinator.id, period) in done:
            result.skipped += 1
            continue
        notify_coordinator(session, channels, coordinator, "horizon.warned", period, message.subject, message.body,
                           now, result)
    return result
