"""The Celery app, the beat schedule, the relay, coordinator notices, the CLI and `roster run`."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from calendars.relay import relay_events, unrelayed_count
from scheduler.db import session_scope, utcnow
from scheduler.errors import Conflict, NotFound
from scheduler.events import record_event
from scheduler.messages.channels import ChannelSet, ConsoleChannel
from scheduler.models import Coordinator, Event, FeedState
from scheduler.planning.horizon import send_horizon_warning
from scheduler.reminders.digest import next_week, send_weekly_digest, unfilled_seats
from scheduler.settings import Settings
from tasks.app import WorkerTuning, celery_config, create_app
from tasks.beat import beat_schedule
from tests.workers_support import NOW, create_shift, reminders_of, wait_for

REPO = Path(__file__).resolve().parents[2]


def test_celery_is_configured_for_at_least_once_with_idempotent_handlers() -> None:
    config = celery_config(Settings.from_env({"ROSTER_BROKER_URL": "redis://127.0.0.1:6379/3"}), WorkerTuning())
    assert config["task_acks_late"] and config["task_reject_on_worker_lost"]
    assert config["worker_prefetch_multiplier"] == 1 and config["task_ignore_result"]
    assert config["task_time_limit"] > config["task_soft_time_limit"] > 0
    assert config["timezone"] == "UTC" and config["enable_utc"]
    assert config["broker_transport_options"]["visibility_timeout"] > config["task_time_limit"]


def test_sqlalchemy_broker_gets_no_transport_options() -> None:
    # kombu's SQLAlchemy transport passes them to create_engine, which rejects unknown ones.
    config = celery_config(Settings.from_env({"ROSTER_BROKER_URL": "sqla+sqlite:///x.db"}), WorkerTuning())
    assert "broker_transport_options" not in config


def test_beat_uses_fixed_intervals_only_and_every_job_expires() -> None:
    schedule = beat_schedule()
    assert {e["task"] for e in schedule.values()} >= {
        "roster.relay_events", "roster.dispatch_reminders", "roster.publish_feeds", "roster.extend_horizon",
        "roster.weekly_digest", "roster.horizon_warning"}
    for entry in schedule.values():
        assert isinstance(entry["schedule"], timedelta)
        assert entry["options"]["expires"] >= entry["schedule"].total_seconds()
    assert schedule["dispatch-reminders"]["schedule"] <= timedelta(minutes=1)
    assert schedule["relay-events"]["schedule"] <= timedelta(seconds=10)
    assert schedule["publish-district-feed"]["kwargs"] == {"include_district": True}


def test_every_scheduled_task_is_registered() -> None:
    import importlib

    app = create_app(Settings.from_env({}), WorkerTuning())
    import tasks.app

    for module in app.conf.include:  # what a worker imports at start (registers the tasks)
        importlib.import_module(module)

    names = set(tasks.app.app.tasks)
    assert {e["task"] for e in app.conf.beat_schedule.values()} <= names


def test_bad_worker_tuning_names_the_variable() -> None:
    from scheduler.errors import InvalidInput

    with pytest.raises(InvalidInput, match="ROSTER_REMINDER_LEASE"):
        WorkerTuning.from_env({"ROSTER_REMINDER_LEASE": "soon"})


def test_enqueue_happens_after_commit_and_never_after_rollback(sqlite_engine: Engine, tmp_path: Path) -> None:
    import sqlite3

    from tasks.app import enqueue_after_commit

    broker = tmp_path / "broker.db"
    app = create_app(Settings.from_env({"ROSTER_BROKER_URL": f"sqla+sqlite:///{broker}"}), WorkerTuning())

    def queued() -> int:
        if not broker.exists():
            return 0
        with sqlite3.connect(broker) as conn:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            return conn.execute("SELECT count(*) FROM kombu_message").fetchone()[0] if "kombu_message" in tables else 0

    try:
        with pytest.raises(RuntimeError), session_scope(sqlite_engine) as session:
            enqueue_after_commit(session, "roster.publish_feeds", celery_app=app)
            raise RuntimeError("rolled back")
        assert queued() == 0
        with session_scope(sqlite_engine) as session:
            enqueue_after_commit(session, "roster.publish_feeds", celery_app=app)
            assert queued() == 0
        assert queued() == 1
    finally:
        app.pool.force_close_all()


# --------------------------------------------------------------------------- relay


def test_relay_marks_feeds_dirty_and_stamps_events_once(engine: Engine) -> None:
    shift = create_shift(engine, NOW + timedelta(days=2))
    with session_scope(engine) as session:
        record_event(session, "assignment.created", assignment_id=shift.assignment_ids[0],
                     occurrence_id=shift.occurrence_id)
    with session_scope(engine) as session:
        relayed = relay_events(session, now=NOW)
    with session_scope(engine) as session:
        again = relay_events(session, now=NOW)
        dirty = set(session.scalars(select(FeedState.key).where(FeedState.dirty.is_(True))))
        assert unrelayed_count(session) == 0
        assert all(e.relayed_at is not None for e in session.scalars(select(Event)))
    assert relayed >= 1 and again == 0
    assert "branch:shunjing" in dirty and any(k.startswith("volunteer:") for k in dirty)


def test_relay_takes_at_most_limit_events(engine: Engine) -> None:
    with session_scope(engine) as session:
        for _ in range(5):
            record_event(session, "holidays.loaded", year=2027)
        session.flush()
        first = relay_events(session, limit=2, now=NOW)
        assert first == 2 and unrelayed_count(session) >= 3


# --------------------------------------------------------------------------- coordinator notices


def _coordinators(engine: Engine) -> None:
    from scheduler.models import Branch

    with session_scope(engine) as session:
        branch = session.scalars(select(Branch)).first()
        assert branch is not None
        session.add(Coordinator(name="张书记", branch_id=branch.id, channel="console"))
        session.add(Coordinator(name="街道办", channel="console"))


def test_weekly_digest_lists_next_weeks_unfilled_seats_once_per_week(engine: Engine) -> None:
    today = date(2026, 12, 4)  # a Friday; next week starts Monday 7 December
    monday, _ = next_week(today)
    shift = create_shift(engine, NOW + timedelta(days=1), volunteers=1, seats=3)  # Tuesday 8 December
    _coordinators(engine)
    out = io.StringIO()
    channels = ChannelSet({"console": lambda: ConsoleChannel(out)})
    with session_scope(engine) as session:
        rows = unfilled_seats(session, monday, monday + timedelta(days=6), "Asia/Shanghai")
        first = send_weekly_digest(session, channels, today, "Asia/Shanghai", now=NOW)
    with session_scope(engine) as session:
        second = send_weekly_digest(session, channels, today, "Asia/Shanghai", now=NOW + timedelta(hours=1))
    assert shift.occurrence_id and rows == [("四点半课堂", "12月8日（周二）10:00", "辅导员", 2)]
    assert (first.sent, second.sent, second.skipped) == (2, 0, 2)
    text = out.getvalue()
    assert text.count("【排班周报】") == 2 and "缺 2 人" in text and "李" not in text


def test_horizon_warning_goes_out_daily_while_a_year_lacks_holiday_data(engine: Engine) -> None:
    create_shift(engine, NOW + timedelta(days=1))
    _coordinators(engine)
    out = io.StringIO()
    channels = ChannelSet({"console": lambda: ConsoleChannel(out)})
    with session_scope(engine) as session:
        quiet = send_horizon_warning(session, channels, date(2026, 3, 1), 12, now=NOW)
        first = send_horizon_warning(session, channels, date(2026, 12, 4), 12, now=NOW)
    with session_scope(engine) as session:
        again = send_horizon_warning(session, channels, date(2026, 12, 4), 12, now=NOW)
        next_day = send_horizon_warning(session, channels, date(2026, 12, 5), 12, now=NOW + timedelta(days=1))
    assert quiet.sent == 0 and quiet.detail == {"years": []}
    assert first.sent == 2 and first.detail == {"years": [2027]}
    assert again.sent == 0 and next_day.sent == 2
    assert "2027年的法定节假日安排尚未导入" in out.getvalue()


# --------------------------------------------------------------------------- CLI


def test_send_due_runs_one_cycle_without_celery_and_lists_failures(  # type: ignore[no-untyped-def]
        invoke, roster_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from scheduler.db import engine_for

    engine = engine_for(roster_env["ROSTER_DATABASE_URL"])
    create_shift(engine, utcnow() + timedelta(hours=1), volunteers=1, offsets=[120])
    create_shift(engine, utcnow() + timedelta(hours=1), volunteers=1, offsets=[120], channel="email")
    monkeypatch.setenv("ROSTER_QUIET_HOURS", "off")
    result = invoke("reminders", "send-due", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output[result.output.index("{\n"):])
    assert summary["claimed"] == 2 and summary["sent"] == 1 and summary["failed"] == 1
    assert "【志愿服务提醒】" in result.output
    listed = invoke("reminders", "list", "--failed", "--json")
    [failed] = json.loads(listed.output)
    assert failed["channel"] == "email" and "ROSTER_SMTP_HOST" in failed["last_error"]
    table = invoke("reminders", "list", "--failed")
    assert "failed" in table.output and "email" in table.output
    retried = invoke("reminders", "retry", str(failed["id"]))
    assert retried.exit_code == 0 and f"#{failed['id']}" in retried.output
    assert invoke("reminders", "retry", str(failed["id"])).exit_code == Conflict.exit_code  # now pending: a conflict
    assert invoke("reminders", "retry", "99999").exit_code == NotFound.exit_code


def test_roster_help_imports_no_celery() -> None:
    code = "import sys; from cli import cli; cli(['reminders', '--help'], standalone_mode=False); " \
           "print('celery' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("False")


def _embedded_roster(tmp_path: Path) -> tuple[dict[str, str], str]:
    """The environment and the ``roster`` binary for an embedded-default ``roster run``, database migrated."""
    env = {**os.environ, "ROSTER_HOME": str(tmp_path / "var"),
           "ROSTER_DATABASE_URL": f"sqlite:///{tmp_path}/roster.db",
           "ROSTER_BROKER_URL": f"sqla+sqlite:///{tmp_path}/var/broker.db",
           "ROSTER_FEED_DIR": str(tmp_path / "feeds"), "ROSTER_QUIET_HOURS": "off",
           "ROSTER_DISPATCH_INTERVAL": "0.5", "PYTHONUNBUFFERED": "1"}
    roster = str(Path(sys.executable).parent / "roster")
    subprocess.run([roster, "init"], env=env, check=True, capture_output=True)
    return env, roster


@pytest.mark.slow
def test_roster_run_sends_due_reminders_on_the_embedded_sqlite_broker(tmp_path: Path) -> None:
    env, roster = _embedded_roster(tmp_path)
    from scheduler.db import make_engine

    engine = make_engine(env["ROSTER_DATABASE_URL"])
    create_shift(engine, utcnow() + timedelta(hours=1), volunteers=2, offsets=[120])
    log = tmp_path / "run.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([roster, "run", "--concurrency", "2"], env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: {r.status for r in reminders_of(engine)} == {"sent"}, timeout=60,
                 what="roster run to send the reminders")
        text = log.read_text(errors="replace")
        assert "Traceback" not in text, text
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
        engine.dispose()


@pytest.mark.slow
def test_roster_run_restarts_its_worker_when_it_dies_unexpectedly(tmp_path: Path) -> None:
    env, roster = _embedded_roster(tmp_path)
    from scheduler.db import make_engine

    engine = make_engine(env["ROSTER_DATABASE_URL"])
    log = tmp_path / "run.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([roster, "run", "--concurrency", "1"], env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)

    def worker_pids() -> list[int]:
        path = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
        return [int(p) for p in path.read_text().split()] if path.exists() else []

    try:
        [first] = wait_for(worker_pids, timeout=30, what="roster run to start its worker")
        wait_for(lambda: b" ready." in log.read_bytes(), timeout=60, what="the worker to be ready")
        os.kill(first, signal.SIGKILL)  # an unexpected death (OOM killer, a crash in the broker library)
        [second] = wait_for(lambda: [p for p in worker_pids() if p != first], timeout=30,
                            what="roster run to start a new worker")
        assert proc.poll() is None
        create_shift(engine, utcnow() + timedelta(hours=1), volunteers=2, offsets=[120])
        wait_for(lambda: {r.status for r in reminders_of(engine)} == {"sent"}, timeout=60,
                 what="the restarted worker to send the reminders")
        assert "exited unexpectedly with code -9; restarting it" in log.read_text(errors="replace")
        os.kill(proc.pid, signal.SIGTERM)  # a stop asked for: passed on, and no restart
        assert proc.wait(60) == 0, log.read_text(errors="replace")
        assert not Path(f"/proc/{second}").exists() or b"zombie" in Path(f"/proc/{second}/status").read_bytes()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # an orphaned embedded beat of the killed worker
        except ProcessLookupError:
            pass
        engine.dispose()


def test_supervisor_backs_off_while_the_worker_keeps_dying() -> None:
    from tasks.supervise import restart_pause

    assert [restart_pause(n) for n in (1, 2, 3, 4, 10)] == [1, 2, 4, 8, 30]


def test_a_broker_connection_loss_never_cancels_a_running_task() -> None:
    # Cancelling a dispatch task between its send and its mark resends after the lease: a duplicate.
    config = celery_config(Settings.from_env({"ROSTER_BROKER_URL": "redis://127.0.0.1:6379/3"}), WorkerTuning())
    assert config["worker_cancel_long_running_tasks_on_connection_loss"] is False
    assert config["worker_consumer"] == "tasks.consumer:BrokerRestartTolerantConsumer"
