"""Minors: birth dates (entered or from the ID number), a guardian's consent, the minimum age and
the latest end; checked in assign, fill, hand-overs and the web claim (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from scheduler import rosters
from scheduler.db import session_scope
from scheduler.errors import CheckRefused, Conflict, InvalidInput
from scheduler.models import Assignment, GuardianConsent, Volunteer
from scheduler.rosters.fill import fill
from scheduler.rosters.open_seats import accept_handover, offer_handover
from scheduler.volunteers.minors import (
    ConsentSpec,
    birth_date_of_id,
    checked_birth_date,
    consent_as_dict,
    consent_history,
    guardian_copy_phone,
    record_consent,
    revoke_consent,
    set_birth_date,
)
from scheduler.volunteers.qualifications import set_role_rules
from tests import factories as f

NOW = datetime(2026, 12, 1, tzinfo=UTC)
TODAY = date(2026, 12, 1)
MONDAY = datetime(2026, 12, 7, 8, 30, tzinfo=UTC)  # 16:30-18:30 in Shanghai
LATE = datetime(2026, 12, 8, 12, 30, tzinfo=UTC)  # Tuesday 20:30-22:30 in Shanghai
WEEK = (date(2026, 12, 7), date(2026, 12, 13))
CONSENT = ConsentSpec("王建国", "父亲", "13812345678", "2026-11-20", copy_reminders=True)


def id_number(born: str, serial: str = "123") -> str:
    """A valid 18-digit ID number (GB 11643 check digit) for a birth date YYYYMMDD."""
    body = "440305" + born + serial
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, weights, strict=True)) % 11]


@pytest.fixture
def world(session: Session) -> dict[str, object]:
    f.org(session)
    svc = f.service(session, roles=["辅导员:2:tutor", "看护:1"])
    return {"service": svc, "day": f.occurrence(session, svc, start=MONDAY),
            "late": f.occurrence(session, svc, start=LATE)}


def _minor(session: Session) -> Volunteer:
    kid = f.volunteer(session, name="王小明")
    set_birth_date(session, str(kid.id), "2012-05-01", TODAY)  # 14 in December 2026
    return kid


def _seats(session: Session) -> int:
    session.flush()
    return session.scalar(select(func.count()).select_from(Assignment)) or 0


def test_birth_date_entered_or_from_the_id_number() -> None:
    number = id_number("20100315")
    assert birth_date_of_id(number) == date(2010, 3, 15)
    assert checked_birth_date(None, number, TODAY) == date(2010, 3, 15)
    assert checked_birth_date("2010-03-15", number, TODAY) == date(2010, 3, 15)
    with pytest.raises(InvalidInput) as err:
        checked_birth_date("2010-03-16", number, TODAY)
    assert err.value.field == "birth_date"


@pytest.mark.parametrize("entered", ["2026-12-02", "1896-01-01", "2010-13-01"])
def test_bad_birth_dates_name_the_field_and_write_nothing(session: Session, entered: str) -> None:
    f.org(session)
    vol = f.volunteer(session)
    with pytest.raises(InvalidInput) as err:
        set_birth_date(session, str(vol.id), entered, TODAY)
    assert err.value.field == "birth_date"
    session.refresh(vol)
    assert vol.birth_date is None


@pytest.mark.parametrize(("spec", "field"), [
    (ConsentSpec("王建国", "父亲", "075512345678", "2026-11-20"), "guardian_phone"),
    (ConsentSpec("王建国", "父亲", "12345", "2026-11-20"), "guardian_phone"),
    (ConsentSpec("", "父亲", "13812345678", "2026-11-20"), "guardian"),
    (ConsentSpec("王建国", "父亲", "13812345678", "2026-12-02"), "date"),
])
def test_bad_consent_names_the_field_and_writes_nothing(session: Session, spec: ConsentSpec, field: str) -> None:
    f.org(session)
    kid = _minor(session)
    with pytest.raises(InvalidInput) as err:
        record_consent(session, str(kid.id), spec, "社工", TODAY, now=NOW)
    assert err.value.field == field
    session.flush()
    assert session.scalar(select(func.count()).select_from(GuardianConsent)) == 0


def test_consent_needed_then_accepted_then_revoked(session: Session, world: dict) -> None:
    kid = _minor(session)
    occ = world["day"]
    with pytest.raises(CheckRefused) as err:
        rosters.assign(session, str(kid.id), occ.id, "看护", force=True, now=NOW)
    assert "no guardian's consent" in str(err.value)
    row = record_consent(session, str(kid.id), CONSENT, "社工", TODAY, now=NOW)
    masked = consent_as_dict(row)
    assert "13812345678" not in str(masked) and "王建国" not in str(masked)
    assert guardian_copy_phone(session, kid, occ.start_at.date()) == "13812345678"
    seat = rosters.assign(session, str(kid.id), occ.id, "看护", now=NOW)
    assert seat.status == "invited"
    rosters.unassign(session, seat.id, now=NOW)
    revoke_consent(session, str(kid.id), "社工", now=NOW)
    with pytest.raises(Conflict):
        revoke_consent(session, str(kid.id), "社工", now=NOW)
    with pytest.raises(CheckRefused):
        rosters.assign(session, str(kid.id), occ.id, "看护", force=True, now=NOW)
    assert guardian_copy_phone(session, kid, occ.start_at.date()) is None
    assert len(consent_history(session, str(kid.id))[1]) == 1


def test_minor_never_in_a_shift_ending_after_the_latest_hour(session: Session, world: dict) -> None:
    kid = _minor(session)
    record_consent(session, str(kid.id), CONSENT, "社工", TODAY, now=NOW)
    with pytest.raises(CheckRefused) as err:
        rosters.assign(session, str(kid.id), world["late"].id, "看护", force=True, now=NOW)
    assert "ends at 22:30, after 21:00" in str(err.value)
    set_role_rules(session, world["service"].slug, "看护", minor_latest_end="23:00")
    assert rosters.assign(session, str(kid.id), world["late"].id, "看护", now=NOW).status == "invited"
    adult = f.volunteer(session)
    set_role_rules(session, world["service"].slug, "看护", minor_latest_end="18:00")
    with pytest.raises(CheckRefused) as err:
        rosters.assign(session, str(kid.id), world["day"].id, "看护", now=NOW)
    assert "ends at 18:30, after 18:00" in str(err.value)
    assert rosters.assign(session, str(adult.id), world["day"].id, "辅导员", now=NOW).status == "invited"


def test_min_age(session: Session, world: dict) -> None:
    set_role_rules(session, world["service"].slug, "看护", min_age=16)
    kid = _minor(session)
    record_consent(session, str(kid.id), CONSENT, "社工", TODAY, now=NOW)
    with pytest.raises(CheckRefused) as err:
        rosters.assign(session, str(kid.id), world["day"].id, "看护", force=True, now=NOW)
    assert "aged 16 or over" in str(err.value)
    unknown = f.volunteer(session)  # no birth date: the age cannot be shown
    with pytest.raises(CheckRefused) as err:
        rosters.assign(session, str(unknown.id), world["day"].id, "看护", force=True, now=NOW)
    assert "no birth date" in str(err.value)
    teen = f.volunteer(session, id_number=id_number("20100315"))  # 16, from the ID number
    record_consent(session, str(teen.id), CONSENT, "社工", TODAY, now=NOW)
    assert rosters.assign(session, str(teen.id), world["day"].id, "看护", now=NOW).status == "invited"
    with pytest.raises(InvalidInput):
        set_role_rules(session, world["service"].slug, "看护", min_age=130)


def test_fill_leaves_out_a_minor_without_consent(session: Session, world: dict) -> None:
    kid = _minor(session)
    result = fill(session, *WEEK, now=NOW)
    assert kid.id not in {p.volunteer_id for p in result.placements}
    record_consent(session, str(kid.id), CONSENT, "社工", TODAY, now=NOW)
    result = fill(session, *WEEK, now=NOW)
    placed = {(p.volunteer_id, p.occurrence_id) for p in result.placements}
    assert (kid.id, world["day"].id) in placed and (kid.id, world["late"].id) not in placed


def test_handover_refuses_a_taker_who_fails_the_hard_rules(session: Session, world: dict) -> None:
    from scheduler.policy import DEFAULT_POLICY

    adult = f.volunteer(session)
    kid = _minor(session)
    seat = rosters.assign(session, str(adult.id), world["day"].id, "看护", now=NOW)
    with pytest.raises(CheckRefused):
        offer_handover(session, seat, kid.phone, NOW)
    record_consent(session, str(kid.id), CONSENT, "社工", TODAY, now=NOW)
    offer_handover(session, seat, kid.phone, NOW)
    revoke_consent(session, str(kid.id), "社工", now=NOW)
    with pytest.raises(CheckRefused):
        accept_handover(session, seat.id, kid, NOW, DEFAULT_POLICY)


def test_web_claim_refuses_a_minor_without_consent(engine: Engine, tmp_path: Path) -> None:
    from scheduler.volunteers import web_token_of
    from tests.web.test_pages import NOW as WEB_NOW
    from tests.web.test_pages import make_app

    with session_scope(engine) as s:
        f.org(s)
        svc = f.service(s, roles=["看护:1"])
        occ = f.occurrence(s, svc, start=WEB_NOW + timedelta(days=2, hours=6, minutes=30))
        kid = f.volunteer(s, name="王小明")
        set_birth_date(s, str(kid.id), "2012-05-01", WEB_NOW.date())
        token = web_token_of(s, str(kid.id)).web_token or ""
        adult_token = web_token_of(s, str(f.volunteer(s).id)).web_token or ""
        ids = (occ.id, svc.roles[0].id, kid.id)
    client = make_app(engine, tmp_path).test_client()
    listed = client.get(f"/v/{token}/open").get_data(as_text=True)
    assert f'data-seat="{ids[0]}-{ids[1]}"' not in listed  # not offered
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get(f"/v/{adult_token}/open").get_data(as_text=True))
    assert csrf is not None
    refused = client.post(f"/v/{token}/claim/{ids[0]}/{ids[1]}", data={"csrf_token": csrf.group(1)},
                          follow_redirects=True)
    assert "不符合该岗位的报名条件" in refused.get_data(as_text=True)
    with session_scope(engine) as s:
        assert s.scalar(select(Assignment).where(Assignment.volunteer_id == ids[2])) is None


# --------------------------------------------------------------------------- CLI (SQLite)


def test_cli_rules_consent_and_bad_input(invoke, roster_env) -> None:  # type: ignore[no-untyped-def]
    from scheduler.db import make_engine, utcnow
    from scheduler.models import Occurrence, Service

    for args in (("community", "add", "ailian", "--name", "爱联社区"),
                 ("branch", "add", "shunjing", "--name", "顺景花园党支部", "--community", "ailian"),
                 ("service", "add", "reading", "--title", "亲子阅读", "--branch", "shunjing", "--every", "saturday",
                  "--start-date", "2026-01-03", "--time", "19:30", "--duration", "120", "--role", "领读员:2"),
                 ("volunteer", "add", "--name", "王小明", "--phone", "13800138000", "--branch", "shunjing")):
        result = invoke(*args)
        assert result.exit_code == 0, (args, result.output)
    # An occurrence a month ahead of the real clock, 19:30-21:30 in Shanghai (the CLI's assign uses it).
    start = (utcnow() + timedelta(days=30)).replace(hour=11, minute=30, second=0, microsecond=0)
    engine = make_engine(roster_env["ROSTER_DATABASE_URL"])
    with session_scope(engine) as s:
        svc = s.scalar(select(Service).where(Service.slug == "reading"))
        assert svc is not None
        occ = Occurrence(service_id=svc.id, original_start=start, start_at=start, end_at=start + timedelta(hours=2),
                         status="scheduled", sequence=0)
        s.add(occ)
        s.flush()
        occ_id = str(occ.id)
    engine.dispose()
    today = utcnow().date()
    fourteen = today.replace(year=today.year - 14, day=min(today.day, 28)).isoformat()
    day = today.isoformat()
    born = invoke("minor", "birth-date", "13800138000", fourteen, "--today", day)
    assert born.exit_code == 0 and fourteen in born.output, born.output
    future = invoke("minor", "birth-date", "13800138000", (today + timedelta(days=1)).isoformat(), "--today", day)
    assert future.exit_code == InvalidInput.exit_code and "birth_date" in future.output
    old = invoke("minor", "birth-date", "13800138000", today.replace(year=today.year - 130, day=1).isoformat(),
                 "--today", day)
    assert old.exit_code == InvalidInput.exit_code and "birth_date" in old.output
    bad_phone = invoke("minor", "consent", "13800138000", "--guardian", "王建国", "--relation", "父亲",
                       "--phone", "075512345678", "--date", day, "--today", day)
    assert bad_phone.exit_code == InvalidInput.exit_code and "guardian_phone" in bad_phone.output
    rules = invoke("qualifications", "require", "reading", "领读员", "--kind", "健康证", "--min-age", "12")
    assert rules.exit_code == 0, rules.output
    bad_rule = invoke("qualifications", "require", "reading", "领读员", "--minor-latest-end", "25:00")
    assert bad_rule.exit_code == InvalidInput.exit_code and "minor_latest_end" in bad_rule.output
    refused = invoke("assign", "13800138000", occ_id, "--force")
    assert refused.exit_code == CheckRefused.exit_code, refused.output
    assert "no guardian's consent" in refused.output and "has none on record" in refused.output
    ok = invoke("minor", "consent", "13800138000", "--guardian", "王建国", "--relation", "父亲",
                "--phone", "13812345678", "--date", day, "--today", day)
    assert ok.exit_code == 0 and "13812345678" not in ok.output, ok.output
    assert "13812345678" in invoke("minor", "history", "13800138000", "--full").output
    refused = invoke("assign", "13800138000", occ_id, "--force")
    assert refused.exit_code == CheckRefused.exit_code
    assert "no guardian's consent" not in refused.output and "after 21:00" in refused.output
