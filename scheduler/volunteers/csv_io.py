"""Volunteer lists as CSV files made and opened by Excel (UTF-8 with BOM, or GBK).

Import is all-or-nothing: every row is checked first and every problem is reported by line and
field; only a clean file is applied. A known phone number updates that volunteer (blank cells
leave the stored value alone), otherwise a volunteer is created.

Export writes UTF-8 with a BOM (so Excel picks the right encoding) and neutralises cells that a
spreadsheet would run as a formula (OWASP "CSV injection"): a leading ``= + - @`` (or tab/CR)
gets a ``'`` in front. ID numbers are masked. The importer reads its own export back.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler import validation as v
from scheduler.errors import InvalidInput
from scheduler.i18n import _, ngettext, translate
from scheduler.models import Branch, Volunteer
from scheduler.validation import neutralise
from scheduler.volunteers import (
    VolunteerSpec,
    add_volunteer,
    edit_volunteer,
    list_volunteers,
    mask_id_number,
    normalise_availability,
    parse_availability,
)
from scheduler.volunteers.skills import canonical_skills

#: Column → the header spellings accepted (compared without spaces, case-insensitively).
HEADERS: dict[str, tuple[str, ...]] = {
    "name": ("姓名", "名字", "志愿者", "name"),
    "phone": ("手机", "手机号", "手机号码", "电话", "联系电话", "phone", "mobile"),
    "email": ("邮箱", "电子邮箱", "电子邮件", "email", "e-mail"),
    "branch": ("支部", "所属支部", "党支部", "branch"),
    "skills": ("技能", "专长", "资质", "skills", "skill"),
    "availability": ("可服务时间", "服务时间", "availability"),
    "blackout": ("不可服务日期", "请假日期", "blackout", "blackout_dates"),
    "monthly_cap": ("每月上限", "每月上限(小时)", "每月上限（小时）", "月上限", "monthly_cap", "monthly_cap_hours"),
    "id_number": ("身份证号", "身份证", "身份证号码", "id_number"),
    "channel": ("提醒方式", "提醒渠道", "channel"),
}
EXPORT_HEADERS = ("编号", "姓名", "手机", "邮箱", "支部", "技能", "可服务时间", "不可服务日期", "每月上限", "身份证号", "提醒方式")
MAX_ERRORS_SHOWN = 200

_ALIASES = {alias.replace(" ", "").lower(): column for column, aliases in HEADERS.items() for alias in aliases}
_SPLIT = re.compile(r"[,，;；、|/\s]+")
_DATE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$")


@dataclass
class RowError:
    line: int
    field: str
    problem: str

    def __str__(self) -> str:
        # The column as the file names it in Chinese (手机), or the English key (phone).
        return _("line {line}, {field}: {problem}").format(line=self.line, field=translate(self.field),
                                                           problem=translate(self.problem))


class CsvRejected(InvalidInput):
    """The file has bad rows; nothing was imported. ``errors`` lists every one."""

    def __init__(self, errors: list[RowError]) -> None:
        shown = "\n".join(f"  {e}" for e in errors[:MAX_ERRORS_SHOWN])
        more = ("\n  " + _("... and {count} more").format(count=len(errors) - MAX_ERRORS_SHOWN)
                if len(errors) > MAX_ERRORS_SHOWN else "")
        heading = ngettext("{count} problem, nothing imported:", "{count} problems, nothing imported:",
                           len(errors)).format(count=len(errors))
        super().__init__("file", f"{heading}\n{shown}{more}")
        self.errors = errors


def decode(raw: bytes) -> str:
    """UTF-8 (with or without BOM), else GBK (read as GB18030, its superset)."""
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8", errors="strict")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("gb18030")
    except UnicodeDecodeError:
        raise InvalidInput("file", "is neither UTF-8 nor GBK text; save it from Excel as "
                                   "'CSV UTF-8' and try again") from None


def _cell(value: str) -> str:
    value = value.strip()
    # Undo our own export's formula guard.
    if value.startswith("'") and value[1:2] in ("=", "+", "-", "@"):
        value = value[1:]
    return value


def _one_date(value: str) -> date:
    match = _DATE.match(value.strip())
    if not match:
        raise InvalidInput("blackout", _("{value} is not a date like 2026-10-01").format(value=repr(value)))
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        raise InvalidInput("blackout", _("{value} is not a real date").format(value=repr(value))) from None


def _blackout(value: str) -> list[str]:
    items: list[str] = []
    for chunk in re.split(r"[,，;；、\s]+", value):
        if not chunk:
            continue
        parts = re.split(r"\.\.|至|到|~|～", chunk)
        if len(parts) == 1:
            items.append(_one_date(parts[0]).isoformat())
        elif len(parts) == 2:
            items.append(f"{_one_date(parts[0]).isoformat()}..{_one_date(parts[1]).isoformat()}")
        else:
            raise InvalidInput("blackout", _("{value} should be a date or a range like 2026-10-01..2026-10-07").format(
                value=repr(chunk)))
    return items


def _monthly_cap(value: str) -> int:
    try:
        number = float(value)
    except ValueError:
        raise InvalidInput("monthly_cap", _("{value} is not a number of hours").format(value=repr(value))) from None
    if number != int(number) or not 0 <= number <= 744:
        raise InvalidInput("monthly_cap", _("{value}: whole hours between 0 and 744 (0: no cap)").format(value=repr(value)))
    return int(number)


def _parse_row(cells: dict[str, str], branches: dict[str, str]) -> tuple[VolunteerSpec, list[tuple[str, str]]]:
    """A spec from one row, and every (field, problem) found; blank cells stay None."""
    spec = VolunteerSpec()
    problems: list[tuple[str, str]] = []

    def attempt(field: str, action: Any) -> None:
        value = cells.get(field, "")
        if not value:
            return
        try:
            action(value)
        except InvalidInput as exc:
            problems.append((field, exc.problem))

    def name(value: str) -> None:
        spec.name = v.text(value, "name", 64)

    def phone(value: str) -> None:
        if re.match(r"^\d(\.\d+)?E\+\d+$", value, re.I):
            raise InvalidInput("phone", _("{value} was turned into a number by Excel; format the column as text").format(
                value=repr(value)))
        spec.phone = v.phone(value)

    def email(value: str) -> None:
        spec.email = v.email(value)

    def branch(value: str) -> None:
        slug = branches.get(value) or branches.get(value.lower())
        if slug is None:
            raise InvalidInput("branch", _("{value} is not a known branch (give its slug or full name)").format(
                value=repr(value)))
        spec.branch = slug

    def skills(value: str) -> None:
        spec.skills = canonical_skills(s for s in _SPLIT.split(value) if s)

    def availability(value: str) -> None:
        parse_availability(value)  # report a bad window on its line, before anything is written
        spec.availability = normalise_availability(value)

    def blackout(value: str) -> None:
        spec.blackout = _blackout(value)

    def monthly_cap(value: str) -> None:
        spec.monthly_cap = _monthly_cap(value)

    def id_number(value: str) -> None:
        if "*" in value:
            return  # a masked number from our own export: keep what is stored
        spec.id_number = v.id_number(value)

    def channel(value: str) -> None:
        from scheduler.volunteers import CHANNELS

        if value.lower() not in CHANNELS:
            raise InvalidInput("channel", _("{value} is not one of {choices}").format(value=repr(value),
                                                                                      choices=", ".join(CHANNELS)))
        spec.channel = value.lower()

    for field, action in (("name", name), ("phone", phone), ("email", email), ("branch", branch),
                          ("skills", skills), ("availability", availability), ("blackout", blackout),
                          ("monthly_cap", monthly_cap), ("id_number", id_number), ("channel", channel)):
        attempt(field, action)
    return spec, problems


def import_volunteers(session: Session, raw: bytes) -> dict[str, Any]:
    """Create or update volunteers from CSV bytes; raise CsvRejected (exit 4) listing every bad row."""
    text = decode(raw)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise InvalidInput("file", "is empty (expected a header row such as 姓名,手机,支部,技能)") from None
    except csv.Error as exc:
        raise InvalidInput("file", _("is not CSV: {problem}").format(problem=exc)) from None
    columns: list[str | None] = []
    ignored: list[str] = []
    for title in header:
        key = _ALIASES.get(_cell(title).replace(" ", "").lower())
        if key is not None and key in columns:
            raise InvalidInput("header", _("column {title} appears twice").format(title=repr(title)))
        columns.append(key)
        if key is None and title.strip():
            ignored.append(title.strip())
    for needed in ("name", "phone"):
        if needed not in columns:
            raise InvalidInput("header", _("no {column} column (accepted: {accepted})").format(
                column=translate(needed), accepted=", ".join(HEADERS[needed])))

    branches: dict[str, str] = {}
    for slug, branch_name in session.execute(select(Branch.slug, Branch.name)):
        branches[slug] = slug
        branches[branch_name] = slug
    known = {phone for (phone,) in session.execute(select(Volunteer.phone))}

    errors: list[RowError] = []
    warnings: list[str] = []
    if ignored:
        warnings.append(_("ignored unknown column(s): {columns} (known: {known})").format(
            columns=", ".join(ignored), known=", ".join(aliases[0] + "/" + column for column, aliases in HEADERS.items())))
    long_rows: list[int] = []
    parsed: list[tuple[int, VolunteerSpec]] = []
    seen: dict[str, int] = {}
    line = 1
    try:
        for row in reader:
            start_line, line = line + 1, reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            cells = {col: _cell(value) for col, value in zip(columns, row, strict=False) if col is not None}
            if any(cell.strip() for cell in row[len(columns):]):
                long_rows.append(start_line)
            spec, problems = _parse_row(cells, branches)
            if not cells.get("phone"):
                problems.append(("phone", _("is required")))
            if spec.phone:
                if spec.phone in seen:
                    problems.append(("phone", _("{phone} also appears on line {line}").format(phone=spec.phone,
                                                                                              line=seen[spec.phone])))
                seen.setdefault(spec.phone, start_line)
                if spec.phone not in known and not cells.get("name"):
                    problems.append(("name", _("is required for a new volunteer")))
            errors.extend(RowError(start_line, field, problem) for field, problem in problems)
            parsed.append((start_line, spec))
    except csv.Error as exc:
        errors.append(RowError(line + 1, "file", _("unreadable CSV: {problem}").format(problem=exc)))
    if errors:
        raise CsvRejected(errors)
    if long_rows:
        shown = ", ".join(str(n) for n in long_rows[:20]) + (" ..." if len(long_rows) > 20 else "")
        warnings.append(_("ignored cells beyond the last header column on line(s) {lines}").format(lines=shown))

    rows: list[dict[str, Any]] = []
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    for start_line, spec in parsed:
        assert spec.phone is not None
        if spec.phone in known:
            volunteer, changed = edit_volunteer(session, spec.phone, spec)
            action = "updated" if changed else "unchanged"
        else:
            volunteer = add_volunteer(session, spec)
            known.add(spec.phone)
            action = "created"
        counts[action] += 1
        rows.append({"line": start_line, "action": action, "id": volunteer.id, "name": volunteer.name})
    return {**counts, "rows": rows, "ignored_columns": ignored, "warnings": warnings}


# --------------------------------------------------------------------------- export


def _ranges(days: list[str]) -> str:
    """Consecutive dates folded into ``first..last`` ranges."""
    out: list[str] = []
    parsed = sorted(date.fromisoformat(d) for d in days)
    i = 0
    while i < len(parsed):
        j = i
        while j + 1 < len(parsed) and parsed[j + 1] == parsed[j] + timedelta(days=1):
            j += 1
        out.append(parsed[i].isoformat() if i == j else f"{parsed[i].isoformat()}..{parsed[j].isoformat()}")
        i = j + 1
    return ",".join(out)


def export_volunteers(session: Session, branch: str | None = None, include_inactive: bool = False) -> bytes:
    """Volunteers as CSV bytes (UTF-8 with BOM, CRLF), importable again; ID numbers masked."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(EXPORT_HEADERS)
    for vol in list_volunteers(session, branch=branch, include_inactive=include_inactive):
        cells = [
            str(vol.id), vol.name, vol.phone, vol.email or "", vol.home_branch.slug if vol.home_branch else "",
            ",".join(vol.skills or []), v.format_availability(vol.availability or {}),
            _ranges(list(vol.blackout_dates or [])), str(vol.monthly_cap_hours or ""),
            mask_id_number(vol.id_number), vol.preferred_channel or "",
        ]
        writer.writerow([neutralise(cell) for cell in cells])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")
