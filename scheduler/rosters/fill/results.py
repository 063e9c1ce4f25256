"""What a fill returns: the seats it gave out, the seats it left open and why, and its counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any


@dataclass(slots=True)
class Placement:
    occurrence_id: int
    service: str
    start: str
    role: str
    role_id: int
    seat_no: int
    volunteer_id: int
    volunteer: str
    tier: str
    choice: tuple[Any, ...]
    assignment_id: int | None = None


def seat_key(p: Placement) -> tuple[int, int, int]:
    """A seat's key order (occurrence, role, seat): the order its unique indexes grow in."""
    return p.occurrence_id, p.role_id, p.seat_no


@dataclass(slots=True)
class OpenSeats:
    occurrence_id: int
    service: str
    start: str
    role: str
    open: int
    reason: str  # English, as JSON keeps it
    shown: str = ""  # the reason in the language in force, for tables ("" when the same)

    @property
    def reason_text(self) -> str:
        return self.shown or self.reason


@dataclass
class FillResult:
    first: date
    last: date
    dry_run: bool
    occurrences: int = 0
    seats: int = 0
    already_taken: int = 0
    placements: list[Placement] = field(default_factory=list)
    open_seats: list[OpenSeats] = field(default_factory=list)
    lost_races: int = 0
    #: Volunteers owed an "assigned" notice (one each, however many seats they got).
    notified: int = 0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def filled(self) -> int:
        return len(self.placements)

    @property
    def left_open(self) -> int:
        return sum(o.open for o in self.open_seats)

    def as_dict(self) -> dict[str, Any]:
        return {
            "first": self.first.isoformat(), "last": self.last.isoformat(), "dry_run": self.dry_run,
            "occurrences": self.occurrences, "seats": self.seats, "already_taken": self.already_taken,
            "filled": self.filled, "left_open": self.left_open, "lost_races": self.lost_races,
            "notified": self.notified,
            "placements": [
                {"occurrence_id": p.occurrence_id, "service": p.service, "start": p.start, "role": p.role,
                 "seat_no": p.seat_no, "volunteer_id": p.volunteer_id, "volunteer": p.volunteer, "tier": p.tier,
                 "assignment_id": p.assignment_id}
                for p in self.placements
            ],
            "open_seats": [
                {"occurrence_id": o.occurrence_id, "service": o.service, "start": o.start, "role": o.role,
                 "open": o.open, "reason": o.reason}
                for o in self.open_seats
            ],
        }

