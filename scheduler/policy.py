"""The operation policy: what operations need from configuration, passed in as a value.

An entry point (a CLI command, a Celery task, the demo) builds one from its ``Settings``
(``Settings.policy()``) and hands it to the operations that time reminders or review attendance.
Nothing reads it from a session or a global: an operation called without one uses
``DEFAULT_POLICY`` (the documented defaults below), never whatever some engine was given.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from scheduler.errors import InvalidInput
from scheduler.i18n import _

DEFAULT_CHANNEL = "console"
DEFAULT_QUIET_HOURS = "22:00-07:30"
#: A check-in earlier than this many minutes before the shift waits for approval.
DEFAULT_EARLY_CHECKIN_MINUTES = 60
#: A record longer than the shift plus this many minutes waits for approval.
DEFAULT_OVERTIME_MINUTES = 60


@dataclass(frozen=True)
class QuietHours:
    """A nightly window, local time, in which no reminder goes out (``22:00-07:30`` spans midnight)."""

    start: time
    end: time

    def contains(self, moment: time) -> bool:
        if self.start <= self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end

    def window_around(self, local: datetime) -> tuple[datetime, datetime]:
        """The quiet window (local, aware) that contains ``local``."""
        day = local.date()
        tz = local.tzinfo
        if self.start <= self.end:
            first, last = day, day
        elif local.time() < self.end:
            first, last = day - timedelta(days=1), day
        else:
            first, last = day, day + timedelta(days=1)
        return datetime.combine(first, self.start, tz), datetime.combine(last, self.end, tz)

    def end_after(self, local_day: date, tz: ZoneInfo) -> datetime:
        return datetime.combine(local_day, self.end, tz)


def parse_quiet_hours(spec: str | None) -> QuietHours | None:
    """``"22:00-07:30"`` -> QuietHours; ``"off"``/``"none"`` -> None (no quiet hours)."""
    if spec is None:
        spec = DEFAULT_QUIET_HOURS
    spec = spec.strip()
    if spec.lower() in ("", "off", "none", "0"):
        return None
    try:
        first, last = spec.split("-", 1)
        start, end = time.fromisoformat(first.strip()), time.fromisoformat(last.strip())
    except ValueError:
        raise InvalidInput("ROSTER_QUIET_HOURS", _("expected HH:MM-HH:MM or off, not {spec}").format(
            spec=repr(spec))) from None
    if start == end:
        return None
    return QuietHours(start, end)


@dataclass(frozen=True)
class OperationPolicy:
    """Reminder timing and attendance review, as configured (ROSTER_QUIET_HOURS,
    ROSTER_REMINDER_CHANNEL, ROSTER_EARLY_CHECKIN_MINUTES, ROSTER_OVERTIME_MINUTES)."""

    #: No reminder is due inside this nightly window (None: no quiet hours).
    quiet_hours: QuietHours | None = parse_quiet_hours(DEFAULT_QUIET_HOURS)
    #: The channel of a volunteer who chose none.
    default_channel: str = DEFAULT_CHANNEL
    early_checkin_minutes: int = DEFAULT_EARLY_CHECKIN_MINUTES
    overtime_minutes: int = DEFAULT_OVERTIME_MINUTES

    @classmethod
    def from_text(cls, quiet_hours: str | None = None, default_channel: str | None = None,
                  early_checkin_minutes: int = DEFAULT_EARLY_CHECKIN_MINUTES,
                  overtime_minutes: int = DEFAULT_OVERTIME_MINUTES) -> OperationPolicy:
        """A policy from configuration text (``"22:00-07:30"``/``"off"``; empty channel: console)."""
        return cls(parse_quiet_hours(quiet_hours), default_channel or DEFAULT_CHANNEL,
                   early_checkin_minutes, overtime_minutes)


#: The documented defaults: quiet 22:00-07:30, console, 60 minutes each way.
DEFAULT_POLICY = OperationPolicy()
