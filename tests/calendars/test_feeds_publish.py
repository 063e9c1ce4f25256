"""Publishing feeds from the database (SQLite and PostgreSQL): layout, privacy, identity, dirty marking."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import icalendar
import pytest
import recurring_ical_events
from sqlalchemy import Engine, func, select

from calendars.dirty import mark_all_dirty, mark_feeds_for_event
from calendars.publish import EVENT_CACHE, freeze_grown_caches, publish_dirty, write_atomic
from calendars.rows import ROW_MEMO
from calendars.site import feed_urls
from scheduler.db import session_scope
from scheduler.events import record_event
from scheduler.models import Assignment, Closure, Event, FeedState, Occurrence, Role, Volunteer
from scheduler.settings import Settings
from scheduler.volunteers import rotate_feed_token
from tests import factories as f
from tests.conftest import service_missing

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
DOMAIN = "feeds.test"
JS_DIR = Path(__file__).parents[1] / "js"
SECRET_NAMES = ("王秘密", "李隐私")
SECRET_PHONES = ("13912345678", "13887654321")
SECRET_ID = "440307198001011238"  # a well-formed number (its check digit matches)


def make_settings(tmp_path: Path) -> Settings:
    return Settings.from_env({
        "ROSTER_HOME": str(tmp_path / "var"), "ROSTER_FEED_DIR": str(tmp_path / "feeds"),
        "ROSTER_DOMAIN": DOMAIN, "ROSTER_PUBLIC_BASE_URL": "https://feeds.test",
    })


@dataclass
class City:
    services: dict[str, int]
    occurrences: dict[str, int]
    volunteers: dict[str, int]
    assignments: dict[str, int]


def build_city(engine: Engine) -> City:
    """Two communities, three branches, public and private services, seats taken by planted volunteers."""
    with session_scope(engine) as s:
        f.org(s)  # ailian / shunjing
        f.branch(s, "yuhua", "玉华花园党支部", "ailian")
        f.community(s, "longxi", "龙西社区")
        f.branch(s, "wulian", "五联花园党支部", "longxi")
        svc = {
            "classroom": f.service(s, "classroom", contact_role="支部第一书记"),
            "homevisit": f.service(s, "homevisit", title="关爱空巢老人入户探访", kind="elderly_care",
                                   venue="张阿婆家（爱联路 3 号 501）", visibility="private", roles=["探访员:1"]),
            "centre": f.service(s, "centre", title="党群服务中心错时服务", kind="centre_opening", branch=None,
                                community="ailian", venue="爱联社区党群服务中心", roles=["值班员:1"]),
            "berlin": f.service(s, "berlin", title="柏林读书会", kind="reading", branch="yuhua", venue="Berlin",
                                timezone="Europe/Berlin", start_time="19:00", roles=["主持:1"]),
            "clinic": f.service(s, "clinic", title="义诊", kind="clinic", branch="wulian", venue="五联广场",
                                roles=["医生:2:doctor", "护士:1"]),
        }
        occ = {
            "classroom1": f.occurrence(s, svc["classroom"], datetime(2026, 12, 7, 8, 30, tzinfo=UTC)),
            "classroom2": f.occurrence(s, svc["classroom"], datetime(2026, 12, 8, 8, 30, tzinfo=UTC)),
            "classroom_past": f.occurrence(s, svc["classroom"], datetime(2026, 11, 10, 8, 30, tzinfo=UTC)),
            "classroom_old": f.occurrence(s, svc["classroom"], datetime(2026, 10, 1, 8, 30, tzinfo=UTC)),
            "classroom_far": f.occurrence(s, svc["classroom"], datetime(2027, 6, 1, 8, 30, tzinfo=UTC)),
            "homevisit": f.occurrence(s, svc["homevisit"], datetime(2026, 12, 9, 1, 0, tzinfo=UTC)),
            "centre": f.occurrence(s, svc["centre"], datetime(2026, 12, 10, 11, 0, tzinfo=UTC)),
            "berlin": f.occurrence(s, svc["berlin"], datetime(2026, 12, 11, 18, 0, tzinfo=UTC)),
            "clinic": f.occurrence(s, svc["clinic"], datetime(2026, 12, 12, 1, 0, tzinfo=UTC), status="cancelled"),
        }
        vols = {
            "a": f.volunteer(s, SECRET_NAMES[0], SECRET_PHONES[0], id_number=SECRET_ID),
            "b": f.volunteer(s, SECRET_NAMES[1], SECRET_PHONES[1]),
        }
        s.flush()

        def seat(key: str, occ_key: str, vol: str, status: str = "confirmed", seat_no: int = 1) -> Assignment:
            occurrence = occ[occ_key]
            role = s.scalars(select(Role).where(Role.service_id == occurrence.service_id).order_by(Role.id)).first()
            assert role is not None
            a = Assignment(occurrence_id=occurrence.id, role_id=role.id, volunteer_id=vols[vol].id, status=status,
                           seat_no=seat_no if status in ("invited", "confirmed", "attended", "no_show") else None,
                           updated_at=NOW - timedelta(days=1))
            s.add(a)
            s.flush()
            return a

        assignments = {
            "a_classroom1": seat("a_classroom1", "classroom1", "a"),
            "b_classroom1": seat("b_classroom1", "classroom1", "b", "invited", 2),
            "a_homevisit": seat("a_homevisit", "homevisit", "a"),
            "b_clinic": seat("b_clinic", "clinic", "b"),
            "b_declined": seat("b_declined", "classroom2", "b", "declined"),
        }
        return City(
            services={k: v.id for k, v in svc.items()}, occurrences={k: v.id for k, v in occ.items()},
            volunteers={k: v.id for k, v in vols.items()}, assignments={k: v.id for k, v in assignments.items()},
        )


def publish(engine: Engine, settings: Settings, **kwargs: object):  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        return publish_dirty(s, settings, now=NOW, **kwargs)  # type: ignore[arg-type]


def token_of(engine: Engine, volunteer_id: int) -> str:
    with session_scope(engine) as s:
        vol = s.get(Volunteer, volunteer_id)
        assert vol is not None
        return vol.feed_token


def events_of(path: Path) -> dict[str, icalendar.Event]:
    cal = icalendar.Calendar.from_ical(path.read_bytes())
    return {str(e["UID"]): e for e in cal.walk("VEVENT")}


def public_files(feed_dir: Path) -> list[Path]:
    return sorted([feed_dir / "district.ics", feed_dir / "index.html", *feed_dir.glob("branches/*.ics"),
                   *feed_dir.glob("communities/*.ics")])


@pytest.fixture
def city(engine: Engine) -> City:
    EVENT_CACHE.clear()
    ROW_MEMO.clear()
    return build_city(engine)


def test_publish_all_writes_the_layout(engine: Engine, city: City, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    result = publish(engine, settings, all_feeds=True)
    root = settings.feed_dir
    names = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    tokens = sorted(f"volunteers/{token_of(engine, v)}.ics" for v in city.volunteers.values())
    assert names == sorted([
        "branches/shunjing.ics", "branches/wulian.ics", "branches/yuhua.ics", "communities/ailian.ics",
        "communities/longxi.ics", "district.ics", "index.html", *tokens,
    ])
    assert result.written == 8 and result.unchanged == 0
    assert set(events_of(root / "branches/shunjing.ics")) == {
        f"occ-{city.occurrences[k]}@{DOMAIN}" for k in ("classroom1", "classroom2", "classroom_past")}
    # A community's feed: its own services and its branches'; the district: everything public.
    ailian = {f"occ-{city.occurrences[k]}@{DOMAIN}" for k in ("classroom1", "classroom2", "classroom_past",
                                                               "centre", "berlin")}
    assert set(events_of(root / "communities/ailian.ics")) == ailian
    assert set(events_of(root / "district.ics")) == ailian | {f"occ-{city.occurrences['clinic']}@{DOMAIN}"}
    with session_scope(engine) as s:
        assert not s.scalars(select(FeedState).where(FeedState.dirty.is_(True))).all()


def test_window_is_thirty_days_back_to_end_of_horizon(engine: Engine, city: City, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    publish(engine, settings, all_feeds=True)
    uids = set(events_of(settings.feed_dir / "district.ics"))
    assert f"occ-{city.occurrences['classroom_past']}@{DOMAIN}" in uids  # 21 days back
    assert f"occ-{city.occurrences['classroom_old']}@{DOMAIN}" not in uids  # 61 days back
    assert f"occ-{city.occurrences['classroom_far']}@{DOMAIN}" not in uids  # past the 12-week horizon


def test_no_personal_data_in_public_feeds(engine: Engine, city: City, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    publish(engine, settings, all_feeds=True)
    for path in public_files(settings.feed_dir):
        text = path.read_text("utf-8")
        for secret in (*SECRET_NAMES, *SECRET_PHONES, SECRET_ID, "张阿婆", "爱联路 3 号"):
            assert secret not in text, (path, secret)
        assert "shift-" not in text and "VALARM" not in text


def test_private_services_never_in_public_feeds_but_in_the_volunteers_own(
        engine: Engine, city: City, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    publish(engine, settings, all_feeds=True)
    home_uid = f"occ-{city.occurrences['homevisit']}@{DOMAIN}"
    for path in public_files(settings.feed_dir):
        assert home_uid not in path.read_text("utf-8")
        assert "入户探访" not in path.read_text("utf-8")
    own = events_of(settings.feed_dir / f"volunteers/{token_of(engine, city.volunteers['a'])}.ics")
    assert f"shift-{city.assignments['a_homevisit']}@{DOMAIN}" in own


def test_private_feed_lists_only_own_seated_shifts(engine: Engine, city: City, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    publish(engine, settings, all_feeds=True)
    b = events_of(settings.feed_dir / f"volunteers/{token_of(engine, city.volunteers['b'])}.ics")
    assert set(b) == {f"shift-{city.assignments[k]}@{DOMAIN}" for k in ("b_classroom1", "b_clinic")}
    clinic = b[f"shift-{city.assignments['b_clinic']}@{DOMAIN}"]
    assert str(clinic["STATUS"]) == "CANCELLED" and str(clinic["SUMMARY"]).startswith("【已取消】")
    classroom = b[f"shift-{city.assignments['b_classroom1']}@{DOMAIN}"]
    assert str(classroom["SUMMARY"]) == "四点半课堂 · 辅导员"
    assert len(classroom.walk("VALARM")) == 1


def test_open_seats_count_seated_assignments_per_role(engine: Engine, city: City, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    publish(engine, settings, all_feeds=True)
    events = events_of(settings.feed_dir / "branches/shunjing.ics")
    assert "岗位已满" in str(events[f"occ-{city.occurrences['classroom1']}@{DOMAIN}"]["DESCRIPTION"])
    # classroom2's only assignment was declined: both seats open.
    assert "还缺 2 名辅导员" in str(events[f"occ-{city.occurrences['classroom2']}@{DOMAIN}"]["DESCRIPTION"])


def test_unchanged_feeds_are_byte_identical_and_not_rewritten(engine: Engine, city: City, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    publish(engine, settings, all_feeds=True)
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_ino) for p in settings.feed_dir.rglob("*.ics")}
    EVENT_CACHE.clear()  # a cold process builds the same bytes
    result = publish(engine, settings, all_feeds=True)
    assert result.written == 0 and result.unchanged == len(before)
    assert not result.index_written
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_ino) for p in settings.feed_dir.rglob("*.ics")}
    assert after == before


def test_warm_caches_after_a_seat_change_give_the_bytes_of_a_cold_publish(
        engine: Engine, city: City, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    publish(engine, settings, all_feeds=True)  # caches warm
    with session_scope(engine) as s:
        seat = s.get(Assignment, city.assignments["b_classroom1"])
        assert seat is not None
        seat.status, seat.seat_no, seat.updated_at = "cancelled", None, NOW
        event = record_event(s, "assignment.cancelled", assignment_id=seat.id, occurrence_id=seat.occurrence_id,
                             volunteer_id=seat.volunteer_id)
        s.flush()
        mark_feeds_for_event(s, event)
    warm = publish(engine, settings)
    assert warm.written >= 3  # branch, community, district, volunteer
    warm_bytes = {p.relative_to(settings.feed_dir): p.read_bytes() for p in settings.feed_dir.rglob("*.ics")}
    assert "还缺 1 名辅导员" in (settings.feed_dir / "branches/shunjing.ics").read_text(encoding="utf-8")
    EVENT_CACHE.clear()
    ROW_MEMO.clear()
    cold_settings = make_settings(tmp_path / "cold")
    publish(engine, cold_settings, all_feeds=True)
    cold_bytes = {p.relative_to(cold_settings.feed_dir): p.read_bytes()
                  for p in cold_settings.feed_dir.rglob("*.ics")}
    assert warm_bytes == cold_bytes


def test_a_feed_seats_by_occurrence_id_or_by_join_give_the_same_rows(
        engine: Engine, city: City, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Seats are read by occurrence id for an ordinary feed, by a join for one past SEAT_IDS_MAX."""
    from calendars import rows as R

    settings = make_settings(tmp_path)
    window = R.feed_window(NOW, settings.tz, settings.horizon_weeks)
    with session_scope(engine) as s:
        community_ids = [c.id for c in R.load_communities(s)]
        branch_ids = [b.id for b in R.load_branches(s)]

        def rows() -> dict[int, object]:
            loaded = R.load_public_events(s, window, branch_ids, community_ids, memo=R.RowMemo())
            return {p.row.occurrence_id: p for p in loaded}

        by_id = rows()
        monkeypatch.setattr(R, "SEAT_IDS_MAX", 0)
        by_join = rows()
    assert by_id == by_join
    with session_scope(engine) as s:  # and the seats matter here: some are taken in the test city
        counts = dict(s.execute(select(Occurrence.id, func.sum(Role.count))
                                .join(Role, Role.service_id == Occurrence.service_id).group_by(Occurrence.id)).all())
    assert any(sum(n for _, n in p.row.open_seats) < counts[oid] for oid, p in by_id.items())


def test_grown_caches_are_frozen_once_then_only_after_growing_again(
        engine: Engine, city: City, tmp_path: Path) -> None:
    """The worker freezes its caches after a publish that filled them (the collector stops walking
    them), not after every publish."""
    import gc

    EVENT_CACHE.clear()
    ROW_MEMO.clear()
    freeze_grown_caches(threshold=10**9)  # resets the mark to the empty caches
    publish(engine, make_settings(tmp_path), all_feeds=True)
    grown = len(EVENT_CACHE) + len(ROW_MEMO.entries)
    assert grown > 10
    try:
        assert not freeze_grown_caches(threshold=grown + 1)
        assert freeze_grown_caches(threshold=grown)
        assert gc.get_freeze_count() > 0
        assert not freeze_grown_caches(threshold=1)  # nothing new since
    finally:
        gc.unfreeze()


def test_uids_stable_and_sequence_increases_when_an_occurrence_is_moved(
        engine: Engine, city: City, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    publish(engine, settings, all_feeds=True)
    uid = f"occ-{city.occurrences['classroom1']}@{DOMAIN}"
    shift_uid = f"shift-{city.assignments['a_classroom1']}@{DOMAIN}"
    private = settings.feed_dir / f"volunteers/{token_of(engine, city.volunteers['a'])}.ics"
    first = events_of(settings.feed_dir / "branches/shunjing.ics")[uid]
    first_shift = events_of(private)[shift_uid]
    with session_scope(engine) as s:  # a re-plan moves it by an hour, as planning would
        occurrence = s.get(Occurrence, city.occurrences["classroom1"])
        assert occurrence is not None
        occurrence.start_at += timedelta(hours=1)
        occurrence.end_at += timedelta(hours=1)
        occurrence.sequence += 1
        # The rows' stamps come from the clock that wrote them: the move is stamped after the first publish's.
        occurrence.updated_at = first.decoded("DTSTAMP") + timedelta(minutes=1)
        event = record_event(s, "occurrence.moved", occurrence_id=occurrence.id, service_id=occurrence.service_id)
        s.flush()
        marked = mark_feeds_for_event(s, event)
    assert {"branch:shunjing", "community:ailian", "district", f"volunteer:{city.volunteers['a']}",
            f"volunteer:{city.volunteers['b']}"} <= marked
    result = publish(engine, settings)
    assert result.written == 5  # branch, community, district, two volunteers
    moved = events_of(settings.feed_dir / "branches/shunjing.ics")[uid]
    assert moved["SEQUENCE"] > first["SEQUENCE"]
    assert moved.decoded("DTSTART") - first.decoded("DTSTART") == timedelta(hours=1)
    assert moved.decoded("DTSTAMP") > first.decoded("DTSTAMP")
    moved_shift = events_of(private)[shift_uid]
    assert moved_shift["SEQUENCE"] > first_shift["SEQUENCE"]


def test_assignment_event_marks_branch_community_district_and_volunteer(
        engine: Engine, city: City, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    publish(engine, settings, all_feeds=True)
    with session_scope(engine) as s:
        a = s.get(Assignment, city.assignments["b_declined"])
        assert a is not None
        a.status, a.seat_no, a.sequence, a.updated_at = "confirmed", 1, a.sequence + 1, NOW
        event = record_event(s, "assignment.changed", assignment_id=a.id, occurrence_id=a.occurrence_id,
                             volunteer_id=a.volunteer_id)
        s.flush()
        marked = mark_feeds_for_event(s, event)
    vol_b = f"volunteer:{city.volunteers['b']}"
    assert marked == {"branch:shunjing", "community:ailian", "district", vol_b}
    result = publish(engine, settings, include_district=False)
    assert "district" not in result.keys
    with session_scope(engine) as s:
        assert s.scalars(select(FeedState.key).where(FeedState.dirty.is_(True))).all() == ["district"]
    events = events_of(settings.feed_dir / "branches/shunjing.ics")
    assert "还缺 1 名辅导员" in str(events[f"occ-{city.occurrences['classroom2']}@{DOMAIN}"]["DESCRIPTION"])
    b = events_of(settings.feed_dir / f"volunteers/{token_of(engine, city.volunteers['b'])}.ics")
    assert f"shift-{city.assignments['b_declined']}@{DOMAIN}" in b
    # Other feeds were not rebuilt at all.
    assert "branch:wulian" not in result.keys and "community:longxi" not in result.keys
    result = publish(engine, settings)
    assert result.keys == ["district"] and result.written == 1


def test_cancelled_occurrence_stays_in_public_feeds(engine: Engine, city: City, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    publish(engine, settings, all_feeds=True)
    event = events_of(settings.feed_dir / "branches/wulian.ics")[f"occ-{city.occurrences['clinic']}@{DOMAIN}"]
    assert str(event["STATUS"]) == "CANCELLED"
    assert str(event["SUMMARY"]) == "【已取消】义诊"


def test_rotated_token_old_file_is_deleted_at_next_publish(engine: Engine, city: City, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    publish(engine, settings, all_feeds=True)
    old = settings.feed_dir / f"volunteers/{token_of(engine, city.volunteers['a'])}.ics"
    assert old.exists()
    with session_scope(engine) as s:
        rotate_feed_token(s, str(city.volunteers["a"]))  # no relay run: publish finds it by itself
    result = publish(engine, settings)
    new = settings.feed_dir / f"volunteers/{token_of(engine, city.volunteers['a'])}.ics"
    assert not old.exists() and new.exists() and new != old
    assert result.deleted == 1
    with session_scope(engine) as s:
        vol = s.get(Volunteer, city.volunteers["a"])
        assert vol is not None and vol.retired_feed_token is None
    assert len(list(settings.feed_dir.glob("volunteers/*.ics"))) == 2


def test_closures_are_all_day_events_in_the_feeds_they_close(engine: Engine, city: City, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    with session_scope(engine) as s:
        closure = Closure(scope="service", service_id=city.services["classroom"], start_date=date(2026, 12, 20),
                          end_date=date(2026, 12, 22), reason="场地装修", created_at=NOW)
        s.add(closure)
        s.flush()
    publish(engine, settings, all_feeds=True)
    uid = f"closure-{closure.id}@{DOMAIN}"
    event = events_of(settings.feed_dir / "branches/shunjing.ics")[uid]
    assert event.decoded("DTSTART") == date(2026, 12, 20) and event.decoded("DTEND") == date(2026, 12, 23)
    assert uid in events_of(settings.feed_dir / "communities/ailian.ics")
    assert uid not in events_of(settings.feed_dir / "branches/wulian.ics")


def test_round_trip_with_icalendar_and_recurring_ical_events(engine: Engine, city: City, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    publish(engine, settings, all_feeds=True)
    cal = icalendar.Calendar.from_ical((settings.feed_dir / "district.ics").read_bytes())
    expanded = recurring_ical_events.of(cal).between(NOW - timedelta(days=40), NOW + timedelta(weeks=13))
    seen = sorted((str(e["UID"]), e.decoded("DTSTART").astimezone(UTC), str(e["STATUS"])) for e in expanded)
    assert seen == expected_public(engine, settings)


def expected_public(engine: Engine, settings: Settings) -> list[tuple[str, datetime, str]]:
    """Every public occurrence in the window, straight from the database."""
    from calendars.rows import feed_window

    window = feed_window(NOW, settings.tz, settings.horizon_weeks)
    with session_scope(engine) as s:
        rows = s.execute(
            select(Occurrence.id, Occurrence.start_at, Occurrence.status, Occurrence.provisional)
            .where(Occurrence.end_at > window.start, Occurrence.start_at < window.end)
            .where(Occurrence.service.has(visibility="public"))
        ).all()
    status = {"cancelled": "CANCELLED"}
    return sorted((f"occ-{r.id}@{DOMAIN}", r.start_at, status.get(r.status, "TENTATIVE" if r.provisional else
                                                                  "CONFIRMED")) for r in rows)


def run_ical_js(path: Path) -> dict[str, object]:
    node = shutil.which("node")
    if node is None:
        service_missing("Node.js is not installed (needed for the ical.js check)")
    if not (JS_DIR / "node_modules" / "ical.js").is_dir():
        service_missing("tests/js/node_modules is missing: run `make test-tools` (npm ci in tests/js)")
    done = subprocess.run([str(node), str(JS_DIR / "parse_feed.mjs"), str(path)], capture_output=True, check=True,
                          timeout=60)
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_independent_parser_ical_js_sees_exactly_the_database_occurrences(
        engine: Engine, city: City, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    publish(engine, settings, all_feeds=True)
    parsed = run_ical_js(settings.feed_dir / "district.ics")
    calendar = parsed["calendar"]
    assert isinstance(calendar, dict)
    assert calendar["version"] == "2.0" and calendar["timezones"] == ["Asia/Shanghai", "Europe/Berlin"]
    events = parsed["events"]
    assert isinstance(events, list)
    seen = sorted((e["uid"], datetime.fromisoformat(e["start"]), e["status"]) for e in events)
    assert seen == expected_public(engine, settings)
    with session_scope(engine) as s:
        ends = {f"occ-{o.id}@{DOMAIN}": o.end_at for o in s.scalars(select(Occurrence))}
    for e in events:
        assert datetime.fromisoformat(e["end"]) == ends[e["uid"]]
    private = run_ical_js(settings.feed_dir / f"volunteers/{token_of(engine, city.volunteers['b'])}.ics")
    assert sorted(e["uid"] for e in private["events"]) == sorted(  # type: ignore[union-attr]
        f"shift-{city.assignments[k]}@{DOMAIN}" for k in ("b_classroom1", "b_clinic"))


RUBY_DIR = Path(__file__).parents[1] / "ruby"


def run_strict_ruby(*paths: Path) -> subprocess.CompletedProcess[str]:
    """ruby-icalendar in strict mode (Debian's ruby-icalendar): a property out of place fails the file."""
    ruby = shutil.which("ruby")
    if ruby is None or subprocess.run([ruby, "-e", "require 'icalendar'"], capture_output=True).returncode:
        service_missing("ruby with ruby-icalendar is not installed: run `make test-tools`")
    return subprocess.run([str(ruby), str(RUBY_DIR / "strict_parse.rb"), *map(str, paths)], capture_output=True,
                          text=True, timeout=120)


def test_strict_parser_ruby_icalendar_accepts_every_feed(engine: Engine, city: City, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    with session_scope(engine) as s:
        s.add(Closure(scope="district", start_date=date(2026, 12, 24), end_date=date(2026, 12, 25), reason="装修",
                      created_at=NOW))
    publish(engine, settings, all_feeds=True)
    feeds = sorted(settings.feed_dir.rglob("*.ics"))
    assert len(feeds) == 8  # district, two communities, three branches, two volunteers
    done = run_strict_ruby(*feeds)
    assert done.returncode == 0, done.stderr
    assert f"{settings.feed_dir / 'district.ics'}: " in done.stdout


def test_strict_parser_refuses_a_comment_in_a_vtimezone(engine: Engine, city: City, tmp_path: Path) -> None:
    """RFC 5545 3.6.5 allows no COMMENT in a VTIMEZONE (icalendar's zone generator writes one):
    the checker above must really be strict, or it proves nothing."""
    settings = make_settings(tmp_path)
    publish(engine, settings, all_feeds=True)
    feed = (settings.feed_dir / "district.ics").read_bytes()
    assert b"COMMENT" not in feed
    bad = tmp_path / "bad.ics"
    bad.write_bytes(feed.replace(b"TZID:Asia/Shanghai\r\n", b"TZID:Asia/Shanghai\r\nCOMMENT:only 2020-2040\r\n", 1))
    done = run_strict_ruby(bad)
    assert done.returncode == 1 and "comment" in done.stderr


def test_write_atomic_readers_never_see_half_a_file(tmp_path: Path) -> None:
    target = tmp_path / "feeds" / "district.ics"
    versions = [b"A" * 2_000_000, b"B" * 3_000_000]
    write_atomic(target, versions[0])
    seen: set[int] = set()
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            data = target.read_bytes()
            assert data in versions
            seen.add(len(data))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(30):
            write_atomic(target, versions[i % 2])
    finally:
        stop.set()
        thread.join(timeout=30)
    assert seen  # the reader ran, and every read was a whole version (asserted in the thread)
    assert [p.name for p in target.parent.iterdir()] == ["district.ics"]  # no temp file left behind


def test_mark_all_dirty_then_publish_rebuilds_everything(engine: Engine, city: City, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    with session_scope(engine) as s:
        keys = mark_all_dirty(s)
    assert {"district", "branch:shunjing", "community:longxi", f"volunteer:{city.volunteers['a']}"} <= keys
    result = publish(engine, settings)
    assert sorted(result.keys) == sorted(keys)
    with session_scope(engine) as s:
        assert s.scalars(select(Event).where(Event.kind == "service.created")).first() is not None


def test_feed_urls_offer_https_and_webcal(engine: Engine, city: City, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    with session_scope(engine) as s:
        urls = {u["key"]: u for u in feed_urls(s, settings)}
    assert urls["branch:shunjing"]["https"] == "https://feeds.test/branches/shunjing.ics"
    assert urls["branch:shunjing"]["webcal"] == "webcal://feeds.test/branches/shunjing.ics"
    assert urls["district"]["https"] == "https://feeds.test/district.ics"
    assert set(urls) == {"district", "community:ailian", "community:longxi", "branch:shunjing", "branch:yuhua",
                         "branch:wulian"}


def test_new_branch_feed_appears_in_the_index_after_its_first_service(
        engine: Engine, city: City, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    publish(engine, settings, all_feeds=True)
    assert "branches/jinxiu.ics" not in (settings.feed_dir / "index.html").read_text("utf-8")
    with session_scope(engine) as s:
        f.branch(s, "jinxiu", "锦绣花园党支部", "longxi")
        f.service(s, "jinxiu-reading", title="亲子阅读", kind="reading", branch="jinxiu")
        for event in s.scalars(select(Event).where(Event.kind == "service.created")):
            mark_feeds_for_event(s, event)
    result = publish(engine, settings)
    assert "branch:jinxiu" in result.keys and result.index_written
    assert "branches/jinxiu.ics" in (settings.feed_dir / "index.html").read_text("utf-8")
    assert (settings.feed_dir / "branches/jinxiu.ics").exists()


def test_events_without_a_resolvable_place_mark_every_public_feed(engine: Engine, city: City) -> None:
    with session_scope(engine) as s:
        removed = record_event(s, "closure.removed", closure_id=999, scope="branch")
        holidays = record_event(s, "holidays.loaded", year=2027)
        digest = record_event(s, "digest.sent")
        s.flush()
        everything = {"district", "community:ailian", "community:longxi", "branch:shunjing", "branch:yuhua",
                      "branch:wulian"}
        assert mark_feeds_for_event(s, removed) >= everything
        assert mark_feeds_for_event(s, holidays) >= everything
        assert mark_feeds_for_event(s, digest) == set()
        planned = record_event(s, "occurrence.planned", service_id=city.services["clinic"], created=3, updated=0,
                               vanished=0)
        s.flush()
        assert mark_feeds_for_event(s, planned) == {"district", "community:longxi", "branch:wulian"}
