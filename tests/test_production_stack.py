"""The production stack's commands, run for real on this machine's PostgreSQL and Redis.

No Docker engine runs here, so each service's command from docker-compose.yml runs as a process
with the configuration of .env.example, its host names pointed at the local servers: the migration
service migrates, a worker starts and answers its own healthcheck, beat starts, and the guide's
backup, restore and monitoring commands do what docs/production.md says.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from scheduler.db import make_engine, session_scope
from scheduler.migrate import current_revision, upgrade
from scheduler.models import Community, Event, FeedState
from tests import factories
from tests.conftest import PG_ADMIN_URL
from tests.test_production import (
    ENV_EXAMPLE,
    FEED_DIR_IN_CONTAINER,
    GUIDE,
    ROOT,
    command_of,
    dockerfile_instructions,
    load_compose,
    parse_env_file,
)

VENV_BIN = Path(sys.executable).parent
#: A Redis database of its own, so that the worker started here consumes nothing of other tests.
REDIS_DB = 14


def stack_env(tmp_path: Path, database_url: str, broker_url: str) -> dict[str, str]:
    """The environment of a container: .env.example, with the compose host names made local."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("ROSTER_")}
    env.update(parse_env_file(ENV_EXAMPLE))
    env.update({
        "ROSTER_DATABASE_URL": database_url,
        "ROSTER_BROKER_URL": broker_url,
        "ROSTER_HOME": str(tmp_path / "srv"),
        "ROSTER_FEED_DIR": str(tmp_path / "srv" / "feeds"),
        "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        # What the container's hostname is; the worker's healthcheck names its node with it.
        "HOSTNAME": socket.gethostname(),
        # The suite reads the English texts (a container without a locale speaks Chinese).
        "ROSTER_LANG": "en",
    })
    return env


def localize(argv: list[str], tmp_path: Path) -> list[str]:
    """Container paths (/srv/roster/...) moved under the test's folder."""
    container_home = FEED_DIR_IN_CONTAINER.rsplit("/", 1)[0]
    return [arg.replace(container_home, str(tmp_path / "srv")) for arg in argv]


def run_migrate_service(tmp_path: Path, database_url: str) -> subprocess.CompletedProcess[str]:
    migrate = load_compose()["services"]["migrate"]
    env = stack_env(tmp_path, database_url, f"redis://127.0.0.1:6379/{REDIS_DB}")
    return subprocess.run(localize(command_of(migrate), tmp_path), env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.postgres
def test_migrate_service_migrates_a_fresh_database_and_is_idempotent(pg_url: str, tmp_path: Path) -> None:
    first = run_migrate_service(tmp_path, pg_url)
    assert first.returncode == 0, first.stderr
    assert "database ready at revision" in first.stdout
    # The password never reaches the container's log.
    password = make_url(pg_url).password
    assert not password or password not in first.stdout + first.stderr
    engine = make_engine(pg_url)
    try:
        revision = current_revision(engine)
        assert revision is not None
        again = run_migrate_service(tmp_path, pg_url)
        assert again.returncode == 0, again.stderr
        assert current_revision(engine) == revision
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- worker and beat


def wait_for(condition: object, what: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {seconds:.0f} s")
        time.sleep(0.2)


def stop(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM, as `docker compose stop` sends: a Celery worker's warm shutdown."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            pytest.fail("the process ignored SIGTERM for 30 s")
    return process.returncode


@pytest.fixture
def stack_redis(redis_url: str) -> Iterator[str]:
    import redis

    url = redis_url.rsplit("/", 1)[0] + f"/{REDIS_DB}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.redis
def test_worker_answers_its_healthcheck_and_beat_starts(pg_url: str, stack_redis: str, tmp_path: Path) -> None:
    services = load_compose()["services"]
    assert run_migrate_service(tmp_path, pg_url).returncode == 0
    (tmp_path / "srv" / "beat").mkdir(parents=True, exist_ok=True)
    env = stack_env(tmp_path, pg_url, stack_redis)
    env["ROSTER_RELAY_INTERVAL"] = "1"  # beat's first relay tick after a second, not five
    healthcheck = services["worker"]["healthcheck"]["test"]
    assert healthcheck[0] == "CMD-SHELL"
    check_command = healthcheck[1].replace("$$", "$")

    def healthy() -> bool:
        result = subprocess.run(["/bin/sh", "-c", check_command], env=env, cwd=tmp_path,
                                capture_output=True, timeout=60)
        return result.returncode == 0

    worker_log_path = tmp_path / "worker.log"
    worker_log = worker_log_path.open("wb")
    beat_log_path = tmp_path / "beat.log"
    beat_log = beat_log_path.open("wb")
    worker = subprocess.Popen(localize(command_of(services["worker"]), tmp_path), env=env, cwd=tmp_path,
                              stdout=worker_log, stderr=subprocess.STDOUT, start_new_session=True)
    beat: subprocess.Popen[bytes] | None = None
    try:
        # A ping sent before the worker listens waits out its whole timeout: wait for "ready" first.
        wait_for(lambda: worker.poll() is not None or b" ready." in worker_log_path.read_bytes(),
                 "the worker did not get ready", 60)
        assert worker.poll() is None, worker_log_path.read_text(errors="replace")
        assert healthy(), "the worker's own healthcheck says it is unhealthy"

        beat = subprocess.Popen(localize(command_of(services["beat"]), tmp_path), env=env, cwd=tmp_path,
                                stdout=beat_log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(lambda: beat.poll() is not None or b"beat: Starting" in beat_log_path.read_bytes(),
                 "beat did not start", 30)
        assert beat.poll() is None, beat_log_path.read_text(errors="replace")
        assert list((tmp_path / "srv" / "beat").glob("celerybeat-schedule*")), "the schedule is on its volume"
        # The whole path: beat's first tick, through Redis, run by the worker against PostgreSQL.
        wait_for(lambda: re.search(rb"Task roster\.relay_events\[[^]]+\] succeeded", worker_log_path.read_bytes()),
                 "no relay_events tick from beat ran on the worker", 30)
    finally:
        if beat is not None:
            stop(beat)
        worker_code = stop(worker)
        worker_log.close()
        beat_log.close()
    assert worker_code == 0, worker_log_path.read_text(errors="replace")
    assert "Traceback" not in beat_log_path.read_text(errors="replace")


@pytest.mark.redis
def test_worker_healthcheck_fails_when_no_worker_answers(tmp_path: Path, stack_redis: str) -> None:
    """The healthcheck is not a formality: with no worker on the broker it reports unhealthy."""
    services = load_compose()["services"]
    env = stack_env(tmp_path, f"sqlite:///{tmp_path}/unused.db", stack_redis)
    check_command = services["worker"]["healthcheck"]["test"][1].replace("$$", "$")
    assert "--timeout 10" in check_command
    check_command = check_command.replace("--timeout 10", "--timeout 1")
    result = subprocess.run(["/bin/sh", "-c", check_command], env=env, cwd=tmp_path, capture_output=True,
                            timeout=60)
    assert result.returncode != 0
    # ... because nobody answered, not because the app failed to load.
    assert b"No nodes replied" in result.stdout + result.stderr, result.stderr


# --------------------------------------------------------------------------- the guide's commands


def guide_shell_lines() -> list[str]:
    text_ = GUIDE.read_text(encoding="utf-8")
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", text_, flags=re.S):
        lines += [line.strip() for line in block.splitlines() if line.strip()]
    return lines


def in_container(line: str, program: str) -> list[str]:
    """The ``program ...`` part of ``docker compose exec -T postgres program ... > file``."""
    argv = shlex.split(line)
    argv = argv[argv.index(program):]
    for redirect in (">", "<"):
        if redirect in argv:
            argv = argv[:argv.index(redirect)]
    return argv


def pointed_at(argv: list[str], url: str) -> list[str]:
    """The guide's command with its user and database replaced by the test server's."""
    target = make_url(url)
    out = [argv[0], "-h", target.host or "127.0.0.1", "-p", str(target.port or 5432)]
    args = iter(argv[1:])
    for arg in args:
        if arg == "-U":
            out += ["-U", target.username or "postgres"]
            next(args)
        elif arg == "-d":
            out += ["-d", target.database or ""]
            next(args)
        else:
            out.append(arg)
    return out


@pytest.mark.postgres
def test_guide_backup_restores_over_a_database_with_other_data(pg_url: str, tmp_path: Path) -> None:
    lines = guide_shell_lines()
    dump_line = next(line for line in lines if " pg_dump " in line)
    restore_line = next(line for line in lines if " pg_restore " in line and "--clean" in line)
    restored_name = f"roster_restore_{uuid.uuid4().hex[:12]}"
    restored_url = pg_url.rsplit("/", 1)[0] + f"/{restored_name}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{restored_name}"'))
    source, target = make_engine(pg_url), make_engine(restored_url)
    try:
        upgrade(source)
        with session_scope(source) as session:
            factories.org(session)
        # The database being replaced already holds other rows (a restore after a mistake).
        upgrade(target)
        with session_scope(target) as session:
            factories.community(session, "nanlian", "南联社区")

        dump = tmp_path / "roster.dump"
        with dump.open("wb") as out:
            subprocess.run(pointed_at(in_container(dump_line, "pg_dump"), pg_url), stdout=out, check=True,
                           timeout=120)
        with dump.open("rb") as given:
            restored = subprocess.run(pointed_at(in_container(restore_line, "pg_restore"), restored_url),
                                      stdin=given, capture_output=True, text=True, timeout=120)
        assert restored.returncode == 0, restored.stderr
        # A dump carries no planner statistics: the guide analyses the restored database next.
        analyze_line = next(line for line in lines if " psql " in line and "ANALYZE" in line)
        analyzed = subprocess.run(pointed_at(in_container(analyze_line, "psql"), restored_url),
                                  capture_output=True, text=True, timeout=120)
        assert analyzed.returncode == 0, analyzed.stderr
        target.dispose()
        with session_scope(target) as session:
            names = session.scalars(select(Community.name)).all()
        assert names == ["爱联社区"]
        assert current_revision(target) == current_revision(source)
        # The guide's next step after a restore: the migrate service, on the restored database.
        assert run_migrate_service(tmp_path, restored_url).returncode == 0
    finally:
        source.dispose()
        target.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{restored_name}" WITH (FORCE)'))
        admin.dispose()


def guide_queries() -> dict[str, str]:
    """The SQL in the guide, by the table it reads: ```sql blocks and psql here-documents."""
    text_ = GUIDE.read_text(encoding="utf-8")
    blocks = re.findall(r"```sql\n(.*?)```", text_, flags=re.S)
    blocks += re.findall(r"<<'SQL'\n(.*?)\nSQL\n", text_, flags=re.S)
    queries = {}
    for block in blocks:
        table = re.search(r"\bFROM\s+(\w+)", block)
        assert table, block
        queries[table.group(1)] = block.strip().rstrip(";")
    return queries


@pytest.mark.postgres
def test_guide_query_gives_the_age_of_the_oldest_dirty_feed(pg_url: str) -> None:
    query = guide_queries()["feed_state"]
    engine = make_engine(pg_url)
    try:
        upgrade(engine)
        with engine.connect() as conn:
            assert tuple(conn.execute(text(query)).one()) == (0, 0), "nothing dirty: zero, not NULL"
            # The server's clock, read back as an aware UTC datetime: the query compares with it.
            now = conn.execute(text("SELECT now()")).scalar_one()
        with session_scope(engine) as session:
            session.add_all([
                FeedState(key="branch:shunjing", dirty=True, dirty_since=now - timedelta(minutes=20)),
                FeedState(key="district", dirty=True, dirty_since=now - timedelta(minutes=3)),
                # Published long ago and clean since: not counted, however old its dirty_since.
                FeedState(key="community:ailian", dirty=False, dirty_since=now - timedelta(days=3)),
            ])
        with engine.connect() as conn:
            dirty, oldest = conn.execute(text(query)).one()
        assert dirty == 2
        # 20 minutes, plus the few seconds this test took since it read the clock.
        assert 20 * 60 <= oldest < 20 * 60 + 60
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_guide_query_gives_the_age_of_the_oldest_unrelayed_event(pg_url: str) -> None:
    query = guide_queries()["event"]
    engine = make_engine(pg_url)
    try:
        upgrade(engine)
        with engine.connect() as conn:
            now = conn.execute(text("SELECT now()")).scalar_one()
        with session_scope(engine) as session:
            session.add_all([
                Event(kind="occurrence.moved", payload={}, created_at=now - timedelta(minutes=5)),
                Event(kind="occurrence.moved", payload={}, created_at=now - timedelta(hours=2),
                      relayed_at=now - timedelta(hours=2)),
            ])
        with engine.connect() as conn:
            count, oldest = conn.execute(text(query)).one()
        assert count == 1
        assert 5 * 60 <= oldest < 5 * 60 + 60
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- the image's install


def test_image_install_ships_what_the_services_run(tmp_path: Path) -> None:
    """`pip install .` from exactly what the Dockerfile copies: the migrations, the CLI and the Celery
    app all come with it (a package-data slip would make `roster init` fail only in the container)."""
    context = tmp_path / "context"
    context.mkdir()
    # The Dockerfile copies each source under its own name into the build folder (/app).
    for instruction, rest in dockerfile_instructions():
        if instruction == "COPY":
            *sources, _target = rest.split()
            for source in sources:
                if (ROOT / source).is_dir():
                    shutil.copytree(ROOT / source, context / source,
                                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
                else:
                    shutil.copy2(ROOT / source, context / source)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"),
                            str(context)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("roster-*.whl")
    installed = tmp_path / "installed"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(installed)
    # The installed copy comes first on the path: nothing is read from the checkout.
    env = {key: value for key, value in os.environ.items() if not key.startswith("ROSTER_")}
    env.update({"PYTHONPATH": str(installed), "ROSTER_HOME": str(tmp_path / "home"), "ROSTER_LANG": "en",
                "ROSTER_DATABASE_URL": f"sqlite:///{tmp_path}/image.db",
                "ROSTER_BROKER_URL": f"sqla+sqlite:///{tmp_path}/broker.db"})
    probe = (
        "import sys, cli, scheduler, tasks.app, calendars\n"
        "for module in (cli, scheduler, tasks.app, calendars):\n"
        f"    assert module.__file__.startswith({str(installed)!r}), module.__file__\n"
        "sys.argv = ['roster', 'init']\n"
        "cli.main()\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], env=env, cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "database ready at revision" in result.stdout
