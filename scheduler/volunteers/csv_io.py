"""Volunteer lists as CSV files made and opened by Excel (UTF-8 with BOM, or GBK).

Import is all-or-nothing: every row is checked first and every problem is reported by line and
field; only a clean file is applied. A known phone number updates that volunteer (blank cells
leave the stored value alone), otherwise a volunteer is created.

The issue-18 columns: 资质证书 (qualifications, ``kind|issuer|number|issued|expires`` joined by
``;``, as ``qualifications.format_cell`` writes it; a cell lists all of the volunteer's
qualifications, so one left out is removed), 出生日期 (birth date, checked as ``roster minor
birth-date`` checks it; blank with a new ID number: the ID number's), 在职党员 (是/否) and
工作单位. A lone ``-`` clears 资质证书, 出生日期 or 工作单位 (the older columns cannot be cleared
by an import). The header 资质 stays an alias of 技能
(skills), as it was: the skill vocabulary covers 医生/护士 "qualifications", and a file that
imported before imports the same way; certificates go under 资质证书 or 证书.

Export writes UTF-8 with a BOM (so Excel picks the right encoding) and neutralises cells that a
spreadsheet would run as a formula (OWASP "CSV injection"): a leading ``= + - @`` (or tab/CR)
gets a ``'`` in front. ID numbers are masked, and so are certificate numbers unless ``full``
(coordinators); a birth date is left out when an ID number is on record (it is the part of the
ID number the mask hides). The importer reads its own export back: a masked ID number keeps the
stored one, and a masked certificate number keeps the volunteer's qualification of that kind
whose number masks the same (one matching nothing is an error: a qualification cannot be made
from a masked number).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler import validation as v
from scheduler.db import utcnow
from scheduler.errors import InvalidInput
from scheduler.events import record_event
from scheduler.i18n import _, ngettext, translate
from scheduler.models import Branch, Qualification, Volunteer
from scheduler.party import set_party_member
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
from scheduler.volunteers.minors import checked_birth_date
from scheduler.volunteers.qualifications import (
    QualificationSpec,
    canonical_kind,
    checked_spec,
    format_cell,
    kind_label,
    mask_number,
    parse_cell,
    replace_from_cell,
)
from scheduler.volunteers.skills import canonical_skills

#: Column → the header spellings accepted (compared without spaces, case-insensitively).
HEADERS: dict[str, tuple[str, ...]] = {
    "name": ("姓名", "名字", "志愿者", "name"),
    "phone": ("手机", "手机号", "手机号码", "电话", "联系电话", "phone", "mobile"),
    "email": ("邮箱", "电子邮箱", "电子邮件", "email", "e-mail"),
    "branch": ("支部", "所属支部", "党支部", "branch"),
    # 资质 stays with the skills (see the module docstring); certificates are 资质证书/证书.
    "skills": ("技能", "专长", "资质", "skills", "skill"),
    "availability": ("可服务时间", "服务时间", "availability"),
    "blackout": ("不可服务日期", "请假日期", "blackout", "blackout_dates"),
    "monthly_cap": ("每月上限", "每月上限(小时)", "每月上限（小时）", "月上限", "monthly_cap", "monthly_cap_hours"),
    "id_number": ("身份证号", "身份证", "身份证号码", "id_number"),
    "channel": ("提醒方式", "提醒渠道", "channel"),
    "qualifications": ("资质证书", "证书", "资格证书", "qualifications", "qualification"),
    "birth_date": ("出生日期", "birth_date", "date_of_birth"),
    "party_member": ("在职党员", "是否在职党员", "party_member"),
    "work_unit": ("工作单位", "work_unit"),
}
EXPORT_HEADERS = ("编号", "姓名", "手机", "邮箱", "支部", "技能", "可服务时间", "不可服务日期", "每月上限", "身份证号", "提醒方式",
                  "资质证书", "出生日期", "在职党员", "工作单位")
MAX_ERRORS_SHOWN = 200
#: A cell holding only this clears 资质证书, 出生日期 or 工作单位 (blank leaves them alone).
CLEAR = "-"
#: 在职党员 cells, compared case-insensitively (Excel turns true into TRUE).
YES = frozenset({"是", "yes", "1", "true"})
NO = frozenset({"否", "no", "0", "false"})
#: Rows' stored volunteers and qualifications are read this many phones at a time (bound parameters).
_CHUNK = 500

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


def _one_date(value: str, field: str = "blackout") -> date:
    """2026-10-01, 2026/10/1, 2026.10.1 or 2026年10月1日 (what Excel makes of a date)."""
    match = _DATE.match(value.strip())
    if not match:
        raise InvalidInput(field, _("{value} is not a date like 2026-10-01").format(value=repr(value)))
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        raise InvalidInput(field, _("{value} is not a real date").format(value=repr(value))) from None


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


@dataclass
class RowFields:
    """What a row says about the columns ``VolunteerSpec`` does not carry; None leaves them alone."""

    #: The whole set the volunteer should hold ([]: none); masked numbers are resolved by ``_resolve``.
    qualifications: list[QualificationSpec] | None = None
    #: The 出生日期 cell as a date; ``clear_birth_date`` for a ``-``.
    birth_date: date | None = None
    clear_birth_date: bool = False
    party_member: bool | None = None
    #: "" clears it.
    work_unit: str | None = None
    #: Set by ``_resolve``: the birth date to store (None with ``store_birth_date``: clear it).
    store_birth_date: bool = False
    born: date | None = None
    problems: list[tuple[str, str]] = field(default_factory=list)


def _iso_if_date(piece: str) -> str:
    """A date in a qualification cell in any of the file's date forms, as ISO; anything else unchanged
    (``parse_cell`` then says what is wrong with it)."""
    if not _DATE.match(piece.strip()):
        return piece
    try:
        return _one_date(piece).isoformat()
    except InvalidInput:
        return piece


def _qualifications(value: str) -> list[QualificationSpec]:
    """The specs of a 资质证书 cell, each part checked; a problem names the kind and the part."""
    if value == CLEAR:
        return []
    specs: list[QualificationSpec] = []
    for part in value.split(";"):
        if not part.strip():
            continue
        pieces = part.split("|")
        if len(pieces) == 5:
            pieces[3:] = [_iso_if_date(p) for p in pieces[3:]]
        try:
            specs.extend(parse_cell("|".join(pieces)))
        except InvalidInput as exc:
            if exc.field in ("qualifications", "kind"):
                problem = exc.problem if exc.field == "qualifications" else _("{field}: {problem}").format(
                    field=translate("kind"), problem=translate(exc.problem))
            else:
                problem = _("{kind} ({part}): {problem}").format(
                    kind=kind_label(canonical_kind(pieces[0])), part=translate(exc.field),
                    problem=translate(exc.problem))
            raise InvalidInput("qualifications", problem) from None
    return specs


def _party_member(value: str) -> bool:
    lowered = value.lower()
    if lowered in YES or lowered in NO:
        return lowered in YES
    raise InvalidInput("party_member", _("{value} is not yes or no (是/否, yes/no, 1/0, true/false)").format(
        value=repr(value)))


def _parse_row(cells: dict[str, str], branches: dict[str, str]) -> tuple[VolunteerSpec, RowFields,
                                                                        list[tuple[str, str]]]:
    """A spec and the issue-18 fields from one row, and every (field, problem) found; blank cells stay None."""
    spec = VolunteerSpec()
    extra = RowFields()
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
        if value.count("|") >= 4:
            # 资质 is a skills header: a certificate cell under it would read as unknown skills.
            raise InvalidInput("skills", _("{value} looks like a qualification (kind|issuer|number|issued|expires): "
                                           "put it in a 资质证书 column").format(value=repr(value)))
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

    def qualifications(value: str) -> None:
        extra.qualifications = _qualifications(value)

    def birth_date(value: str) -> None:
        if value == CLEAR:
            extra.clear_birth_date = True
        else:
            extra.birth_date = _one_date(value, "birth_date")

    def party_member(value: str) -> None:
        extra.party_member = _party_member(value)

    def work_unit(value: str) -> None:
        extra.work_unit = "" if value == CLEAR else v.text(value, "work_unit", 200)

    for column, action in (("name", name), ("phone", phone), ("email", email), ("branch", branch),
                           ("skills", skills), ("availability", availability), ("blackout", blackout),
                           ("monthly_cap", monthly_cap), ("id_number", id_number), ("channel", channel),
                           ("qualifications", qualifications), ("birth_date", birth_date),
                           ("party_member", party_member), ("work_unit", work_unit)):
        attempt(column, action)
    return spec, extra, problems


def _stored(session: Session, phones: Iterable[str]) -> tuple[dict[str, Volunteer], dict[int, list[Qualification]]]:
    """The stored volunteers with these phone numbers, and their qualifications (oldest first)."""
    wanted = sorted(set(phones))
    volunteers: dict[str, Volunteer] = {}
    for i in range(0, len(wanted), _CHUNK):
        volunteers.update((vol.phone, vol) for vol in session.scalars(
            select(Volunteer).where(Volunteer.phone.in_(wanted[i:i + _CHUNK]))))
    held: dict[int, list[Qualification]] = {}
    ids = sorted(vol.id for vol in volunteers.values())
    for i in range(0, len(ids), _CHUNK):
        for row in session.scalars(select(Qualification).where(Qualification.volunteer_id.in_(ids[i:i + _CHUNK]))
                                   .order_by(Qualification.id)):
            held.setdefault(row.volunteer_id, []).append(row)
    return volunteers, held


def _resolve_masked(specs: list[QualificationSpec], held: list[Qualification]) -> list[QualificationSpec]:
    """The cell's specs with each masked number replaced by the stored number it masks.

    A masked number keeps the volunteer's qualification of the same kind whose number masks the
    same: the one that also has the same issuer and dates when several do. None, or several with
    nothing to tell them apart, is an error (a qualification cannot be made from a masked number).
    """
    resolved: list[QualificationSpec] = []
    used: set[int] = set()
    seen: set[tuple[str, str]] = set()
    for spec in specs:
        kind, issuer, number, issued, expires = checked_spec(spec)
        if "*" in number:
            candidates = [q for q in held if q.kind == kind and q.id not in used and mask_number(q.number) == number]
            same = [q for q in candidates if (q.issuer, q.issued_on, q.expires_on) == (issuer, issued, expires)]
            chosen = same[:1] or (candidates if len(candidates) == 1 else [])
            if not chosen:
                raise InvalidInput("qualifications", (
                    _("{kind}: the masked number {number} matches none of this volunteer's on record; give the "
                      "number in full") if not candidates else
                    _("{kind}: the masked number {number} matches several of this volunteer's on record; give "
                      "the number in full")).format(kind=kind_label(kind), number=number))
            used.add(chosen[0].id)
            number = chosen[0].number
        if (kind, number) in seen:
            raise InvalidInput("qualifications", _("{kind}: the same number is listed twice").format(
                kind=kind_label(kind)))
        seen.add((kind, number))
        resolved.append(QualificationSpec(kind, issuer, number, issued, expires))
    return resolved


def _resolve(extra: RowFields, spec: VolunteerSpec, stored: Volunteer | None, held: list[Qualification],
             today: date) -> None:
    """Check the row's issue-18 fields against what is stored (``extra.problems`` gets what is wrong)."""
    if extra.qualifications is not None:
        try:
            extra.qualifications = _resolve_masked(extra.qualifications, held)
        except InvalidInput as exc:
            extra.problems.append((exc.field, exc.problem))
    if extra.clear_birth_date:
        extra.store_birth_date, extra.born = True, None
    elif extra.birth_date is not None or spec.id_number:
        # The rule of `roster minor birth-date`: checked against the row's ID number, else the stored one.
        id_number = spec.id_number or (stored.id_number if stored is not None else None)
        try:
            extra.born = checked_birth_date(extra.birth_date, id_number, today)
        except InvalidInput as exc:
            extra.problems.append((exc.field, exc.problem))
        else:
            # An entered date is stored. One read from a new ID number is read from it when needed (as
            # after `volunteer add --id-number`), and stored only over a stored date it contradicts.
            extra.store_birth_date = extra.birth_date is not None or (
                stored is not None and stored.birth_date not in (None, extra.born))
    if extra.party_member is not None or extra.work_unit is not None:
        member = extra.party_member if extra.party_member is not None else bool(stored and stored.party_member)
        unit = extra.work_unit if extra.work_unit is not None else (stored.work_unit if stored is not None else None)
        if member and not unit:
            extra.problems.append(("work_unit", _("a serving Party member (在职党员: 是) needs a work unit (工作单位)")))


def _apply_fields(session: Session, volunteer: Volunteer, extra: RowFields) -> set[str]:
    """Write a checked row's issue-18 fields; the names of those that changed."""
    changed: set[str] = set()
    if extra.qualifications is not None and replace_from_cell(session, volunteer, extra.qualifications):
        changed.add("qualifications")
    if extra.store_birth_date and volunteer.birth_date != extra.born:
        volunteer.birth_date = extra.born
        changed.add("birth_date")
    if changed:
        session.flush()
        record_event(session, "volunteer.changed", volunteer_id=volunteer.id, fields=sorted(changed))
    if extra.party_member is not None or extra.work_unit is not None:
        changed |= set_party_member(session, volunteer, extra.party_member, extra.work_unit)
    return changed


def import_volunteers(session: Session, raw: bytes, today: date | None = None) -> dict[str, Any]:
    """Create or update volunteers from CSV bytes; raise CsvRejected (exit 4) listing every bad row.

    ``today`` is what birth dates are checked against (default: today in Shenzhen).
    """
    # Not scheduler.planning.local_today: planning imports the services, which import the volunteers.
    today = today or utcnow().astimezone(ZoneInfo("Asia/Shanghai")).date()
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
    parsed: list[tuple[int, VolunteerSpec, RowFields]] = []
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
            spec, extra, problems = _parse_row(cells, branches)
            if not cells.get("phone"):
                problems.append(("phone", _("is required")))
            if spec.phone:
                if spec.phone in seen:
                    problems.append(("phone", _("{phone} also appears on line {line}").format(phone=spec.phone,
                                                                                              line=seen[spec.phone])))
                seen.setdefault(spec.phone, start_line)
                if spec.phone not in known and not cells.get("name"):
                    problems.append(("name", _("is required for a new volunteer")))
            extra.problems = problems
            parsed.append((start_line, spec, extra))
    except csv.Error as exc:
        errors.append(RowError(line + 1, "file", _("unreadable CSV: {problem}").format(problem=exc)))
    stored, held = _stored(session, (spec.phone for _line, spec, _extra in parsed if spec.phone in known))
    for start_line, spec, extra in parsed:
        volunteer = stored.get(spec.phone) if spec.phone else None
        _resolve(extra, spec, volunteer, held.get(volunteer.id, []) if volunteer is not None else [], today)
        errors.extend(RowError(start_line, column, problem) for column, problem in extra.problems)
    if errors:
        errors.sort(key=lambda e: e.line)  # stable: a line's problems stay in the columns' order
        raise CsvRejected(errors)
    if long_rows:
        shown = ", ".join(str(n) for n in long_rows[:20]) + (" ..." if len(long_rows) > 20 else "")
        warnings.append(_("ignored cells beyond the last header column on line(s) {lines}").format(lines=shown))

    rows: list[dict[str, Any]] = []
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    for start_line, spec, extra in parsed:
        assert spec.phone is not None
        if spec.phone in known:
            volunteer, changed = edit_volunteer(session, spec.phone, spec)
            changed |= _apply_fields(session, volunteer, extra)
            action = "updated" if changed else "unchanged"
        else:
            volunteer = add_volunteer(session, spec)
            _apply_fields(session, volunteer, extra)
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


def _held_by(session: Session, ids: list[int]) -> dict[int, list[Qualification]]:
    held: dict[int, list[Qualification]] = {}
    for i in range(0, len(ids), _CHUNK):
        for row in session.scalars(select(Qualification).where(Qualification.volunteer_id.in_(ids[i:i + _CHUNK]))
                                   .order_by(Qualification.kind, Qualification.id)):
            held.setdefault(row.volunteer_id, []).append(row)
    return held


def export_volunteers(session: Session, branch: str | None = None, include_inactive: bool = False,
                      full: bool = False) -> bytes:
    """Volunteers as CSV bytes (UTF-8 with BOM, CRLF), importable again; ID numbers masked, and
    certificate numbers unless ``full`` (coordinators)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(EXPORT_HEADERS)
    volunteers = list_volunteers(session, branch=branch, include_inactive=include_inactive)
    held = _held_by(session, [vol.id for vol in volunteers])
    for vol in volunteers:
        cells = [
            str(vol.id), vol.name, vol.phone, vol.email or "", vol.home_branch.slug if vol.home_branch else "",
            ",".join(vol.skills or []), v.format_availability(vol.availability or {}),
            _ranges(list(vol.blackout_dates or [])), str(vol.monthly_cap_hours or ""),
            mask_id_number(vol.id_number), vol.preferred_channel or "",
            format_cell(held.get(vol.id, []), full=full),
            # Beside a masked ID number the birth date would give back the digits the mask hides.
            vol.birth_date.isoformat() if vol.birth_date and not vol.id_number else "",
            "是" if vol.party_member else "否", vol.work_unit or "",
        ]
        writer.writerow([neutralise(cell) for cell in cells])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")
