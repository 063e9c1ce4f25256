"""One skill vocabulary: Chinese and English names are the same skill, stored in English."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from scheduler import rosters
from scheduler.errors import CheckRefused, InvalidInput
from scheduler.models import Role, Volunteer
from scheduler.rosters.fill import fill
from scheduler.volunteers import VolunteerSpec, edit_volunteer, list_volunteers
from scheduler.volunteers.skills import SKILLS, canonical_skill, canonical_skills
from tests import factories as f

NOW = datetime(2026, 12, 1, tzinfo=UTC)
MONDAY = datetime(2026, 12, 7, 8, 30, tzinfo=UTC)  # 16:30 in Shanghai


@pytest.mark.parametrize(("typed", "stored"), [("医生", "doctor"), ("Doctor", "doctor"), ("护士", "nurse"),
                                               ("辅导员", "tutor"), ("老师", "tutor"), (" teacher ", "tutor")])
def test_chinese_and_english_names_of_a_skill_are_the_same_skill(typed: str, stored: str) -> None:
    assert canonical_skill(typed) == stored


def test_every_spelling_names_one_skill_and_canonical_names_are_stored_english() -> None:
    assert all(s.name.isascii() and s.name == s.name.lower() for s in SKILLS)
    assert canonical_skills(["医生", "doctor", "护士"]) == ["doctor", "nurse"]


def test_unknown_skill_is_refused_with_the_list(session: Session) -> None:
    f.org(session)
    with pytest.raises(InvalidInput) as refused:
        f.volunteer(session, skills=["魔术"])
    assert refused.value.exit_code == InvalidInput.exit_code
    assert refused.value.message.startswith("skills: unknown skill '魔术'; known skills: doctor 医生, nurse 护士")


def test_volunteer_skills_entered_in_chinese_are_stored_in_english(session: Session) -> None:
    f.org(session)
    vol = f.volunteer(session, skills=["医生", "doctor", "急救"])
    assert vol.skills == ["doctor", "first_aid"]
    edit_volunteer(session, str(vol.id), VolunteerSpec(skills=["护士"]))
    assert vol.skills == ["nurse"]
    assert [v.id for v in list_volunteers(session, skill="护士")] == [vol.id]


def test_role_required_skill_in_chinese_matches_a_volunteer_entered_in_english(session: Session) -> None:
    f.org(session)
    svc = f.service(session, roles=["医生:1:医生"])
    assert svc.roles[0].skill == "doctor"
    occ = f.occurrence(session, svc, start=MONDAY)
    doctor = f.volunteer(session, skills=["doctor"])
    assert rosters.assign(session, str(doctor.id), occ.id, now=NOW).status == "invited"
    with pytest.raises(InvalidInput, match="role: unknown skill '厨神'"):
        f.service(session, roles=["医生:1:厨神"])


def test_rows_stored_before_the_vocabulary_still_match(session: Session) -> None:
    """A role or a volunteer saved with a Chinese skill name (older data) matches its English twin."""
    f.org(session)
    svc = f.service(session, roles=["医生:1:doctor"])
    occ = f.occurrence(session, svc, start=MONDAY)
    legacy = f.volunteer(session, skills=[])
    session.execute(update(Volunteer).where(Volunteer.id == legacy.id).values(skills=["医生"]))
    session.execute(update(Role).where(Role.service_id == svc.id).values(skill="Doctor"))
    session.expire_all()
    result = fill(session, MONDAY.date(), MONDAY.date(), now=NOW)
    assert result.as_dict()["filled"] == 1
    nurse = f.volunteer(session, skills=["nurse"])
    occ2 = f.occurrence(session, svc, start=datetime(2026, 12, 8, 8, 30, tzinfo=UTC))
    with pytest.raises(CheckRefused, match="needs 'Doctor'"):
        rosters.assign(session, str(nurse.id), occ2.id, now=NOW)
    assert occ.id != occ2.id


def test_skills_command_lists_the_vocabulary(invoke) -> None:  # type: ignore[no-untyped-def]
    table = invoke("skills")
    assert table.exit_code == 0
    assert "doctor" in table.output and "医生" in table.output and "老师" in table.output
    data = json.loads(invoke("skills", "--json").output)
    assert {"name": "tutor", "chinese": "辅导员", "aliases": ["老师", "教师", "辅导老师", "teacher"]} in data


def test_cli_refuses_an_unknown_skill_with_exit_4(invoke) -> None:  # type: ignore[no-untyped-def]
    added = invoke("volunteer", "add", "--name", "王芳", "--phone", "13800138000", "--skill", "医生")
    assert added.exit_code == 0, added.output
    assert json.loads(invoke("volunteer", "show", "13800138000", "--json").output)["skills"] == ["doctor"]
    refused = invoke("volunteer", "add", "--name", "李四", "--phone", "13800138001", "--skill", "魔术")
    assert refused.exit_code == InvalidInput.exit_code and "skills: unknown skill '魔术'" in refused.stderr


def test_volunteer_add_takes_availability_in_the_csv_forms(invoke) -> None:  # type: ignore[no-untyped-def]
    added = invoke("volunteer", "add", "--name", "王芳", "--phone", "13800138000",
                   "--availability", "周一至周五 16:00-19:00，星期六 09:00-12:00", "--json")
    assert added.exit_code == 0, added.output
    assert json.loads(added.output)["availability"] == (
        "mon 16:00-19:00; tue 16:00-19:00; wed 16:00-19:00; thu 16:00-19:00; fri 16:00-19:00; sat 09:00-12:00")
