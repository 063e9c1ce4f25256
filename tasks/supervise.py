"""Keep one worker process running: ``roster run``'s supervisor (compose's ``restart:`` in production).

A worker that dies unexpectedly (killed, out of memory, an unrecoverable error in the broker
library) is started again after a short, growing pause; a stop asked for with SIGTERM or SIGINT
(Ctrl-C) is passed to the worker, which finishes its tasks (warm shutdown), and ends the loop.
Imports nothing of Celery: the worker is a child process.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from types import FrameType

from scheduler.i18n import _

log = logging.getLogger("roster.supervise")

#: A worker that ran this long was healthy: its next restart starts the backoff afresh.
HEALTHY_AFTER = 60.0
BACKOFF_MAX = 30.0


def restart_pause(quick_failures: int) -> float:
    """1 s, 2 s, 4 s... up to 30 s while the worker keeps dying soon after it started."""
    return float(min(2 ** max(quick_failures - 1, 0), BACKOFF_MAX))


def supervise(argv: Sequence[str], env: Mapping[str, str] | None = None,
              say: Callable[[str], None] = log.warning) -> int:
    """Run ``argv``, restarting it whenever it exits without having been asked to; return the exit
    code of the run that was asked to stop."""
    stop = threading.Event()
    child: subprocess.Popen[bytes] | None = None

    def ask_to_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)  # warm shutdown: running tasks finish

    previous = {sig: signal.signal(sig, ask_to_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    quick_failures = 0
    try:
        while True:
            started = time.monotonic()
            child = subprocess.Popen(list(argv), env=dict(env) if env is not None else None)
            if stop.is_set():  # asked to stop while it was being started
                child.send_signal(signal.SIGTERM)
            code = child.wait()
            if stop.is_set() or code == 0:
                return code
            quick_failures = 1 if time.monotonic() - started >= HEALTHY_AFTER else quick_failures + 1
            pause = restart_pause(quick_failures)
            say(_("roster run: the worker (pid {pid}) exited unexpectedly with code {code}; "
                  "restarting it in {seconds} s").format(pid=child.pid, code=code, seconds=f"{pause:g}"))
            if stop.wait(pause):
                return code
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
