"""The worker's consumer, made to ride out a broker restart (``worker_consumer`` in tasks/app.py).

Imported by a worker only, by name: ``roster --help`` and the CLI never load it.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

from celery.exceptions import CPendingDeprecationWarning
from celery.worker.consumer import Consumer

log = logging.getLogger("roster.tasks")

# Celery warns at every connection loss that cancelling late-ack tasks will become the default in
# 6.0; not cancelling them is our choice (tasks/app.py), so the warning says nothing new.
warnings.filterwarnings("ignore", message=r"\s*In Celery 5.1 we introduced", category=CPendingDeprecationWarning)


def _lost_with_the_connection(*args: Any, **kwargs: Any) -> None:
    log.info("a task finished after the broker connection it came on was lost; Redis hands it out "
             "again after the visibility timeout (harmless: tasks are idempotent)")


class BrokerRestartTolerantConsumer(Consumer):  # type: ignore[misc]
    """Celery's consumer, riding out a broker restart while tasks run with late acks.

    On a connection loss Celery 5.7 closes the broken connection, and kombu's Redis channel then
    touches the transport that has already let go of its connection parameters: closing it (to put
    the unacknowledged messages back) and, later, acknowledging a task that was running meanwhile
    both raise ``AttributeError: 'NoneType' object has no attribute 'hostname'``, which stops the
    worker for good ("Unrecoverable error"). Neither can succeed anyway: the broker is gone, the
    messages stay in Redis's unacked index, and Redis hands them out again after the visibility
    timeout. So the running tasks' acks on the lost connection are dropped, the failed close is
    logged, and the consumer reconnects as it does for any other connection loss.
    """

    def on_connection_error_after_connected(self, exc: Exception) -> None:
        from celery.worker import state

        for request in tuple(state.active_requests):
            if not request.acknowledged:
                request.message.ack = _lost_with_the_connection
                request.message.reject = _lost_with_the_connection
        try:
            super().on_connection_error_after_connected(exc)
        except AttributeError as error:
            log.warning("broker connection lost with unacknowledged tasks; reconnecting (%r)", error)
            self.connection = None
