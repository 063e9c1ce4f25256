"""The placement rules asked as a yes or no (``placement_fits``, the seats page) say exactly what the
full list of broken rules (``placement_breaks``, a coordinator's ``assign``) says, rule by rule."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from scheduler.models import Volunteer
from scheduler.volunteers.eligibility import (
    NO_STANDING,
    Placement,
    Standing,
    placement_breaks,
    placement_fits,
)

# Monday 2026-12-07 16:30-18:30 in Shanghai.
START = datetime(2026, 12, 7, 8, 30, tzinfo=UTC)
END = START + timedelta(hours=2)


def _volunteer(**changes: object) -> Volunteer:
    fields: dict[str, object] = {"id": 7, "name": "王芳", "skills": ["tutor"], "availability": {},
                                 "blackout_dates": [], "monthly_cap_hours": None, "birth_date": None,
                                 "id_number": None}
    fields.update(changes)
    return Volunteer(**fields)


def _placement(**changes: object) -> Placement:
    fields: dict[str, object] = {"occurrence_id": 1, "start_at": START, "end_at": END, "timezone": "Asia/Shanghai",
                                 "role_name": "辅导员", "skill": "tutor"}
    fields.update(changes)
    return Placement(**fields)  # type: ignore[arg-type]


ELSEWHERE = (11, 2, START + timedelta(minutes=30), END + timedelta(minutes=30))  # overlaps, 2 h
EARLIER = (12, 3, START - timedelta(days=3), START - timedelta(days=3, hours=-2))  # same month, 2 h
ADULT = Standing(birth_date=date(1990, 1, 1))
MINOR = Standing(birth_date=date(2012, 1, 1))

CASES = [
    ("fine", _volunteer(), _placement(), NO_STANDING, [], []),
    ("skill", _volunteer(skills=["cooking"]), _placement(), NO_STANDING, [], ["skill"]),
    ("availability", _volunteer(availability={"6": ["09:00-12:00"]}), _placement(), NO_STANDING, [],
     ["availability"]),
    ("blackout", _volunteer(blackout_dates=["2026-12-07"]), _placement(), NO_STANDING, [], ["blackout"]),
    ("overlap", _volunteer(), _placement(), NO_STANDING, [ELSEWHERE], ["overlap"]),
    ("monthly cap", _volunteer(monthly_cap_hours=3), _placement(), NO_STANDING, [EARLIER], ["monthly cap"]),
    ("cap not reached", _volunteer(monthly_cap_hours=4), _placement(), NO_STANDING, [EARLIER], []),
    ("qualification", _volunteer(), _placement(required_qualification="health_cert"), NO_STANDING, [],
     ["qualification"]),
    ("age unknown", _volunteer(), _placement(min_age=18), NO_STANDING, [], ["age"]),
    ("old enough", _volunteer(), _placement(min_age=18), ADULT, [], []),
    ("minor", _volunteer(), _placement(), MINOR, [], ["minor without consent"]),
    ("minor, too late", _volunteer(), _placement(start_at=START + timedelta(hours=4), end_at=END + timedelta(hours=4)),
     Standing(birth_date=date(2012, 1, 1), consent=True), [], ["minor: ends too late"]),
    ("everything", _volunteer(skills=[], blackout_dates=["2026-12-07"], availability={"6": ["09:00-12:00"]},
                              monthly_cap_hours=3), _placement(min_age=18), NO_STANDING, [ELSEWHERE, EARLIER],
     ["age", "skill", "availability", "blackout", "overlap", "monthly cap"]),
]


@pytest.mark.parametrize(("volunteer", "placement", "standing", "shifts", "codes"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_fits_is_exactly_no_rule_broken(volunteer: Volunteer, placement: Placement, standing: Standing,
                                        shifts: list, codes: list[str]) -> None:
    breaks = placement_breaks(volunteer, placement, standing, shifts)
    assert [code for code, _text in breaks] == codes
    assert all(text for _code, text in breaks)  # every broken rule still says why
    assert placement_fits(volunteer, placement, standing, shifts) is (not codes)


def test_the_seat_itself_is_not_an_overlap() -> None:
    same = (11, 1, START, END)  # the volunteer's row at this very occurrence
    assert placement_fits(_volunteer(), _placement(), NO_STANDING, [same])
    assert placement_breaks(_volunteer(), _placement(), NO_STANDING, [same]) == []


def test_seated_shifts_count_a_pending_seat(session: Session) -> None:
    """Loaded by a Core statement, the shifts still see a seat the caller added but did not flush."""
    from scheduler.models import Assignment
    from scheduler.volunteers.eligibility import seated_shifts
    from tests import factories as f

    f.org(session)
    svc = f.service(session, roles=["辅导员:2"])
    occ = f.occurrence(session, svc, start=START)
    vol = f.volunteer(session)
    session.add(Assignment(occurrence_id=occ.id, role_id=svc.roles[0].id, volunteer_id=vol.id, status="invited",
                           seat_no=1))
    shifts = seated_shifts(session, vol, START - timedelta(days=1), START + timedelta(days=1))
    assert [(o, s) for _a, o, s, _e in shifts] == [(occ.id, START)]
