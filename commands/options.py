"""Option and argument types the commands share: ids, references, dates, who is recording."""

from __future__ import annotations

from datetime import date
from typing import Any

import click

from scheduler.i18n import _

#: Dates a command accepts (the domain's validation.FIRST_DATE..LAST_DATE, kept here so that
#: parsing an option imports no SQLAlchemy).
FIRST_YEAR, LAST_YEAR = 1900, 2100
#: The largest row id: a signed 64-bit integer (PostgreSQL bigint, SQLite INTEGER).
MAX_ID = 2**63 - 1


def date_option_callback(ctx: click.Context, param: click.Parameter, value: str | None) -> date | None:
    """An ISO date in 1900-2100 (a usage error otherwise: exit 2)."""
    if value is None:
        return None
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise click.BadParameter(_("{value} is not a date like 2026-03-01").format(value=repr(value))) from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise click.BadParameter(_("{value} is outside {first}-{last}").format(
            value=value, first=FIRST_YEAR, last=LAST_YEAR))
    return day


def _whole_number(value: str) -> int | None:
    """``42`` or ``#42`` (digits of any script) as an int; None when it is not a whole number."""
    raw = value.strip().lstrip("#").strip()
    if not raw or not raw.isdigit():
        return None
    try:
        return int(raw)
    except ValueError:  # str.isdigit() is true for superscripts, which int() refuses
        return None


class RecordIdType(click.ParamType):
    """Every integer id a command takes: 1..2**63-1, ``#`` allowed; anything else is a usage error (exit 2).

    Checked before the database is asked, so that SQLite and PostgreSQL answer alike.
    """

    name = "id"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        number = value if isinstance(value, int) else _whole_number(str(value))
        if number is None:
            self.fail(_("{value} is not an id (a whole number such as 42)").format(value=repr(value)), param, ctx)
        if not 1 <= number <= MAX_ID:
            self.fail(_("{value} is not an id: ids run from 1 to {max}").format(value=value, max=MAX_ID), param, ctx)
        return number


class RecordRefType(click.ParamType):
    """An id or another reference (a volunteer's phone): a bare number beyond the id range is a usage error."""

    name = "ref"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value)
        number = _whole_number(text)
        if number is not None and number > MAX_ID:
            self.fail(_("{value} is neither an id (1 to {max}) nor a phone number").format(value=text, max=MAX_ID),
                      param, ctx)
        return text


RECORD_ID = RecordIdType()
RECORD_REF = RecordRefType()


def default_by() -> str:
    """Who is recording, when --by is not given: the login name."""
    import getpass

    try:
        return getpass.getuser()
    except Exception:
        return "coordinator"
