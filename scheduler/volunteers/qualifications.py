"""Qualifications (资质证书) with a validity: a volunteer's 执业医师证, 健康证, 急救证... with its issuer,
number and the dates it runs from and to. A role can require one kind; ``scheduler.volunteers.eligibility``
refuses a placement without one valid on the shift's date (a hard check, never forced).

The number is personal data: every output masks it (``mask_number``) except a coordinator's
``--full`` listing. Coordinators and the volunteer are told 30 and 7 days before one ends
(``send_expiry_notices``: a ledger row per qualification, threshold and recipient, written before
the send, so two beats send each notice once).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scheduler import validation as v
from scheduler.errors import Conflict, InvalidInput, NotFound
from scheduler.events import record_event
from scheduler.i18n import N_, _, translate
from scheduler.models import Coordinator, Qualification, QualificationNotice, Volunteer
from scheduler.volunteers import get_volunteer

#: Known kinds: code -> (Chinese name, English name). Other kinds are free text (validated).
KNOWN_KINDS: dict[str, tuple[str, str]] = {
    "physician": ("执业医师证", N_("physician's licence")),
    "nurse": ("护士执业证", N_("nurse's licence")),
    "health": ("健康证", N_("health certificate")),
    "first_aid": ("急救证", N_("first-aid certificate")),
    "teacher": ("教师资格证", N_("teacher's certificate")),
    "social_worker": ("社会工作者职业资格证", N_("social worker's certificate")),
}
#: The days before the end at which the holder and the coordinators are told.
NOTICE_DAYS = (30, 7)


def canonical_kind(value: str, field: str = "kind") -> str:
    """A kind's code: a known code, its Chinese or English name (any case), or a free kind (1-64
    characters, no control characters), kept as typed."""
    text = v.text(value, field, 64)
    lowered = text.casefold()
    for code, (chinese, english) in KNOWN_KINDS.items():
        if lowered in (code, chinese, english.casefold(), code.replace("_", "-")):
            return code
    if any(ch in text for ch in ",;|"):
        raise InvalidInput(field, "a qualification kind cannot hold , ; or |")
    return text


def kind_label(code: str) -> str:
    """A kind as a person reads it (the catalog gives the Chinese name); a free kind as typed."""
    known = KNOWN_KINDS.get(code)
    return translate(known[1]) if known is not None else code


def mask_number(number: str) -> str:
    """A certificate number as outputs show it: the last 4 characters (fewer when it is short)."""
    if not number:
        return ""
    keep = 4 if len(number) > 6 else max(len(number) // 3, 0)
    return "*" * (len(number) - keep) + number[len(number) - keep:]


def valid_on(qualification: Qualification, day: date) -> bool:
    return ((qualification.issued_on is None or qualification.issued_on <= day)
            and (qualification.expires_on is None or day <= qualification.expires_on))


@dataclass
class QualificationSpec:
    kind: str
    issuer: str = ""
    number: str = ""
    issued_on: str | date | None = None
    expires_on: str | date | None = None


def _day(value: str | date | None, field: str) -> date | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, date):
        return v.date_in_range(value, field)
    return v.iso_date(value, field)


def checked_spec(spec: QualificationSpec) -> tuple[str, str, str, date | None, date | None]:
    """(kind, issuer, number, issued_on, expires_on), validated; InvalidInput names the field."""
    kind = canonical_kind(spec.kind)
    issuer = v.text(spec.issuer or "", "issuer", 120, required=False)
    number = v.ascii_digits(v.text(spec.number or "", "number", 64, required=False)).upper()
    for name, value in (("issuer", issuer), ("number", number)):
        if ";" in value or "|" in value:
            # They separate a CSV cell's qualifications and parts (format_cell): one could not be read back.
            raise InvalidInput(name, "cannot hold ; or | (they separate the parts of a CSV cell)")
    issued = _day(spec.issued_on, "issued")
    expires = _day(spec.expires_on, "expires")
    if issued is not None and expires is not None and expires < issued:
        raise InvalidInput("expires", _("{expires} is before the issue date {issued}").format(
            expires=expires.isoformat(), issued=issued.isoformat()))
    return kind, issuer, number, issued, expires


def add_qualification(session: Session, volunteer_ref: str, spec: QualificationSpec,
                      now: datetime | None = None) -> Qualification:
    """Record a qualification; the same kind and number again is a Conflict (edit by remove + add)."""
    volunteer = get_volunteer(session, volunteer_ref)
    kind, issuer, number, issued, expires = checked_spec(spec)
    existing = session.scalar(select(Qualification.id).where(
        Qualification.volunteer_id == volunteer.id, Qualification.kind == kind, Qualification.number == number))
    if existing is not None:
        raise Conflict(_("volunteer #{id} already has this {kind} on record (qualification #{qid})").format(
            id=volunteer.id, kind=kind_label(kind), qid=existing))
    row = Qualification(volunteer_id=volunteer.id, kind=kind, issuer=issuer, number=number, issued_on=issued,
                        expires_on=expires)
    if now is not None:
        row.created_at = now
    session.add(row)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(_("volunteer #{id} already has this {kind} on record").format(
            id=volunteer.id, kind=kind_label(kind))) from None
    record_event(session, "volunteer.changed", volunteer_id=volunteer.id, fields=["qualifications"],
                 qualification_id=row.id, qualification_kind=kind)
    return row


def get_qualification(session: Session, ref: str | int) -> Qualification:
    row = session.get(Qualification, v.record_id(ref, "qualification"))
    if row is None:
        raise NotFound("qualification", ref)
    return row


def remove_qualification(session: Session, ref: str | int) -> Qualification:
    row = get_qualification(session, ref)
    session.delete(row)
    session.flush()
    record_event(session, "volunteer.changed", volunteer_id=row.volunteer_id, fields=["qualifications"],
                 qualification_id=row.id, qualification_kind=row.kind)
    return row


def list_qualifications(session: Session, volunteer_ref: str | None = None) -> list[Qualification]:
    query = select(Qualification).order_by(Qualification.volunteer_id, Qualification.kind, Qualification.id)
    if volunteer_ref:
        query = query.where(Qualification.volunteer_id == get_volunteer(session, volunteer_ref).id)
    return list(session.scalars(query))


def expiring(session: Session, today: date, within_days: int) -> list[Qualification]:
    """Qualifications ending from ``today`` to ``today + within_days`` (inclusive), soonest first."""
    if within_days < 0 or within_days > 3660:
        raise InvalidInput("within", "give between 0 and 3660 days, e.g. 60d")
    return list(session.scalars(
        select(Qualification).join(Volunteer, Volunteer.id == Qualification.volunteer_id)
        .where(Volunteer.active.is_(True), Qualification.expires_on >= today,
               Qualification.expires_on <= today + timedelta(days=within_days))
        .order_by(Qualification.expires_on, Qualification.id)))


def qualification_as_dict(row: Qualification, full: bool = False, name: str | None = None) -> dict[str, Any]:
    """JSON shape: English keys and values, the number masked unless ``full``."""
    data: dict[str, Any] = {
        "id": row.id, "volunteer_id": row.volunteer_id, "kind": row.kind, "issuer": row.issuer,
        "number": row.number if full else mask_number(row.number),
        "issued_on": row.issued_on.isoformat() if row.issued_on else None,
        "expires_on": row.expires_on.isoformat() if row.expires_on else None,
    }
    if name is not None:
        data["volunteer"] = name
    return data


# --------------------------------------------------------------------------- CSV cells

def format_cell(rows: Iterable[Qualification], full: bool = False) -> str:
    """The ``qualifications`` CSV cell: ``kind|issuer|number|issued|expires`` joined by ``;``."""
    return ";".join("|".join((row.kind, row.issuer, row.number if full else mask_number(row.number),
                              row.issued_on.isoformat() if row.issued_on else "",
                              row.expires_on.isoformat() if row.expires_on else "")) for row in rows)


def parse_cell(cell: str, field: str = "qualifications") -> list[QualificationSpec]:
    """The inverse of ``format_cell`` (numbers in full); each part validated as ``add`` does."""
    specs: list[QualificationSpec] = []
    for part in (cell or "").split(";"):
        if not part.strip():
            continue
        pieces = [p.strip() for p in part.split("|")]
        if len(pieces) != 5:
            raise InvalidInput(field, _("{part!r} is not kind|issuer|number|issued|expires").format(part=part))
        spec = QualificationSpec(*pieces)
        checked_spec(spec)
        specs.append(spec)
    return specs


def replace_from_cell(session: Session, volunteer: Volunteer, specs: Sequence[QualificationSpec]) -> int:
    """Make the volunteer's qualifications those of an imported cell (kind and number identify one)."""
    wanted = {}
    for spec in specs:
        kind, issuer, number, issued, expires = checked_spec(spec)
        wanted[(kind, number)] = (issuer, issued, expires)
    have = {(q.kind, q.number): q for q in session.scalars(
        select(Qualification).where(Qualification.volunteer_id == volunteer.id))}
    changed = 0
    for key, row in have.items():
        if key not in wanted:
            session.delete(row)
            changed += 1
    for (kind, number), (issuer, issued, expires) in wanted.items():
        current = have.get((kind, number))
        if current is None:
            session.add(Qualification(volunteer_id=volunteer.id, kind=kind, number=number, issuer=issuer,
                                      issued_on=issued, expires_on=expires))
            changed += 1
        elif (current.issuer, current.issued_on, current.expires_on) != (issuer, issued, expires):
            current.issuer, current.issued_on, current.expires_on = issuer, issued, expires
            changed += 1
    session.flush()
    return changed


# --------------------------------------------------------------------------- expiry notices


@dataclass
class ExpiryResult:
    sent: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)


def _coordinators_for(session: Session, volunteer: Volunteer) -> list[Coordinator]:
    branch = volunteer.home_branch
    if branch is None:
        return []
    return list(session.scalars(select(Coordinator).where(or_(
        Coordinator.branch_id == branch.id,
        (Coordinator.community_id == branch.community_id) & Coordinator.branch_id.is_(None)))
        .order_by(Coordinator.id)))


def expiry_text(row: Qualification, days_left: int) -> tuple[str, str]:
    """(subject, body) of an expiry notice: no number, the volunteer by id only."""
    label = kind_label(row.kind)
    subject = _("Qualification ends in {days} days: {kind}").format(days=days_left, kind=label)
    body = _("The {kind} of volunteer #{id} ends on {date} ({days} days from today). Shifts in a role that "
             "requires it cannot be assigned after that date; please renew it and record the new one "
             "(roster qualifications add).").format(kind=label, id=row.volunteer_id,
                                                     date=row.expires_on.isoformat() if row.expires_on else "",
                                                     days=days_left)
    return subject, body


def send_expiry_notices(session: Session, channels: Any, today: date, default_channel: str = "console",
                        now: datetime | None = None) -> ExpiryResult:
    """Tell the holder and their coordinators 30 and 7 days before a qualification ends.

    Each (qualification, threshold, recipient, end date) is a ``qualification_notice`` row inserted
    in a SAVEPOINT before the send: a second beat (or a re-run) finds it and skips, so each notice
    goes once. A threshold already passed when the qualification was recorded late is still sent
    once (the nearest one only). A failed send is kept as ``failed`` with its error, not retried.
    """
    from scheduler.messages.channels import ChannelError, Notice
    from scheduler.reminders.digest import lock_notices

    lock_notices(session)
    result = ExpiryResult()
    horizon = today + timedelta(days=max(NOTICE_DAYS))
    rows = list(session.scalars(
        select(Qualification).join(Volunteer, Volunteer.id == Qualification.volunteer_id)
        .where(Volunteer.active.is_(True), Qualification.expires_on >= today, Qualification.expires_on <= horizon)
        .order_by(Qualification.expires_on, Qualification.id)))
    for row in rows:
        assert row.expires_on is not None
        days_left = (row.expires_on - today).days
        threshold = min(t for t in NOTICE_DAYS if days_left <= t)
        volunteer = session.get(Volunteer, row.volunteer_id)
        assert volunteer is not None
        recipients: list[tuple[str, str, str | None, str | None]] = [
            ("volunteer", volunteer.preferred_channel or default_channel, volunteer.email, volunteer.phone)]
        recipients += [(f"coordinator:{c.id}", c.channel or default_channel, c.email, c.phone)
                       for c in _coordinators_for(session, volunteer)]
        subject, body = expiry_text(row, days_left)
        for recipient, channel, email, phone in recipients:
            ledger = QualificationNotice(qualification_id=row.id, threshold=threshold, recipient=recipient,
                                         expires_on=row.expires_on, channel=channel, status="sent")
            if now is not None:
                ledger.created_at = now
            try:
                with session.begin_nested():
                    session.add(ledger)
                    session.flush()
            except IntegrityError:
                result.skipped += 1
                continue
            notice = Notice(key=f"qualification:{row.id}:{threshold}:{recipient}:{row.expires_on.isoformat()}",
                            subject=subject, body=body, email=email, phone=phone,
                            recipient=_("volunteer #{id}").format(id=volunteer.id) if recipient == "volunteer"
                            else recipient)
            try:
                channels.get(channel).send_notice(notice)
            except ChannelError as exc:
                ledger.status, ledger.last_error = "failed", str(exc)[:2000]
                result.failed.append(f"{recipient} (qualification #{row.id}): {exc}")
                continue
            result.sent += 1
    session.flush()
    return result


# --------------------------------------------------------------------------- a role's rules


def set_role_rules(session: Session, service_slug: str, role_name: str, requires: str | None = None,
                   min_age: int | None = None, minor_latest_end: str | None = None) -> dict[str, Any]:
    """Set what a role requires (a qualification kind; "" clears it) and its minimum age (0 clears
    it), and the service's latest end for minors ("HH:MM"; "" back to the default). Hard rules:
    they apply to new placements; seats already held are left to the coordinator."""
    from scheduler.models import Role, Service

    # Looked up here, not through scheduler.services (which imports the volunteers' skills).
    service = session.scalar(select(Service).where(Service.slug == service_slug))
    if service is None:
        raise NotFound("service", service_slug)
    role = session.scalar(select(Role).where(Role.service_id == service.id, Role.name == role_name.strip()))
    if role is None:
        raise NotFound("role", _("{wanted} (service {service} has {roles})").format(
            wanted=role_name, service=service.slug, roles=", ".join(r.name for r in service.roles)))
    if requires is not None:
        role.required_qualification = canonical_kind(requires, "requires") if requires.strip() else None
    if min_age is not None:
        if not 0 <= min_age <= 100:
            raise InvalidInput("min_age", "give an age from 1 to 100 (0 clears it)")
        role.min_age = min_age or None
    if minor_latest_end is not None:
        service.minor_latest_end = (v.local_time(minor_latest_end, "minor_latest_end")
                                    if minor_latest_end.strip() else None)
    session.flush()
    record_event(session, "service.changed", service_id=service.id, role_id=role.id, fields=["role_rules"])
    return {"service": service.slug, "role": role.name, "requires": role.required_qualification,
            "min_age": role.min_age, "minor_latest_end": service.minor_latest_end}


def qualification_dicts(session: Session, rows: Sequence[Qualification], full: bool = False) -> list[dict[str, Any]]:
    """``qualification_as_dict`` of each row with the holder's name (one query for all)."""
    ids = sorted({row.volunteer_id for row in rows})
    names = dict(session.execute(select(Volunteer.id, Volunteer.name).where(Volunteer.id.in_(ids))).all()) \
        if ids else {}
    return [qualification_as_dict(row, full, names.get(row.volunteer_id, "")) for row in rows]
