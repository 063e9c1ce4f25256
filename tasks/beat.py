"""The one beat schedule: fixed intervals (``timedelta``, UTC), never crontab.

Every job is safe to run twice and catches up on its own, so a second beat, a missed tick or a
tick delivered late loses and duplicates nothing. ``expires`` drops ticks that queued up while no
worker was listening: the next tick does the same work.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any


@dataclass(frozen=True)
class Intervals:
    relay: timedelta = timedelta(seconds=5)
    dispatch: timedelta = timedelta(seconds=30)
    publish: timedelta = timedelta(minutes=5)
    publish_district: timedelta = timedelta(minutes=30)
    horizon: timedelta = timedelta(days=1)
    #: The digest and the warning tick hourly; each sends once per week / day per coordinator.
    notices: timedelta = timedelta(hours=1)
    prune: timedelta = timedelta(days=1)
    #: Invited seats unconfirmed at their service's deadline go to the waitlist.
    deadline: timedelta = timedelta(minutes=5)


def _entry(task: str, every: timedelta, **kwargs: Any) -> dict[str, Any]:
    return {"task": task, "schedule": every, "kwargs": kwargs,
            "options": {"expires": max(every.total_seconds() * 2, 10.0)}}


def beat_schedule(intervals: Intervals | None = None) -> dict[str, dict[str, Any]]:
    """Name -> entry, for ``app.conf.beat_schedule``."""
    i = intervals or Intervals()
    return {
        "relay-events": _entry("roster.relay_events", i.relay),
        "dispatch-reminders": _entry("roster.dispatch_reminders", i.dispatch),
        "publish-feeds": _entry("roster.publish_feeds", i.publish, include_district=False),
        "publish-district-feed": _entry("roster.publish_feeds", i.publish_district, include_district=True),
        "extend-horizon": _entry("roster.extend_horizon", i.horizon),
        "weekly-digest": _entry("roster.weekly_digest", i.notices),
        "horizon-warning": _entry("roster.horizon_warning", i.notices),
        "prune-channel-sends": _entry("roster.prune_channel_sends", i.prune),
        "release-unconfirmed": _entry("roster.release_unconfirmed", i.deadline),
        "qualification-expiry": _entry("roster.qualification_expiry", i.horizon),
    }
