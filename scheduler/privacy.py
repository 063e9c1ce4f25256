"""Personal data in free text that a public feed shows (PIPL Art. 25, 28; FEEDS.md rule 17).

A service's title, venue, contact role, role names and description, and a closure's reason, are
published word for word. They must never carry a phone number (mainland mobile or landline), an
email address, a citizen ID number, or the full name of an active volunteer. Writers refuse such
text (:func:`refuse_personal_data`); the feed builder redacts whatever older rows still hold
(:func:`redact`, with the names the rows loader found through :func:`volunteer_names_in`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from functools import lru_cache

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from scheduler.errors import InvalidInput

#: What a redacted piece of text becomes in a public feed.
REDACTED = "＊＊＊"
#: Shortest volunteer name looked for (a single character would match everywhere).
MIN_NAME_LENGTH = 2

# Checked in this order: an ID number contains digit runs that look like a phone number.
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a citizen ID number", re.compile(r"(?<![0-9A-Za-z])\d{6}(?:19|20)\d{2}[01]\d[0-3]\d\d{3}[0-9Xx](?![0-9A-Za-z])")),
    ("an email address", re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")),
    ("a phone number", re.compile(r"(?<!\d)(?:\+?86[-\s]?)?1[3-9]\d(?:[-\s]?\d{4}){2}(?!\d)")),
    ("a phone number", re.compile(r"(?<!\d)(?:\(0\d{2,3}\)|0\d{2,3})[-\s]?(?:\d{7,8}|\d{3,4}[-\s]\d{4})(?!\d)")),
)
_SEPARATOR = "\x1f"  # joins texts for one name lookup; no name holds it


def _normal(text: str) -> str:
    """Full-width digits, letters and @ (１３８…) read as ASCII; zero-width characters go."""
    return unicodedata.normalize("NFKC", text).replace("\u200b", "").replace("\u200c", "").replace("\u200d", "")


@lru_cache(maxsize=65536)
def _pattern_found(text: str) -> str | None:
    normal = _normal(text)
    for what, pattern in _PATTERNS:
        if pattern.search(normal):
            return what
    return None


def personal_data_in(text: str | None, names: Iterable[str] = ()) -> str | None:
    """What personal data ``text`` holds ("a phone number", ...), or None. Pure."""
    if not text:
        return None
    found = _pattern_found(text)
    if found:
        return found
    normal = _normal(text)
    for name in names:
        if len(name) >= MIN_NAME_LENGTH and (name in text or name in normal):
            return "a volunteer's name"
    return None


def redact(text: str, names: Iterable[str] = ()) -> str:
    """``text`` with every phone number, email, ID number and given name replaced (unchanged if none)."""
    names = [n for n in names if len(n) >= MIN_NAME_LENGTH]
    if personal_data_in(text, names) is None:
        return text
    out = _normal(text)
    for _, pattern in _PATTERNS:
        out = pattern.sub(REDACTED, out)
    for name in sorted(names, key=len, reverse=True):
        out = out.replace(name, REDACTED)
    return out


def volunteer_names_in(session: Session, texts: Iterable[str]) -> frozenset[str]:
    """The full names of active volunteers (at least 2 characters) that appear in any of ``texts``.

    One query: the database looks for each name in the joined texts (``instr`` on SQLite,
    ``strpos`` on PostgreSQL), so no list of names is read into the process.
    """
    from scheduler.models import Volunteer

    wanted = sorted({t for t in texts if t})
    if not wanted:
        return frozenset()
    blob = _SEPARATOR.join(wanted + [_normal(t) for t in wanted])
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
            raise InvalidInput(field, f"holds {found}; public feeds show this text word for word, so it may "
                                      "carry no phone number, email, ID number or volunteer's name "
                                      "(name a role instead, e.g. 支部第一书记)")
