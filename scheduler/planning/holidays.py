"""China's statutory holiday calendar: which dates are workdays, rest days, make-up workdays (调休上班).

Sources, in order: a year's official schedule a coordinator loaded (``HolidayYear``/``HolidayDay``),
then the ``chinese_calendar`` package (it knows 2004-2026 and raises ``NotImplementedError`` beyond),
else the plain weekday rule (Monday-Friday work), and such a date is **provisional**.

Two traps of ``chinese_calendar`` are avoided by reading its ``holidays``/``workdays`` tables directly:
``is_in_lieu`` means a swapped *rest* day (not a make-up workday), and
``get_workdays(include_weekends=False)`` drops the make-up Saturdays.

The file format ``scheduler.planning.holiday_years.load_year`` reads is documented in ``docs/holidays.md``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import chinese_calendar
from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.errors import InvalidInput
from scheduler.i18n import _
from scheduler.models import HolidayDay, HolidayDayKind, HolidayYear

SOURCE_LOADED = "loaded"
SOURCE_PACKAGE = "chinese_calendar"


@dataclass(frozen=True)
class YearSchedule:
    """One year's official schedule: statutory rest days and make-up workdays, with names."""

    year: int
    rest: dict[date, str]
    workdays: dict[date, str]
    source: str


def _package_years() -> range:
    # The package's own bounds, so that a newer chinese_calendar release extends coverage by itself.
    days = chinese_calendar.holidays.keys()
    return range(min(days).year, max(days).year + 1)


_PACKAGE_YEARS = _package_years()


def _package_schedule(year: int) -> YearSchedule:
    rest = {d: str(n) for d, n in chinese_calendar.holidays.items() if d.year == year}
    work = {d: str(n) for d, n in chinese_calendar.workdays.items() if d.year == year}
    return YearSchedule(year, rest, work, SOURCE_PACKAGE)


@dataclass(frozen=True)
class DayInfo:
    """What the calendar says about one date."""

    day: date
    workday: bool
    rest: bool
    makeup_workday: bool
    provisional: bool
    name: str


class HolidayCalendar:
    """A per-run calendar: answers per date from loaded years, then the package, else provisionally.

    Build one per planning run (``HolidayCalendar.from_session``); lookups are cached per year.
    """

    def __init__(self, loaded: dict[int, YearSchedule] | None = None) -> None:
        self._loaded = dict(loaded or {})
        self._years: dict[int, YearSchedule | None] = {}

    @classmethod
    def from_session(cls, session: Session) -> HolidayCalendar:
        """The calendar with every officially loaded year from the database."""
        loaded: dict[int, YearSchedule] = {}
        years = set(session.scalars(select(HolidayYear.year)))
        rest: dict[int, dict[date, str]] = {y: {} for y in years}
        work: dict[int, dict[date, str]] = {y: {} for y in years}
        for row in session.scalars(select(HolidayDay)):
            if row.year in years:
                (rest if row.kind == HolidayDayKind.REST else work)[row.year][row.day] = row.name
        for year in years:
            loaded[year] = YearSchedule(year, rest[year], work[year], SOURCE_LOADED)
        return cls(loaded)

    def schedule(self, year: int) -> YearSchedule | None:
        """The year's official schedule, or None when there is none (dates then are provisional)."""
        if year not in self._years:
            if year in self._loaded:
                self._years[year] = self._loaded[year]
            elif year in _PACKAGE_YEARS:
                self._years[year] = _package_schedule(year)
            else:
                self._years[year] = None
        return self._years[year]

    def source(self, year: int) -> str | None:
        schedule = self.schedule(year)
        return schedule.source if schedule else None

    def is_provisional(self, day: date) -> bool:
        return self.schedule(day.year) is None

    def is_rest(self, day: date) -> bool:
        """A statutory rest day (holiday period, including weekend days inside it)."""
        schedule = self.schedule(day.year)
        return schedule is not None and day in schedule.rest

    def is_makeup_workday(self, day: date) -> bool:
        """A weekend day worked in exchange for a longer holiday (调休上班)."""
        schedule = self.schedule(day.year)
        return schedule is not None and day in schedule.workdays

    def is_workday(self, day: date) -> bool:
        """Official workday: Monday-Friday unless a rest day, plus make-up workdays."""
        schedule = self.schedule(day.year)
        if schedule is None:
            return day.weekday() < 5
        if day in schedule.workdays:
            return True
        return day.weekday() < 5 and day not in schedule.rest

    def day(self, day: date) -> DayInfo:
        schedule = self.schedule(day.year)
        name = ""
        if schedule is not None:
            name = schedule.rest.get(day) or schedule.workdays.get(day) or ""
        return DayInfo(day, self.is_workday(day), self.is_rest(day), self.is_makeup_workday(day),
                       schedule is None, name)

    def makeup_workdays(self, first: date, last: date) -> list[date]:
        """Make-up workdays in [first, last]."""
        found: list[date] = []
        for year in range(first.year, last.year + 1):
            schedule = self.schedule(year)
            if schedule:
                found.extend(d for d in schedule.workdays if first <= d <= last)
        return sorted(found)


# --------------------------------------------------------------------------- loading a year


@dataclass
class ParsedYear:
    year: int
    source: str
    rest: dict[date, str] = field(default_factory=dict)
    workdays: dict[date, str] = field(default_factory=dict)


def _parse_day_or_range(text: str, where: str) -> list[date]:
    text = text.strip()
    first_s, sep, last_s = text.partition("..")
    try:
        first = date.fromisoformat(first_s.strip())
        last = date.fromisoformat(last_s.strip()) if sep else first
    except ValueError:
        raise InvalidInput(where, _("{text!r} is not a date (2027-10-01) or a range (2027-10-01..2027-10-07)").format(
            text=text)) from None
    if last < first:
        raise InvalidInput(where, _("{text!r}: the range ends before it starts").format(text=text))
    if (last - first).days > 31:
        raise InvalidInput(where, _("{text!r}: a holiday range is at most a month").format(text=text))
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _add(parsed: ParsedYear, kind: str, days: list[date], name: str, where: str) -> None:
    name = name.strip()
    if len(name) > 64:
        raise InvalidInput(where, "a holiday name is at most 64 characters")
    for day in days:
        if day.year != parsed.year:
            raise InvalidInput(where, _("{day} is not in {year}").format(day=day.isoformat(), year=parsed.year))
        if day in parsed.rest or day in parsed.workdays:
            raise InvalidInput(where, _("{day} is listed twice").format(day=day.isoformat()))
        if kind == "workday":
            if day.weekday() < 5:
                raise InvalidInput(where, _("{day} is a weekday; a make-up workday (调休上班) is a "
                                            "Saturday or Sunday").format(day=day.isoformat()))
            parsed.workdays[day] = name
        else:
            parsed.rest[day] = name


_YEAR_MIN, _YEAR_MAX = 2004, 2100


def _check_year(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip().isdigit():
        raise InvalidInput(where, _("{value!r} is not a year like 2027").format(value=value))
    year = int(str(value).strip())
    if not _YEAR_MIN <= year <= _YEAR_MAX:
        raise InvalidInput(where, _("{year} is outside {first}-{last}").format(year=year, first=_YEAR_MIN, last=_YEAR_MAX))
    return year


def parse_text(text: str) -> ParsedYear:
    """Parse the line format (``year``, ``source``, ``rest``, ``work`` lines; ``#`` comments).

    Errors name the line: ``line 4: ...``.
    """
    parsed: ParsedYear | None = None
    source = ""
    pending: list[tuple[int, str, str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        keyword, _sep, rest = line.partition(" ")
        keyword = keyword.lower()
        where = f"line {number}"
        if keyword == "year":
            if parsed is not None:
                raise InvalidInput(where, "the year is given twice")
            parsed = ParsedYear(_check_year(rest, where), "")
        elif keyword == "source":
            source = rest.strip()[:300]
        elif keyword in ("rest", "work", "workday"):
            if not rest.strip():
                raise InvalidInput(where, _("'{keyword}' needs a date or a range").format(keyword=keyword))
            pending.append((number, "rest" if keyword == "rest" else "workday", rest.strip()))
        else:
            raise InvalidInput(where, _("unknown keyword {keyword!r} (use year, source, rest or work)").format(
                keyword=keyword))
    if parsed is None:
        raise InvalidInput("year", "the file has no 'year YYYY' line")
    parsed.source = source
    for number, kind, value in pending:
        days_text, _sep, name = value.partition(" ")
        where = f"line {number}"
        _add(parsed, kind, _parse_day_or_range(days_text, where), name, where)
    return parsed


def parse_json(text: str) -> ParsedYear:
    """Parse the JSON form: ``{"year", "source", "rest": [...], "workdays": [...]}``.

    Errors name the field: ``rest[2].date: ...``.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"line {exc.lineno}", _("not valid JSON: {error}").format(error=exc.msg)) from None
    if not isinstance(data, dict):
        raise InvalidInput("file", "the JSON must be an object with year, rest and workdays")
    unknown = set(data) - {"year", "source", "rest", "workdays"}
    if unknown:
        raise InvalidInput(sorted(unknown)[0], "unknown field (use year, source, rest, workdays)")
    if "year" not in data:
        raise InvalidInput("year", "is required")
    parsed = ParsedYear(_check_year(data["year"], "year"), str(data.get("source", ""))[:300])
    for key, kind in (("rest", "rest"), ("workdays", "workday")):
        items = data.get(key, [])
        if not isinstance(items, list):
            raise InvalidInput(key, "must be a list")
        for index, item in enumerate(items):
            where = f"{key}[{index}]"
            if isinstance(item, str):
                item = {"date": item}
            if not isinstance(item, dict) or not isinstance(item.get("date"), str):
                raise InvalidInput(f"{where}.date", "give {\"date\": \"2027-10-01\" or \"2027-10-01..2027-10-07\"}")
            name = item.get("name", "")
            if not isinstance(name, str):
                raise InvalidInput(f"{where}.name", "must be text")
            _add(parsed, kind, _parse_day_or_range(item["date"], f"{where}.date"), name, f"{where}.date")
    return parsed


def parse_schedule(text: str) -> ParsedYear:
    """Either format: JSON when the text starts with ``{``, else the line format."""
    if text.lstrip("\ufeff \t\r\n").startswith("{"):
        parsed = parse_json(text.lstrip("\ufeff"))
    else:
        parsed = parse_text(text.lstrip("\ufeff"))
    if not parsed.rest:
        raise InvalidInput("rest", _("no rest days for {year}; an official schedule lists its holidays").format(
            year=parsed.year))
    return parsed
