"""The demo's cycle through a real Celery worker, on the configured broker (by default the embedded
SQLite one, ``sqla+sqlite:///var/broker.db``).

``WorkerSteps`` starts ``python -m demo.workers`` (this module's ``main``: the ordinary worker of
``tasks.app`` plus a result backend on ``var/demo-results.db``), sends it the cycle's tasks in order
on a queue of its own, waits for each result with a bounded poll, and stops the worker with a warm
shutdown. The worker's stdout is the console channel: the demo reads the reminders from it.

The result backend exists for the demo only: production workers ignore results (tasks/app.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from scheduler.i18n import _
from scheduler.settings import Settings, redacted_url

#: The demo's own tasks go to this queue, so a ``roster run`` on the same broker cannot take them
#: (it would not store their results). The worker also consumes the default queue, where the
#: relay puts its publish of the feeds it marked.
DEMO_QUEUE = "roster-demo"
CONCURRENCY = 2
#: How often the worker polls the SQLite broker and the demo polls for a result (kombu's SQLAlchemy
#: transport polls every second by default, and its transport options go to ``create_engine``).
POLL_SECONDS = 0.05
STARTUP_TIMEOUT = 60.0
STEP_TIMEOUT = 180.0
#: How long to wait for the relay's own publishes after the demo's publish came back.
FOLLOWUP_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0



class WorkerFailed(RuntimeError):
    """The demo's worker did not start, died, or a task failed in it."""


def results_url(settings: Settings) -> str:
    return f"db+sqlite:///{(settings.home / 'demo-results.db').resolve()}"


def worker_config(settings: Settings) -> dict[str, Any]:
    """What the demo's worker adds to the ordinary configuration: results kept (with the task's
    name, so the relay's publishes can be found), and stdout left alone for the console channel."""
    return {
        "result_backend": results_url(settings),
        "result_extended": True,
        "task_ignore_result": False,
        "worker_redirect_stdouts": False,
        # Nothing sends it commands; its pidbox queue would only be one more table to poll.
        "worker_enable_remote_control": False,
    }


def counts(result: object) -> dict[str, int]:
    """The whole-number fields of a task's result dict (the plan and publish tasks return ``as_dict()``)."""
    if not isinstance(result, dict):
        return {}
    return {name: value for name, value in result.items() if isinstance(value, int) and not isinstance(value, bool)}


def worker_environment(settings: Settings, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The process environment with the settings the worker must share with this process."""
    env = dict(os.environ if environ is None else environ)
    root = str(Path(__file__).resolve().parent.parent)
    env.update({
        "ROSTER_HOME": str(settings.home.resolve()),
        "ROSTER_DATABASE_URL": settings.database_url,
        "ROSTER_BROKER_URL": settings.broker_url,
        "ROSTER_FEED_DIR": str(settings.feed_dir.resolve()),
        "PYTHONUNBUFFERED": "1",
        "PYTHONIOENCODING": "utf-8",
        "PYTHONPATH": os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p),
    })
    return env


class WorkerSteps:
    """The cycle's jobs sent to a real worker process; use as a context manager (starts and stops it)."""

    def __init__(self, settings: Settings, concurrency: int = CONCURRENCY) -> None:
        self.settings = settings
        self.concurrency = concurrency
        self.label = _("a Celery worker process ({threads} threads) on {broker}").format(
            threads=concurrency, broker=redacted_url(settings.broker_url))
        self.out_path = settings.home / "demo-worker.out"
        self.log_path = settings.home / "demo-worker.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._files: list[IO[bytes]] = []
        self.client: Any = None

    # -- the worker's life

    def __enter__(self) -> WorkerSteps:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        from tasks.app import create_app

        self.settings.ensure_dirs()
        results_db = self.settings.home / "demo-results.db"
        results_db.unlink(missing_ok=True)  # this cycle's results only
        client = create_app(self.settings)
        client.conf.update(result_backend=results_url(self.settings), result_extended=True)
        self.client = client
        # Both processes create the broker's tables and queue rows, and the backend's tables, on
        # first use; kombu's SQLAlchemy transport does not survive that race on a fresh var/
        # (UNIQUE constraint failed: kombu_queue.name), so this one creates them before the worker starts.
        try:
            with client.connection_for_write() as connection:
                connection.ensure_connection(max_retries=2, interval_start=0.5, interval_step=0.5)
                for queue in (DEMO_QUEUE, client.conf.task_default_queue):
                    connection.default_channel.queue_declare(queue)
            client.backend.ResultSession().close()
        except Exception as exc:
            raise WorkerFailed(_("cannot reach the broker {broker}: {error}").format(
                broker=redacted_url(self.settings.broker_url), error=f"{type(exc).__name__}: {exc}")) from exc
        out = open(self.out_path, "wb")  # noqa: SIM115 (closed in stop)
        self._files.append(out)
        log = open(self.log_path, "wb")  # noqa: SIM115
        self._files.append(log)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "demo.workers", str(self.concurrency)], stdout=out, stderr=log,
            stdin=subprocess.DEVNULL, env=worker_environment(self.settings), cwd=os.getcwd(),
            start_new_session=True)

    def stop(self) -> None:
        """Warm shutdown (SIGTERM: running tasks finish), then a kill if it hangs."""
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(STOP_TIMEOUT)
        finally:
            for handle in self._files:
                handle.close()
            self._files.clear()
            if self.client is not None:
                self.client.close()
                self.client = None

    def _tail(self) -> str:
        try:
            lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        except FileNotFoundError:
            return ""
        return "\n".join(lines[-15:])

    def _failed(self, message: str) -> WorkerFailed:
        tail = self._tail()
        return WorkerFailed(f"{message}\n{tail}" if tail else message)

    def _poll(self, done: Callable[[], bool], what: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not done():
            if self.proc is None or self.proc.poll() is not None:
                code = None if self.proc is None else self.proc.returncode
                raise self._failed(_("the demo's worker exited (code {code}) while waiting for {what}; "
                                     "see {log}").format(code=code, what=what, log=self.log_path))
            if time.monotonic() > deadline:
                return False
            time.sleep(POLL_SECONDS)
        return True

    def run(self, task: str, timeout: float = STEP_TIMEOUT, **kwargs: Any) -> Any:
        """Send ``task`` to the demo's worker and return its result (bounded wait)."""
        result = self.client.send_task(task, kwargs=kwargs, queue=DEMO_QUEUE, ignore_result=False)
        if not self._poll(result.ready, task, timeout):
            raise self._failed(_("no result for {task} within {seconds} s; see {log}").format(
                task=task, seconds=f"{timeout:.0f}", log=self.log_path))
        try:
            return result.get(timeout=timeout, propagate=True)
        except Exception as exc:
            raise self._failed(_("{task} failed in the worker: {error}").format(
                task=task, error=f"{type(exc).__name__}: {exc}")) from exc

    def stored_results(self, task: str) -> list[Any]:
        """Every result of ``task`` stored in this cycle (including the ones the relay queued)."""
        from celery.backends.database.models import TaskExtended

        session = self.client.backend.ResultSession()
        try:
            rows = session.query(TaskExtended).filter(
                TaskExtended.name == task, TaskExtended.status == "SUCCESS").all()
            return [self.client.backend.decode(row.result) for row in rows]
        finally:
            session.close()

    # -- the cycle (demo.loader.CycleSteps)

    def plan(self, today: date) -> dict[str, int]:
        # The first task also waits for the worker to start.
        data = self.run("roster.extend_horizon", timeout=STARTUP_TIMEOUT + STEP_TIMEOUT, today=today.isoformat())
        return counts(data.get("result"))

    def fill(self, first: date, last: date) -> dict[str, int]:
        data = self.run("roster.fill", first=first.isoformat(), last=last.isoformat())
        return {k: int(v) for k, v in data.items() if isinstance(v, int)}

    def relay_and_publish(self) -> dict[str, int]:
        relayed = relays = 0
        while True:
            count = int(self.run("roster.relay_events"))
            if not count:
                break
            relayed += count
            relays += 1
        self.run("roster.publish_feeds", include_district=True)
        # Each relay that relayed something queued a publish of the feeds it marked (the default
        # queue, after its commit): wait for those too, and count every publish of the cycle.
        expected = relays + 1
        self._poll(lambda: len(self.stored_results("roster.publish_feeds")) >= expected,
                   "the relay's publishes", FOLLOWUP_TIMEOUT)
        total = {"relayed": relayed, "written": 0, "unchanged": 0, "deleted": 0}
        for stored in self.stored_results("roster.publish_feeds"):
            found = counts(stored.get("result"))
            for key in ("written", "unchanged", "deleted"):
                total[key] += found.get(key, 0)
        return total

    def send_due(self) -> tuple[dict[str, int], str]:
        data = self.run("roster.dispatch_reminders", max_batches=100)
        sent = {k: int(v) for k, v in data.items() if isinstance(v, int)}
        # The console channel flushes each message, so stdout holds them all by now.
        return sent, self.out_path.read_text(encoding="utf-8", errors="replace")


def main(argv: list[str] | None = None) -> None:
    """Run the demo's worker: ``python -m demo.workers [CONCURRENCY]`` with the ROSTER_* environment."""
    from kombu.transport import sqlalchemy as sqla_transport

    from tasks.app import app

    args = sys.argv[1:] if argv is None else argv
    concurrency = int(args[0]) if args else CONCURRENCY
    app.conf.update(worker_config(app.roster_settings))
    sqla_transport.Transport.polling_interval = POLL_SECONDS
    queues = f"{DEMO_QUEUE},{app.conf.task_default_queue}"
    app.worker_main(["--quiet", "worker", "--pool=threads", f"--concurrency={concurrency}", "--without-gossip",
                     "--without-mingle", "--without-heartbeat", "--loglevel=WARNING", f"--queues={queues}",
                     "--hostname=roster-demo@%h"])


if __name__ == "__main__":
    main()
