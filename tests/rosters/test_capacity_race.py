"""Capacity is a database invariant: real processes racing for the last seats never overbook.

Run on SQLite and PostgreSQL (the ``engine`` fixture). One test forks workers that meet at a
barrier and call ``rosters.assign`` at the same instant; the other starts the real ``roster``
command line several times at once and reads what a coordinator would see.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, func, select

from scheduler import rosters
from scheduler.db import make_engine, run_in_transaction, session_scope, utcnow
from scheduler.errors import CapacityFull
from scheduler.models import Assignment
from tests import factories as f

ROSTER = str(Path(sys.executable).with_name("roster"))


def _setup(engine: Engine, racers: int, count: int, taken: int) -> tuple[int, list[int]]:
    """An occurrence a week ahead whose role has ``count`` seats, ``taken`` of them already held."""
    with session_scope(engine) as s:
        f.org(s)
        svc = f.service(s, roles=[f"看护:{count}"])
        occ = f.occurrence(s, svc, start=utcnow().replace(microsecond=0) + timedelta(days=7))
        for _ in range(taken):
            rosters.assign(s, str(f.volunteer(s).id), occ.id, "看护")
        volunteer_ids = [f.volunteer(s).id for _ in range(racers)]
        return occ.id, volunteer_ids


def _seated(engine: Engine, occurrence_id: int) -> list[int]:
    with session_scope(engine) as s:
        return sorted(s.scalars(select(Assignment.seat_no).where(
            Assignment.occurrence_id == occurrence_id, Assignment.seat_no.is_not(None))))


def _race_worker(url: str, volunteer_id: int, occurrence_id: int, barrier: object, out: object) -> None:
    engine = make_engine(url)
    barrier.wait()  # type: ignore[attr-defined]
    try:
        seat = run_in_transaction(engine, lambda s: rosters.assign(s, str(volunteer_id), occurrence_id, "看护").seat_no)
        out.put(("seated", seat))  # type: ignore[attr-defined]
    except CapacityFull as exc:
        out.put(("full", exc.message))  # type: ignore[attr-defined]
    except Exception as exc:  # noqa: BLE001 - the test reports anything else as a failure
        out.put(("error", repr(exc)))  # type: ignore[attr-defined]
    finally:
        engine.dispose()


def test_parallel_processes_never_exceed_role_count(engine: Engine) -> None:
    url = engine.url.render_as_string(hide_password=False)
    occurrence_id, volunteers = _setup(engine, racers=8, count=4, taken=1)
    engine.dispose()
    ctx = multiprocessing.get_context("fork")
    barrier, out = ctx.Barrier(len(volunteers)), ctx.Queue()
    procs = [ctx.Process(target=_race_worker, args=(url, vid, occurrence_id, barrier, out)) for vid in volunteers]
    for p in procs:
        p.start()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    outcomes = sorted(kind for kind, _ in results)
    assert outcomes == ["full"] * 5 + ["seated"] * 3, results
    assert sorted(seat for kind, seat in results if kind == "seated") == [2, 3, 4]
    assert all("is full" in msg for kind, msg in results if kind == "full")
    assert _seated(engine, occurrence_id) == [1, 2, 3, 4]


def test_parallel_cli_losers_get_a_clean_capacity_full(engine: Engine, tmp_path: Path) -> None:
    url = engine.url.render_as_string(hide_password=False)
    occurrence_id, volunteers = _setup(engine, racers=6, count=3, taken=1)
    env = dict(os.environ, ROSTER_DATABASE_URL=url, ROSTER_HOME=str(tmp_path / "var"),
               ROSTER_FEED_DIR=str(tmp_path / "feeds"), ROSTER_BROKER_URL=f"sqla+sqlite:///{tmp_path}/broker.db")
    procs = [subprocess.Popen([ROSTER, "assign", str(vid), str(occurrence_id), "--role", "看护"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for vid in volunteers]
    finished = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    codes = sorted(code for code, _, _ in finished)
    assert codes == [0, 0, *[CapacityFull.exit_code] * 4], finished
    for code, stdout, stderr in finished:
        assert "Traceback" not in stderr + stdout
        if code == CapacityFull.exit_code:
            assert stderr.startswith("error: role 看护 at occurrence") and "is full" in stderr
        else:
            assert "invited, seat" in stdout
    assert _seated(engine, occurrence_id) == [1, 2, 3]
    with session_scope(engine) as s:
        assert s.scalar(select(func.count()).select_from(Assignment)) == 3
