"""RFC 5545 RRULEs: validation, the shorthands a coordinator can type, and expansion."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr

from scheduler.errors import InvalidInput

_WEEKDAY_CODES = {
    "monday": "MO", "mon": "MO", "tuesday": "TU", "tue": "TU", "wednesday": "WE", "wed": "WE",
    "thursday": "TH", "thu": "TH", "friday": "FR", "fri": "FR", "saturday": "SA", "sat": "SA",
    "sunday": "SU", "sun": "SU",
}
_ORDINALS = {"1st": 1, "first": 1, "2nd": 2, "second": 2, "3rd": 3, "third": 3, "4th": 4, "fourth": 4,
             "last": -1}


def shorthand_to_rrule(text: str) -> str:
    """Compile ``--every`` text to an RRULE.

    ``day``, ``weekday`` (Mon-Fri), ``weekend``, ``saturday``, ``mon,wed,fri``,
    ``2nd saturday`` (of each month), ``last friday``, ``2 weeks on sunday``.
    """
    raw = text.strip().lower()
    if raw in {"day", "daily"}:
        return "FREQ=DAILY"
    if raw in {"weekday", "weekdays"}:
        return "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"
    if raw in {"weekend", "weekends"}:
        return "FREQ=WEEKLY;BYDAY=SA,SU"
    match = re.match(r"^(\S+)\s+(\w+)$", raw)
    if match and match.group(1) in _ORDINALS and match.group(2) in _WEEKDAY_CODES:
        return f"FREQ=MONTHLY;BYDAY={_ORDINALS[match.group(1)]}{_WEEKDAY_CODES[match.group(2)]}"
    match = re.match(r"^(\d+)\s+weeks?\s+on\s+([\w,]+)$", raw)
    if match:
        days = _weekday_list(match.group(2), text)
        return f"FREQ=WEEKLY;INTERVAL={int(match.group(1))};BYDAY={days}"
    if re.match(r"^[\w,\s]+$", raw):
        return f"FREQ=WEEKLY;BYDAY={_weekday_list(raw, text)}"
    raise InvalidInput("every", f"cannot read {text!r}; try 'weekday', 'saturday', 'mon,wed' or '2nd saturday'")


def _weekday_list(raw: str, original: str) -> str:
    codes = []
    for part in re.split(r"[,\s]+", raw.strip()):
        if part not in _WEEKDAY_CODES:
            raise InvalidInput("every", f"cannot read {original!r}: {part!r} is not a weekday")
        codes.append(_WEEKDAY_CODES[part])
    return ",".join(dict.fromkeys(codes))


def normalise_rrule(value: str, start: date, field: str = "rrule") -> str:
    """Validate an RRULE value (``RRULE:`` prefix optional) against a start date; return it bare."""
    body = value.strip()
    if body.upper().startswith("RRULE:"):
        body = body[6:]
    body = body.upper()
    if not body or "\n" in body:
        raise InvalidInput(field, "an RRULE is one line such as FREQ=WEEKLY;BYDAY=SA")
    if not re.match(r"^FREQ=", body) and ";FREQ=" not in body:
        raise InvalidInput(field, f"{value!r} has no FREQ (e.g. FREQ=WEEKLY;BYDAY=SA)")
    if re.search(r"FREQ=(SECONDLY|MINUTELY|HOURLY)", body):
        raise InvalidInput(field, "services recur daily at most (FREQ=DAILY, WEEKLY, MONTHLY or YEARLY)")
    if "RSCALE" in body:
        raise InvalidInput(field, "RSCALE (lunar) rules are not supported; expand lunar dates to plain dates")
    try:
        rule = rrulestr(body, dtstart=datetime.combine(start, time(0)))
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        # dateutil raises KeyError for an unknown weekday code such as BYDAY=XX.
        raise InvalidInput(field, f"{value!r} is not a valid RRULE: {exc}") from None
    if not isinstance(rule, rrule):
        raise InvalidInput(field, "give a single RRULE")
    if "UNTIL=" in body:
        # UNTIL must compare with a floating DTSTART: keep it a plain date or local date-time.
        until = re.search(r"UNTIL=([0-9TZ]+)", body)
        if until and until.group(1).endswith("Z"):
            body = body.replace(until.group(1), until.group(1)[:-1])
    return body


def local_dates(rule: str, start: date, first: date, last: date) -> list[date]:
    """Dates in [first, last] on which the rule fires (expanded from ``start``)."""
    expanded = rrulestr(rule, dtstart=datetime.combine(start, time(0)))
    lo = datetime.combine(max(first, start), time(0))
    hi = datetime.combine(last, time(0))
    return [d.date() for d in expanded.between(lo, hi, inc=True)]


def local_start(day: date, start_time: str, tz: ZoneInfo) -> datetime:
    """The aware start on ``day`` at local ``HH:MM``; a wall time skipped by DST moves forward."""
    hour, minute = (int(p) for p in start_time.split(":"))
    naive = datetime.combine(day, time(hour, minute))
    aware = naive.replace(tzinfo=tz)
    # A non-existent local time (spring forward) round-trips to a different wall time: keep it
    # as zoneinfo resolves it (fold=0), which is the later offset's equivalent instant.
    return aware


def describe(rule: str) -> str:
    """A short human reading of common rules (falls back to the rule itself)."""
    names = {"MO": "周一", "TU": "周二", "WE": "周三", "TH": "周四", "FR": "周五", "SA": "周六", "SU": "周日"}
    match = re.fullmatch(r"FREQ=WEEKLY;BYDAY=([A-Z,]+)", rule)
    if match:
        days = match.group(1).split(",")
        if days == ["MO", "TU", "WE", "TH", "FR"]:
            return "每个工作日"
        return "每" + "、".join(names.get(d, d) for d in days)
    match = re.fullmatch(r"FREQ=MONTHLY;BYDAY=(-?\d)([A-Z]{2})", rule)
    if match:
        n = int(match.group(1))
        return f"每月{'最后一个' if n == -1 else f'第{n}个'}{names[match.group(2)]}"
    if rule == "FREQ=DAILY":
        return "每天"
    return rule


def horizon_end(today: date, weeks: int) -> date:
    return today + timedelta(weeks=weeks)
