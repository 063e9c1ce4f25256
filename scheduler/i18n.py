"""The language a person reads: gettext catalogs (zh_CN, en), chosen per process or per request.

Every text a person reads is an English message id wrapped in ``_()`` (or ``N_()`` where it is only
marked, to be translated when shown: Click help, tables of constants). The catalogs live in
``scheduler/locale/<lang>/LC_MESSAGES/roster.mo``; ``tools/i18n.py`` extracts the ids with Babel,
merges them into the ``.po`` files and compiles them (``make i18n``), and tests/test_i18n.py fails
when a message has no Chinese translation or a catalog is out of date with the code.

The language follows ``ROSTER_LANG``, else the locale (``LC_ALL``, ``LC_MESSAGES``, ``LANG``, the
first one set). ``zh*`` is Simplified Chinese, ``en*`` English; a locale that names no language
(``C``, ``POSIX``, unset) gives Chinese, the language of the people Roster serves; any other
language gives English. ``using()`` overrides it for a block (a web request, a test).

JSON output never goes through here: its keys and values stay English for scripts.
"""

from __future__ import annotations

import gettext as _gettext
import os
import struct
import sys
from array import array
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime, tzinfo
from functools import cache, wraps
from pathlib import Path
from typing import ParamSpec, TypeVar

LOCALE_DIR = Path(__file__).with_name("locale")
DOMAIN = "roster"
SUPPORTED = ("zh_CN", "en")
DEFAULT = "zh_CN"
LOCALE_VARIABLES = ("LC_ALL", "LC_MESSAGES", "LANG")

_override: ContextVar[str | None] = ContextVar("roster_language", default=None)
P = ParamSpec("P")
R = TypeVar("R")


def normalise(value: str | None) -> str | None:
    """A supported language for a locale name (``zh_CN.UTF-8``, ``zh-Hans``, ``en_GB``), ``None`` when
    the name says no language (``C``, ``POSIX``, empty); English for any other language."""
    if not value:
        return None
    name = value.strip().split(".")[0].split("@")[0].replace("-", "_")
    if not name or name.upper() in ("C", "POSIX"):
        return None
    if name.lower().startswith("zh"):
        return "zh_CN"
    return "en"


def resolve(env: Mapping[str, str] | None = None) -> str:
    """The language from ``ROSTER_LANG``, else the first locale variable that is set."""
    env = os.environ if env is None else env
    explicit = env.get("ROSTER_LANG", "")
    if explicit.strip():
        return normalise(explicit) or DEFAULT
    for variable in LOCALE_VARIABLES:
        value = env.get(variable, "")
        if value:
            return normalise(value) or DEFAULT
    return DEFAULT


def language() -> str:
    """The language in force: ``using()``'s, else the environment's (read at each call: cheap)."""
    return _override.get() or resolve()


def message_language(env: Mapping[str, str] | None = None) -> str:
    """The language of what Roster sends to people (reminders, change notices, digests, warnings):
    ``ROSTER_MESSAGE_LANG``, else Chinese. Not the operator's language: a coordinator who reads the
    CLI in English still sends volunteers Chinese, and a worker's locale (``C`` or ``en_US`` in many
    containers) never decides what a volunteer reads."""
    env = os.environ if env is None else env
    return normalise(env.get("ROSTER_MESSAGE_LANG", "")) or DEFAULT


def to_people(func: Callable[P, R]) -> Callable[P, R]:
    """Run ``func`` in the message language (``message_language()``): for the functions that write
    the text of a message sent to people."""

    @wraps(func)
    def speaking(*args: P.args, **kwargs: P.kwargs) -> R:
        with using(message_language()):
            return func(*args, **kwargs)

    return speaking


@contextmanager
def using(lang: str | None) -> Iterator[str]:
    """Speak ``lang`` (any locale name; ``None``: the environment's) inside the block."""
    chosen = normalise(lang) if lang else None
    token = _override.set(chosen)
    try:
        yield language()
    finally:
        _override.reset(token)


_MO_MAGIC = 0x950412DE
#: The plural rule of each supported language (the catalogs' Plural-Forms header says the same).
_PLURAL: dict[str, Callable[[int], int]] = {"zh_CN": lambda n: 0, "en": lambda n: int(n != 1)}


class Catalog(_gettext.NullTranslations):
    """A compiled ``.mo`` catalog, searched in place.

    The standard ``GNUTranslations`` finds the file through ``locale`` alias expansion, parses every
    header and decodes all ~1000 messages into a dict: a quarter of ``roster --help``'s time, for the
    few dozen messages one process shows. The ``.mo`` format keeps its originals sorted (GNU gettext
    manual, "The Format of GNU MO Files"; msgfmt and Babel both write them so), so this searches the
    table of originals by bisection and decodes only what it finds. Our catalogs are ours (UTF-8, one
    known plural rule per language): ``gettext`` and ``ngettext`` answer as GNU gettext's do (an
    untranslated message is its id; tests/test_i18n.py holds every message of both catalogs to it)."""

    def __init__(self, path: Path, lang: str) -> None:
        super().__init__()
        self._plural = _PLURAL.get(lang, _PLURAL["en"])
        self._data = b""
        self._ids: array[int] = array("I")  # (length, offset) of each original, in sorted order
        self._texts: array[int] = array("I")  # (length, offset) of its translation
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return
        magic, _revision, count, originals, translated = struct.unpack_from("<5I", data)
        if magic != _MO_MAGIC:
            raise ValueError(f"{path}: not a little-endian .mo catalog")
        self._data = data
        self._ids.frombytes(data[originals:originals + 8 * count])
        self._texts.frombytes(data[translated:translated + 8 * count])
        if sys.byteorder == "big":
            self._ids.byteswap()
            self._texts.byteswap()

    def _original(self, index: int) -> tuple[bytes, bool]:
        """The ``index``-th original, up to its NUL if it is a plural's, and whether it is."""
        length, offset = self._ids[2 * index], self._ids[2 * index + 1]
        original = self._data[offset:offset + length]
        nul = original.find(b"\0")
        return (original, False) if nul < 0 else (original[:nul], True)

    def _lookup(self, key: bytes, plural: bool) -> bytes | None:
        """The translation of the original ``key``, if not empty. A plural's original is its singular
        and its plural joined by NUL: it is compared up to the NUL (which keeps the table's order, NUL
        sorting first) and found only when ``plural`` is asked for; a message and a plural
        with the same singular sit side by side (``X`` before ``X\0Y``)."""
        low, high = 0, len(self._ids) // 2
        while low < high:
            middle = (low + high) // 2
            original, is_plural = self._original(middle)
            if original < key:
                low = middle + 1
            elif original > key:
                high = middle
            else:
                if is_plural != plural:
                    middle += 1 if plural else -1
                    if not 0 <= middle < len(self._ids) // 2 or self._original(middle) != (key, plural):
                        return None
                length, offset = self._texts[2 * middle], self._texts[2 * middle + 1]
                return self._data[offset:offset + length] if length and key else None
        return None

    def _form(self, key: bytes, n: int) -> str | None:
        text = self._lookup(key, plural=True)
        if text is not None:
            forms = text.split(b"\0")
            index = self._plural(n)
            if index < len(forms) and forms[index]:
                return forms[index].decode()
        return None

    def gettext(self, message: str) -> str:
        """As ``GNUTranslations.gettext``: a plural's singular gives its form for one."""
        key = message.encode()
        text = self._lookup(key, plural=False)
        if text is not None:
            return text.decode()
        form = self._form(key, 1)
        return message if form is None else form

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        form = self._form(msgid1.encode(), n)
        if form is not None:
            return form
        return msgid1 if n == 1 else msgid2

@cache
def translations(lang: str) -> _gettext.NullTranslations:
    """The compiled catalog of ``lang`` (an empty one if it was never compiled)."""
    return Catalog(LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.mo", lang)


def _(message: str) -> str:
    """``message`` (an English id) in the language in force."""
    return translations(language()).gettext(message)


gettext = _


def translate(message_id: str) -> str:
    """A message id held in a variable (marked where it was written, with ``N_()`` or as Click help)."""
    return translations(language()).gettext(message_id)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(language()).ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Marks ``message`` for the catalog without translating it (translated where it is shown)."""
    return message


def NP_(singular: str, plural: str) -> tuple[str, str]:
    """Marks a plural message for the catalog (translated with ``ngettext`` where it is shown)."""
    return singular, plural


# --------------------------------------------------------------------------- dates and times

_EN_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_ZH_WEEKDAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
_EN_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def format_date(day: date, with_year: bool = False) -> str:
    """``12月2日（周三）`` in Chinese, ``Wed 2 Dec`` in English (``2026年12月2日（周三）`` with the year)."""
    if language() == "zh_CN":
        year = f"{day.year}年" if with_year else ""
        return f"{year}{day.month}月{day.day}日（{_ZH_WEEKDAYS[day.weekday()]}）"
    year = f" {day.year}" if with_year else ""
    return f"{_EN_WEEKDAYS[day.weekday()]} {day.day} {_EN_MONTHS[day.month - 1]}{year}"


def format_datetime(moment: datetime, zone: tzinfo | None = None, with_year: bool = False,
                    label: bool = False) -> str:
    """``12月2日（周三）16:30`` in ``zone`` (the service's); ``label`` adds the zone's name (for a time
    shown away from its service, e.g. ``UTC``)."""
    local = moment.astimezone(zone) if zone is not None else moment
    gap = "" if language() == "zh_CN" else " "  # （周三）16:30: the bracket is the space
    text = f"{format_date(local.date(), with_year)}{gap}{local:%H:%M}"
    if label:
        text += f" {local.tzname() or ''}".rstrip()
    return text


def format_time_range(start: datetime, end: datetime, zone: tzinfo | None = None, with_year: bool = False) -> str:
    """``12月2日（周三）16:30-18:00``; the end's date is given when it is another day."""
    s = start.astimezone(zone) if zone is not None else start
    e = end.astimezone(zone) if zone is not None else end
    tail = f"{e:%H:%M}" if e.date() == s.date() else format_datetime(e, with_year=with_year)
    return f"{format_datetime(s, with_year=with_year)}-{tail}"
