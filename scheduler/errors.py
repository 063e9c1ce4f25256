"""One error hierarchy; each class carries the exit code the CLI returns for it.

The exit codes and their meanings are EXIT_CODES at the end: the single table that ``roster --help``
prints and README.md repeats (a test checks that they agree).
"""

from __future__ import annotations

from scheduler.i18n import N_, _, translate


class RosterError(Exception):
    """Base of every error a coordinator may see; ``str()`` is the message."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(RosterError):
    exit_code = 3

    def __init__(self, what: str, ref: object) -> None:
        super().__init__(_("{what} not found: {ref}").format(what=translate(what), ref=ref))
        self.what = what
        self.ref = ref


class InvalidInput(RosterError):
    """Bad input; names the field."""

    exit_code = 4

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(_("{field}: {problem}").format(field=translate(field), problem=translate(problem)))
        self.field = field
        self.problem = problem


class Conflict(RosterError):
    """A duplicate or a state that forbids the operation."""

    exit_code = 5


class CapacityFull(RosterError):
    exit_code = 6


class CheckRefused(RosterError):
    """A soft rule (skill, availability, blackout, overlap, cap) refused; ``--force`` overrides."""

    exit_code = 7

    def __init__(self, message: str, reasons: list[str] | None = None) -> None:
        super().__init__(message)
        self.reasons = reasons or [message]


class DatabaseBusy(RosterError):
    exit_code = 8


#: Click's exit code for a bad option or argument (Click raises it; no class here carries it).
USAGE_EXIT_CODE = 2

#: The one exit-code table (message ids: ``roster --help`` shows them translated): ``roster --help`` prints it and tests/test_cli_house.py checks README.md against it.
EXIT_CODES: dict[int, str] = {
    0: N_("ok"),
    RosterError.exit_code: N_("generic failure"),
    USAGE_EXIT_CODE: N_("usage error (bad option or argument; an id that is not a whole number from 1 to 2^63-1; "
                     "a date outside 1900-2100)"),
    NotFound.exit_code: N_("not found (unknown slug, id or phone)"),
    InvalidInput.exit_code: N_("invalid input (the message names the field)"),
    Conflict.exit_code: N_("conflict (duplicate, or the state forbids it)"),
    CapacityFull.exit_code: N_("capacity full (no seat left in the role)"),
    CheckRefused.exit_code: N_("a check refused (skill, availability, blackout, overlap, monthly cap); "
                            "--force overrides"),
    DatabaseBusy.exit_code: N_("database busy (another writer held the lock longer than ROSTER_LOCK_TIMEOUT; "
                            "try again)"),
}
