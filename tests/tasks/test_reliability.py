"""Reminders are never lost and sent once, against a real Redis, PostgreSQL and real Celery worker
processes, counting exactly what a real SMTP server (aiosmtpd) or a local webhook server received.

The clock is not faked: reminders are created already due (or due within the test), and every wait
is bounded polling. Workers run with a 3 s lease and a 0.5 s dispatch tick.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from scheduler.db import utcnow
from scheduler.i18n import using
from scheduler.settings import Settings
from tests.conftest import server_env, service_missing
from tests.workers_support import (
    GatedProxy,
    SmtpSink,
    WebhookSink,
    cancel_assignment,
    create_shift,
    free_port,
    move_occurrence,
    reminders_of,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres]

REPO = Path(__file__).resolve().parents[2]
LEASE = 3


class OwnRedis:
    """A redis-server of our own on a free port, without persistence: a restart loses the queue."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=server_env())
        wait_for(self.ping, timeout=10, what="redis-server to answer")

    def ping(self) -> bool:
        import redis

        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    if shutil.which("redis-server") is None:
        service_missing("redis-server is not installed")
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    server.kill()



class Workers:
    """Real ``celery -A tasks.app worker`` processes against the test database and broker."""

    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.tmp_path = tmp_path
        self.env = env
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []

    def start(self, name: str, beat: bool = False, pool: str = "threads", concurrency: int = 2,
              as_deployed: bool = False) -> subprocess.Popen[bytes]:
        """``as_deployed``: with gossip, mingle and heartbeats, as docker-compose.yml runs it."""
        log = self.tmp_path / f"{name}.log"
        argv = [sys.executable, "-m", "celery", "-A", "tasks.app", "worker", f"--pool={pool}",
                f"--concurrency={concurrency}", f"--hostname={name}@%h", "--loglevel=INFO"]
        if not as_deployed:
            argv += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        if beat:
            argv += ["--beat", f"--schedule={self.tmp_path / f'{name}-beat'}"]
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        with open(log, "wb") as out:
            proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        self.procs.append(proc)
        self.logs.append(log)
        wait_for(lambda: b" ready." in log.read_bytes() or proc.poll() is not None, timeout=60,
                 what=f"worker {name} to be ready")
        assert proc.poll() is None, log.read_text()
        return proc

    def children(self, proc: subprocess.Popen[bytes]) -> list[int]:
        path = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
        return [int(p) for p in path.read_text().split()] if path.exists() else []

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(10)

    def log_text(self) -> str:
        return "\n".join(f"== {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in self.logs)


@pytest.fixture
def worker_env(tmp_path: Path, pg_url: str, own_redis: OwnRedis) -> dict[str, str]:
    return {
        "ROSTER_HOME": str(tmp_path / "var"),
        "ROSTER_DATABASE_URL": pg_url,
        "ROSTER_BROKER_URL": own_redis.url,
        "ROSTER_FEED_DIR": str(tmp_path / "feeds"),
        "ROSTER_QUIET_HOURS": "off",  # wall-clock tests must not depend on the hour they run at
        "ROSTER_REMINDER_LEASE": str(LEASE),
        "ROSTER_DISPATCH_INTERVAL": "0.5",
        "ROSTER_RELAY_INTERVAL": "30",
    }


@pytest.fixture
def workers(tmp_path: Path, worker_env: dict[str, str], pg_engine: Engine) -> Iterator[Workers]:
    group = Workers(tmp_path, worker_env)
    yield group
    group.stop_all()


def send_dispatch(env: dict[str, str]) -> None:
    """Queue one dispatch task on the broker, as beat would."""
    from tasks.app import WorkerTuning, create_app

    app = create_app(Settings.from_env(env), WorkerTuning())
    with app.connection_for_write() as conn:
        app.send_task("roster.dispatch_reminders", connection=conn)


def status_of(engine: Engine) -> list[str]:
    return [r.status for r in reminders_of(engine)]


def keys(engine: Engine) -> list[str]:
    return [r.idempotency_key for r in reminders_of(engine)]


def test_worker_killed_after_claim_before_send_sends_once(workers: Workers, worker_env: dict[str, str],
                                                           pg_engine: Engine) -> None:
    with SmtpSink() as smtp, GatedProxy(smtp.port) as gate:
        env = dict(worker_env, ROSTER_SMTP_HOST="127.0.0.1", ROSTER_SMTP_PORT=str(gate.port))
        workers.env = env
        create_shift(pg_engine, utcnow() + timedelta(hours=1), offsets=[120], channel="email")
        first = workers.start("first", beat=True)
        # Claimed, connected to the (gated) SMTP server, greeting not yet received: kill it.
        wait_for(lambda: status_of(pg_engine) == ["claimed"] and gate.waiting >= 1, what="claim then connect")
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
        gate.opened.set()
        workers.start("second", beat=True)
        wait_for(lambda: status_of(pg_engine) == ["sent"], timeout=40, what="the reminder to be sent")
        assert smtp.by_key() == {keys(pg_engine)[0]: 1}, workers.log_text()
        assert reminders_of(pg_engine)[0].attempts == 2


def test_pool_child_killed_mid_task_sends_once(workers: Workers, worker_env: dict[str, str],
                                               pg_engine: Engine) -> None:
    with SmtpSink() as smtp, GatedProxy(smtp.port) as gate:
        env = dict(worker_env, ROSTER_SMTP_HOST="127.0.0.1", ROSTER_SMTP_PORT=str(gate.port))
        workers.env = env
        create_shift(pg_engine, utcnow() + timedelta(hours=1), offsets=[120], channel="email")
        worker = workers.start("prefork", pool="prefork", concurrency=1)
        [child] = workers.children(worker)
        send_dispatch(env)
        wait_for(lambda: status_of(pg_engine) == ["claimed"] and gate.waiting >= 1, what="claim then connect")
        os.kill(child, signal.SIGKILL)
        # The master replaces the child; the task, acked late and rejected on worker loss, comes back.
        wait_for(lambda: [c for c in workers.children(worker) if c != child], what="a new pool child")
        gate.opened.set()

        def sent() -> bool:
            if status_of(pg_engine) == ["sent"]:
                return True
            send_dispatch(env)  # beat's part: a tick after the lease expired
            return False

        wait_for(sent, timeout=40, interval=1.0, what="the reminder to be sent")
        assert worker.poll() is None
        assert smtp.by_key() == {keys(pg_engine)[0]: 1}, workers.log_text()


def test_redis_killed_and_restarted_with_work_queued_sends_once(workers: Workers, worker_env: dict[str, str],
                                                                 pg_engine: Engine, own_redis: OwnRedis) -> None:
    with WebhookSink() as hook:
        workers.env = dict(worker_env, ROSTER_WECOM_WEBHOOK=hook.url)
        create_shift(pg_engine, utcnow() + timedelta(hours=1), offsets=[120], channel="wecom")
        worker = workers.start("redis-victim", beat=True)
        wait_for(lambda: hook.count() == 1, what="the first reminder")
        os.killpg(worker.pid, signal.SIGSTOP)  # the worker stalls; work piles up
        create_shift(pg_engine, utcnow() + timedelta(hours=1), volunteers=5, offsets=[120], channel="wecom")
        for _ in range(3):
            send_dispatch(workers.env)
        own_redis.kill()  # the queued tasks die with it (no persistence)
        own_redis.start()
        os.killpg(worker.pid, signal.SIGCONT)
        wait_for(lambda: status_of(pg_engine) == ["sent"] * 6, timeout=60, interval=0.2,
                 what="every reminder to be sent after Redis came back")
        assert hook.by_key() == {k: 1 for k in keys(pg_engine)}, workers.log_text()
        assert hook.count() == 6


def test_two_beats_send_each_reminder_once(workers: Workers, worker_env: dict[str, str],
                                           pg_engine: Engine) -> None:
    with SmtpSink() as smtp:
        workers.env = dict(worker_env, ROSTER_SMTP_HOST="127.0.0.1", ROSTER_SMTP_PORT=str(smtp.port),
                           ROSTER_DISPATCH_BATCH="5")
        workers.start("beat-a", beat=True)
        workers.start("beat-b", beat=True)
        create_shift(pg_engine, utcnow() + timedelta(hours=1), volunteers=40, offsets=[120], channel="email")
        wait_for(lambda: set(status_of(pg_engine)) == {"sent"}, timeout=40, what="all 40 sent")
        assert smtp.by_key() == {k: 1 for k in keys(pg_engine)}
        assert smtp.count() == 40
        # Both beats really ticked: each sent dispatch tasks (the second may tick a little later).
        for log in workers.logs:
            wait_for(lambda log=log: "Sending due task dispatch-reminders" in log.read_text(errors="replace"),
                     timeout=30, what=f"a dispatch tick in {log.name}")
        assert smtp.count() == 40


def test_reminder_cancelled_after_the_dispatch_was_queued_is_never_sent(
        workers: Workers, worker_env: dict[str, str], pg_engine: Engine) -> None:
    with SmtpSink() as smtp:
        workers.env = dict(worker_env, ROSTER_SMTP_HOST="127.0.0.1", ROSTER_SMTP_PORT=str(smtp.port))
        shift = create_shift(pg_engine, utcnow() + timedelta(hours=1), volunteers=2, offsets=[120],
                             channel="email")
        send_dispatch(workers.env)  # queued while no worker runs
        cancel_assignment(pg_engine, shift.assignment_ids[0], utcnow())
        workers.start("late-worker", beat=False)
        wait_for(lambda: "sent" in status_of(pg_engine), timeout=30, what="the other reminder")
        # The given-up seat was owed nothing by the time the dispatch ran: no row, no message.
        assert status_of(pg_engine) == ["sent"]
        [(key, count)] = smtp.by_key().items()
        assert key == keys(pg_engine)[0] and count == 1
        assert [r.assignment_id for r in reminders_of(pg_engine)] == shift.assignment_ids[1:]


def test_shift_moved_after_its_24h_reminder_gets_a_notice_and_the_2h_reminder_at_the_new_time(
        workers: Workers, worker_env: dict[str, str], pg_engine: Engine) -> None:
    from scheduler.messages import local_time

    with WebhookSink() as hook, SmtpSink() as smtp:
        workers.env = dict(worker_env, ROSTER_SMTP_HOST="127.0.0.1", ROSTER_SMTP_PORT=str(smtp.port))
        start = utcnow() + timedelta(hours=23)
        shift = create_shift(pg_engine, start, offsets=[1440, 120], channel="email")
        workers.start("mover", beat=True)
        wait_for(lambda: smtp.count() == 1, what="the 24 h reminder")
        new_start = utcnow() + timedelta(minutes=90)
        move_occurrence(pg_engine, shift.occurrence_id, new_start, now=utcnow())
        wait_for(lambda: smtp.count() == 3, what="the change notice and the 2 h reminder")
        subjects = [str(m["Subject"]) for m in smtp.messages]
        bodies = [m.get_content() for m in smtp.messages]
        with using("zh_CN"):  # messages go out in ROSTER_MESSAGE_LANG (Chinese), not the suite's ROSTER_LANG
            old_local, new_local = local_time(start, "Asia/Shanghai"), local_time(new_start, "Asia/Shanghai")
        assert f"将于{old_local}开始" in bodies[0]
        later = dict(zip(subjects[1:], bodies[1:], strict=True))
        [notice] = [b for s, b in later.items() if "时间调整" in s]
        [two_hours] = [b for s, b in later.items() if "提醒" in s]
        assert new_local in notice and old_local in notice
        assert f"将于{new_local}开始" in two_hours
        assert sorted(smtp.by_key().values()) == [1, 1, 1]
        assert hook.count() == 0


def test_the_duplicate_window_after_the_channel_accepted_before_the_mark_is_one_message(
        workers: Workers, worker_env: dict[str, str], pg_engine: Engine) -> None:
    """The documented window: the robot accepted, the worker died before recording it. The message
    goes out again after the lease, with the same idempotency key: counted here, not hidden."""
    with WebhookSink() as hook:
        workers.env = dict(worker_env, ROSTER_WECOM_WEBHOOK=hook.url)
        create_shift(pg_engine, utcnow() + timedelta(hours=1), volunteers=3, offsets=[120], channel="wecom")
        hook.hold.set()
        first = workers.start("dies-after-accept", beat=True)
        wait_for(lambda: hook.held >= 1, what="the first message to be accepted")
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
        hook.hold.clear()
        hook.release.set()
        workers.start("survivor", beat=True)
        wait_for(lambda: set(status_of(pg_engine)) == {"sent"}, timeout=40, what="all reminders sent")
        counts = hook.by_key()
        assert sorted(counts.values()) == [1, 1, 2], workers.log_text()
        assert hook.count() == 4  # three reminders, one duplicate, each copy with the same key


@pytest.mark.parametrize("pool", ["prefork", "threads"])
def test_redis_restart_while_a_dispatch_is_sending_sends_no_duplicate_and_the_worker_rides_it_out(
        workers: Workers, worker_env: dict[str, str], pg_engine: Engine, own_redis: OwnRedis, pool: str) -> None:
    """A broker restart is not the duplicate window: the dispatch task that had the channel's answer
    pending keeps running through the connection loss and marks what it sent."""
    with WebhookSink() as hook:
        workers.env = dict(worker_env, ROSTER_WECOM_WEBHOOK=hook.url)
        create_shift(pg_engine, utcnow() + timedelta(hours=1), volunteers=3, offsets=[120], channel="wecom")
        hook.hold.set()
        worker = workers.start(f"rider-{pool}", beat=True, pool=pool, as_deployed=True)
        log = workers.logs[-1]
        wait_for(lambda: hook.held >= 1, what="a message accepted while its dispatch task runs")
        own_redis.kill()
        wait_for(lambda: "Connection to broker lost" in log.read_text(errors="replace"), timeout=20,
                 what="the worker to notice the broker is gone")
        own_redis.start()
        hook.hold.clear()
        hook.release.set()
        wait_for(lambda: set(status_of(pg_engine)) == {"sent"}, timeout=40, interval=0.2,
                 what="every reminder to be sent after Redis came back")
        assert hook.by_key() == {k: 1 for k in keys(pg_engine)}, workers.log_text()
        # Still the same worker, consuming again: work created after the restart goes out too.
        create_shift(pg_engine, utcnow() + timedelta(hours=1), offsets=[120], channel="wecom")
        wait_for(lambda: set(status_of(pg_engine)) == {"sent"}, timeout=40, interval=0.2,
                 what="a reminder created after the restart")
        assert hook.by_key() == {k: 1 for k in keys(pg_engine)}, workers.log_text()
        assert worker.poll() is None, workers.log_text()
        assert "Unrecoverable error" not in log.read_text(errors="replace")
