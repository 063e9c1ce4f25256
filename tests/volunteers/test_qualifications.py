"""Qualifications with a validity: recording, masking, expiry, and the hard check in assign and
fill (SQLite and PostgreSQL); the CLI on SQLite."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from scheduler import rosters
from scheduler.errors import CheckRefused, Conflict, InvalidInput
from scheduler.models import Assignment, Qualification
from scheduler.rosters.fill import fill, why
from scheduler.volunteers.qualifications import (
    QualificationSpec,
    add_qualification,
    expiring,
    format_cell,
    list_qualifications,
    mask_number,
    parse_cell,
    qualification_as_dict,
    remove_qualification,
    send_expiry_notices,
    set_role_rules,
)
from tests import factories as f

NOW = datetime(2026, 12, 1, tzinfo=UTC)
TODAY = date(2026, 12, 1)
MONDAY = datetime(2026, 12, 7, 8, 30, tzinfo=UTC)  # 16:30 in Shanghai
WEEK = (date(2026, 12, 7), date(2026, 12, 13))


@pytest.fixture
def clinic(session: Session) -> dict[str, object]:
    f.org(session)
    svc = f.service(session, roles=["医生:1", "看护:1"])
    set_role_rules(session, svc.slug, "医生", requires="执业医师证")
    occ = f.occurrence(session, svc, start=MONDAY)
    return {"service": svc, "occurrence": occ}


def _count(session: Session) -> int:
    session.flush()
    return session.scalar(select(func.count()).select_from(Qualification)) or 0


def test_add_list_mask_remove(session: Session) -> None:
    f.org(session)
    vol = f.volunteer(session)
    row = add_qualification(session, str(vol.id), QualificationSpec(
        "执业医师证", "深圳市卫生健康委员会", "110440300012345", "2020-01-01", "2027-06-30"), now=NOW)
    assert row.kind == "physician"
    masked = qualification_as_dict(row)
    assert masked["number"] == "***********2345" and "110440300012345" not in json.dumps(masked)
    assert qualification_as_dict(row, full=True)["number"] == "110440300012345"
    assert mask_number("AB12") == "***2"
    assert [q.id for q in list_qualifications(session, str(vol.id))] == [row.id]
    with pytest.raises(Conflict):
        add_qualification(session, str(vol.id), QualificationSpec("physician", number="110440300012345"))
    remove_qualification(session, row.id)
    assert _count(session) == 0


@pytest.mark.parametrize(("spec", "field"), [
    (QualificationSpec("健康证", issued_on="2026-06-01", expires_on="2026-05-31"), "expires"),
    (QualificationSpec("", expires_on="2027-01-01"), "kind"),
    (QualificationSpec("bad|kind"), "kind"),
    (QualificationSpec("健康证", expires_on="2027-02-30"), "expires"),
])
def test_bad_input_names_the_field_and_writes_nothing(session: Session, spec: QualificationSpec, field: str) -> None:
    f.org(session)
    vol = f.volunteer(session)
    with pytest.raises(InvalidInput) as err:
        add_qualification(session, str(vol.id), spec)
    assert err.value.field == field
    assert _count(session) == 0


def test_expiring_within_days(session: Session) -> None:
    f.org(session)
    vol = f.volunteer(session)
    soon = add_qualification(session, str(vol.id), QualificationSpec("health", expires_on="2027-01-20"))
    add_qualification(session, str(vol.id), QualificationSpec("first_aid", expires_on="2027-03-01"))
    add_qualification(session, str(vol.id), QualificationSpec("teacher", expires_on="2026-11-30"))  # ended
    add_qualification(session, str(vol.id), QualificationSpec("nurse"))  # no end
    assert [q.id for q in expiring(session, TODAY, 60)] == [soon.id]
    assert len(expiring(session, TODAY, 90)) == 2
    with pytest.raises(InvalidInput):
        expiring(session, TODAY, -1)


def test_csv_cell_round_trip_and_bad_cell() -> None:
    specs = parse_cell("health|深圳市疾控|A123456789|2026-01-01|2027-01-01;first_aid|红十字会||| ")
    assert [(s.kind, s.number) for s in specs] == [("health", "A123456789"), ("first_aid", "")]
    row = Qualification(kind="health", issuer="x", number="A123456789", issued_on=date(2026, 1, 1),
                        expires_on=date(2027, 1, 1))
    assert format_cell([row], full=True) == "health|x|A123456789|2026-01-01|2027-01-01"
    assert "A123456789" not in format_cell([row])
    with pytest.raises(InvalidInput) as err:
        parse_cell("health|x|1|2027-01-01|2026-01-01")
    assert err.value.field == "expires"
    with pytest.raises(InvalidInput) as err:
        parse_cell("health|x")
    assert err.value.field == "qualifications"


def test_assign_refuses_missing_or_expired_even_forced(session: Session, clinic: dict) -> None:
    occ = clinic["occurrence"]
    doctor = f.volunteer(session, skills=[])
    with pytest.raises(CheckRefused) as err:
        rosters.assign(session, str(doctor.id), occ.id, "医生", force=True, now=NOW)
    assert "has none on record" in str(err.value) and "--force does not override" in str(err.value)
    add_qualification(session, str(doctor.id), QualificationSpec("physician", number="1", expires_on="2026-12-06"))
    with pytest.raises(CheckRefused) as err:
        rosters.assign(session, str(doctor.id), occ.id, "医生", force=True, now=NOW)
    assert "ended on 2026-12-06" in str(err.value)
    # Not yet valid on the shift's date.
    add_qualification(session, str(doctor.id), QualificationSpec("physician", number="2", issued_on="2026-12-08"))
    with pytest.raises(CheckRefused) as err:
        rosters.assign(session, str(doctor.id), occ.id, "医生", force=True, now=NOW)
    assert "not valid on 2026-12-07" in str(err.value)
    assert session.scalar(select(func.count()).select_from(Assignment)) == 0
    # Valid on the shift's day (the last day counts): accepted; the other role needs nothing.
    add_qualification(session, str(doctor.id), QualificationSpec("physician", number="3", expires_on="2026-12-07"))
    assert rosters.assign(session, str(doctor.id), occ.id, "医生", now=NOW).status == "invited"
    other = f.volunteer(session, skills=[])
    assert rosters.assign(session, str(other.id), occ.id, "看护", now=NOW).status == "invited"


def test_fill_skips_unqualified_and_why_explains(session: Session, clinic: dict) -> None:
    expired = f.volunteer(session, skills=[])
    add_qualification(session, str(expired.id), QualificationSpec("physician", number="9", expires_on="2026-11-01"))
    f.volunteer(session, skills=[])  # none on record
    qualified = f.volunteer(session, skills=[])
    add_qualification(session, str(qualified.id), QualificationSpec("physician", number="7", expires_on="2027-12-31"))
    result = fill(session, *WEEK, now=NOW)
    doctor_seats = [p for p in result.placements if p.role == "医生"]
    assert [p.volunteer_id for p in doctor_seats] == [qualified.id]
    lines = why(session, doctor_seats[0].assignment_id or 0)["lines"]
    assert "candidates ruled out (qualification): 2" in lines, lines


# --------------------------------------------------------------------------- CLI (SQLite)


def _setup_cli(invoke) -> None:  # type: ignore[no-untyped-def]
    for args in (("community", "add", "ailian", "--name", "爱联社区"),
                 ("branch", "add", "shunjing", "--name", "顺景花园党支部", "--community", "ailian")):
        result = invoke(*args)
        assert result.exit_code == 0, result.output


def test_cli_add_list_full_expiring_remove(invoke) -> None:  # type: ignore[no-untyped-def]
    from scheduler.errors import InvalidInput as Bad

    _setup_cli(invoke)
    added = invoke("volunteer", "add", "--name", "王芳", "--phone", "13900000001", "--branch", "shunjing")
    assert added.exit_code == 0, added.output
    ok = invoke("qualifications", "add", "13900000001", "--kind", "健康证", "--number", "SZ20261234567",
                "--expires", "2027-01-15")
    assert ok.exit_code == 0, ok.output
    listed = invoke("qualifications", "list")
    assert listed.exit_code == 0 and "SZ20261234567" not in listed.output and "4567" in listed.output
    full = invoke("qualifications", "list", "--full")
    assert "SZ20261234567" in full.output
    soon = invoke("qualifications", "expiring", "--within", "60d", "--today", "2026-12-01")
    assert soon.exit_code == 0 and "4567" in soon.output and "SZ20261234567" not in soon.output
    later = invoke("qualifications", "expiring", "--within", "30d", "--today", "2026-12-01")
    assert "no qualification ends within 30 days" in later.output
    bad = invoke("qualifications", "add", "13900000001", "--kind", "健康证", "--issued", "2027-01-01",
                 "--expires", "2026-01-01")
    assert bad.exit_code == Bad.exit_code and "expires" in bad.output
    assert invoke("qualifications", "remove", "1").exit_code == 0
    assert "4567" not in invoke("qualifications", "list").output


def test_expiry_notices_once_per_threshold_to_holder_and_coordinators(session: Session) -> None:
    import io

    from scheduler.messages.channels import ChannelSet, ConsoleChannel
    from scheduler.models import Coordinator, QualificationNotice

    branch = f.org(session)
    session.add(Coordinator(name="张书记", branch_id=branch.id, channel="console"))
    vol = f.volunteer(session, preferred_channel="console")
    add_qualification(session, str(vol.id), QualificationSpec("health", number="SZ20261234567",
                                                              expires_on="2027-01-30"))
    add_qualification(session, str(vol.id), QualificationSpec("nurse", expires_on="2027-06-30"))  # far off
    out = io.StringIO()
    channels = ChannelSet({"console": lambda: ConsoleChannel(out)})
    early = send_expiry_notices(session, channels, date(2026, 12, 30), now=NOW)  # 31 days before: nothing
    first = send_expiry_notices(session, channels, date(2026, 12, 31), now=NOW)  # 30 days before
    again = send_expiry_notices(session, channels, date(2027, 1, 1), now=NOW)  # the next day's beat
    week = send_expiry_notices(session, channels, date(2027, 1, 23), now=NOW)  # 7 days before
    week_again = send_expiry_notices(session, channels, date(2027, 1, 23), now=NOW)
    assert (early.sent, first.sent, again.sent, again.skipped, week.sent, week_again.sent) == (0, 2, 0, 2, 2, 0)
    session.flush()
    ledger = sorted((n.threshold, n.recipient.split(":")[0]) for n in session.scalars(select(QualificationNotice)))
    assert ledger == [(7, "coordinator"), (7, "volunteer"), (30, "coordinator"), (30, "volunteer")]
    text = out.getvalue()
    assert text.count("ends in 30 days") == 2 and text.count("ends in 7 days") == 2, text
    assert "SZ20261234567" not in text and "4567" not in text and vol.name not in text


def test_the_beat_runs_the_expiry_notices_daily() -> None:
    from datetime import timedelta

    import tasks.qualifications  # noqa: F401  (registers the task)
    from tasks.app import app
    from tasks.beat import beat_schedule

    entry = beat_schedule()["qualification-expiry"]
    assert entry["task"] == "roster.qualification_expiry" and entry["schedule"] == timedelta(days=1)
    assert "roster.qualification_expiry" in app.tasks


def test_cli_volunteer_show_masks_certificates_birth_date_and_guardian_unless_full(invoke) -> None:  # type: ignore[no-untyped-def]
    """``volunteer show`` lists the qualifications and a minor's guardian; numbers, the birth date and
    the guardian's name and phone only with --full (coordinators)."""
    import json

    from scheduler.ages import age_on
    from scheduler.planning import local_today

    _setup_cli(invoke)
    assert invoke("volunteer", "add", "--name", "王小明", "--phone", "13900000002", "--branch", "shunjing").exit_code == 0
    assert invoke("qualifications", "add", "13900000002", "--kind", "健康证", "--number", "SZ20261234567",
                  "--expires", "2099-01-15").exit_code == 0
    assert invoke("minor", "birth-date", "13900000002", "2012-05-01").exit_code == 0
    consent = invoke("minor", "consent", "13900000002", "--guardian", "王建国", "--relation", "父亲",
                     "--phone", "13812345678", "--date", "2026-11-20", "--copy-reminders")
    assert consent.exit_code == 0, consent.output
    shown = invoke("volunteer", "show", "13900000002")
    assert shown.exit_code == 0, shown.output
    for secret in ("SZ20261234567", "2012-05-01", "王建国", "13812345678"):
        assert secret not in shown.output, secret
    assert "4567" in shown.output and "reminders copied by SMS" in shown.output
    data = json.loads(invoke("volunteer", "show", "13900000002", "--json").output)
    assert data["age"] == age_on(date(2012, 5, 1), local_today("Asia/Shanghai")) and data["birth_date"] is None
    assert data["qualifications"][0]["number"] != "SZ20261234567" and data["guardian"]["phone"] != "13812345678"
    full = invoke("volunteer", "show", "13900000002", "--full")
    for secret in ("SZ20261234567", "王建国", "13812345678"):
        assert secret in full.output, secret
    assert json.loads(invoke("volunteer", "show", "13900000002", "--full", "--json").output)["birth_date"] == "2012-05-01"
