"""Ages from birth dates: completed years on a day, and the birth date an 18-digit ID number holds;
and the guardians who asked for copies of a minor's reminders. Used by the minors' rules
(``scheduler.volunteers.minors``) and by the dispatcher (a minor's reminders copied to the
guardian), which do not import each other."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

ADULT_AGE = 18


def age_on(born: date, day: date) -> int:
    """Completed years on ``day`` (someone born on 29 February turns a year older on 1 March)."""
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def birth_date_of_id(id_number: str) -> date:
    """The birth date in digits 7-14 of a (validated) 18-digit ID number."""
    return date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))


def effective_birth_date(birth_date: date | None, id_number: str | None) -> date | None:
    """The recorded birth date, else the one in the ID number (None when neither gives one)."""
    if birth_date is not None or not id_number or len(id_number) != 18:
        return birth_date
    try:
        return birth_date_of_id(id_number)
    except ValueError:
        return None


def minor_on(birth_date: date | None, id_number: str | None, day: date) -> bool:
    """Whether someone with this recorded birth date (else the one in the ID number) is under 18
    on ``day``; False when neither gives a birth date."""
    born = effective_birth_date(birth_date, id_number)
    return born is not None and age_on(born, day) < ADULT_AGE


def guardian_copy_phones(session: Session, volunteer_ids: Iterable[int]) -> dict[int, str]:
    """Volunteer id -> the guardian's phone, for those whose consent in force (the latest not
    revoked) asks for copies of the reminders; one query for all."""
    from scheduler.models import GuardianConsent

    ids = sorted(set(volunteer_ids))
    if not ids:
        return {}
    phones: dict[int, str] = {}
    for vid, phone, copies in session.execute(
            select(GuardianConsent.volunteer_id, GuardianConsent.phone, GuardianConsent.copy_reminders)
            .where(GuardianConsent.volunteer_id.in_(ids), GuardianConsent.revoked_at.is_(None))
            .order_by(GuardianConsent.volunteer_id, GuardianConsent.id.desc())):
        if vid not in phones:
            phones[vid] = phone if copies else ""
    return {vid: phone for vid, phone in phones.items() if phone}
