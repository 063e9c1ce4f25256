"""The Celery app factory, configured for at-least-once work with idempotent handlers.

``celery -A tasks.app worker`` finds the module-level ``app``. Building it reads the settings and
connects to nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from celery import Celery

from scheduler.settings import Settings
from tasks.beat import Intervals, beat_schedule

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

log = logging.getLogger("roster.tasks")

#: Redis redelivers a task not acked within this many seconds; above any task's time limit.
REDIS_VISIBILITY_TIMEOUT = 3600
TASK_TIME_LIMIT = 600
TASK_SOFT_TIME_LIMIT = 540


@dataclass(frozen=True)
class WorkerTuning:
    relay_interval: float = 5
    dispatch_interval: float = 30
    dispatch_batch: int = 200
    lease_seconds: int = 300

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkerTuning:
        """The ROSTER_RELAY_INTERVAL, _DISPATCH_INTERVAL, _DISPATCH_BATCH and _REMINDER_LEASE settings."""
        return cls(settings.relay_interval, settings.dispatch_interval, settings.dispatch_batch,
                   settings.reminder_lease)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WorkerTuning:
        return cls.from_settings(Settings.from_env(environ))


def is_redis(url: str) -> bool:
    return url.startswith(("redis://", "rediss://", "redis+socket://"))


def celery_config(settings: Settings, tuning: WorkerTuning) -> dict[str, Any]:
    """The configuration, as a dict (tests read it)."""
    config: dict[str, Any] = {
        "broker_url": settings.broker_url,
        # At least once: ack after the task ran; a worker lost mid-task puts it back.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        # A broker restart must not stop a dispatch task between its send and its mark: that would
        # resend after the lease (a duplicate outside the documented window). The task finishes;
        # its ack is lost with the connection and Redis redelivers it after the visibility timeout,
        # which is harmless (idempotent tasks).
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "worker_consumer": "tasks.consumer:BrokerRestartTolerantConsumer",
        "task_ignore_result": True,
        "result_backend": None,
        "task_time_limit": TASK_TIME_LIMIT,
        "task_soft_time_limit": TASK_SOFT_TIME_LIMIT,
        "task_serializer": "json",
        "accept_content": ["json"],
        "timezone": "UTC",
        "enable_utc": True,
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,
        "worker_hijack_root_logger": False,
        "beat_schedule_filename": str(settings.home / "celerybeat-schedule"),
        "beat_schedule": beat_schedule(Intervals(
            relay=timedelta(seconds=tuning.relay_interval),
            dispatch=timedelta(seconds=tuning.dispatch_interval),
        )),
        "roster_tuning": tuning,
    }
    # kombu's SQLAlchemy transport hands these options to create_engine, where Redis options
    # (or polling_interval) make it fail: only a Redis broker gets them.
    if is_redis(settings.broker_url):
        config["broker_transport_options"] = {"visibility_timeout": REDIS_VISIBILITY_TIMEOUT}
    return config


def create_app(settings: Settings | None = None, tuning: WorkerTuning | None = None) -> Celery:
    """A Celery app for ``settings`` (default: from the environment)."""
    settings = settings or Settings.from_env()
    tuning = tuning or WorkerTuning.from_settings(settings)
    celery = Celery("roster", include=["tasks.jobs", "tasks.qualifications"])
    celery.conf.update(celery_config(settings, tuning))
    celery.roster_settings = settings  # type: ignore[attr-defined]
    return celery


app = create_app()


def enqueue_after_commit(session: Session, task_name: str, celery_app: Celery | None = None, **kwargs: Any
                         ) -> None:
    """Send ``task_name`` once ``session`` commits (never for a rolled-back change). A failed send
    is logged, not raised: beat runs every job on an interval anyway."""
    from sqlalchemy import event

    def send(_session: Session) -> None:
        try:
            (celery_app or app).send_task(task_name, kwargs=kwargs)
        except Exception as exc:  # the broker may be down; the periodic tick covers it
            log.warning("could not enqueue %s after commit: %s", task_name, type(exc).__name__)

    event.listen(session, "after_commit", send, once=True)


def prepare_broker(celery: Celery, queues: tuple[str, ...] = ()) -> None:
    """Create the broker's queues before a worker and its embedded beat start.

    On a fresh SQLite broker both would create kombu's tables and queue rows at once, and kombu's
    SQLAlchemy transport does not survive that race (UNIQUE constraint failed: kombu_queue.name).
    """
    with celery.connection_for_write() as connection:
        connection.ensure_connection(max_retries=3, interval_start=0.5, interval_step=0.5)
        for queue in (*queues, celery.conf.task_default_queue):
            connection.default_channel.queue_declare(queue)
    if celery.conf.broker_url.startswith("sqla+"):
        # kombu caches one engine per database at class level; an embedded beat is a forked child
        # and must not inherit this process's SQLite connections ("channel disconnected").
        from kombu.transport.sqlalchemy import Channel

        for engine, _ in Channel._engines.values():
            engine.dispose()
        Channel._engines.clear()
