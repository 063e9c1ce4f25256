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
    """A compiled ``.mo`` catalog, read straight from its tables.

    The standard ``GNUTranslations`` finds the file through ``locale`` alias expansion and parses
    every header: a quarter of ``roster --help``'s time with our ~900 messages. Our catalogs are
    ours (UTF-8, one known plural rule per language), so this reads the two string tables and no
    more: ``gettext`` and ``ngettext`` behave as GNU gettext's (an untranslated message is its id)."""

    def __init__(self, path: Path, lang: str) -> None:
        super().__init__()
        self._messages: dict[str, str] = {}
        self._plurals: dict[str, list[str]] = {}
        self._plural = _PLURAL.get(lang, _PLURAL["en"])
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return
        magic, _revision, count, originals, translated = struct.unpack_from("<5I", data)
        if magic != _MO_MAGIC:
            raise ValueError(f"{path}: not a little-endian .mo catalog")
        for i in range(count):
            id_length, id_offset = struct.unpack_from("<2I", data, originals + 8 * i)
            text_length, text_offset = struct.unpack_from("<2I", data, translated + 8 * i)
            message_id = data[id_offset:id_offset + id_length].decode()
            text = data[text_offset:text_offset + text_length].decode()
            if not message_id:  # the header
                continue
            if "\0" in message_id:
                self._plurals[message_id.split("\0")[0]] = text.split("\0")
            elif text:
                self._messages[message_id] = text

    def gettext(self, message: str) -> str:
        return self._messages.get(message, message)

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        forms = self._plurals.get(msgid1)
        if forms:
            index = self._plural(n)
            if index < len(forms) and forms[index]:
                return forms[index]
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
