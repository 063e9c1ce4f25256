"""A year's official holiday schedule loaded into the database, and the holiday status of the horizon.

Loading a year re-plans the occurrences it affects, so this sits above both the calendar
(``scheduler.planning.holidays``) and the planner (``scheduler.planning``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from scheduler.db import utcnow
from scheduler.events import record_event
from scheduler.models import HolidayDay, HolidayDayKind, HolidayYear, Occurrence, OccurrenceStatus
from scheduler.planning import PlanResult, plan, policy_service_ids, utc_bounds
from scheduler.planning.holidays import (
    _PACKAGE_YEARS,
    SOURCE_PACKAGE,
    HolidayCalendar,
    YearSchedule,
    parse_schedule,
)
from scheduler.policy import DEFAULT_POLICY, OperationPolicy


@dataclass
class LoadResult:
    year: int
    rest_days: int
    makeup_workdays: int
    replaced: bool
    plan: PlanResult
    #: Dates whose standing (rest day, make-up workday, name) the load changes, against what the planner
    #: knew before (a loaded schedule, else the package's): ``{"date", "kind", "name", "was"}``.
    days_changed: list[dict[str, Any]] = field(default_factory=list)


def _day_changes(before: YearSchedule | None, rest: dict[date, str], work: dict[date, str]) -> list[dict[str, Any]]:
    old: dict[date, tuple[str, str]] = {}
    if before is not None:
        old = {d: (HolidayDayKind.REST, n) for d, n in before.rest.items()}
        old.update({d: (HolidayDayKind.WORKDAY, n) for d, n in before.workdays.items()})
    new = {d: (HolidayDayKind.REST, n) for d, n in rest.items()}
    new.update({d: (HolidayDayKind.WORKDAY, n) for d, n in work.items()})
    changes: list[dict[str, Any]] = []
    for day in sorted(set(old) | set(new)):
        if old.get(day) == new.get(day):
            continue
        kind, name = new.get(day, (None, None))
        was = old.get(day)
        changes.append({"date": day.isoformat(), "kind": kind, "name": name,
                        "was": {"kind": was[0], "name": was[1]} if was else None})
    return changes


def load_year(session: Session, text: str, source: str = "", today: date | None = None,
              horizon_weeks: int = 12, now: datetime | None = None, policy: OperationPolicy = DEFAULT_POLICY) -> LoadResult:
    """Store a year's official schedule (replacing any loaded before), then re-plan affected occurrences.

    Re-planning cancels occurrences that no longer fall on allowed days (telling assigned volunteers),
    adds those that now do (make-up workdays), and clears the provisional mark of the year's dates.
    """
    parsed = parse_schedule(text)
    year = parsed.year
    replaced = session.get(HolidayYear, year) is not None
    days_changed = _day_changes(HolidayCalendar.from_session(session).schedule(year), parsed.rest, parsed.workdays)
    session.execute(delete(HolidayDay).where(HolidayDay.year == year))
    session.add_all(
        [HolidayDay(day=d, year=year, kind=HolidayDayKind.REST, name=n) for d, n in sorted(parsed.rest.items())]
        + [HolidayDay(day=d, year=year, kind=HolidayDayKind.WORKDAY, name=n) for d, n in sorted(parsed.workdays.items())]
    )
    row = session.get(HolidayYear, year)
    label = (parsed.source or source)[:300]
    if row is None:
        session.add(HolidayYear(year=year, source=label, loaded_at=now or utcnow()))
    else:
        row.source = label
        row.loaded_at = now or utcnow()
    session.flush()
    record_event(session, "holidays.loaded", year=year, rest_days=len(parsed.rest),
                 makeup_workdays=len(parsed.workdays))
    today = today or (now or utcnow()).date()
    result = plan(session, today, horizon_weeks, service_ids=policy_service_ids(session), now=now, policy=policy)
    return LoadResult(year, len(parsed.rest), len(parsed.workdays), replaced, result, days_changed)


def holiday_status(session: Session, today: date, horizon_weeks: int = 12) -> dict[str, Any]:
    """Which years are covered (and by what), which dates within the horizon are provisional."""
    calendar = HolidayCalendar.from_session(session)
    last = today + timedelta(weeks=horizon_weeks) - timedelta(days=1)
    loaded = {row.year: row for row in session.scalars(select(HolidayYear))}
    years: list[dict[str, Any]] = []
    for year in sorted(set(_PACKAGE_YEARS) | set(loaded) | set(range(today.year, last.year + 1))):
        schedule = calendar.schedule(year)
        entry: dict[str, Any] = {"year": year, "source": schedule.source if schedule else None,
                                 "provisional": schedule is None}
        if schedule is not None:
            entry["rest_days"] = len(schedule.rest)
            entry["makeup_workdays"] = sorted(d.isoformat() for d in schedule.workdays)
        if year in loaded:
            entry["loaded_from"] = loaded[year].source
            entry["loaded_at"] = loaded[year].loaded_at.isoformat()
        years.append(entry)
    provisional_ranges: list[dict[str, str]] = []
    for year in range(today.year, last.year + 1):
        if calendar.schedule(year) is None:
            first = max(today, date(year, 1, 1))
            end = min(last, date(year, 12, 31))
            provisional_ranges.append({"from": first.isoformat(), "to": end.isoformat()})
    lo, hi = utc_bounds(today, last)
    provisional_occurrences = session.scalar(
        select(func.count()).select_from(Occurrence).where(
            Occurrence.provisional.is_(True), Occurrence.status == OccurrenceStatus.SCHEDULED,
            Occurrence.start_at >= lo, Occurrence.start_at < hi,
        )
    ) or 0
    return {
        "today": today.isoformat(),
        "horizon_end": last.isoformat(),
        "covered_by_package": [_PACKAGE_YEARS.start, _PACKAGE_YEARS.stop - 1],
        "years": [y for y in years if y["source"] != SOURCE_PACKAGE or y["year"] >= today.year - 1],
        "provisional_dates": provisional_ranges,
        "provisional_occurrences": int(provisional_occurrences),
    }

