"""Turning typed text into domain values, with errors that name the field."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import String, event, inspect
from sqlalchemy.orm import Mapper, Session

from scheduler.errors import InvalidInput
from scheduler.i18n import _

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
PHONE_RE = re.compile(r"^1[3-9][0-9]{9}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
ID_NUMBER_RE = re.compile(r"^[0-9]{17}[0-9X]$")
#: C0 controls other than TAB, and DEL: never stored from user text (they break feeds and tables).
CONTROL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
#: Bidirectional overrides, embeddings, isolates and marks (Unicode TR 9): they make a title read
#: differently from what it is ("Trojan Source"), in a feed, a table or a message.
BIDI_RE = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")
#: The dates a coordinator can give: wide enough for any real service, narrow enough that a
#: horizon or a time zone shift never leaves the range ``datetime`` can hold.
FIRST_DATE = date(1900, 1, 1)
LAST_DATE = date(2100, 12, 31)
#: The channels a volunteer or coordinator may prefer (scheduler.messages.channels sends through them).
CHANNELS = ("console", "email", "wecom", "dingtalk", "sms")
#: GB 11643-1999: weights of the first 17 digits and the check character (ISO 7064 MOD 11-2).
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


#: Cell starts a spreadsheet evaluates as a formula (OWASP CSV injection), tab and CR included.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: Any) -> Any:
    """Text a spreadsheet would run as a formula gets a leading apostrophe; other cells pass."""
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS):
        return "'" + cell
    return cell


def record_id(value: str | int, field: str) -> int:
    """A row id as typed (``42``, ``#42``) or already a number."""
    if isinstance(value, int):
        return value
    raw = value.strip().lstrip("#")
    if not raw.isdigit():
        raise InvalidInput(field, _("{value} is not an id (a whole number such as 42)").format(
            value=repr(value)))
    return int(raw)


def slug(value: str, field: str = "slug") -> str:
    value = value.strip()
    if not SLUG_RE.match(value):
        raise InvalidInput(field, _("{value} is not a slug (lowercase letters, digits and '-', up to 64)").format(
            value=repr(value)))
    return value


def text(value: str, field: str, max_len: int = 200, required: bool = True) -> str:
    """Strip control characters and surrounding space; refuse bidi controls; enforce presence and length."""
    value = CONTROL_RE.sub(" ", value).strip()
    bidi = BIDI_RE.search(value)
    if bidi:
        raise InvalidInput(field, _("contains the invisible direction control U+{code}; remove it (it makes "
                                    "text read differently from what it is)").format(
            code=f"{ord(bidi.group()):04X}"))
    if required and not value:
        raise InvalidInput(field, "must not be empty")
    if len(value) > max_len:
        raise InvalidInput(field, _("is {length} characters long; at most {max_len}").format(
            length=len(value), max_len=max_len))
    return value


def ascii_digits(value: str) -> str:
    """Full-width and other Unicode decimal digits (NFKC, then ``unicodedata.decimal``) as ASCII digits."""
    value = unicodedata.normalize("NFKC", value)
    return "".join(str(unicodedata.decimal(ch)) if not ch.isascii() and unicodedata.decimal(ch, None) is not None
                   else ch for ch in value)


def phone(value: str, field: str = "phone") -> str:
    """A mainland mobile number, 11 digits; ``+86``, spaces and dashes are accepted and dropped.

    Digits of any script (full-width, Arabic-Indic...) are stored as ASCII digits.
    """
    cleaned = re.sub(r"[\s-]", "", ascii_digits(value))
    if cleaned.startswith("+86"):
        cleaned = cleaned[3:]
    elif cleaned.startswith("0086"):
        cleaned = cleaned[4:]
    if not PHONE_RE.match(cleaned):
        raise InvalidInput(field, _("{value} is not a mainland mobile number (11 digits starting 13-19)").format(
            value=repr(value)))
    return cleaned


def email(value: str, field: str = "email") -> str:
    value = value.strip()
    if not EMAIL_RE.match(value):
        raise InvalidInput(field, _("{value} is not an email address").format(value=repr(value)))
    return value


def id_number(value: str, field: str = "id_number") -> str:
    """An 18-digit citizen ID (GB 11643-1999): a valid birth date and its ISO 7064 MOD 11-2 check character."""
    value = ascii_digits(value).strip().upper()
    if not ID_NUMBER_RE.match(value):
        raise InvalidInput(field, "an ID number has 17 digits and a digit or X")
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        born = None
    if born is None or not FIRST_DATE <= born <= LAST_DATE:
        raise InvalidInput(field, "digits 7-14 of an ID number are a birth date (YYYYMMDD); these are not")
    expected = _ID_CHECK[sum(int(d) * w for d, w in zip(value[:17], _ID_WEIGHTS, strict=True)) % 11]
    if value[17] != expected:
        raise InvalidInput(field, "the check character (the 18th) does not match the other 17 digits; "
                                  "look for a mistyped digit")
    return value


def timezone(value: str, field: str = "timezone") -> str:
    if len(value) > 64:
        raise InvalidInput(field, _("is {length} characters long; a time zone name is at most 64 (e.g. "
                                    "Asia/Shanghai)").format(
            length=len(value)))
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # OSError: a name the file system refuses (too long, a device name).
        raise InvalidInput(field, _("unknown time zone {value} (e.g. Asia/Shanghai)").format(
            value=repr(value))) from None
    return value


def local_time(value: str, field: str = "time") -> str:
    """"HH:MM" (24-hour)."""
    match = re.match(r"^(\d{1,2}):(\d{2})$", value.strip())
    if not match:
        raise InvalidInput(field, _("{value} is not a time like 16:30").format(value=repr(value)))
    hour, minute = int(match.group(1)), int(match.group(2))
    try:
        time(hour, minute)
    except ValueError:
        raise InvalidInput(field, _("{value} is not a time of day").format(value=repr(value))) from None
    return f"{hour:02d}:{minute:02d}"


def iso_date(value: str, field: str = "date") -> date:
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(field, _("{value} is not a date like 2026-03-01").format(
            value=repr(value))) from None
    return date_in_range(day, field)


def date_in_range(day: date, field: str = "date") -> date:
    """``day`` when it lies in 1900-2100 (the dates services, horizons and zone shifts stay within)."""
    if not FIRST_DATE <= day <= LAST_DATE:
        raise InvalidInput(field, _("{value} is outside {first}-{last}").format(
            value=day.isoformat(), first=FIRST_DATE.year, last=LAST_DATE.year))
    return day


def duration_minutes(value: str | int, field: str = "duration") -> int:
    """Minutes, or text like ``90``, ``2h``, ``1h30m``, ``45m``; over 0 and at most 24 h."""
    if isinstance(value, int):
        minutes = value
    else:
        raw = value.strip().lower()
        match = re.match(r"^(?:(\d+)h)?(?:(\d+)m(?:in)?)?$", raw)
        if raw.isdigit():
            minutes = int(raw)
        elif match and raw:
            minutes = int(match.group(1) or 0) * 60 + int(match.group(2) or 0)
        else:
            raise InvalidInput(field, _("{value} is not a duration like 90, 2h or 1h30m").format(
                value=repr(value)))
    if minutes <= 0:
        raise InvalidInput(field, "must be longer than zero")
    if minutes > 24 * 60:
        raise InvalidInput(field, "must be at most 24 hours")
    return minutes


def role_spec(value: str, field: str = "role") -> tuple[str, int, str | None]:
    """``name:count[:skill]``, e.g. ``医生:2:doctor`` or ``辅导员:3``."""
    parts = value.split(":")
    if len(parts) not in (2, 3):
        raise InvalidInput(field, _("{value} should look like NAME:COUNT or NAME:COUNT:SKILL").format(
            value=repr(value)))
    name = text(parts[0], field, 64)
    try:
        count = int(parts[1])
    except ValueError:
        raise InvalidInput(field, _("count {count} is not a whole number").format(
            count=repr(parts[1]))) from None
    if not 1 <= count <= 500:
        raise InvalidInput(field, "count must be between 1 and 500")
    skill = parts[2].strip() if len(parts) == 3 and parts[2].strip() else None
    return name, count, skill


WEEKDAYS = {"mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7}


def availability(value: str, field: str = "availability") -> dict[str, list[str]]:
    """``mon-fri 16:00-19:00; sat 09:00-12:00`` → {"1": ["16:00-19:00"], ...}. Empty: any time."""
    result: dict[str, list[str]] = {}
    value = value.strip()
    if not value:
        return result
    for chunk in re.split(r"[;；]", value):
        chunk = chunk.strip()
        if not chunk:
            continue
        match = re.match(r"^([a-z]{3})(?:-([a-z]{3}))?\s+(\d{1,2}:\d{2})-(\d{1,2}:\d{2})$", chunk.lower())
        if not match or match.group(1) not in WEEKDAYS or (match.group(2) and match.group(2) not in WEEKDAYS):
            raise InvalidInput(field, _("{chunk} should look like 'mon-fri 16:00-19:00'").format(
                chunk=repr(chunk)))
        first = WEEKDAYS[match.group(1)]
        last = WEEKDAYS[match.group(2)] if match.group(2) else first
        start = local_time(match.group(3), field)
        end = local_time(match.group(4), field)
        if end <= start:
            raise InvalidInput(field, _("{chunk}: the window must end after it starts").format(
                chunk=repr(chunk)))
        for day in range(first, last + 1):
            result.setdefault(str(day), []).append(f"{start}-{end}")
    return result


def format_availability(value: dict[str, list[str]]) -> str:
    names = {v: k for k, v in WEEKDAYS.items()}
    return "; ".join(f"{names[int(day)]} {','.join(windows)}" for day, windows in sorted(value.items()))


# --------------------------------------------------------------------------- column lengths


def _string_limits(mapper: Mapper[Any]) -> list[tuple[str, int]]:
    """(attribute, length) of each length-limited string column of a mapped class, from the model itself."""
    found = _LIMITS.get(mapper)
    if found is None:
        found = []
        for prop in mapper.column_attrs:
            for col in prop.columns:
                length = getattr(col.type, "length", None)
                if isinstance(col.type, String) and length:
                    found.append((prop.key, int(length)))
        _LIMITS[mapper] = found
    return found


_LIMITS: dict[Mapper[Any], list[tuple[str, int]]] = {}


def check_column_lengths(session: Session, flush_context: Any = None, instances: Any = None) -> None:
    """Refuse, before the database is asked, a string longer than its column (PostgreSQL would raise DataError).

    Runs before every flush on the objects being written; the limits are the model's ``String(n)``.
    """
    for obj in list(session.new) + list(session.dirty):
        state = inspect(obj)
        for key, length in _string_limits(state.mapper):
            value = state.dict.get(key)
            if isinstance(value, str) and len(value) > length:
                raise InvalidInput(key, _("is {length} characters long; at most {limit}").format(
                    length=len(value), limit=length))


# Every session of the application (CLI, tasks, web) gets the guard.
if not event.contains(Session, "before_flush", check_column_lengths):
    event.listen(Session, "before_flush", check_column_lengths)
