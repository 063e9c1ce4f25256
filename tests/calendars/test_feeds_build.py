"""The pure builder against FEEDS.md, one test per rule (no database: rows in, bytes out)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import icalendar
import pytest
import recurring_ical_events
from hypothesis import given, settings
from hypothesis import strategies as st

from calendars.build import (
    CANCELLED_PREFIX,
    PROVISIONAL_NOTE,
    ClosureRow,
    EventCache,
    FeedMeta,
    PublicEventRow,
    ShiftRow,
    build_feed,
    build_feed_icalendar,
    clean_text,
    fold,
)

DOMAIN = "feeds.test"
STAMP = datetime(2026, 11, 20, 3, 4, 5, tzinfo=UTC)
PUBLIC = FeedMeta("顺景花园党支部 志愿服务", "顺景花园的公开志愿服务日程")
PRIVATE = FeedMeta("我的志愿服务班次", "你的排班", private=True)
LONG_CHINESE = "龙城街道爱联社区顺景花园党群服务中心四点半课堂志愿辅导" * 6


def occ(n: int = 1, **changes: object) -> PublicEventRow:
    start = datetime(2026, 12, 7, 8, 30, tzinfo=UTC) + timedelta(days=n)
    row = PublicEventRow(
        occurrence_id=n, service_id=1, title="四点半课堂", kind="classroom", venue="顺景花园党群之家",
        contact_role="支部第一书记", timezone="Asia/Shanghai", start_at=start, end_at=start + timedelta(hours=2),
        status="scheduled", provisional=False, sequence=0, stamp=STAMP, open_seats=(("辅导员", 2),),
    )
    return replace(row, **changes)  # type: ignore[arg-type]


def shift(n: int = 1, **changes: object) -> ShiftRow:
    start = datetime(2026, 12, 7, 8, 30, tzinfo=UTC) + timedelta(days=n)
    row = ShiftRow(
        assignment_id=100 + n, occurrence_id=n, title="四点半课堂", kind="classroom", venue="顺景花园党群之家",
        contact_role="支部第一书记", timezone="Asia/Shanghai", start_at=start, end_at=start + timedelta(hours=2),
        occurrence_status="scheduled", assignment_status="confirmed", role="辅导员", provisional=False,
        sequence=0, stamp=STAMP,
    )
    return replace(row, **changes)  # type: ignore[arg-type]


def lines(data: bytes) -> list[bytes]:
    assert data.endswith(b"\r\n")
    return data[:-2].split(b"\r\n")


def unfolded(data: bytes) -> list[str]:
    return data.decode("utf-8").replace("\r\n ", "").split("\r\n")


def parse_events(data: bytes) -> dict[str, icalendar.Event]:
    cal = icalendar.Calendar.from_ical(data)
    return {str(e["UID"]): e for e in cal.walk("VEVENT")}


def test_lines_end_in_crlf_and_no_bare_newline() -> None:
    data = build_feed(PUBLIC, [occ(1), occ(2, title="a\nb\rc")], DOMAIN)
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert b"\r" not in data.replace(b"\r\n", b"")
    assert not data.startswith(b"\xef\xbb\xbf")


def test_long_chinese_text_folds_at_75_octets_without_splitting_a_character() -> None:
    data = build_feed(PUBLIC, [occ(1, title=LONG_CHINESE, venue=LONG_CHINESE)], DOMAIN)
    for line in lines(data):
        assert len(line) <= 75, line
        line.decode("utf-8")  # each physical line is valid UTF-8 on its own: no split character
    assert any(line.startswith(b" ") for line in lines(data)), "the long title must have been folded"
    summary = next(x for x in unfolded(data) if x.startswith("SUMMARY:"))
    assert summary == "SUMMARY:" + LONG_CHINESE


def test_fold_keeps_backslash_escapes_on_one_line() -> None:
    line = "DESCRIPTION:" + "a" * 62 + "\\,b"
    assert fold(line) == ("DESCRIPTION:" + "a" * 62 + "\r\n \\,b\r\n").encode()


def test_text_values_escape_backslash_semicolon_comma_newline() -> None:
    data = build_feed(PUBLIC, [occ(1, title="课;堂,一\\二", venue="A;B,C")], DOMAIN)
    text = unfolded(data)
    assert "SUMMARY:课\\;堂\\,一\\\\二" in text
    assert "LOCATION:A\\;B\\,C" in text
    event = parse_events(data)[f"occ-1@{DOMAIN}"]
    assert str(event["SUMMARY"]) == "课;堂,一\\二"
    assert "\n地点：A;B,C\n" in str(event["DESCRIPTION"])


def test_control_characters_are_stripped_from_user_text() -> None:
    data = build_feed(PUBLIC, [occ(1, title="四点\x00半\x07课\x1b堂\x7f\tX")], DOMAIN)
    summary = str(parse_events(data)[f"occ-1@{DOMAIN}"]["SUMMARY"])
    assert summary == "四点半课堂\tX"
    assert not any(0 < b < 32 and b not in (9, 10, 13) for b in data)


@pytest.mark.parametrize("evil", [
    "x\r\nATTENDEE:evil", "x\nBEGIN:VEVENT\nUID:evil", "x\rMETHOD:REQUEST", "x\u2028ORGANIZER:evil",
])
def test_injection_in_title_and_venue_adds_no_property(evil: str) -> None:
    data = build_feed(PUBLIC, [occ(1, title=evil, venue=evil, contact_role=evil)], DOMAIN)
    names = {line.split(":", 1)[0].split(";", 1)[0] for line in unfolded(data)}
    assert not names & {"ATTENDEE", "METHOD", "ORGANIZER"}
    assert unfolded(data).count("BEGIN:VEVENT") == 1
    cal = icalendar.Calendar.from_ical(data)
    assert [str(e["UID"]) for e in cal.walk("VEVENT")] == [f"occ-1@{DOMAIN}"]


def test_x_properties_are_escaped_text_so_a_calendar_name_cannot_inject() -> None:
    meta = FeedMeta("名\r\nX-EVIL:1;a,b", "说明\nMETHOD:PUBLISH")
    for data in (build_feed(meta, [], DOMAIN), build_feed_icalendar(meta, [], DOMAIN)):
        text = unfolded(data)
        assert not any(line.startswith(("X-EVIL", "METHOD")) for line in text)
        assert "X-WR-CALNAME:名 X-EVIL:1\\;a\\,b" in text


def test_calendar_starts_with_version_and_fixed_prodid_and_has_no_method() -> None:
    a = build_feed(PUBLIC, [occ(1)], DOMAIN)
    b = build_feed(PUBLIC, [occ(2)], "other.test")
    head = lines(a)[:3]
    assert head[0] == b"BEGIN:VCALENDAR" and head[1] == b"VERSION:2.0"
    assert head[2] == lines(b)[2] and head[2].startswith(b"PRODID:-//")
    assert b"METHOD" not in a


def test_uid_is_database_key_and_domain_public_differs_from_private() -> None:
    public = build_feed(PUBLIC, [occ(7)], DOMAIN)
    private = build_feed(PRIVATE, [shift(7, assignment_id=55, occurrence_id=7)], DOMAIN)
    assert set(parse_events(public)) == {f"occ-7@{DOMAIN}"}
    assert set(parse_events(private)) == {f"shift-55@{DOMAIN}"}


def test_uid_does_not_change_when_an_occurrence_moves_or_is_renamed() -> None:
    before = occ(3)
    after = replace(before, start_at=before.start_at + timedelta(hours=3), end_at=before.end_at + timedelta(hours=3),
                    title="新名称", sequence=1)
    assert set(parse_events(build_feed(PUBLIC, [before], DOMAIN))) == set(
        parse_events(build_feed(PUBLIC, [after], DOMAIN)))


def test_sequence_is_written_from_the_row() -> None:
    data = build_feed(PUBLIC, [occ(1, sequence=4)], DOMAIN)
    assert parse_events(data)[f"occ-1@{DOMAIN}"]["SEQUENCE"] == 4


def test_dtstamp_and_last_modified_are_the_row_change_time_in_utc() -> None:
    text = unfolded(build_feed(PUBLIC, [occ(1)], DOMAIN))
    assert "DTSTAMP:20261120T030405Z" in text
    assert "LAST-MODIFIED:20261120T030405Z" in text


def test_same_rows_give_byte_identical_output_in_any_order() -> None:
    rows = [occ(i) for i in range(1, 20)]
    cache = EventCache()
    first = build_feed(PUBLIC, rows, DOMAIN, cache)
    assert build_feed(PUBLIC, list(reversed(rows)), DOMAIN, cache) == first
    assert build_feed(PUBLIC, rows, DOMAIN) == first


def test_cancelled_occurrence_stays_with_status_and_visible_prefix() -> None:
    data = build_feed(PUBLIC, [occ(1, status="cancelled")], DOMAIN)
    event = parse_events(data)[f"occ-1@{DOMAIN}"]
    assert str(event["STATUS"]) == "CANCELLED"
    assert str(event["SUMMARY"]).startswith(CANCELLED_PREFIX)


def test_provisional_date_is_marked() -> None:
    event = parse_events(build_feed(PUBLIC, [occ(1, provisional=True)], DOMAIN))[f"occ-1@{DOMAIN}"]
    assert PROVISIONAL_NOTE in str(event["DESCRIPTION"])
    assert str(event["STATUS"]) == "TENTATIVE"


def test_timed_events_use_tzid_local_times_and_one_sorted_vtimezone_per_zone() -> None:
    rows = [occ(1), occ(2, timezone="Europe/Berlin"), occ(3), occ(4, timezone="Europe/Berlin")]
    data = build_feed(PUBLIC, rows, DOMAIN)
    text = unfolded(data)
    tzids = [line for line in text if line.startswith("TZID:")]
    assert tzids == ["TZID:Asia/Shanghai", "TZID:Europe/Berlin"]
    assert text.index("END:VTIMEZONE") < text.index("BEGIN:VEVENT")
    assert "DTSTART;TZID=Asia/Shanghai:20261208T163000" in text
    assert "DTSTART;TZID=Europe/Berlin:20261209T093000" in text
    assert not any(line.startswith(("DTSTART:", "DTEND:")) for line in text[text.index("BEGIN:VEVENT"):])
    for event in icalendar.Calendar.from_ical(data).walk("VEVENT"):
        assert event.decoded("DTSTART").tzinfo is not None


def test_output_does_not_depend_on_pythonhashseed(tmp_path: Path) -> None:
    script = (
        "import sys; from tests.calendars.test_feeds_build import *\n"
        "rows = [occ(1), occ(2, timezone='Europe/Berlin'), occ(3, timezone='America/New_York')]\n"
        "sys.stdout.buffer.write(build_feed(PUBLIC, rows, DOMAIN) + b'@@' + build_feed_icalendar(PUBLIC, rows, DOMAIN))"
    )
    outputs = set()
    for seed in ("1", "2", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, check=True,
                              cwd=Path(__file__).parents[2])
        outputs.add(done.stdout)
    assert len(outputs) == 1


def test_all_day_closure_uses_value_date_and_exclusive_end() -> None:
    closure = ClosureRow(9, "四点半课堂", "寒假", date(2027, 1, 20), date(2027, 1, 22), STAMP)
    text = unfolded(build_feed(PUBLIC, [closure], DOMAIN))
    assert "DTSTART;VALUE=DATE:20270120" in text
    assert "DTEND;VALUE=DATE:20270123" in text
    days = recurring_ical_events.of(icalendar.Calendar.from_ical(build_feed(PUBLIC, [closure], DOMAIN))).between(
        date(2027, 1, 1), date(2027, 2, 1))
    assert len(days) == 1


def test_rfc7986_properties_are_written_as_strict_parsers_want() -> None:
    for data in (build_feed(PUBLIC, [], DOMAIN), build_feed_icalendar(PUBLIC, [], DOMAIN)):
        text = unfolded(data)
        assert "REFRESH-INTERVAL;VALUE=DURATION:PT6H" in text
        assert "X-PUBLISHED-TTL:PT6H" in text
        assert f"NAME:{PUBLIC.name}" in text and f"X-WR-CALNAME:{PUBLIC.name}" in text
        assert f"DESCRIPTION:{PUBLIC.description}" in text and f"X-WR-CALDESC:{PUBLIC.description}" in text


def test_alarm_only_in_private_feeds_and_exactly_one() -> None:
    assert b"VALARM" not in build_feed(PUBLIC, [occ(1), occ(2)], DOMAIN)
    private = build_feed(PRIVATE, [shift(1), shift(2)], DOMAIN)
    for event in icalendar.Calendar.from_ical(private).walk("VEVENT"):
        alarms = event.walk("VALARM")
        assert len(alarms) == 1 and str(alarms[0]["ACTION"]) == "DISPLAY"


def test_public_feed_refuses_private_shift_rows() -> None:
    with pytest.raises(ValueError):
        build_feed(PUBLIC, [shift(1)], DOMAIN)


def test_public_event_shows_open_seats_per_role_and_contact_role() -> None:
    row = occ(1, open_seats=(("辅导员", 2), ("助教", 0), ("医生", 1)))
    description = str(parse_events(build_feed(PUBLIC, [row], DOMAIN))[f"occ-1@{DOMAIN}"]["DESCRIPTION"])
    assert "还缺 2 名辅导员" in description and "还缺 1 名医生" in description
    assert "助教" not in description
    assert "联系：支部第一书记" in description
    full = str(parse_events(build_feed(PUBLIC, [occ(1, open_seats=(("辅导员", 0),))], DOMAIN))[
        f"occ-1@{DOMAIN}"]["DESCRIPTION"])
    assert "岗位已满" in full


def test_private_shift_shows_role_venue_contact_and_status() -> None:
    event = parse_events(build_feed(PRIVATE, [shift(1, assignment_status="invited")], DOMAIN))[f"shift-101@{DOMAIN}"]
    assert str(event["SUMMARY"]) == "四点半课堂 · 辅导员"
    assert str(event["LOCATION"]) == "顺景花园党群之家"
    assert "联系：支部第一书记" in str(event["DESCRIPTION"])
    assert str(event["STATUS"]) == "TENTATIVE"


def _comparable(data: bytes) -> tuple[dict[str, object], list[dict[str, object]]]:
    cal = icalendar.Calendar.from_ical(data)
    props = {k: cal.decoded(k) for k in cal}
    events = []
    for event in cal.walk("VEVENT"):
        item: dict[str, object] = {}
        for key in event:
            value = event.decoded(key)
            item[key] = [str(v) for v in value] if isinstance(value, list) else value
        item["alarms"] = [{k: a.decoded(k) for k in a} for a in event.walk("VALARM")]
        events.append(item)
    return props, sorted(events, key=lambda e: str(e["UID"]))


def test_fast_serializer_parses_equal_to_the_icalendar_reference() -> None:
    rows: list[PublicEventRow | ShiftRow | ClosureRow] = [
        occ(1), occ(2, status="cancelled"), occ(3, timezone="Europe/Berlin", title=LONG_CHINESE),
        occ(4, provisional=True, venue="a;b,c\\d"), ClosureRow(5, "课堂", "装修", date(2027, 1, 1), date(2027, 1, 3), STAMP),
    ]
    assert _comparable(build_feed(PUBLIC, rows, DOMAIN, EventCache())) == _comparable(
        build_feed_icalendar(PUBLIC, rows, DOMAIN))
    shifts = [shift(1), shift(2, occurrence_status="cancelled", cancel_reason="暴雨"), shift(3, timezone="Europe/Berlin")]
    assert _comparable(build_feed(PRIVATE, shifts, DOMAIN)) == _comparable(build_feed_icalendar(PRIVATE, shifts, DOMAIN))


def test_event_cache_reuses_bytes_and_misses_on_any_change() -> None:
    cache = EventCache()
    build_feed(PUBLIC, [occ(1), occ(2)], DOMAIN, cache)
    build_feed(PUBLIC, [occ(1), occ(2, open_seats=(("辅导员", 1),))], DOMAIN, cache)
    assert (cache.hits, cache.misses) == (1, 3)


def test_clean_text_strips_surrogates_and_keeps_tab() -> None:
    assert clean_text("a\ud800b\tc\x85d") == "ab\tc d"


text_strategy = st.text(alphabet=st.characters(codec=None), max_size=120)


@settings(max_examples=150, deadline=None)
@given(title=text_strategy, venue=text_strategy, contact=text_strategy)
def test_any_text_reaching_a_feed_round_trips_safely(title: str, venue: str, contact: str) -> None:
    data = build_feed(PUBLIC, [occ(1, title=title, venue=venue, contact_role=contact)], DOMAIN)
    for line in lines(data):
        assert len(line) <= 75
        line.decode("utf-8")
    events = list(icalendar.Calendar.from_ical(data).walk("VEVENT"))
    assert len(events) == 1
    assert str(events[0]["UID"]) == f"occ-1@{DOMAIN}"
    assert str(events[0]["SUMMARY"]) == clean_text(title)
    if clean_text(venue):
        assert str(events[0]["LOCATION"]) == clean_text(venue)
    else:
        assert "LOCATION" not in events[0]
