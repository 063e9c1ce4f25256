"""Ages from birth dates: completed years on a day, and the birth date an 18-digit ID number holds.
Used by the minors' rules (``scheduler.volunteers.minors``) and by the dispatcher (a minor's reminders
copied to the guardian), which do not import each other."""

from __future__ import annotations

from datetime import date

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
