"""RFC 5545 RRULEs: validation, the shorthands a coordinator can type, and expansion."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr

from scheduler.errors import InvalidInput
from scheduler.i18n import _

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
    ``2nd saturday`` (of each month), ``last friday``, ``2 weeks on sunday``; and the Chinese
    forms listings print: 每天, 每个工作日 (工作日, 每周一至周五), 每周六、周日, 每2周周日,
    每月第2个周六, 每月最后一个周五.
    """
    chinese = _chinese_to_rrule(text)
    if chinese is not None:
        return chinese
    if text.strip().upper().startswith(("FREQ=", "RRULE:")):
        return text.strip()  # a listing shows an uncommon rule as the RRULE itself
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
    raise InvalidInput("every", _("cannot read {text}; try 'weekday', 'saturday', 'mon,wed' or '2nd saturday'").format(
        text=repr(text)))


def _weekday_list(raw: str, original: str) -> str:
    codes = []
    for part in re.split(r"[,\s]+", raw.strip()):
        if part not in _WEEKDAY_CODES:
            raise InvalidInput("every", _("cannot read {original}: {part} is not a weekday").format(
                original=repr(original), part=repr(part)))
        codes.append(_WEEKDAY_CODES[part])
    return ",".join(dict.fromkeys(codes))


#: How far after its first date a rule must fire at least once (a leap-day rule fires within 4 years).
FIRST_DATE_WITHIN_YEARS = 5
_PART_RE = re.compile(r"^([A-Z]+)=([^;=]*)$")
_WEEKDAY_RE = re.compile(r"^([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)$")
_INT_RE = re.compile(r"^[+-]?\d{1,4}$")
#: Parts a service's rule may carry; the time of day is the service's --time, not BYHOUR.
_KNOWN_PARTS = frozenset({"FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "BYMONTHDAY", "BYYEARDAY", "BYWEEKNO",
                          "BYMONTH", "BYSETPOS", "WKST"})
#: RFC 5545 3.3.10 value ranges of the numeric BYxxx parts (zero is never allowed).
_RANGES = {"BYMONTHDAY": (31, True), "BYYEARDAY": (366, True), "BYWEEKNO": (53, True), "BYMONTH": (12, False),
           "BYSETPOS": (366, True)}
#: Parts that can empty a daily or weekly rule (Feb 30 never comes; dateutil would search to year 9999).
_MONTHLY_OR_YEARLY_ONLY = ("BYMONTHDAY", "BYYEARDAY", "BYWEEKNO", "BYSETPOS")


def check_rule(body: str, start: date, field: str = "rrule") -> None:
    """Refuse a rule that is malformed, never advances, or fires no date soon after ``start``.

    Checks each part against RFC 5545 section 3.3.10 before dateutil sees it: INTERVAL and COUNT at
    least 1, BYMONTHDAY +-1..31, BYMONTH 1..12, BYDAY ordinals +-1..5 (MONTHLY) or +-1..53
    (YEARLY), no BYYEARDAY/BYWEEKNO/BYMONTHDAY/BYSETPOS in a DAILY or WEEKLY rule; then the first
    date must come within ``FIRST_DATE_WITHIN_YEARS`` years. Cheap enough for every planning run.
    """
    parts: dict[str, str] = {}
    for chunk in body.split(";"):
        match = _PART_RE.match(chunk)
        if not match:
            raise InvalidInput(field, _("{chunk} is not a NAME=VALUE part of an RRULE").format(
                chunk=repr(chunk)))
        name, value = match.groups()
        if name not in _KNOWN_PARTS:
            raise InvalidInput(field, _("{name} is not supported in a service's rule (the time is --time)").format(
                name=name))
        if name in parts:
            raise InvalidInput(field, _("{name} appears twice").format(name=name))
        parts[name] = value
    freq = parts.get("FREQ")
    if freq not in {"DAILY", "WEEKLY", "MONTHLY", "YEARLY"}:
        raise InvalidInput(field, "services recur daily at most (FREQ=DAILY, WEEKLY, MONTHLY or YEARLY)")
    for name in ("INTERVAL", "COUNT"):
        if name in parts:
            raw = parts[name]
            if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= 1000:
                raise InvalidInput(field, _("{name}={raw} must be a whole number from 1 to 1000").format(
                    name=name, raw=raw))
    if "COUNT" in parts and "UNTIL" in parts:
        raise InvalidInput(field, "give COUNT or UNTIL, not both (RFC 5545 3.3.10)")
    for name, (limit, signed) in _RANGES.items():
        for raw in parts.get(name, "").split(",") if name in parts else ():
            if not _INT_RE.match(raw) or int(raw) == 0 or not (-limit if signed else 1) <= int(raw) <= limit:
                span = f"-{limit}..-1 or 1..{limit}" if signed else f"1..{limit}"
                raise InvalidInput(field, _("{name}={value}: each value must be in {span}").format(
                    name=name, value=parts[name], span=span))
    if freq in {"DAILY", "WEEKLY"}:
        for name in _MONTHLY_OR_YEARLY_ONLY:
            if name in parts:
                raise InvalidInput(field, _("{name} needs FREQ=MONTHLY or FREQ=YEARLY").format(name=name))
    if "BYWEEKNO" in parts and freq != "YEARLY" or "BYYEARDAY" in parts and freq != "YEARLY":
        raise InvalidInput(field, "BYWEEKNO and BYYEARDAY need FREQ=YEARLY")
    for raw in parts["BYDAY"].split(",") if "BYDAY" in parts else ():
        match = _WEEKDAY_RE.match(raw)
        if not match:
            raise InvalidInput(field, _("BYDAY={byday}: {raw} is not a weekday such as SA or 2SA").format(
                byday=parts["BYDAY"], raw=repr(raw)))
        if match.group(1) is not None:
            n = int(match.group(1))
            limit = {"MONTHLY": 5, "YEARLY": 53}.get(freq, 0)
            if not limit:
                raise InvalidInput(field, _("BYDAY={raw}: a numbered weekday needs FREQ=MONTHLY or YEARLY").format(
                    raw=raw))
            if n == 0 or not -limit <= n <= limit:
                raise InvalidInput(field, _("BYDAY={raw}: the number must be in -{limit}..-1 or 1..{limit}").format(
                    raw=raw, limit=limit))
    if "WKST" in parts and parts["WKST"] not in _WEEKDAY_CODES.values():
        raise InvalidInput(field, _("WKST={wkst} is not a weekday code (MO..SU)").format(wkst=parts["WKST"]))
    try:
        rule = rrulestr(body, dtstart=datetime.combine(start, time(0)))
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError) as exc:
        # dateutil raises KeyError for an unknown weekday code such as BYDAY=XX.
        raise InvalidInput(field, _("{body} is not a valid RRULE: {exc}").format(
            body=repr(body), exc=exc)) from None
    if not isinstance(rule, rrule):
        raise InvalidInput(field, "give a single RRULE")
    # With the parts above a rule that can never fire is MONTHLY or YEARLY (April 31st): dateutil then
    # walks the months to year 9999, well under a second; a rule that fires is answered at once.
    try:
        first = rule.after(datetime.combine(start, time(0)), inc=True)
    except (ValueError, OverflowError):
        first = None
    within = date(min(start.year + FIRST_DATE_WITHIN_YEARS, 9999), start.month, min(start.day, 28))
    if first is None or first.date() > within:
        raise InvalidInput(field, _("{body} fires on no date in the {years} years from {start}").format(
            body=repr(body), years=FIRST_DATE_WITHIN_YEARS, start=start.isoformat()))


def normalise_rrule(value: str, start: date, field: str = "rrule") -> str:
    """Validate an RRULE value (``RRULE:`` prefix optional) against a start date; return it bare."""
    body = value.strip()
    if body.upper().startswith("RRULE:"):
        body = body[6:]
    body = body.upper()
    if not body or "\n" in body or "\r" in body:
        raise InvalidInput(field, "an RRULE is one line such as FREQ=WEEKLY;BYDAY=SA")
    if not re.match(r"^FREQ=", body) and ";FREQ=" not in body:
        raise InvalidInput(field, _("{value} has no FREQ (e.g. FREQ=WEEKLY;BYDAY=SA)").format(
            value=repr(value)))
    if re.search(r"FREQ=(SECONDLY|MINUTELY|HOURLY)", body):
        raise InvalidInput(field, "services recur daily at most (FREQ=DAILY, WEEKLY, MONTHLY or YEARLY)")
    if "RSCALE" in body:
        raise InvalidInput(field, "RSCALE (lunar) rules are not supported; expand lunar dates to plain dates")
    if "UNTIL=" in body:
        # UNTIL must compare with a floating DTSTART: keep it a plain date or local date-time.
        until = re.search(r"UNTIL=([0-9TZ]+)", body)
        if until and until.group(1).endswith("Z"):
            body = body.replace(until.group(1), until.group(1)[:-1])
    check_rule(body, start, field)
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


_CN_DAYS = {"MO": "周一", "TU": "周二", "WE": "周三", "TH": "周四", "FR": "周五", "SA": "周六", "SU": "周日"}
_CN_CODES = {name: code for code, name in _CN_DAYS.items()} | {"周天": "SU", "星期日": "SU", "星期天": "SU"} | {
    f"星期{name[1]}": code for code, name in _CN_DAYS.items()}
_WEEK_ORDER = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


def describe(rule: str) -> str:
    """A short Chinese reading of common rules, as listings print it (falls back to the rule itself).

    ``shorthand_to_rrule`` reads every text this returns back to the same rule.
    """
    match = re.fullmatch(r"FREQ=WEEKLY(?:;INTERVAL=(\d+))?;BYDAY=((?:MO|TU|WE|TH|FR|SA|SU)(?:,(?:MO|TU|WE|TH|FR|SA|SU))*)",
                         rule)
    if match and len(set(match.group(2).split(","))) == len(match.group(2).split(",")):
        days = match.group(2).split(",")
        every = "每" if match.group(1) in (None, "1") else f"每{int(match.group(1))}周"
        if match.group(1) is not None and every == "每":
            return rule  # INTERVAL=1 spelt out: show the rule as stored
        if days == ["MO", "TU", "WE", "TH", "FR"] and every == "每":
            return "每个工作日"
        return every + "、".join(_CN_DAYS[d] for d in days)
    match = re.fullmatch(r"FREQ=MONTHLY;BYDAY=(-?[1-5])(MO|TU|WE|TH|FR|SA|SU)", rule)
    if match:
        n = int(match.group(1))
        nth = "最后一个" if n == -1 else (f"倒数第{-n}个" if n < 0 else f"第{n}个")
        return f"每月{nth}{_CN_DAYS[match.group(2)]}"
    if rule == "FREQ=DAILY":
        return "每天"
    return rule


def _chinese_to_rrule(text: str) -> str | None:
    """The Chinese forms listings print (``describe``), and a few a coordinator types; None if not Chinese."""
    raw = re.sub(r"\s+", "", text)
    if raw in {"每天", "每日", "天天"}:
        return "FREQ=DAILY"
    if raw in {"每个工作日", "工作日", "每工作日", "每周一至周五", "周一至周五", "每周一到周五"}:
        return "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"
    if raw in {"周末", "每周末", "每个周末"}:
        return "FREQ=WEEKLY;BYDAY=SA,SU"
    day = "|".join(sorted(_CN_CODES, key=len, reverse=True))
    match = re.fullmatch(rf"每月(最后一个|倒数第([1-5])个|第([1-5])个)({day})", raw)
    if match:
        n = -1 if match.group(1) == "最后一个" else (-int(match.group(2)) if match.group(2) else int(match.group(3)))
        return f"FREQ=MONTHLY;BYDAY={n}{_CN_CODES[match.group(4)]}"
    match = re.fullmatch(rf"每(?:(\d+)周)?((?:{day})(?:(?:、|,|，|和)(?:{day}))*)", raw)
    if match:
        codes = [_CN_CODES[name] for name in re.findall(day, match.group(2))]
        interval = f";INTERVAL={int(match.group(1))}" if match.group(1) else ""
        return f"FREQ=WEEKLY{interval};BYDAY={','.join(dict.fromkeys(codes))}"
    match = re.fullmatch(rf"每?({day})(?:至|到|-|~)({day})", raw)
    if match:
        lo, hi = (_WEEK_ORDER.index(_CN_CODES[g]) for g in match.groups())
        if lo < hi:
            return f"FREQ=WEEKLY;BYDAY={','.join(_WEEK_ORDER[lo:hi + 1])}"
    if re.search(r"[\u4e00-\u9fff]", raw):
        raise InvalidInput("every", _("cannot read {text}; try 每周六, 每个工作日, 每周一至周五 or 每月第2个周六").format(
            text=repr(text)))
    return None


def horizon_end(today: date, weeks: int) -> date:
    return today + timedelta(weeks=weeks)
