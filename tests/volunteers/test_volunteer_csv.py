"""Volunteer CSV import/export: Excel encodings, Chinese headers, all-or-nothing, formula guard."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from scheduler.errors import InvalidInput
from scheduler.models import Volunteer
from scheduler.volunteers.csv_io import CsvRejected, export_volunteers, import_volunteers, neutralise
from tests import factories as f

CHINESE = (
    "序号,姓名,手机,邮箱,支部,技能,可服务时间,不可服务日期,每月上限(小时),身份证号\r\n"
    "1,王芳,13800138000,wf@example.cn,顺景花园党支部,tutor、reading,周一至周五 16:00-19:00,2026/10/1至2026/10/3,16,"
    "440307199001011232\r\n"
    "2,李医生,+86 139 0000 0001,,shunjing,\"doctor,nurse\",\"星期六 09:00-12:00，周日 14:00-17:00\",,,\r\n"
)


def _count(session: Session) -> int:
    session.flush()
    return session.scalar(select(func.count()).select_from(Volunteer)) or 0


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gbk"])
def test_excel_file_with_chinese_headers_imports(session: Session, encoding: str) -> None:
    f.org(session)
    summary = import_volunteers(session, CHINESE.encode(encoding))
    assert (summary["created"], summary["updated"], summary["ignored_columns"]) == (2, 0, ["序号"])
    wang = session.scalar(select(Volunteer).where(Volunteer.phone == "13800138000"))
    assert wang is not None and wang.name == "王芳" and wang.home_branch is not None
    assert wang.skills == ["reader", "tutor"] and wang.monthly_cap_hours == 16  # reading: the reader skill
    assert wang.availability["1"] == ["16:00-19:00"] and "6" not in wang.availability
    assert wang.blackout_dates == ["2026-10-01", "2026-10-02", "2026-10-03"]
    li = session.scalar(select(Volunteer).where(Volunteer.phone == "13900000001"))
    assert li is not None and li.availability == {"6": ["09:00-12:00"], "7": ["14:00-17:00"]}


def test_english_headers_and_existing_phone_updates(session: Session) -> None:
    f.org(session)
    old = f.volunteer(session, name="旧名字", phone="13800138000", skills=["tutor"])
    raw = "name,phone,skills,monthly_cap\n王芳,13800138000,tutor;first_aid,8\n新人,13700000000,,\n".encode()
    summary = import_volunteers(session, raw)
    assert [(r["line"], r["action"]) for r in summary["rows"]] == [(2, "updated"), (3, "created")]
    assert (old.name, old.skills, old.monthly_cap_hours) == ("王芳", ["first_aid", "tutor"], 8)
    assert old.home_branch is not None  # a blank or missing column leaves the stored value alone


def test_bad_rows_are_all_reported_by_line_and_field_and_nothing_is_written(session: Session) -> None:
    f.org(session)
    raw = ("姓名,手机,支部,可服务时间,不可服务日期,每月上限,身份证号\n"
           "王芳,13800138000,顺景花园党支部,周一 16:00-19:00,,,\n"
           ",12345,不存在的支部,周八 9点,2026-13-01,很多,123\n"
           "李四,1.38001E+10,,,,,\n"
           "张三,13800138000,,,,,\n").encode("utf-8-sig")
    with pytest.raises(CsvRejected) as rejected:
        import_volunteers(session, raw)
    found = {(e.line, e.field) for e in rejected.value.errors}
    assert {(3, "phone"), (3, "branch"), (3, "availability"), (3, "blackout"), (3, "monthly_cap"),
            (3, "id_number"), (4, "phone"), (5, "phone")} <= found
    assert "line 5, phone: 13800138000 also appears on line 2" in rejected.value.message
    assert "format the column as text" in rejected.value.message
    assert rejected.value.exit_code == InvalidInput.exit_code
    assert _count(session) == 0


def test_headers_and_encoding_problems_name_the_field(session: Session) -> None:
    with pytest.raises(InvalidInput, match="header: no phone column"):
        import_volunteers(session, "姓名,邮箱\n王芳,a@b.cn\n".encode())
    with pytest.raises(InvalidInput, match="file: is empty"):
        import_volunteers(session, b"")
    with pytest.raises(InvalidInput, match="neither UTF-8 nor GBK"):
        import_volunteers(session, b"\xff\xfe\x00\x81\x30\xff")


def test_export_has_bom_neutralises_formulas_masks_ids_and_reimports(session: Session) -> None:
    f.org(session)
    f.volunteer(session, name="=HYPERLINK(\"http://x\")", phone="13800138000", id_number="440307199001011232",
                availability="sat 08:00-12:00; sat 14:00-18:00", blackout=["2026-10-01..2026-10-03", "2026-12-25"])
    f.volunteer(session, name="@王芳", phone="13800138001", email="wf@example.cn", monthly_cap=16)
    data = export_volunteers(session)
    assert data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8-sig")
    assert "'=HYPERLINK" in text and ",'@王芳," in text
    assert "440307********1232" in text and "440307199001011232" not in text
    assert "2026-10-01..2026-10-03,2026-12-25" in text and "\r\n" in text
    summary = import_volunteers(session, data)
    assert (summary["unchanged"], summary["updated"], summary["created"]) == (2, 0, 0)
    assert neutralise("-1") == "'-1" and neutralise("+86") == "'+86" and neutralise("王") == "王"


def test_cli_import_then_export_round_trip(invoke, tmp_path) -> None:  # type: ignore[no-untyped-def]
    invoke("community", "add", "ailian", "--name", "爱联社区")
    invoke("branch", "add", "shunjing", "--name", "顺景花园党支部", "--community", "ailian")
    source = tmp_path / "志愿者.csv"
    source.write_bytes(CHINESE.encode("gbk"))
    result = invoke("volunteer", "import", str(source))
    assert result.exit_code == 0, result.output
    assert "line 2: created volunteer" in result.output and "2 created, 0 updated" in result.output
    out = tmp_path / "export.csv"
    assert invoke("volunteer", "export", str(out)).exit_code == 0
    assert "王芳" in out.read_bytes().decode("utf-8-sig")
    piped = invoke("volunteer", "export", "--branch", "shunjing")
    assert piped.stdout_bytes.startswith(b"\xef\xbb\xbf") and "李医生" in piped.stdout_bytes.decode("utf-8-sig")
    again = invoke("volunteer", "import", str(out))
    assert "0 created, 0 updated" in again.output
    bad = tmp_path / "bad.csv"
    bad.write_text("姓名,手机\n王芳,123\n", encoding="utf-8")
    refused = invoke("volunteer", "import", str(bad))
    assert refused.exit_code == InvalidInput.exit_code and "line 2, phone:" in refused.stderr


def test_unknown_columns_are_reported_never_silently_dropped(session: Session) -> None:
    f.org(session)
    raw = "姓名,手机,备注,紧急联系人\n王芳,13800138000,周末优先,李四,多出来的\n".encode()
    summary = import_volunteers(session, raw)
    assert summary["created"] == 1 and summary["ignored_columns"] == ["备注", "紧急联系人"]
    assert summary["warnings"][0].startswith("ignored unknown column(s): 备注, 紧急联系人 (known: 姓名/name")
    assert summary["warnings"][1] == "ignored cells beyond the last header column on line(s) 2"


def test_cli_import_warns_about_unknown_columns_on_stderr(invoke, tmp_path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "v.csv"
    source.write_text("序号,姓名,手机,备注\n1,王芳,13800138000,周末优先\n", encoding="utf-8-sig")
    result = invoke("volunteer", "import", str(source))
    assert result.exit_code == 0, result.output
    assert "warning: ignored unknown column(s): 序号, 备注" in result.stderr
    assert "1 created" in result.stdout


def test_import_help_says_what_an_empty_availability_means(invoke) -> None:  # type: ignore[no-untyped-def]
    shown = " ".join(invoke("volunteer", "import", "--help").output.split())
    assert "A blank 可服务时间 means no weekly windows: a new volunteer is available at any time" in shown
    assert "Other columns are ignored, with a warning naming them" in shown


def test_empty_availability_means_any_time_as_documented(session: Session) -> None:
    from scheduler.volunteers.eligibility import available

    f.org(session)
    import_volunteers(session, "姓名,手机,可服务时间\n王芳,13800138000,\n".encode())
    wang = session.scalar(select(Volunteer).where(Volunteer.phone == "13800138000"))
    assert wang is not None and wang.availability == {}
    assert available(wang.availability, (3, "09:00", "11:00"))


def test_chinese_and_english_skill_names_are_one_skill_in_an_import(session: Session) -> None:
    f.org(session)
    summary = import_volunteers(session, "姓名,手机,技能\n王芳,13800138000,医生、Doctor、护士\n".encode())
    assert summary["created"] == 1
    wang = session.scalar(select(Volunteer).where(Volunteer.phone == "13800138000"))
    assert wang is not None and wang.skills == ["doctor", "nurse"]


def test_unknown_skill_in_an_import_is_reported_by_line_with_the_list(session: Session) -> None:
    f.org(session)
    with pytest.raises(CsvRejected) as rejected:
        import_volunteers(session, "姓名,手机,技能\n王芳,13800138000,tutor\n李四,13800138001,魔术\n".encode())
    assert "line 3, skills: unknown skill '魔术'; known skills: doctor 医生, nurse 护士" in rejected.value.message
    assert _count(session) == 0
