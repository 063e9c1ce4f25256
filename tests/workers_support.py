"""Builders shared by the worker, dispatch, channel and reliability tests (no tests here)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from scheduler.db import session_scope
from scheduler.events import record_event
from scheduler.models import Assignment, Occurrence, Reminder, Role, Service
from scheduler.policy import OperationPolicy
from scheduler.settings import Settings
from tests import factories

#: A fixed clock for unit tests: Monday 2026-12-07 10:00 in Shenzhen (02:00 UTC), outside quiet hours.
NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


def settings_for(url: str, **overrides: Any) -> Settings:
    env = {"ROSTER_DATABASE_URL": url, "ROSTER_QUIET_HOURS": "22:00-07:30"}
    env.update({f"ROSTER_{k.upper()}": str(v) for k, v in overrides.items()})
    return Settings.from_env(env)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05,
             what: str = "condition") -> Any:
    """Poll ``predicate`` until truthy, at most ``timeout`` seconds (bounded polling, not sleeping)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@dataclass
class Shift:
    service_id: int
    occurrence_id: int
    assignment_ids: list[int] = field(default_factory=list)
    volunteer_ids: list[int] = field(default_factory=list)


_slugs = iter(range(1, 10**9))


def make_shift(session: Session, start: datetime, volunteers: int = 1, channel: str = "console",
               offsets: list[int] | None = None, seats: int | None = None, venue: str = "顺景花园党群之家", title: str = "四点半课堂",
               emails: bool = True) -> Shift:
    """A service with one occurrence at ``start`` and ``volunteers`` confirmed assignments, each
    with its event as rosters write it (the dispatcher's scan derives their reminders)."""
    from scheduler.models import Branch

    if session.scalar(select(Branch.id).where(Branch.slug == "shunjing")) is None:
        factories.org(session)
    n = next(_slugs)
    svc = factories.service(session, slug=f"svc-w{n}", title=title, venue=venue,
                            roles=[f"辅导员:{seats or max(volunteers, 1)}:tutor"])
    if offsets is not None:
        svc.reminder_offsets = offsets
    occ = factories.occurrence(session, svc, start=start)
    role = session.scalars(select(Role).where(Role.service_id == svc.id)).one()
    shift = Shift(svc.id, occ.id)
    for i in range(volunteers):
        vol = factories.volunteer(session, name=f"李{n}号{i}", channel=channel,
                                  email=f"v{n}x{i}@example.org" if emails else None)
        assignment = Assignment(occurrence_id=occ.id, role_id=role.id, volunteer_id=vol.id, status="confirmed",
                                seat_no=i + 1)
        session.add(assignment)
        session.flush()
        record_event(session, "assignment.created", assignment_id=assignment.id, occurrence_id=occ.id,
                     volunteer_id=vol.id, role_id=role.id, status="confirmed")
        shift.assignment_ids.append(assignment.id)
        shift.volunteer_ids.append(vol.id)
    session.flush()
    return shift


def create_shift(engine: Engine, start: datetime, **kw: Any) -> Shift:
    with session_scope(engine) as session:
        return make_shift(session, start, **kw)


def reminders_of(engine: Engine, shift: Shift | None = None) -> list[Reminder]:
    with session_scope(engine) as session:
        query = select(Reminder).order_by(Reminder.id)
        if shift is not None:
            query = query.where(Reminder.assignment_id.in_(shift.assignment_ids))
        return list(session.scalars(query))


def statuses(engine: Engine, shift: Shift | None = None) -> dict[str, str]:
    return {f"{r.assignment_id}:{r.kind}": r.status for r in reminders_of(engine, shift)}


def move_occurrence(engine: Engine, occurrence_id: int, new_start: datetime, now: datetime,
                    quiet: str = "off") -> None:
    """Move a shift the way rosters do: bump SEQUENCE, notify, write the event."""
    from scheduler.reminders import occurrence_changed

    with session_scope(engine) as session:
        occ = session.get(Occurrence, occurrence_id)
        assert occ is not None
        old = occ.start_at
        length = occ.end_at - occ.start_at
        occ.start_at, occ.end_at = new_start, new_start + length
        occ.sequence += 1
        occ.pinned = True
        occurrence_changed(session, occ, "moved", detail={"old_start": old.isoformat()}, now=now,
                           policy=OperationPolicy.from_text(quiet))
        record_event(session, "occurrence.moved", occurrence_id=occ.id, service_id=occ.service_id,
                     sequence=occ.sequence)


def cancel_assignment(engine: Engine, assignment_id: int, now: datetime) -> None:
    with session_scope(engine) as session:
        assignment = session.get(Assignment, assignment_id)
        assert assignment is not None
        assignment.status, assignment.seat_no = "cancelled", None
        record_event(session, "assignment.cancelled", assignment_id=assignment.id,
                     occurrence_id=assignment.occurrence_id)


def scan(engine: Engine, now: datetime, quiet: str = "off", channel: str = "console") -> int:
    """Run the dispatcher's scan alone at ``now``; return how many ledger rows it recorded."""
    from scheduler.reminders.scan import scan_due

    with session_scope(engine) as session:
        return scan_due(session, now, policy=OperationPolicy.from_text(quiet, channel)).recorded


def null_channels() -> Any:
    """Every channel name accepted and discarded (``NullChannel``)."""
    from scheduler.messages.channels import ChannelSet, NullChannel

    null = NullChannel()
    return ChannelSet({name: (lambda: null) for name in ("console", "email", "sms", "wecom", "dingtalk", "null")})


def service_of(engine: Engine, shift: Shift) -> Service:
    with session_scope(engine) as session:
        svc = session.get(Service, shift.service_id)
        assert svc is not None
        return svc


# --------------------------------------------------------------------------- real servers


class SmtpSink:
    """A real SMTP server (aiosmtpd) on a free port that keeps every message it accepted."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[EmailMessage] = []
        self.envelopes: list[Any] = []
        self._lock = threading.Lock()
        sink = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                message = email.message_from_bytes(envelope.original_content or envelope.content,
                                                   policy=email.policy.default)
                with sink._lock:
                    sink.envelopes.append(envelope)
                    sink.messages.append(message)  # type: ignore[arg-type]
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpSink:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    def by_key(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        with self._lock:
            for message in self.messages:
                key = str(message["X-Roster-Reminder"])
                counts[key] = counts.get(key, 0) + 1
        return counts

    def count(self) -> int:
        with self._lock:
            return len(self.messages)


class LocalHttpServer:
    """A loopback HTTP server on a free port, served from a thread while used as a context manager;
    subclasses give ``handler`` (a BaseHTTPRequestHandler class) before calling ``__init__``."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Any:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def send_answer(handler: BaseHTTPRequestHandler, status: int, payload: bytes,
           content_type: str = "application/json") -> None:
    """Write a whole HTTP answer from a request handler."""
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    handler.wfile.write(payload)


class WebhookSink(LocalHttpServer):
    """A local HTTP server standing in for a WeCom/DingTalk robot; records what it accepted."""

    def __init__(self, answer: dict[str, Any] | None = None) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answer = answer or {"errcode": 0, "errmsg": "ok"}
        self.status = 200
        self._lock = threading.Lock()
        #: While set, a request is recorded (accepted) but its answer waits for ``release``.
        self.hold = threading.Event()
        self.release = threading.Event()
        self.held = 0
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                import json

                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                entry = {"path": self.path, "headers": dict(self.headers.items()),
                         "body": json.loads(raw.decode("utf-8")), "raw": raw}
                status, answer = sink.status, sink.answer
                if status == 200 and answer.get("errcode", 0) == 0:
                    with sink._lock:
                        sink.requests.append(entry)
                if sink.hold.is_set():
                    with sink._lock:
                        sink.held += 1
                    sink.release.wait(60)
                send_answer(self, status, json.dumps(answer).encode())

            def log_message(self, format: str, *args: Any) -> None:
                pass

        super().__init__(Handler)
        self.url = f"http://127.0.0.1:{self.port}/cgi-bin/webhook/send?key=secret-key-123"

    def by_key(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        with self._lock:
            for entry in self.requests:
                key = entry["headers"].get("Idempotency-Key", "")
                counts[key] = counts.get(key, 0) + 1
        return counts

    def count(self) -> int:
        with self._lock:
            return len(self.requests)


class GatedProxy:
    """A TCP proxy that holds new connections until opened: lets a test stop a worker between its
    claim and its send (the SMTP greeting never comes while the gate is shut)."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self.opened = threading.Event()
        self.waiting = 0
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: Any = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with self._lock:
            self.waiting += 1
        try:
            while not self.opened.is_set():
                if reader.at_eof():
                    return
                await asyncio.sleep(0.02)
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)

            async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
                try:
                    while data := await src.read(65536):
                        dst.write(data)
                        await dst.drain()
                except (ConnectionError, OSError):
                    pass
                finally:
                    dst.close()

            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        finally:
            writer.close()
            with self._lock:
                self.waiting -= 1

    def __enter__(self) -> GatedProxy:
        self._thread.start()

        async def start() -> None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

        asyncio.run_coroutine_threadsafe(start(), self._loop).result(5)
        return self

    def __exit__(self, *exc: object) -> None:
        self.opened.set()

        async def stop() -> None:
            self._server.close()
            await self._server.wait_closed()
            current = asyncio.current_task()
            pending = [t for t in asyncio.all_tasks() if t is not current]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()


def iter_minutes(start: datetime, count: int) -> Iterator[datetime]:
    for i in range(count):
        yield start + timedelta(minutes=i)
