"""Reminder dispatch end to end on Redis + PostgreSQL, against Celery no-op tasks in the same run.

    .venv/bin/python bench/bench_dispatch.py [--reminders 100000] [--noop 10000] [--smtp 2000]

1. Baseline: one Celery no-op task per message (publish + consume), the same app configuration
   (late acks, prefetch 1), a prefork worker with 2 processes.
2. Dispatch: ``--reminders`` seats on PostgreSQL whose 120-minute reminder has come, and no
   reminder row (the roster writes none: ``scheduler.reminders.scan`` derives them), drained by the
   same worker through ``roster.dispatch_reminders``: the scan that records the ledger rows, then
   claim (``ROSTER_DISPATCH_BATCH`` per transaction with SKIP LOCKED), send to a null channel, mark.
   Time from the tasks' publication until every row is ``sent``, and messages per second.
3. The same through a real local SMTP server (aiosmtpd), ``--smtp`` seats (behind the watermark the
   first drain left, so found through their ``assignment.created`` event; each accepted message is
   marked on its own, so the duplicate window stays one message).

Needs PostgreSQL on 127.0.0.1:5432 and redis-server on PATH (it starts its own on a free port).
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import create_engine, func, insert, select, text  # noqa: E402

PG_ADMIN = os.environ.get("ROSTER_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")

NOOP_APP = '''
from tasks.app import create_app
noop_app = create_app()
@noop_app.task(name="bench.noop")
def noop():
    return None
'''


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Any, timeout: float, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        time.sleep(interval)


class Bench:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.redis_port = free_port()
        self.redis = subprocess.Popen(["redis-server", "--port", str(self.redis_port), "--save", "",
                                       "--appendonly", "no", "--dir", str(tmp)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.db_name = f"roster_bench_{uuid.uuid4().hex[:8]}"
        self.admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.db_name}"'))
        self.db_url = PG_ADMIN.rsplit("/", 1)[0] + f"/{self.db_name}"
        self.env = {**os.environ, "ROSTER_DATABASE_URL": self.db_url,
                    "ROSTER_BROKER_URL": f"redis://127.0.0.1:{self.redis_port}/0",
                    "ROSTER_HOME": str(tmp / "var"), "ROSTER_QUIET_HOURS": "off",
                    "ROSTER_DISPATCH_INTERVAL": "3600", "ROSTER_RELAY_INTERVAL": "3600",
                    "PYTHONPATH": f"{REPO}:{tmp}"}
        (tmp / "bench_noop.py").write_text(NOOP_APP)
        from scheduler.db import make_engine
        from scheduler.migrate import upgrade

        self.engine = make_engine(self.db_url)
        upgrade(self.engine)
        self.workers: list[subprocess.Popen[bytes]] = []

    def worker(self, app: str, extra: dict[str, str] | None = None) -> None:
        log = self.tmp / f"worker-{len(self.workers)}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "celery", "-A", app, "worker", "--pool=prefork",
                                     "--concurrency=2", f"--loglevel={os.environ.get('BENCH_WORKER_LOGLEVEL', 'WARNING')}", "--without-gossip",
                                     "--without-mingle", "--without-heartbeat"],
                                    cwd=REPO, env={**self.env, **(extra or {})}, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        self.workers.append(proc)
        import redis

        client = redis.Redis(port=self.redis_port)
        # Ready when it consumes: a marker task vanishes from the queue.
        self.send("bench.noop" if "noop" in app else "roster.relay_events", 1)
        wait_for(lambda: client.llen("celery") == 0, 60)
        client.close()

    def stop_workers(self) -> None:
        for proc in self.workers:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(60)
        self.workers.clear()

    def send(self, task: str, count: int, **kwargs: Any) -> None:
        from tasks.app import create_app

        app = create_app()
        app.conf.broker_url = self.env["ROSTER_BROKER_URL"]
        with app.connection_for_write() as conn, app.producer_or_acquire() as _:
            for _ in range(count):
                app.send_task(task, kwargs=kwargs, connection=conn)

    def queue_len(self) -> int:
        import redis

        client = redis.Redis(port=self.redis_port)
        try:
            return int(client.llen("celery"))
        finally:
            client.close()

    def close(self) -> None:
        self.stop_workers()
        self.engine.dispose()
        self.redis.kill()
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)'))
        self.admin.dispose()


def seed_seats(engine: Any, count: int, channel: str, start: datetime, event: bool = False) -> None:
    """``count`` seats whose 120-minute reminder has come: occurrences of 500 seats each, starting
    from ``start`` (a little after now, well within 120 minutes), one a second. No reminder row:
    the dispatcher's scan derives them (``scheduler.reminders.scan``). With ``event``, the seats'
    ``assignment.created`` event names their occurrences, as a roster change does (the scan finds
    seats taken after their instant by their event; without one, by time, from no watermark)."""
    from scheduler.models import (
        Assignment,
        Branch,
        Community,
        Event,
        Occurrence,
        Role,
        Service,
        Volunteer,
    )

    seats = 500
    occurrences = (count + seats - 1) // seats
    now = datetime.now(UTC)
    with engine.begin() as conn:
        suffix = secrets.token_hex(3)
        cid = conn.execute(insert(Community).values(slug=f"c{suffix}", name="爱联社区", centre_name="",
                                                    centre_address="", created_at=now).returning(Community.id)).scalar()
        bid = conn.execute(insert(Branch).values(slug=f"b{suffix}", name="顺景花园党支部", community_id=cid,
                                                 secretary_title="第一书记", created_at=now).returning(Branch.id)).scalar()
        sid = conn.execute(insert(Service).values(
            slug=f"s{suffix}", title="四点半课堂", kind="classroom", community_id=cid, branch_id=bid,
            venue="顺景花园党群之家", rrule="FREQ=DAILY", start_date=date(2026, 1, 1), start_time="16:30",
            duration_minutes=120, timezone="Asia/Shanghai", holiday_policy="always", visibility="public",
            contact_role="", description="", reminder_offsets=[120], active=True, created_at=now, updated_at=now,
        ).returning(Service.id)).scalar()
        rid = conn.execute(insert(Role).values(service_id=sid, name="辅导员", count=seats, skill=None)
                           .returning(Role.id)).scalar()
        vols = conn.execute(insert(Volunteer).returning(Volunteer.id), [
            dict(name=f"志愿者{i}", phone=f"13{suffix[:3]}{i:06d}"[:11].ljust(11, "0"), email=f"v{i}@example.org",
                 skills=[], availability={}, blackout_dates=[], active=True, feed_token=secrets.token_urlsafe(24),
                 created_at=now, updated_at=now, preferred_channel=channel)
            for i in range(seats)]).scalars().all()
        occurrence_ids = []
        for o in range(occurrences):
            at = start + timedelta(seconds=o)
            oid = conn.execute(insert(Occurrence).values(
                service_id=sid, original_start=at, start_at=at, end_at=at + timedelta(hours=2), status="scheduled",
                pinned=False, provisional=False, sequence=0, created_at=now, updated_at=now,
            ).returning(Occurrence.id)).scalar()
            occurrence_ids.append(oid)
            n = min(seats, count - o * seats)
            conn.execute(insert(Assignment), [
                dict(occurrence_id=oid, role_id=rid, volunteer_id=vols[i], status="confirmed", seat_no=i + 1,
                     forced=False, sequence=0, created_at=now, updated_at=now) for i in range(n)])
        if event:
            conn.execute(insert(Event).values(kind="assignment.created", created_at=now,
                                              payload={"occurrence_ids": occurrence_ids, "via": "bench"}))
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))


def sent(engine: Any, channel: str) -> int:
    from scheduler.models import Reminder

    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(Reminder).where(
            Reminder.status == "sent", Reminder.channel == channel)) or 0)


def drain(bench: Bench, total: int, channel: str, timeout: float, per_task: int) -> tuple[float, int]:
    """From the first task's publication until ``total`` rows of ``channel`` are sent: the scan that
    derives them, then claim, send and mark. Tasks are published as beat would, only faster: two
    (one per worker process) whenever the queue is empty. All at once would not do: a task that
    starts while another scans skips the scan (one scan at a time) and finds nothing yet to claim."""
    started = time.perf_counter()
    deadline = time.monotonic() + timeout
    published = 0
    while sent(bench.engine, channel) < total:
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        if bench.queue_len() == 0:
            bench.send("roster.dispatch_reminders", 2)
            published += 2
        time.sleep(0.05)
    return time.perf_counter() - started, published


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reminders", type=int, default=100_000)
    parser.add_argument("--noop", type=int, default=10_000)
    parser.add_argument("--smtp", type=int, default=2_000)
    parser.add_argument("--batch", type=int, help="ROSTER_DISPATCH_BATCH for the worker (default: the setting's)")
    args = parser.parse_args()
    from scheduler.settings import Settings

    batch = args.batch or Settings.from_env({}).dispatch_batch
    tuning = {"ROSTER_DISPATCH_BATCH": str(batch)}
    per_task = batch * 50  # tasks.jobs.dispatch_reminders' max_batches
    # Killed (a timeout), still stop the workers and Redis and drop the database.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, load average "
          f"{os.getloadavg()[0]:.2f}; claim batch {batch}, {per_task} per task")
    with tempfile.TemporaryDirectory() as tmpdir:
        bench = Bench(Path(tmpdir))
        try:
            # 1. Baseline: Celery no-op tasks, one per message.
            bench.worker("bench_noop:noop_app")
            started = time.perf_counter()
            bench.send("bench.noop", args.noop)
            wait_for(lambda: bench.queue_len() == 0, 600, interval=0.02)
            noop_seconds = time.perf_counter() - started
            noop_rate = args.noop / noop_seconds
            print(f"celery no-op tasks:      {args.noop:>7} in {noop_seconds:6.2f} s = {noop_rate:8.0f} msg/s")
            bench.stop_workers()

            # 2. Dispatch to a null channel.
            # Seats starting 30 minutes from now: their 120-minute reminders are due, none written.
            start = datetime.now(UTC) + timedelta(minutes=30)
            t0 = time.perf_counter()
            seed_seats(bench.engine, args.reminders, "null", start)
            print(f"(seeded {args.reminders} seats whose reminder is due, no reminder row, "
                  f"in {time.perf_counter() - t0:.1f} s)")
            bench.worker("tasks.app", tuning)
            seconds, tasks = drain(bench, args.reminders, "null", 900, per_task)
            rate = args.reminders / seconds
            print(f"dispatch, null channel:  {args.reminders:>7} in {seconds:6.2f} s = {rate:8.0f} msg/s "
                  f"({rate / noop_rate:.1f}x the no-op tasks; {tasks} tasks published)")
            bench.stop_workers()

            # 3. Through a real SMTP server.
            from aiosmtpd.controller import Controller

            received = [0]
            lock = threading.Lock()

            class Handler:
                async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                    with lock:
                        received[0] += 1
                    return "250 OK"

            port = free_port()
            controller = Controller(Handler(), hostname="127.0.0.1", port=port)
            controller.start()
            try:
                # Behind the watermark the first drain left: found through their event.
                seed_seats(bench.engine, args.smtp, "email", start + timedelta(minutes=1), event=True)
                bench.worker("tasks.app", {**tuning, "ROSTER_SMTP_HOST": "127.0.0.1", "ROSTER_SMTP_PORT": str(port)})
                seconds, _ = drain(bench, args.smtp, "email", 900, per_task)
                print(f"dispatch, real SMTP:     {args.smtp:>7} in {seconds:6.2f} s = {args.smtp / seconds:8.0f} msg/s "
                      f"(server received {received[0]})")
            finally:
                bench.stop_workers()
                controller.stop()
        finally:
            bench.close()


if __name__ == "__main__":
    main()
