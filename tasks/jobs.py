"""Thin tasks: take ids and ISO strings (or nothing), open one transaction, call one function.

Every task is idempotent and tolerates rows that vanished; acks are late, so a task may run twice.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from sqlalchemy import Engine

from scheduler.db import engine_for, run_in_transaction
from scheduler.settings import Settings
from tasks.app import WorkerTuning, app, enqueue_after_commit

log = logging.getLogger("roster.tasks")


def _settings() -> Settings:
    return app.roster_settings  # type: ignore[attr-defined, no-any-return]


def _engine() -> Engine:
    settings = _settings()
    return engine_for(settings.database_url, settings.lock_timeout)


def _tuning() -> WorkerTuning:
    return app.conf.roster_tuning  # type: ignore[no-any-return]


def _local_today() -> date:
    from scheduler.planning import local_today

    return local_today(_settings().timezone)


@app.task(name="roster.relay_events")
def relay_events() -> int:
    """Relay outbox events; when any were relayed, publish the dirty feeds (after the commit)."""
    from calendars.relay import relay_events as relay

    def work(session: Any) -> int:
        count = relay(session)
        if count:
            enqueue_after_commit(session, "roster.publish_feeds", include_district=False)
        return count

    count = run_in_transaction(_engine(), work)
    if count:
        log.info("relayed %d events", count)
    return count


@app.task(name="roster.dispatch_reminders")
def dispatch_reminders(max_batches: int = 50) -> dict[str, Any]:
    """Claim, send and mark due reminders (several batches, each its own short transactions)."""
    from scheduler.reminders.dispatch import dispatch_due

    tuning = _tuning()
    settings = _settings()
    result = dispatch_due(_engine(), settings, batch_size=tuning.dispatch_batch, max_batches=max_batches,
                          lease_seconds=tuning.lease_seconds, policy=settings.policy())
    data = result.as_dict()
    if result.claimed:
        log.info("reminders: %s", {k: v for k, v in data.items() if k != "errors"})
    return data


@app.task(name="roster.publish_feeds")
def publish_feeds(include_district: bool = False) -> dict[str, Any]:
    """Rebuild and write the dirty feeds; the district feed only when asked (its slower interval)."""
    from calendars.publish import freeze_grown_caches, publish_dirty

    settings = _settings()
    result = run_in_transaction(_engine(), lambda s: publish_dirty(s, settings, include_district=include_district))
    freeze_grown_caches()  # after a big publish: the collector stops walking the caches
    return {"result": result.as_dict()}


@app.task(name="roster.extend_horizon")
def extend_horizon(today: str | None = None) -> dict[str, Any]:
    """Plan occurrences up to the horizon (idempotent: a second run writes nothing)."""
    from scheduler.planning import plan

    day = date.fromisoformat(today) if today else _local_today()
    settings = _settings()
    policy = settings.policy()
    result = run_in_transaction(_engine(), lambda s: plan(s, day, settings.horizon_weeks, policy=policy))
    data = result.as_dict()
    # The list of provisional dates can be long: the count says enough in a task result.
    data.pop("provisional_dates", None)
    return {"today": day.isoformat(), "result": data}


@app.task(name="roster.weekly_digest")
def weekly_digest(today: str | None = None, force: bool = False) -> dict[str, Any]:
    """From Friday on, send each coordinator next week's unfilled seats (once a week each)."""
    from scheduler.messages.channels import channels_from_settings
    from scheduler.reminders.digest import send_weekly_digest

    settings = _settings()
    day = date.fromisoformat(today) if today else _local_today()
    if day.weekday() < 4 and not force:
        return {"skipped": "the digest goes out from Friday"}
    channels = channels_from_settings(settings)
    try:
        result = run_in_transaction(_engine(), lambda s: send_weekly_digest(s, channels, day, settings.timezone))
    finally:
        channels.close()
    return {"sent": result.sent, "skipped": result.skipped, "failed": result.failed}


@app.task(name="roster.horizon_warning")
def horizon_warning(today: str | None = None) -> dict[str, Any]:
    """Warn coordinators (once a day) while the horizon reaches a year without holiday data."""
    from scheduler.messages.channels import channels_from_settings
    from scheduler.planning.horizon import send_horizon_warning

    settings = _settings()
    day = date.fromisoformat(today) if today else _local_today()
    channels = channels_from_settings(settings)
    try:
        result = run_in_transaction(
            _engine(), lambda s: send_horizon_warning(s, channels, day, settings.horizon_weeks))
    finally:
        channels.close()
    return {"sent": result.sent, "skipped": result.skipped, "failed": result.failed, **result.detail}


@app.task(name="roster.prune_channel_sends")
def prune_channel_sends() -> int:
    """Forget sends too old to count for any rate limit or daily cap."""
    from scheduler.reminders.dispatch import prune_channel_sends as prune

    return int(run_in_transaction(_engine(), prune))


@app.task(name="roster.release_unconfirmed")
def release_unconfirmed(now: str | None = None) -> dict[str, Any]:
    """Release invited seats unconfirmed at their service's deadline; the waitlist moves up (idempotent)."""
    from datetime import datetime

    from scheduler.db import utcnow
    from scheduler.rosters.deadline import release_unconfirmed as release

    moment = datetime.fromisoformat(now) if now else utcnow()
    policy = _settings().policy()
    result = run_in_transaction(_engine(), lambda s: release(s, moment, policy))
    if result.released:
        log.info("released %d unconfirmed seats, %d promoted", len(result.released), len(result.promoted))
    return result.as_dict()


@app.task(name="roster.fill")
def fill_open_seats(first: str, last: str) -> dict[str, Any]:
    """Auto-fill the open seats from ``first`` to ``last`` (ISO dates): a coordinator's command, queued.

    Returns the counts only (the placements stay in the database and its events)."""
    from scheduler.rosters.fill import fill

    day, until = date.fromisoformat(first), date.fromisoformat(last)
    policy = _settings().policy()
    result = run_in_transaction(_engine(), lambda s: fill(s, day, until, policy=policy))
    return {k: v for k, v in result.as_dict().items() if not isinstance(v, list | dict)}
