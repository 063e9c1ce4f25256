"""Personal data in free text that a public feed shows (PIPL Art. 25, 28; FEEDS.md rule 17).

A service's title, venue, contact role, role names and description, and a closure's reason, are
published word for word. They must never carry a phone number (mainland mobile or landline), an
email address, a citizen ID number, or the full name of an active volunteer. Writers refuse such
text (:func:`refuse_personal_data`); the feed builder redacts whatever older rows still hold
(:func:`redact`, with the names the rows loader found through :func:`volunteer_names_in`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from scheduler.errors import InvalidInput
from scheduler.i18n import _, translate
from scheduler.models import Volunteer
from scheduler.redaction import (  # the pure text rules, here too for callers of this module
    MIN_NAME_LENGTH,
    REDACTED,
    mask_id_number,
    mask_phone,
    normalised,
    personal_data_in,
    redact,
)

__all__ = ["MIN_NAME_LENGTH", "REDACTED", "mask_id_number", "mask_phone", "personal_data_in", "redact",
           "refuse_personal_data", "volunteer_names_in"]

_SEPARATOR = "\x1f"  # joins texts for one name lookup; no name holds it


def volunteer_names_in(session: Session, texts: Iterable[str]) -> frozenset[str]:
    """The full names of active volunteers (at least 2 characters) that appear in any of ``texts``.

    One query: the database looks for each name in the joined texts (``instr`` on SQLite,
    ``strpos`` on PostgreSQL), so no list of names is read into the process.
    """
    wanted = sorted({t for t in texts if t})
    if not wanted:
        return frozenset()
    blob = _SEPARATOR.join(wanted + [normalised(t) for t in wanted])
    find = func.strpos if session.get_bind().dialect.name == "postgresql" else func.instr
    query = select(Volunteer.name).where(and_(
        Volunteer.active.is_(True), func.length(Volunteer.name) >= MIN_NAME_LENGTH, find(blob, Volunteer.name) > 0,
    )).distinct()
    return frozenset(session.scalars(query))


def refuse_personal_data(session: Session, fields: Mapping[str, str | None]) -> None:
    """Raise InvalidInput naming the first field whose text holds personal data (None: not given)."""
    given = {name: value for name, value in fields.items() if value}
    if not given:
        return
    names = volunteer_names_in(session, given.values())
    for field, value in given.items():
        found = personal_data_in(value, names)
        if found:
            raise InvalidInput(field, _("holds {found}; public feeds show this text word for word, so it may "
                                        "carry no phone number, email, ID number or volunteer's name (name a "
                                        "role instead, e.g. 支部第一书记)").format(
                found=translate(found)))
