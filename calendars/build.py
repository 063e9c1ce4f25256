"""The pure feed builder: plain rows in, iCalendar bytes out (no clock, no randomness, no database).

Two serializers produce the same calendar:

* :func:`build_feed` writes content lines directly and keeps each event's bytes in a
  :class:`EventCache` keyed by the whole (frozen, hashable) row, so a warm publish only joins bytes;
* :func:`build_feed_icalendar` builds icalendar ``Event`` objects and calls ``to_ical()``: the
  reference the tests compare the fast path with, and the baseline of ``bench/bench_feeds.py``.

Every rule cited as "rule N" is in ``FEEDS.md``; the RFC sections are RFC 5545 unless named.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from icalendar import Timezone

PRODID = "-//Longcheng Subdistrict//Roster Volunteer Feeds 1.0//ZH"
REFRESH = "PT6H"
#: The window every feed covers: this many days back from today (rule "Shape").
DAYS_BACK = 30
CANCELLED_PREFIX = "【已取消】"
PROVISIONAL_NOTE = "日期待官方假期安排确认"
#: The one alarm of a private feed (rule 16): a hint only, the workers send the real reminders.
ALARM_BEFORE = timedelta(hours=2)
#: VTIMEZONE components cover this fixed span so that they never change between publishes.
TZ_FIRST = date(2020, 1, 1)
TZ_LAST = date(2040, 1, 1)

KIND_LABELS = {
    "clinic": "义诊",
    "classroom": "课业辅导",
    "elderly_care": "关爱老人",
    "reading": "亲子阅读",
    "centre_opening": "党群服务中心错时服务",
    "culture": "文体活动",
    "legal": "法治宣传",
    "community": "邻里公益",
    "other": "志愿服务",
}
ASSIGNMENT_LABELS = {
    "invited": "待确认",
    "confirmed": "已确认",
    "attended": "已签到",
    "no_show": "未到",
}


# --------------------------------------------------------------------------- rows (the builder's input)


@dataclass(frozen=True, slots=True)
class FeedMeta:
    """Calendar-level properties of one feed (RFC 7986 NAME/DESCRIPTION, rule 14)."""

    name: str
    description: str
    private: bool = False


@dataclass(frozen=True, slots=True)
class PublicEventRow:
    """One occurrence of a public service, as the public feeds show it (rule 17: no person)."""

    occurrence_id: int
    service_id: int
    title: str
    kind: str
    venue: str
    contact_role: str
    timezone: str
    start_at: datetime
    end_at: datetime
    status: str
    provisional: bool
    sequence: int
    #: The latest change of the occurrence, its service or its seats (DTSTAMP, LAST-MODIFIED).
    stamp: datetime
    #: (role name, open seats) in role order; only roles with open seats count.
    open_seats: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class ShiftRow:
    """One seated assignment of a volunteer, as their private feed shows it."""

    assignment_id: int
    occurrence_id: int
    title: str
    kind: str
    venue: str
    contact_role: str
    timezone: str
    start_at: datetime
    end_at: datetime
    occurrence_status: str
    assignment_status: str
    role: str
    provisional: bool
    #: Occurrence sequence + assignment sequence: increases when either changes (rule 6).
    sequence: int
    stamp: datetime
    service_description: str = ""
    cancel_reason: str = ""


@dataclass(frozen=True, slots=True)
class ClosureRow:
    """An all-day closure (停课/闭馆), shown with VALUE=DATE and an exclusive DTEND (rule 12)."""

    closure_id: int
    label: str
    reason: str
    start_date: date
    #: Inclusive last day, as stored; the builder writes the exclusive DTEND.
    end_date: date
    stamp: datetime


FeedRow = PublicEventRow | ShiftRow | ClosureRow


def event_uid(row: FeedRow, domain: str) -> str:
    """A stable database key and our domain (rules 4, 5): never a position, time or title."""
    if isinstance(row, PublicEventRow):
        return f"occ-{row.occurrence_id}@{domain}"
    if isinstance(row, ShiftRow):
        return f"shift-{row.assignment_id}@{domain}"
    return f"closure-{row.closure_id}@{domain}"


def sort_key(row: FeedRow) -> tuple[datetime, str, int]:
    if isinstance(row, ClosureRow):
        return (datetime(row.start_date.year, row.start_date.month, row.start_date.day, tzinfo=UTC), "c",
                row.closure_id)
    if isinstance(row, ShiftRow):
        return (row.start_at, "s", row.assignment_id)
    return (row.start_at, "o", row.occurrence_id)


# --------------------------------------------------------------------------- text


_CONTROL_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_LINEBREAK_RE = re.compile("\r\n|[\r\n\u2028\u2029\x85]")


def clean_text(value: str | None) -> str:
    """User text made safe for a feed (rule 2): line breaks become spaces, other controls go.

    TAB stays (RFC 5545 allows it in TEXT); C1 controls and lone surrogates (not encodable as
    UTF-8) go as well.
    """
    if not value:
        return ""
    return _CONTROL_RE.sub("", _LINEBREAK_RE.sub(" ", value)).strip()


def escape_text(value: str) -> str:
    """RFC 5545 3.3.11 TEXT escaping; ``\\n`` stands for our own line breaks."""
    return (
        value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\r\n", "\\n")
        .replace("\n", "\\n")
    )


def fold(line: str) -> bytes:
    """One content line, folded at 75 octets without splitting a UTF-8 character (RFC 5545 3.1).

    Like icalendar, it never splits a backslash escape over two lines either. Works on the encoded
    bytes, one slice per folded line (not one step per character: long Chinese descriptions are the
    bulk of a cold publish).
    """
    data = line.encode("utf-8")
    if len(data) <= 75:
        return data + b"\r\n"
    parts: list[bytes] = []
    start = 0
    limit = 75
    while len(data) - start > limit:
        end = start + limit
        while data[end] & 0xC0 == 0x80:  # a continuation byte: cut before its character
            end -= 1
        if data[end - 1] == 0x5C and end - 1 > start:  # a backslash goes with what it escapes
            end -= 1
        parts.append(data[start:end])
        start = end
        limit = 74  # continuation lines start with one space
    parts.append(data[start:])
    return b"\r\n ".join(parts) + b"\r\n"


def _public_texts(row: PublicEventRow | ClosureRow) -> tuple[str, ...]:
    if isinstance(row, ClosureRow):
        return (row.label, row.reason)
    return (row.title, row.venue, row.contact_role, *(role for role, _ in row.open_seats))


def mentions(row: FeedRow, names: frozenset[str]) -> bool:
    """Whether a public row's free text holds one of these volunteers' names."""
    if not names or isinstance(row, ShiftRow):
        return False
    return any(name in text for text in _public_texts(row) for name in names)


def scrubbed(row: FeedRow, names: frozenset[str] = frozenset()) -> FeedRow:
    """A public row with any phone number, email, ID number or given name in its free text redacted
    (rule 17). Writers refuse such text; this catches rows written before they did. Private rows
    are the volunteer's own and pass unchanged."""
    from scheduler.redaction import personal_data_in, redact

    if isinstance(row, ShiftRow) or not any(personal_data_in(t, names) for t in _public_texts(row)):
        return row
    if isinstance(row, ClosureRow):
        return replace(row, label=redact(row.label, names), reason=redact(row.reason, names))
    return replace(
        row, title=redact(row.title, names), venue=redact(row.venue, names),
        contact_role=redact(row.contact_role, names),
        open_seats=tuple((redact(role, names), n) for role, n in row.open_seats),
    )


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _local(value: datetime, tz: str) -> str:
    return value.astimezone(ZoneInfo(tz)).strftime("%Y%m%dT%H%M%S")


# --------------------------------------------------------------------------- what an event says


def kind_label(kind: str) -> str:
    return KIND_LABELS.get(kind, KIND_LABELS["other"])


def public_summary(row: PublicEventRow) -> str:
    title = clean_text(row.title)
    return CANCELLED_PREFIX + title if row.status == "cancelled" else title


def public_description(row: PublicEventRow) -> str:
    """Service, venue, status, open seats per role, contact role: never a person (rule 17)."""
    lines = [f"志愿服务：{clean_text(row.title)}（{kind_label(row.kind)}）"]
    venue = clean_text(row.venue)
    if venue:
        lines.append(f"地点：{venue}")
    if row.status == "cancelled":
        lines.append("状态：已取消")
    else:
        wanted = [f"还缺 {n} 名{clean_text(role)}" for role, n in row.open_seats if n > 0]
        lines.append("；".join(wanted) if wanted else "岗位已满")
    contact = clean_text(row.contact_role)
    if contact:
        lines.append(f"联系：{contact}")
    if row.provisional:
        lines.append(PROVISIONAL_NOTE)
    return "\n".join(lines)


def public_status(row: PublicEventRow) -> str:
    if row.status == "cancelled":
        return "CANCELLED"
    return "TENTATIVE" if row.provisional else "CONFIRMED"


def shift_summary(row: ShiftRow) -> str:
    text = f"{clean_text(row.title)} · {clean_text(row.role)}"
    return CANCELLED_PREFIX + text if row.occurrence_status == "cancelled" else text


def shift_description(row: ShiftRow) -> str:
    lines = [f"岗位：{clean_text(row.role)}", f"排班：{ASSIGNMENT_LABELS.get(row.assignment_status, '')}"]
    venue = clean_text(row.venue)
    if venue:
        lines.append(f"地点：{venue}")
    contact = clean_text(row.contact_role)
    if contact:
        lines.append(f"联系：{contact}")
    if row.occurrence_status == "cancelled":
        reason = clean_text(row.cancel_reason)
        lines.append(f"本场已取消：{reason}" if reason else "本场已取消")
    if row.provisional:
        lines.append(PROVISIONAL_NOTE)
    about = clean_text(row.service_description)
    if about:
        lines.append(about)
    return "\n".join(lines)


def shift_status(row: ShiftRow) -> str:
    if row.occurrence_status == "cancelled":
        return "CANCELLED"
    if row.provisional or row.assignment_status == "invited":
        return "TENTATIVE"
    return "CONFIRMED"


def closure_summary(row: ClosureRow) -> str:
    label = clean_text(row.label)
    reason = clean_text(row.reason)
    return f"【暂停】{label}" + (f"：{reason}" if reason else "")


def timezones_used(rows: Iterable[FeedRow]) -> list[str]:
    """The TZIDs the events use, sorted (rule 11: never in hash order)."""
    return sorted({row.timezone for row in rows if not isinstance(row, ClosureRow)})


# --------------------------------------------------------------------------- the fast serializer


def vtimezone(tzid: str) -> Timezone:
    """The VTIMEZONE of one zone over a fixed span, so it is identical on every publish (rule 10).

    icalendar's generator adds ``COMMENT:This timezone only works from ...``; RFC 5545 3.6.5 allows
    no COMMENT in a VTIMEZONE, and strict parsers reject the whole feed for it: it goes. Its RDATE
    lists are written one date a line (RDATE may repeat, 3.8.5.2): ruby-icalendar's zone store
    fails on a comma list.
    """
    from icalendar import Timezone, vDDDLists

    component = Timezone.from_tzid(tzid, first_date=TZ_FIRST, last_date=TZ_LAST)
    component.pop("COMMENT", None)
    for observance in component.subcomponents:
        rdates = observance.pop("RDATE", None)
        if rdates is None:
            continue
        lists = rdates if isinstance(rdates, list) else [rdates]
        observance["RDATE"] = [vDDDLists([d.dt]) for one in lists for d in one.dts]
    return component


@lru_cache(maxsize=64)
def vtimezone_bytes(tzid: str) -> bytes:
    """The serialized :func:`vtimezone` (cached: it never changes)."""
    return vtimezone(tzid).to_ical()


def _text_line(name: str, value: str) -> bytes:
    return fold(f"{name}:{escape_text(value)}")


def serialize_event(row: FeedRow, domain: str, names: frozenset[str] = frozenset()) -> bytes:
    """One VEVENT as folded CRLF content lines (public free text scrubbed of personal data)."""
    row = scrubbed(row, names)
    uid = event_uid(row, domain)
    out = [b"BEGIN:VEVENT\r\n", fold(f"UID:{escape_text(uid)}")]
    if isinstance(row, ClosureRow):
        out += [
            b"SEQUENCE:0\r\n",
            f"DTSTAMP:{_utc(row.stamp)}\r\n".encode(),
            f"LAST-MODIFIED:{_utc(row.stamp)}\r\n".encode(),
            f"DTSTART;VALUE=DATE:{row.start_date:%Y%m%d}\r\n".encode(),
            f"DTEND;VALUE=DATE:{row.end_date + timedelta(days=1):%Y%m%d}\r\n".encode(),
            _text_line("SUMMARY", closure_summary(row)),
            b"TRANSP:TRANSPARENT\r\n",
            b"END:VEVENT\r\n",
        ]
        return b"".join(out)
    out += [
        f"SEQUENCE:{row.sequence}\r\n".encode(),
        f"DTSTAMP:{_utc(row.stamp)}\r\n".encode(),
        f"LAST-MODIFIED:{_utc(row.stamp)}\r\n".encode(),
        fold(f"DTSTART;TZID={row.timezone}:{_local(row.start_at, row.timezone)}"),
        fold(f"DTEND;TZID={row.timezone}:{_local(row.end_at, row.timezone)}"),
    ]
    if isinstance(row, PublicEventRow):
        summary, description, status = public_summary(row), public_description(row), public_status(row)
        transp = "TRANSPARENT"  # a public listing must not make the subscriber look busy
    else:
        summary, description, status = shift_summary(row), shift_description(row), shift_status(row)
        transp = "OPAQUE"
    out.append(_text_line("SUMMARY", summary))
    venue = clean_text(row.venue)
    if venue:
        out.append(_text_line("LOCATION", venue))
    out += [
        _text_line("DESCRIPTION", description),
        _text_line("CATEGORIES", kind_label(row.kind)),
        f"STATUS:{status}\r\n".encode(),
        f"TRANSP:{transp}\r\n".encode(),
    ]
    if isinstance(row, ShiftRow):
        out += [
            b"BEGIN:VALARM\r\n",
            b"ACTION:DISPLAY\r\n",
            _text_line("DESCRIPTION", summary),
            b"TRIGGER:-PT2H\r\n",
            b"END:VALARM\r\n",
        ]
    out.append(b"END:VEVENT\r\n")
    return b"".join(out)


class EventCache:
    """Serialized VEVENT bytes keyed by the whole row and domain (a memo of a pure function).

    A row is a frozen dataclass, so any change to what an event shows (sequence, stamp, seats,
    title...) is a new key. Bounded: when full, the cache starts afresh. The bound must exceed the
    events of one full publish (every public occurrence in the window, about 1 M in the synthetic
    city of 5,000 branches): below that, each publish empties it halfway and a warm publish is cold.
    About 1-1.5 KiB an entry (the row and its bytes), so 2 M entries stay under 3 GiB.

    A row object seen before (the loader hands back the same objects for unchanged occurrences,
    see ``calendars.rows.ROW_MEMO``) is found by identity first: no hashing or comparing of the
    whole row, which was most of a warm build. The entry holds the row, so its id is not reused
    while the entry lives.
    """

    def __init__(self, max_entries: int = 2_000_000) -> None:
        self.max_entries = max_entries
        self._bytes: dict[tuple[FeedRow, str], bytes] = {}
        self._by_object: dict[int, tuple[FeedRow, str, bytes]] = {}
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._bytes)

    def clear(self) -> None:
        self._bytes.clear()
        self._by_object.clear()

    def event_bytes(self, row: FeedRow, domain: str) -> bytes:
        seen = self._by_object.get(id(row))
        if seen is not None and seen[0] is row and seen[1] == domain:
            self.hits += 1
            return seen[2]
        key = (row, domain)
        data = self._bytes.get(key)
        if data is None:
            self.misses += 1
            if len(self._bytes) >= self.max_entries:
                self.clear()
            data = self._bytes[key] = serialize_event(row, domain)
        else:
            self.hits += 1
        if len(self._by_object) >= self.max_entries:
            self._by_object.clear()
        self._by_object[id(row)] = (row, domain, data)
        return data


def calendar_header(meta: FeedMeta) -> bytes:
    name = clean_text(meta.name)
    description = clean_text(meta.description)
    return b"".join([
        b"BEGIN:VCALENDAR\r\n",
        b"VERSION:2.0\r\n",
        fold(f"PRODID:{PRODID}"),
        b"CALSCALE:GREGORIAN\r\n",
        _text_line("NAME", name),
        _text_line("X-WR-CALNAME", name),
        _text_line("DESCRIPTION", description),
        _text_line("X-WR-CALDESC", description),
        f"REFRESH-INTERVAL;VALUE=DURATION:{REFRESH}\r\n".encode(),
        f"X-PUBLISHED-TTL:{REFRESH}\r\n".encode(),
    ])


def build_feed(meta: FeedMeta, rows: Sequence[FeedRow], domain: str, cache: EventCache | None = None,
               names: frozenset[str] = frozenset()) -> bytes:
    """The feed's bytes: same rows in, same bytes out (rule 7), whatever the input order.

    ``names``: active volunteers' names found in the rows' free text (the rows loader looks them up):
    redacted in a public feed. A row that names one is serialized outside the cache, whose entries
    depend on the row alone.
    """
    if not meta.private and any(isinstance(r, ShiftRow) for r in rows):
        raise ValueError("a public feed cannot list a volunteer's shifts")
    ordered = sorted(rows, key=sort_key)
    parts = [calendar_header(meta)]
    parts += [vtimezone_bytes(tzid) for tzid in timezones_used(ordered)]
    if cache is None:
        parts += [serialize_event(row, domain, names) for row in ordered]
    elif names:
        parts += [serialize_event(row, domain, names) if mentions(row, names) else cache.event_bytes(row, domain)
                  for row in ordered]
    else:
        parts += [cache.event_bytes(row, domain) for row in ordered]
    parts.append(b"END:VCALENDAR\r\n")
    return b"".join(parts)


# --------------------------------------------------------------------------- the icalendar reference


def build_feed_icalendar(meta: FeedMeta, rows: Sequence[FeedRow], domain: str,
                         names: frozenset[str] = frozenset()) -> bytes:
    """The same feed built with icalendar ``Event`` objects and ``to_ical()`` (reference, baseline)."""
    from icalendar import Alarm, Calendar, Event, vDDDTypes, vDuration, vText

    if not meta.private and any(isinstance(r, ShiftRow) for r in rows):
        raise ValueError("a public feed cannot list a volunteer's shifts")
    ordered = sorted((scrubbed(row, names) for row in rows), key=sort_key)
    cal = Calendar()
    cal.add("version", "2.0")
    cal.add("prodid", PRODID)
    cal.add("calscale", "GREGORIAN")
    name, description = clean_text(meta.name), clean_text(meta.description)
    cal.add("name", name)
    cal.add("x-wr-calname", vText(name))
    cal.add("description", description)
    cal.add("x-wr-caldesc", vText(description))
    cal.add("refresh-interval", vDuration(timedelta(hours=6)), parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", vText(REFRESH))
    for tzid in timezones_used(ordered):
        cal.add_component(vtimezone(tzid))
    for row in ordered:
        event = Event()
        event.add("uid", event_uid(row, domain))
        if isinstance(row, ClosureRow):
            event.add("sequence", 0)
            event.add("dtstamp", row.stamp.astimezone(UTC))
            event.add("last-modified", row.stamp.astimezone(UTC))
            event.add("dtstart", vDDDTypes(row.start_date))
            event.add("dtend", vDDDTypes(row.end_date + timedelta(days=1)))
            event.add("summary", closure_summary(row))
            event.add("transp", "TRANSPARENT")
            cal.add_component(event)
            continue
        tz = ZoneInfo(row.timezone)
        event.add("sequence", row.sequence)
        event.add("dtstamp", row.stamp.astimezone(UTC))
        event.add("last-modified", row.stamp.astimezone(UTC))
        event.add("dtstart", row.start_at.astimezone(tz))
        event.add("dtend", row.end_at.astimezone(tz))
        if isinstance(row, PublicEventRow):
            summary, text, status, transp = (public_summary(row), public_description(row), public_status(row),
                                             "TRANSPARENT")
        else:
            summary, text, status, transp = shift_summary(row), shift_description(row), shift_status(row), "OPAQUE"
        event.add("summary", summary)
        if clean_text(row.venue):
            event.add("location", clean_text(row.venue))
        event.add("description", text)
        event.add("categories", [kind_label(row.kind)])
        event.add("status", status)
        event.add("transp", transp)
        if isinstance(row, ShiftRow):
            alarm = Alarm()
            alarm.add("action", "DISPLAY")
            alarm.add("description", summary)
            alarm.add("trigger", -ALARM_BEFORE)
            event.add_component(alarm)
        cal.add_component(event)
    return cal.to_ical()
