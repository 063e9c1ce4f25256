"""One error hierarchy; each class carries the exit code the CLI returns for it.

Exit codes: 0 ok, 1 generic failure, 2 usage (Click), 3 not found, 4 invalid input,
5 conflict (duplicate or state), 6 capacity full, 7 a check refused (skill, availability,
cap; ``--force`` overrides), 8 database busy.
"""

from __future__ import annotations


class RosterError(Exception):
    """Base of every error a coordinator may see; ``str()`` is the message."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(RosterError):
    exit_code = 3

    def __init__(self, what: str, ref: object) -> None:
        super().__init__(f"{what} not found: {ref}")
        self.what = what
        self.ref = ref


class InvalidInput(RosterError):
    """Bad input; names the field."""

    exit_code = 4

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
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


EXIT_CODES: dict[int, str] = {
    0: "ok",
    1: "generic failure",
    2: "usage error (bad option or argument)",
    3: "not found (unknown slug, id or phone)",
    4: "invalid input (the message names the field)",
    5: "conflict (duplicate, or the state forbids it)",
    6: "capacity full (no seat left in the role)",
    7: "a check refused (skill, availability, blackout, overlap, monthly cap); --force overrides",
    8: "database busy (locked by another writer; try again)",
}
