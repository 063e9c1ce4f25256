"""Personal data in free text, found and redacted, and personal numbers masked: pure functions (no
database), so the feed builder can use them. The rules: :mod:`scheduler.privacy`."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

from scheduler.i18n import N_

#: What a redacted piece of text becomes in a public feed.
REDACTED = "＊＊＊"
#: Shortest volunteer name looked for (a single character would match everywhere).
MIN_NAME_LENGTH = 2

# Checked in this order: an ID number contains digit runs that look like a phone number.
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (N_("a citizen ID number"), re.compile(r"(?<![0-9A-Za-z])\d{6}(?:19|20)\d{2}[01]\d[0-3]\d\d{3}[0-9Xx](?![0-9A-Za-z])")),
    (N_("an email address"), re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")),
    (N_("a phone number"), re.compile(r"(?<!\d)(?:\+?86[-\s]?)?1[3-9]\d(?:[-\s]?\d{4}){2}(?!\d)")),
    (N_("a phone number"), re.compile(r"(?<!\d)(?:\(0\d{2,3}\)|0\d{2,3})[-\s]?(?:\d{7,8}|\d{3,4}[-\s]\d{4})(?!\d)")),
)


def normalised(text: str) -> str:
    """Full-width digits, letters and @ (１３８…) read as ASCII; zero-width characters go."""
    return unicodedata.normalize("NFKC", text).replace("\u200b", "").replace("\u200c", "").replace("\u200d", "")


@lru_cache(maxsize=65536)
def _pattern_found(text: str) -> str | None:
    normal = normalised(text)
    for what, pattern in _PATTERNS:
        if pattern.search(normal):
            return what
    return None


def personal_data_in(text: str | None, names: Iterable[str] = ()) -> str | None:
    """What personal data ``text`` holds (N_("a phone number"), ...), or None. Pure."""
    if not text:
        return None
    found = _pattern_found(text)
    if found:
        return found
    normal = normalised(text)
    for name in names:
        if len(name) >= MIN_NAME_LENGTH and (name in text or name in normal):
            return N_("a volunteer's name")
    return None


def redact(text: str, names: Iterable[str] = ()) -> str:
    """``text`` with every phone number, email, ID number and given name replaced (unchanged if none)."""
    names = [n for n in names if len(n) >= MIN_NAME_LENGTH]
    if personal_data_in(text, names) is None:
        return text
    out = normalised(text)
    for _, pattern in _PATTERNS:
        out = pattern.sub(REDACTED, out)
    for name in sorted(names, key=len, reverse=True):
        out = out.replace(name, REDACTED)
    return out


def mask_phone(phone: str) -> str:
    """A phone number as lists show it: the first 3 and last 4 digits."""
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 7 else "****"


def mask_id_number(value: str | None) -> str:
    """Keep the first 6 and last 4 characters of an ID number (region and check), mask the birth date."""
    if not value:
        return ""
    return value[:6] + "*" * (len(value) - 10) + value[-4:] if len(value) > 10 else "*" * len(value)
