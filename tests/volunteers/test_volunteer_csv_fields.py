"""The issue-18 columns of the volunteer CSV: 资质证书, 出生日期, 在职党员, 工作单位 (SQLite and
PostgreSQL): checked row by row with nothing written on a bad one, masked on export, and read back
from the export without losing a certificate number or a birth date."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
from click.testing import Result
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from scheduler.errors import InvalidInput
from scheduler.models import Qualification, Volunteer
from scheduler.volunteers.csv_io import CsvRejected, export_volunteers, import_volunteers
from scheduler.volunteers.minors import effective_birth_date
from scheduler.volunteers.qualifications import QualificationSpec, add_qualification
from tests import factories as f

TODAY = date(2026, 12, 1)
HEADER = "姓名,手机,资质证书,出生日期,在职党员,工作单位\r\n"
GOOD = (HEADER
        + "王芳,13800138000,健康证|深圳市南山区疾病预防控制中心|NS2026000123|2026/1/5|2027年1月4日;"
          "first_aid|深圳市红十字会|HSH-778812||,,是,深圳湾科技生态园管理公司\r\n"
        + "王小明,13800138001,,2012-05-01,否,\r\n")


def id_number(born: str, serial: str = "123") -> str:
    """A valid 18-digit ID number (GB 11643 check digit) for a birth date YYYYMMDD."""
    body = "440305" + born + serial
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, weights, strict=True)) % 11]


def _volunteer(session: Session, phone: str) -> Volunteer:
    vol = session.scalar(select(Volunteer).where(Volunteer.phone == phone))
    assert vol is not None
    return vol


def _held(session: Session, vol: Volunteer) -> list[tuple[str, str, str, date | None, date | None]]:
    session.flush()
    return [(q.kind, q.issuer, q.number, q.issued_on, q.expires_on) for q in session.scalars(
        select(Qualification).where(Qualification.volunteer_id == vol.id).order_by(Qualification.kind, Qualification.number))]


def _counts(session: Session) -> tuple[int, int]:
    session.flush()
    return (session.scalar(select(func.count()).select_from(Volunteer)) or 0,
            session.scalar(select(func.count()).select_from(Qualification)) or 0)


def test_new_columns_import_in_chinese(session: Session) -> None:
    f.org(session)
    summary = import_volunteers(session, GOOD.encode("utf-8-sig"), TODAY)
    assert (summary["created"], summary["ignored_columns"]) == (2, [])
    wang = _volunteer(session, "13800138000")
    assert _held(session, wang) == [
        ("first_aid", "深圳市红十字会", "HSH-778812", None, None),
        ("health", "深圳市南山区疾病预防控制中心", "NS2026000123", date(2026, 1, 5), date(2027, 1, 4)),
    ]
    assert (wang.party_member, wang.work_unit, wang.birth_date) == (True, "深圳湾科技生态园管理公司", None)
    kid = _volunteer(session, "13800138001")
    assert (kid.birth_date, kid.party_member, kid.work_unit) == (date(2012, 5, 1), False, None)


def test_english_headers_excel_booleans_and_the_birth_date_of_the_id_number(session: Session) -> None:
    f.org(session)
    number = id_number("20100315")
    raw = ("name,phone,id_number,birth_date,party_member,work_unit,qualifications\n"
           f"李娜,13800138002,{number},,TRUE,南山区教育局,teacher|南山区教育局|20104403||\n"
           "张伟,13800138003,,1990.7.1,0,,\n").encode()
    assert import_volunteers(session, raw, TODAY)["created"] == 2
    li = _volunteer(session, "13800138002")
    # Read from the ID number when needed, as after `volunteer add --id-number`.
    assert li.birth_date is None and effective_birth_date(li.birth_date, li.id_number) == date(2010, 3, 15)
    assert (li.party_member, li.work_unit) == (True, "南山区教育局")
    assert _held(session, li) == [("teacher", "南山区教育局", "20104403", None, None)]
    zhang = _volunteer(session, "13800138003")
    assert (zhang.birth_date, zhang.party_member) == (date(1990, 7, 1), False)


def test_one_bad_row_writes_nothing_and_every_problem_names_its_line_and_field(session: Session) -> None:
    f.org(session)
    old = f.volunteer(session, name="老志愿者", phone="13900000009")
    add_qualification(session, str(old.id), QualificationSpec("health", "南山疾控", "OLD123456"))
    before = _counts(session)
    raw = (HEADER
           + "王芳,13800138000,health|南山疾控|A1234567|2026-01-01|2027-01-01,,是,南山区教育局\r\n"
           + "李四,13800138001,health|南山疾控|B1234567|2027-01-01|2026-01-01,2200-01-01,也许,\r\n"
           + "张三,13800138002,health|南山疾控,1896-01-01,是,\r\n"
           + f"赵六,13800138003,魔法|x;y|1||,,否,{'单' * 201}\r\n"
           + "老志愿者,13900000009,-,2012-13-01,,\r\n"
           + "孙七,13800138004,教师资格证|南山区教育局|1||2029-02-30,,,\r\n").encode("utf-8-sig")
    with pytest.raises(CsvRejected) as rejected:
        import_volunteers(session, raw, TODAY)
    found = {(e.line, e.field) for e in rejected.value.errors}
    assert found == {(3, "qualifications"), (3, "birth_date"), (3, "party_member"), (4, "qualifications"),
                     (4, "birth_date"), (4, "work_unit"), (5, "qualifications"), (5, "work_unit"),
                     (6, "birth_date"), (7, "qualifications")}
    message = rejected.value.message
    assert "line 3, qualifications: health certificate (expires): 2026-01-01 is before the issue date 2027-01-01" \
        in message
    assert "line 3, birth_date: the birth date 2200-01-01 is in the future" in message
    assert "line 3, party_member: '也许' is not yes or no (是/否, yes/no, 1/0, true/false)" in message
    assert "line 4, qualifications: 'health|南山疾控' is not kind|issuer|number|issued|expires" in message
    assert "line 4, birth_date: the birth date 1896-01-01 would make the volunteer 130" in message
    assert "line 4, work_unit: a serving Party member (在职党员: 是) needs a work unit (工作单位)" in message
    assert "line 5, work_unit: is 201 characters long; at most 200" in message
    assert "line 6, birth_date: '2012-13-01' is not a real date" in message
    assert "line 7, qualifications: teacher's certificate (expires): '2029-02-30' is not a date" in message
    assert rejected.value.exit_code == InvalidInput.exit_code
    assert _counts(session) == before  # the good first row was not written either
    assert _held(session, old) == [("health", "南山疾控", "OLD123456", None, None)]


def test_export_masks_numbers_and_reads_back_without_losing_them(session: Session) -> None:
    f.org(session)
    wang = f.volunteer(session, name="王芳", phone="13800138000", id_number=id_number("19900101"))
    add_qualification(session, str(wang.id), QualificationSpec("health", "南山疾控", "NS2026000123", "2026-01-05",
                                                               "2027-01-04"))
    add_qualification(session, str(wang.id), QualificationSpec("health", "福田疾控", "FT2025000999"))
    add_qualification(session, str(wang.id), QualificationSpec("physician", "深圳市卫健委", "110440300012345"))
    wang.birth_date, wang.party_member, wang.work_unit = date(1990, 1, 1), True, "南山区教育局"
    kid = f.volunteer(session, name="王小明", phone="13800138001")
    kid.birth_date = date(2012, 5, 1)
    held = _held(session, wang)

    data = export_volunteers(session)
    text = data.decode("utf-8-sig")
    assert "NS2026000123" not in text and "110440300012345" not in text and "********0123" in text
    lines = text.splitlines()
    assert lines[0].endswith(",资质证书,出生日期,在职党员,工作单位")
    # The birth date beside a masked ID number would give back the digits the mask hides.
    assert "1990-01-01" not in text and lines[1].endswith(",是,南山区教育局")
    assert lines[2].endswith(",2012-05-01,否,")
    summary = import_volunteers(session, data, TODAY)
    assert (summary["unchanged"], summary["updated"]) == (2, 0)
    assert _held(session, wang) == held and (wang.birth_date, kid.birth_date) == (date(1990, 1, 1), date(2012, 5, 1))

    # A coordinator edits the exported file: a new end date for one masked certificate, another left out.
    edited = text.replace("福田疾控|********0999||", "福田疾控|********0999||2028-12-31")
    edited = edited.replace(";physician|深圳市卫健委|***********2345||", "")
    assert import_volunteers(session, edited.encode("utf-8-sig"), TODAY)["updated"] == 1
    assert _held(session, wang) == [("health", "福田疾控", "FT2025000999", None, date(2028, 12, 31)),
                                    ("health", "南山疾控", "NS2026000123", date(2026, 1, 5), date(2027, 1, 4))]

    full = export_volunteers(session, full=True).decode("utf-8-sig")
    assert "NS2026000123" in full and id_number("19900101") not in full
    assert import_volunteers(session, full.encode("utf-8-sig"), TODAY)["unchanged"] == 2


def test_a_masked_number_that_matches_nothing_is_an_error(session: Session) -> None:
    f.org(session)
    wang = f.volunteer(session, name="王芳", phone="13800138000")
    add_qualification(session, str(wang.id), QualificationSpec("health", "南山疾控", "NS2026000123"))
    raw = ("姓名,手机,证书\n"
           "王芳,13800138000,health|南山疾控|********9999||\n"
           "新人,13800138001,health|南山疾控|********0123||\n"
           "王芳二,13800138002,first_aid|红会|********0123||\n").encode()
    with pytest.raises(CsvRejected) as rejected:
        import_volunteers(session, raw, TODAY)
    assert [(e.line, e.field) for e in rejected.value.errors] == [(2, "qualifications"), (3, "qualifications"),
                                                                  (4, "qualifications")]
    assert ("line 2, qualifications: health certificate: the masked number ********9999 matches none of this "
            "volunteer's on record; give the number in full") in rejected.value.message
    assert _held(session, wang) == [("health", "南山疾控", "NS2026000123", None, None)]


def test_a_lone_dash_clears_and_a_blank_cell_leaves_alone(session: Session) -> None:
    f.org(session)
    wang = f.volunteer(session, name="王芳", phone="13800138000")
    add_qualification(session, str(wang.id), QualificationSpec("health", "南山疾控", "NS2026000123"))
    wang.birth_date, wang.work_unit = date(1990, 1, 1), "南山区教育局"
    blank = import_volunteers(session, (HEADER + "王芳,13800138000,,,,\n").encode(), TODAY)
    assert blank["unchanged"] == 1 and len(_held(session, wang)) == 1 and wang.work_unit == "南山区教育局"
    cleared = import_volunteers(session, (HEADER + "王芳,13800138000,-,-,否,-\n").encode(), TODAY)
    assert cleared["updated"] == 1
    assert (_held(session, wang), wang.birth_date, wang.work_unit) == ([], None, None)


def test_gbk_file_with_a_chinese_issuer(session: Session) -> None:
    f.org(session)
    raw = ("姓名,手机,资质证书\r\n"
           "陈医生,13800138000,执业医师证|深圳市卫生健康委员会|110440300012345|2020年1月1日|2027年6月30日\r\n")
    summary = import_volunteers(session, raw.encode("gbk"), TODAY)
    assert summary["created"] == 1
    chen = _volunteer(session, "13800138000")
    assert _held(session, chen) == [("physician", "深圳市卫生健康委员会", "110440300012345", date(2020, 1, 1),
                                     date(2027, 6, 30))]


def test_export_neutralises_formulas_in_the_new_columns_and_reads_them_back(session: Session) -> None:
    f.org(session)
    vol = f.volunteer(session, name="王芳", phone="13800138000")
    add_qualification(session, str(vol.id), QualificationSpec("=SUM(A1)", "=HYPERLINK(\"http://x\")", "A1234567"))
    vol.party_member, vol.work_unit = True, "@某单位"
    text = export_volunteers(session).decode("utf-8-sig")
    row = text.splitlines()[1]
    assert ",'=SUM(A1)|=HYPERLINK" in row.replace('"', "") and row.endswith(",是,'@某单位")
    assert import_volunteers(session, text.encode("utf-8-sig"), TODAY)["unchanged"] == 1
    assert _held(session, vol) == [("=SUM(A1)", "=HYPERLINK(\"http://x\")", "A1234567", None, None)]
    assert vol.work_unit == "@某单位"


def test_a_cell_separator_in_an_issuer_is_refused(session: Session) -> None:
    f.org(session)
    vol = f.volunteer(session)
    with pytest.raises(InvalidInput) as err:
        add_qualification(session, str(vol.id), QualificationSpec("health", "南山|疾控", "1"))
    assert err.value.field == "issuer"


def test_the_header_zizhi_stays_skills_and_a_certificate_under_it_is_explained(session: Session) -> None:
    f.org(session)
    assert import_volunteers(session, "姓名,手机,资质\n王芳,13800138000,医生\n".encode(), TODAY)["created"] == 1
    assert _volunteer(session, "13800138000").skills == ["doctor"]
    with pytest.raises(CsvRejected) as rejected:
        import_volunteers(session, "姓名,手机,资质\n李四,13800138001,健康证|南山疾控|1||\n".encode(), TODAY)
    assert "line 2, skills: '健康证|南山疾控|1||' looks like a qualification" in rejected.value.message
    assert "put it in a 资质证书 column" in rejected.value.message


def test_cli_import_and_export_on_both_backends(roster_on_db: Callable[..., Result], tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert roster_on_db("community", "add", "ailian", "--name", "爱联社区").exit_code == 0
    assert roster_on_db("branch", "add", "shunjing", "--name", "顺景花园党支部", "--community", "ailian").exit_code == 0
    source = tmp_path / "志愿者.csv"
    source.write_bytes(GOOD.encode("gbk"))
    result = roster_on_db("volunteer", "import", str(source))
    assert result.exit_code == 0, result.output
    assert "2 created, 0 updated" in result.output
    masked = roster_on_db("volunteer", "export")
    assert "NS2026000123" not in masked.stdout_bytes.decode("utf-8-sig")
    out = tmp_path / "export.csv"
    assert roster_on_db("volunteer", "export", "--full", str(out)).exit_code == 0
    assert "NS2026000123" in out.read_bytes().decode("utf-8-sig")
    bad = tmp_path / "bad.csv"
    bad.write_bytes((HEADER + "王芳,13800138000,health|x|1|2027-01-01|2026-01-01,,,\r\n").encode("gbk"))
    refused = roster_on_db("volunteer", "import", str(bad))
    assert refused.exit_code == InvalidInput.exit_code
    assert "line 2, qualifications: health certificate (expires): 2026-01-01 is before" in refused.stderr
    chinese = roster_on_db("volunteer", "import", str(bad), lang="zh_CN")
    assert chinese.exit_code == InvalidInput.exit_code
    assert "第 2 行，资质证书：健康证（到期）：2026-01-01 早于签发日期 2027-01-01" in chinese.stderr
    help_text = " ".join(roster_on_db("volunteer", "import", "--help").output.split())
    assert f"Any bad row rejects the whole file (exit {InvalidInput.exit_code})" in help_text
    assert "资质证书/qualifications, 出生日期/birth_date, 在职党员/party_member, 工作单位/work_unit" in help_text


def test_readme_lists_every_header_alias() -> None:
    from pathlib import Path

    from scheduler.volunteers.csv_io import HEADERS

    rows = {line.split("|")[1].strip(): line for line in
            (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8").splitlines()
            if line.startswith("| ")}
    for aliases in HEADERS.values():
        assert aliases[0] in rows, aliases[0]
        assert all(alias in rows[aliases[0]] for alias in aliases), aliases
