"""``roster demo``: the cycle through a real Celery worker on the embedded SQLite broker, and the
in-process ``--no-workers`` path."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from demo.loader import console_reminders
from scheduler.db import make_engine, session_scope, utcnow
from scheduler.models import Assignment, Community, Occurrence, Reminder, Service, Volunteer
from tests.workers_support import create_shift

TODAY = "2026-11-30"
CYCLE = ("  plan:", "  fill:", "  publish:")


def _env(root: Path) -> dict[str, str]:
    return {
        "ROSTER_HOME": str(root / "var"),
        "ROSTER_DATABASE_URL": f"sqlite:///{root}/roster.db",
        "ROSTER_FEED_DIR": str(root / "feeds"),
        "ROSTER_BROKER_URL": f"sqla+sqlite:///{root}/var/broker.db",
        "ROSTER_QUIET_HOURS": "off",
    }


def _demo(env: dict[str, str], *args: str) -> str:
    from cli import cli
    from scheduler.db import dispose_engines

    try:
        result = CliRunner().invoke(cli, ["demo", "--today", TODAY, *args], env=env, catch_exceptions=False)
    finally:
        dispose_engines()
    assert result.exit_code == 0, result.output
    return result.output


def _lines(output: str, prefixes: tuple[str, ...]) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(prefixes)]


def _rows(url: str) -> dict[str, int]:
    engine = make_engine(url)
    try:
        with session_scope(engine) as s:
            return {m.__name__: int(s.scalar(select(func.count()).select_from(m)) or 0)
                    for m in (Community, Service, Volunteer, Occurrence, Assignment, Reminder)}
    finally:
        engine.dispose()


def _demo_workers_alive(home: Path) -> list[int]:
    """Processes running ``demo.workers`` for this ROSTER_HOME."""
    alive = []
    marker = f"ROSTER_HOME={home.resolve()}".encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if b"demo.workers" in (proc / "cmdline").read_bytes() and marker in (proc / "environ").read_bytes():
                alive.append(int(proc.name))
        except OSError:
            continue
    return alive


@pytest.mark.slow
def test_worker_cycle_reports_what_the_in_process_cycle_reports(tmp_path: Path) -> None:
    workers, direct = _env(tmp_path / "a"), _env(tmp_path / "b")
    through_worker = _demo(workers)
    in_process = _demo(direct, "--no-workers")
    assert "  workers:  a Celery worker process (2 threads) on sqla+sqlite:///" in through_worker
    assert "  workers:  in this process (--no-workers)" in in_process
    planned = _lines(through_worker, ("  plan:",))
    assert planned and " 0 occurrences created" not in planned[0]  # a fresh database: work was done
    assert _lines(through_worker, CYCLE) == _lines(in_process, CYCLE)
    assert _rows(workers["ROSTER_DATABASE_URL"]) == _rows(direct["ROSTER_DATABASE_URL"])
    # The worker published the feeds; the in-process run started no worker.
    assert (tmp_path / "a" / "feeds" / "district.ics").exists()
    assert (tmp_path / "b" / "feeds" / "district.ics").exists()
    assert not (tmp_path / "b" / "var" / "demo-worker.out").exists()


@pytest.mark.slow
def test_worker_cycle_sends_due_reminders_on_the_console_and_stops_its_worker(tmp_path: Path) -> None:
    env = _env(tmp_path)
    home = Path(env["ROSTER_HOME"])
    url = env["ROSTER_DATABASE_URL"]
    from scheduler.db import dispose_engines
    from scheduler.migrate import upgrade

    engine = make_engine(url)
    try:
        upgrade(engine)
        now = utcnow()
        # A shift in an hour whose 2-hour reminders are due now, whatever the wall clock says.
        shift = create_shift(engine, now + timedelta(hours=1), volunteers=2, offsets=[120])
    finally:
        engine.dispose()
        dispose_engines()

    first = _demo(env)
    sent_line = _lines(first, ("  remind:",))[0]
    engine = make_engine(url)
    try:
        with session_scope(engine) as s:
            sent = list(s.scalars(select(Reminder).where(Reminder.status == "sent")))
            ours = [r for r in sent if r.assignment_id in shift.assignment_ids]
            sent_ids = {r.id for r in sent}
            claimers = {r.claimed_by for r in ours}
    finally:
        engine.dispose()
    assert len(ours) == 2
    assert sent_line.startswith(f"  remind:   {len(sent)} reminders sent"), sent_line
    # Sent by the worker process, not by this one.
    assert all(c and f":{os.getpid()}:" not in c for c in claimers), claimers
    console = (home / "demo-worker.out").read_text(encoding="utf-8")
    messages = console_reminders(console)
    assert {int(m.split()[1].lstrip("#")) for m in messages} == sent_ids
    for reminder, volunteer_id in zip(sorted(ours, key=lambda r: r.id), shift.volunteer_ids, strict=True):
        assert f"[提醒 #{reminder.id} → 志愿者#{volunteer_id}]" in console
    assert "四点半课堂" in console and "顺景花园党群之家" in console
    shown = [line for line in first.splitlines() if line.startswith("            [提醒 #")]
    assert len(shown) == min(len(sent), 3)
    if len(sent) > 3:
        assert f"... and {len(sent) - 3} more on the console channel" in first
    assert _demo_workers_alive(home) == []
    assert "Traceback" not in (home / "demo-worker.log").read_text(encoding="utf-8", errors="replace")

    rows = _rows(url)
    second = _demo(env)
    assert "loaded: 0 communities, 0 branches, 0 services, 0 volunteers, 0 coordinators added" in second
    assert " 0 occurrences created" in _lines(second, ("  plan:",))[0]
    assert "  fill:     0 seats filled" in second
    assert _rows(url) == rows
    assert _demo_workers_alive(home) == []
