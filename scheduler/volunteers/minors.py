"""Minors (未成年志愿者): a birth date (entered, or read from the 18-digit ID number), the age at a
shift's date in the service's zone, and a guardian's consent on record (监护人同意书) before any
assignment of a volunteer under 18. A minor's shift must end by a set hour (21:00 unless
``ROSTER_MINOR_LATEST_END`` or the service says otherwise).

Consents are never edited or deleted: revoking stamps the row, a new consent is a new row, so
the history stays. At most one is in force at a time (recording a new one revokes the old).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler import validation as v
from scheduler.ages import ADULT_AGE as ADULT_AGE  # re-exported: the age rules live in scheduler.ages
from scheduler.ages import age_on as age_on
from scheduler.ages import birth_date_of_id as birth_date_of_id
from scheduler.ages import effective_birth_date as effective_birth_date
from scheduler.ages import guardian_copy_phones, minor_on
from scheduler.db import utcnow
from scheduler.errors import Conflict, InvalidInput, NotFound
from scheduler.events import record_event
from scheduler.i18n import _
from scheduler.models import GuardianConsent, Volunteer
from scheduler.volunteers import get_volunteer

#: The oldest age a birth date may give (a typo guard: 130 is refused).
MAX_AGE = 120
DEFAULT_LATEST_END = "21:00"


def default_latest_end() -> str:
    """``ROSTER_MINOR_LATEST_END`` ("HH:MM"), else 21:00."""
    return v.local_time(os.environ.get("ROSTER_MINOR_LATEST_END") or DEFAULT_LATEST_END, "ROSTER_MINOR_LATEST_END")


def checked_birth_date(entered: str | date | None, id_number: str | None, today: date) -> date | None:
    """The birth date to store: the entered one, else the ID number's; both given and different is an
    error. Refuses a date in the future or one making someone over ``MAX_AGE``."""
    born: date | None = None
    if isinstance(entered, date):
        born = entered
    elif entered is not None and entered.strip():
        born = v.iso_date(entered, "birth_date")
    from_id = birth_date_of_id(v.id_number(id_number)) if id_number and id_number.strip() else None
    if born is not None and from_id is not None and born != from_id:
        raise InvalidInput("birth_date", _("{entered} differs from the birth date in the ID number ({from_id})").format(
            entered=born.isoformat(), from_id=from_id.isoformat()))
    born = born or from_id
    if born is None:
        return None
    field = "birth_date" if entered is not None and (isinstance(entered, date) or entered.strip()) else "id_number"
    if born > today:
        raise InvalidInput(field, _("the birth date {date} is in the future").format(date=born.isoformat()))
    if age_on(born, today) > MAX_AGE:
        raise InvalidInput(field, _("the birth date {date} would make the volunteer {age}").format(
            date=born.isoformat(), age=age_on(born, today)))
    return born


def set_birth_date(session: Session, volunteer_ref: str, entered: str | None, today: date) -> Volunteer:
    """Record a volunteer's birth date (checked against their ID number when they have one)."""
    volunteer = get_volunteer(session, volunteer_ref)
    volunteer.birth_date = checked_birth_date(entered, volunteer.id_number, today)
    record_event(session, "volunteer.changed", volunteer_id=volunteer.id, fields=["birth_date"])
    return volunteer


# --------------------------------------------------------------------------- consent


@dataclass
class ConsentSpec:
    guardian_name: str
    relation: str
    phone: str
    given_on: str | date
    copy_reminders: bool = False


def consent_in_force(session: Session, volunteer_id: int) -> GuardianConsent | None:
    return session.scalar(select(GuardianConsent).where(
        GuardianConsent.volunteer_id == volunteer_id, GuardianConsent.revoked_at.is_(None))
        .order_by(GuardianConsent.id.desc()).limit(1))


def record_consent(session: Session, volunteer_ref: str, spec: ConsentSpec, by: str, today: date,
                   now: datetime | None = None) -> GuardianConsent:
    """Record a guardian's consent; one already in force is revoked by it (kept in the history)."""
    now = now or utcnow()
    volunteer = get_volunteer(session, volunteer_ref)
    name = v.text(spec.guardian_name, "guardian", 64)
    relation = v.text(spec.relation, "relation", 32)
    phone = v.phone(spec.phone, "guardian_phone")
    given = spec.given_on if isinstance(spec.given_on, date) else v.iso_date(spec.given_on, "date")
    if given > today:
        raise InvalidInput("date", _("the consent date {date} is in the future").format(date=given.isoformat()))
    if phone == volunteer.phone:
        raise InvalidInput("guardian_phone", "is the volunteer's own phone number")
    previous = consent_in_force(session, volunteer.id)
    if previous is not None:
        previous.revoked_at, previous.revoked_by = now, v.text(by or "", "by", 64, required=False)
    row = GuardianConsent(volunteer_id=volunteer.id, guardian_name=name, relation=relation, phone=phone,
                          given_on=given, copy_reminders=spec.copy_reminders,
                          recorded_by=v.text(by or "", "by", 64, required=False), created_at=now)
    session.add(row)
    session.flush()
    record_event(session, "volunteer.changed", volunteer_id=volunteer.id, fields=["guardian_consent"], consent_id=row.id)
    return row


def revoke_consent(session: Session, volunteer_ref: str, by: str, now: datetime | None = None) -> GuardianConsent:
    """Revoke the consent in force. Seats already held stay (the coordinator unassigns them); no
    new assignment is possible while the volunteer is under 18."""
    now = now or utcnow()
    volunteer = get_volunteer(session, volunteer_ref)
    row = consent_in_force(session, volunteer.id)
    if row is None:
        raise Conflict(_("volunteer #{id} has no guardian's consent in force").format(id=volunteer.id))
    row.revoked_at, row.revoked_by = now, v.text(by or "", "by", 64, required=False)
    session.flush()
    record_event(session, "volunteer.changed", volunteer_id=volunteer.id, fields=["guardian_consent"], consent_id=row.id,
                 revoked=True)
    return row


def consent_history(session: Session, volunteer_ref: str) -> tuple[Volunteer, list[GuardianConsent]]:
    volunteer = get_volunteer(session, volunteer_ref)
    return volunteer, list(session.scalars(select(GuardianConsent).where(
        GuardianConsent.volunteer_id == volunteer.id).order_by(GuardianConsent.id)))


def guardian_copy_phone(session: Session, volunteer: Volunteer, day: date) -> str | None:
    """The guardian's phone when the volunteer is a minor on ``day`` and the consent in force opted
    in to copies of the reminders; else None (the dispatcher's rule, ``scheduler.ages``)."""
    if not minor_on(volunteer.birth_date, volunteer.id_number, day):
        return None
    return guardian_copy_phones(session, [volunteer.id]).get(volunteer.id)


def get_consent(session: Session, consent_id: int) -> GuardianConsent:
    row = session.get(GuardianConsent, consent_id)
    if row is None:
        raise NotFound("consent", consent_id)
    return row


def consent_as_dict(row: GuardianConsent, full: bool = False) -> dict[str, object]:
    """JSON shape; the guardian's name and phone masked unless ``full`` (personal data)."""
    from scheduler.redaction import mask_phone

    return {
        "id": row.id, "volunteer_id": row.volunteer_id,
        "guardian": row.guardian_name if full else row.guardian_name[:1] + "*" * max(len(row.guardian_name) - 1, 1),
        "relation": row.relation, "phone": row.phone if full else mask_phone(row.phone),
        "given_on": row.given_on.isoformat(), "copy_reminders": row.copy_reminders,
        "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
    }
