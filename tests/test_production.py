"""The production stack, checked without a Docker engine (none runs here).

docker-compose.yml, the Dockerfile, .env.example and the nginx config are read as data: the compose
file is well formed, every command its services run is a real entry point of this project, the
variables it sets are the ones the settings read, and Debian's nginx accepts the config and, run on
loopback, serves a published feed the way calendar clients need (FEEDS.md rule 20).
"""

from __future__ import annotations

import http.client
import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from scheduler.settings import VARIABLES, Settings
from tests.conftest import service_missing

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
NGINX_CONF = ROOT / "deploy" / "nginx" / "roster.conf"
GUIDE = ROOT / "docs" / "production.md"

#: Where the image keeps the feeds; the compose volume, the nginx root and .env.example agree on it.
FEED_DIR_IN_CONTAINER = "/srv/roster/feeds"
NGINX_LISTEN = "listen 8080;"
NGINX_ROOT = f"root {FEED_DIR_IN_CONTAINER};"

# The Compose specification's keys (compose-spec, services and healthcheck), enough to catch a typo
# that `docker compose config` would reject.
TOP_LEVEL_KEYS = {"version", "name", "include", "services", "networks", "volumes", "configs", "secrets"}
SERVICE_KEYS = {
    "annotations", "attach", "build", "blkio_config", "cap_add", "cap_drop", "cgroup", "cgroup_parent",
    "command", "configs", "container_name", "cpu_count", "cpu_percent", "cpu_shares", "cpu_quota",
    "cpu_period", "cpu_rt_period", "cpu_rt_runtime", "cpus", "cpuset", "credential_spec", "depends_on",
    "deploy", "develop", "device_cgroup_rules", "devices", "dns", "dns_opt", "dns_search", "domainname",
    "entrypoint", "env_file", "environment", "expose", "extends", "external_links", "extra_hosts",
    "gpus", "group_add", "healthcheck", "hostname", "image", "init", "ipc", "isolation", "labels",
    "links", "logging", "mac_address", "mem_limit", "mem_reservation", "mem_swappiness", "memswap_limit",
    "network_mode", "networks", "oom_kill_disable", "oom_score_adj", "pid", "pids_limit", "platform",
    "ports", "post_start", "pre_stop", "privileged", "profiles", "pull_policy", "read_only", "restart",
    "runtime", "scale", "secrets", "security_opt", "shm_size", "stdin_open", "stop_grace_period",
    "stop_signal", "storage_opt", "sysctls", "tmpfs", "tty", "ulimits", "user", "userns_mode", "uts",
    "volumes", "volumes_from", "working_dir",
}
HEALTHCHECK_KEYS = {"disable", "interval", "retries", "test", "timeout", "start_period", "start_interval"}
DEPENDS_CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
DURATION = re.compile(r"^(\d+(\.\d+)?(us|ms|s|m|h))+$")
INTERPOLATION = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")


# --------------------------------------------------------------------------- reading the files


def load_compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def parse_env_file(path: Path) -> dict[str, str]:
    """``KEY=value`` lines as Compose's env_file reads them (no quotes, no expansion in ours)."""
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Z][A-Z0-9_]*", key), f"{path.name}:{number}: not KEY=value: {line!r}"
        assert key not in values, f"{path.name}:{number}: {key} set twice"
        values[key] = value
    return values


def command_of(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    return list(command) if isinstance(command, list) else shlex.split(command)


def healthcheck_argv(service: dict[str, Any]) -> list[str]:
    """The healthcheck as the container runs it: CMD-SHELL through sh, with ``$$`` unescaped."""
    test = service["healthcheck"]["test"]
    kind, rest = test[0], test[1:]
    if kind == "CMD-SHELL":
        return shlex.split(rest[0].replace("$$", "$"))
    assert kind == "CMD"
    return [arg.replace("$$", "$") for arg in rest]


def roster_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that run this project's image."""
    return {name: svc for name, svc in compose["services"].items() if "build" in svc}


def volume_mounts(service: dict[str, Any]) -> list[tuple[str, str, str]]:
    mounts = []
    for entry in service.get("volumes", []):
        assert isinstance(entry, str), "volumes use the short syntax source:target[:mode]"
        parts = entry.split(":")
        assert len(parts) in (2, 3), entry
        mounts.append((parts[0], parts[1], parts[2] if len(parts) == 3 else "rw"))
    return mounts


# --------------------------------------------------------------------------- entry points


def resolve_roster_command(argv: list[str]) -> click.Command:
    """The ``roster`` subcommand that ``argv`` runs, its options parsed by the real CLI."""
    from cli import cli

    assert argv[0] == "roster", argv
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert scripts["roster"] == "cli:main", "the image's `roster` is the console script"
    context = click.Context(cli, info_name="roster")
    command: click.Command = cli
    name, rest = "roster", argv[1:]
    while isinstance(command, click.Group):
        assert rest, f"{' '.join(argv)!r} names a group, not a command"
        sub = command.get_command(context, rest[0])
        assert sub is not None, f"{' '.join(argv)!r}: {name!r} has no command {rest[0]!r}"
        name, rest, command = rest[0], rest[1:], sub
        if isinstance(sub, click.Group):
            context = click.Context(sub, info_name=name, parent=context)
    # Parsing the remaining arguments rejects an option the command does not take.
    command.make_context(name, list(rest), parent=context)
    return command


@dataclass
class CeleryCall:
    app_module: str
    subcommand: str
    args: list[str]


def parse_celery_argv(argv: list[str]) -> CeleryCall:
    assert argv[0] == "celery", argv
    rest = argv[1:]
    app_module = ""
    while rest and rest[0].startswith("-"):
        option = rest.pop(0)
        if option in ("-A", "--app"):
            app_module = rest.pop(0)
        elif option.startswith("--app="):
            app_module = option.split("=", 1)[1]
        else:
            raise AssertionError(f"unexpected global celery option {option!r} in {argv}")
    assert app_module, f"{argv}: no -A/--app"
    assert rest, f"{argv}: no celery subcommand"
    return CeleryCall(app_module, rest[0], rest[1:])


def resolve_celery_command(argv: list[str]) -> CeleryCall:
    """``celery -A module sub ...``: the module has a Celery ``app``; Celery's own CLI takes the rest."""
    import importlib

    from celery import Celery
    from celery.bin.base import CLIContext
    from celery.bin.celery import celery

    call = parse_celery_argv(argv)
    module_name, _, attribute = call.app_module.partition(":")
    module = importlib.import_module(module_name)
    app = getattr(module, attribute or "app", None)
    assert isinstance(app, Celery), f"{call.app_module} has no Celery app named {attribute or 'app'!r}"
    sub = celery.commands.get(call.subcommand)
    assert sub is not None, f"celery has no subcommand {call.subcommand!r}"
    parent = click.Context(celery, info_name="celery",
                           obj=CLIContext(app=app, no_color=True, workdir=None, quiet=True))
    sub.make_context(call.subcommand, list(call.args), parent=parent)
    return call


def resolve_entry_point(argv: list[str]) -> None:
    if argv[0] == "roster":
        resolve_roster_command(argv)
    elif argv[0] == "celery":
        resolve_celery_command(argv)
    elif argv[0] == "gunicorn":
        # The last argument is the application: "module:factory()" gunicorn calls for the app.
        target = argv[-1]
        module, _, factory = target.partition(":")
        assert factory.endswith("()"), f"{target}: a factory call, so no app is built at import"
        import importlib

        assert callable(getattr(importlib.import_module(module), factory[:-2]))
    elif argv[:2] == ["python", "-c"]:
        compile(argv[2], "<healthcheck>", "exec")
    else:
        raise AssertionError(f"{argv}: not an entry point of this project")


# --------------------------------------------------------------------------- compose file


def test_compose_file_is_well_formed() -> None:
    compose = load_compose()
    unknown = {key for key in compose if not key.startswith("x-")} - TOP_LEVEL_KEYS
    assert not unknown, f"unknown top-level keys {unknown}"
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "migrate", "worker", "beat", "web", "nginx"}
    declared_volumes = set(compose.get("volumes") or {})
    used_volumes: set[str] = set()
    for name, svc in services.items():
        unknown = set(svc) - SERVICE_KEYS
        assert not unknown, f"{name}: unknown keys {unknown}"
        assert "image" in svc or "build" in svc, name
        for dependency, spec in (svc.get("depends_on") or {}).items():
            assert dependency in services, f"{name} depends on unknown service {dependency}"
            assert spec["condition"] in DEPENDS_CONDITIONS, (name, spec)
        if "healthcheck" in svc:
            check = svc["healthcheck"]
            assert set(check) <= HEALTHCHECK_KEYS, (name, check)
            assert check["test"][0] in ("CMD", "CMD-SHELL"), (name, check)
            for key in ("interval", "timeout", "start_period"):
                assert DURATION.match(str(check[key])), (name, key, check[key])
            assert isinstance(check["retries"], int) and check["retries"] >= 1
        if "stop_grace_period" in svc:
            assert DURATION.match(svc["stop_grace_period"]), name
        for source, target, mode in volume_mounts(svc):
            assert target.startswith("/"), (name, target)
            assert mode in ("ro", "rw"), (name, mode)
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), f"{name} mounts missing file {source}"
            else:
                used_volumes.add(source)
        assert svc.get("restart") in ("no", "always", "on-failure", "unless-stopped"), name
    assert used_volumes == declared_volumes, "every named volume is declared and used"


def test_every_long_running_service_restarts_and_reports_its_health() -> None:
    services = load_compose()["services"]
    for name in ("postgres", "redis", "worker", "web", "nginx"):
        assert services[name]["restart"] == "unless-stopped", name
        assert "healthcheck" in services[name], name
    # Beat has nothing to ask (no remote control); a crash is a restart, and a stuck beat shows as
    # a growing age of the oldest dirty feed (docs/production.md).
    assert services["beat"]["restart"] == "unless-stopped"
    # The one-shot must not be restarted once it has succeeded.
    assert services["migrate"]["restart"] == "no"
    assert healthcheck_argv(services["postgres"])[0] == "pg_isready"
    assert healthcheck_argv(services["redis"]) == ["redis-cli", "ping"]


def test_postgres_data_lives_in_a_named_volume() -> None:
    postgres = load_compose()["services"]["postgres"]
    mounts = volume_mounts(postgres)
    assert ("pgdata", "/var/lib/postgresql/data", "rw") in mounts
    assert "ports" not in postgres, "the database is not published on the host by default"


def test_redis_is_append_only_fsyncs_every_second_and_never_evicts() -> None:
    redis = load_compose()["services"]["redis"]
    argv = command_of(redis)
    assert argv[0] == "redis-server"
    flags = dict(zip(argv[1::2], argv[2::2], strict=True))
    assert flags == {"--appendonly": "yes", "--appendfsync": "everysec", "--maxmemory-policy": "noeviction"}
    assert any(target == "/data" for _, target, _ in volume_mounts(redis)), "the append-only file persists"
    assert "ports" not in redis


def test_migrations_run_once_before_workers_and_beat() -> None:
    services = load_compose()["services"]
    migrate = services["migrate"]
    assert command_of(migrate) == ["roster", "init"]
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("worker", "beat"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully", name
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy", name


def test_workers_scale_and_beat_is_exactly_one() -> None:
    services = load_compose()["services"]
    worker, beat = services["worker"], services["beat"]
    # `--scale worker=4` fails on a fixed container name or a fixed host port.
    assert "container_name" not in worker
    assert "ports" not in worker
    assert worker.get("scale", 1) == 1 and "replicas" not in worker.get("deploy", {})
    assert parse_celery_argv(command_of(worker)).subcommand == "worker"
    call = parse_celery_argv(command_of(beat))
    assert call.subcommand == "beat"
    assert beat.get("scale", 1) == 1
    assert beat.get("deploy", {}).get("replicas", 1) == 1
    # One beat in the whole stack: no worker embeds one (-B), no other service runs beat.
    for name, svc in services.items():
        if "command" in svc and command_of(svc)[0] == "celery" and name != "beat":
            argv = command_of(svc)
            assert "-B" not in argv and "--beat" not in argv and parse_celery_argv(argv).subcommand != "beat"
    # The schedule file sits on a volume the non-root user can write.
    schedule = next(a.split("=", 1)[1] for a in call.args if a.startswith("--schedule="))
    assert any(schedule.startswith(target + "/") for _, target, _ in volume_mounts(beat))


def test_every_service_command_is_a_real_entry_point() -> None:
    compose = load_compose()
    for svc in roster_services(compose).values():
        resolve_entry_point(command_of(svc))
        if "healthcheck" in svc:
            resolve_entry_point(healthcheck_argv(svc))
    assert set(roster_services(compose)) == {"migrate", "worker", "beat", "web"}


def test_tasks_app_is_the_celery_app_the_services_run() -> None:
    from celery import Celery

    import tasks.app

    assert isinstance(tasks.app.app, Celery)


def variables_read() -> set[str]:
    """The ROSTER_* variables the programs read: all through the one settings object."""

    return set(VARIABLES)


def test_env_example_sets_exactly_the_variables_the_programs_read() -> None:
    env = parse_env_file(ENV_EXAMPLE)
    roster_keys = {key for key in env if key.startswith("ROSTER_")}
    read = variables_read()
    assert roster_keys == read, (
        f"missing: {sorted(read - roster_keys)}, read by nothing: {sorted(roster_keys - read)}"
    )
    # Anything else in the file is there for docker-compose.yml to interpolate, and is used there.
    interpolated = set(INTERPOLATION.findall(COMPOSE.read_text(encoding="utf-8")))
    assert set(env) - roster_keys <= interpolated
    # The example is a working configuration, not just a list of names.
    settings = Settings.from_env(env)
    assert str(settings.feed_dir) == FEED_DIR_IN_CONTAINER
    assert settings.public_base_url.startswith("https://"), "TLS terminates in front of nginx"


def test_compose_sets_only_variables_the_settings_read() -> None:
    compose = load_compose()
    text = COMPOSE.read_text(encoding="utf-8")
    env_example = parse_env_file(ENV_EXAMPLE)
    read = variables_read()
    for name in INTERPOLATION.findall(text):
        assert name in read or name in env_example, f"${{{name}}} is set nowhere"
    for name, svc in compose["services"].items():
        environment = svc.get("environment") or {}
        keys = environment if isinstance(environment, dict) else [e.split("=", 1)[0] for e in environment]
        for key in keys:
            if key.startswith("ROSTER_"):
                assert key in read, f"{name} sets {key}, which nothing reads"
    for name, svc in roster_services(compose).items():
        assert svc["env_file"] == ".env", name


def test_env_example_points_at_the_compose_services() -> None:
    from sqlalchemy.engine import make_url

    compose = load_compose()
    env = parse_env_file(ENV_EXAMPLE)
    postgres = compose["services"]["postgres"]["environment"]
    database = make_url(env["ROSTER_DATABASE_URL"])
    assert database.get_backend_name() == "postgresql"
    assert (database.host, database.port) == ("postgres", 5432)
    assert database.username == postgres["POSTGRES_USER"]
    assert database.database == postgres["POSTGRES_DB"]
    assert database.password == env["POSTGRES_PASSWORD"], "the URL carries the container's password"
    assert env["ROSTER_BROKER_URL"].startswith("redis://redis:6379/")
    # The feed folder the workers write is the one nginx serves, read-only.
    assert ("feeds", env["ROSTER_FEED_DIR"], "rw") in volume_mounts(compose["services"]["worker"])
    assert ("feeds", env["ROSTER_FEED_DIR"], "ro") in volume_mounts(compose["services"]["nginx"])
    assert NGINX_ROOT.replace(FEED_DIR_IN_CONTAINER, env["ROSTER_FEED_DIR"]) in NGINX_CONF.read_text()


def test_nginx_serves_the_committed_config_on_loopback_only() -> None:
    nginx = load_compose()["services"]["nginx"]
    mounts = volume_mounts(nginx)
    assert ("./deploy/nginx/roster.conf", "/etc/nginx/conf.d/default.conf", "ro") in mounts
    assert nginx["ports"] == ["127.0.0.1:8080:8080"], "plain http stays on loopback; TLS is in front"
    assert NGINX_LISTEN in NGINX_CONF.read_text()
    check = healthcheck_argv(nginx)
    assert check[-1] == "http://127.0.0.1:8080/healthz"


# --------------------------------------------------------------------------- Dockerfile


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, rest = line.partition(" ")
            rows.append((instruction.upper(), rest.strip()))
    return rows


def test_image_installs_the_project_with_pip_and_runs_as_a_non_root_user() -> None:
    rows = dockerfile_instructions()
    assert rows[0] == ("FROM", "python:3.11-slim")
    runs = " && ".join(rest for instruction, rest in rows if instruction == "RUN")
    assert re.search(r"\bpip install \.", runs)
    users = [rest for instruction, rest in rows if instruction == "USER"]
    assert users and users[-1] not in ("root", "0", "0:0"), "the last USER is not root"
    env = " ".join(rest for instruction, rest in rows if instruction == "ENV")
    assert f"ROSTER_FEED_DIR={FEED_DIR_IN_CONTAINER}" in env


def test_image_copies_everything_the_package_installs() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    copied: set[str] = set()
    for instruction, rest in dockerfile_instructions():
        if instruction == "COPY":
            *sources, _target = rest.split()
            for source in sources:
                assert (ROOT / source).exists(), f"COPY of missing {source}"
                copied.add(source)
    setuptools = project["tool"]["setuptools"]
    needed = {"pyproject.toml", project["project"]["readme"]}
    needed |= {f"{module}.py" for module in setuptools["py-modules"]}
    needed |= {pattern.rstrip("*") for pattern in setuptools["packages"]["find"]["include"]}
    assert needed <= copied, f"not copied into the image: {needed - copied}"
    ignored = {line.strip() for line in DOCKERIGNORE.read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert not (needed & ignored), ".dockerignore hides what the image needs"
    assert {".venv", ".git", ".env", "var"} <= ignored, "no virtualenv, history or secrets in the context"


# --------------------------------------------------------------------------- the guide


def guide_commands() -> list[list[str]]:
    """Every ``roster ...`` command in the guide: shell lines, run directly or in a container, and inline."""
    text = GUIDE.read_text(encoding="utf-8")
    services = set(load_compose()["services"])
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            argv = shlex.split(line)
            if argv[:2] == ["docker", "compose"] and argv[2:3] in (["run"], ["exec"]):
                rest = [arg for arg in argv[3:] if not arg.startswith("-")]
                assert rest and rest[0] in services, line
                argv = rest[1:]
            if argv[:1] == ["roster"]:
                commands.append(argv)
    for inline in re.findall(r"`(roster [^`]+)`", text):
        commands.append(shlex.split(inline))
    return commands


def test_guide_covers_what_the_issue_asks() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    for heading in ("# Run in production", "## Start", "## Scale the workers", "## Back up and restore PostgreSQL",
                    "## Rotate channel credentials", "## Upgrade (with migrations)", "## What to monitor",
                    "## https and webcal"):
        assert heading in text, heading
    for needle in ("pg_dump", "pg_restore", "--scale worker=", "LLEN celery", "roster reminders list --failed",
                   "feed_state", "webcal://", "TLS terminates in front"):
        assert needle in text, needle


def test_every_roster_command_in_the_guide_exists() -> None:
    commands = guide_commands()
    assert ["roster", "reminders", "list", "--failed"] in commands
    assert ["roster", "init"] in commands
    for argv in commands:
        resolve_roster_command(argv)


def test_guide_watches_the_queue_the_workers_consume() -> None:
    from tasks.app import app

    text = GUIDE.read_text(encoding="utf-8")
    queues = {app.conf.task_default_queue}
    queues |= {queue.name for queue in (app.conf.task_queues or [])}
    for queue in queues:
        assert f"LLEN {queue}" in text, f"the guide does not watch queue {queue!r}"


# --------------------------------------------------------------------------- nginx


def nginx_binary() -> str:
    path = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )
    if path is None:
        service_missing("nginx is not installed (`make test-tools` installs Debian's nginx-light)")
    assert path is not None
    return path


def render_nginx(prefix: Path, server_conf: Path) -> Path:
    """A main config around one server block, with every path of its own under ``prefix``."""
    for folder in ("logs", "tmp"):
        (prefix / folder).mkdir(parents=True, exist_ok=True)
    # As root, nginx's workers drop to an unprivileged user who cannot read pytest's 0700 folders.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""
    main = prefix / "nginx.conf"
    main.write_text(
        f"{user}"
        f"pid {prefix}/nginx.pid;\n"
        f"error_log {prefix}/logs/error.log warn;\n"
        "worker_processes 1;\n"
        "events { worker_connections 64; }\n"
        "http {\n"
        f"    access_log {prefix}/logs/access.log;\n"
        f"    client_body_temp_path {prefix}/tmp/body;\n"
        f"    proxy_temp_path {prefix}/tmp/proxy;\n"
        f"    fastcgi_temp_path {prefix}/tmp/fastcgi;\n"
        f"    uwsgi_temp_path {prefix}/tmp/uwsgi;\n"
        f"    scgi_temp_path {prefix}/tmp/scgi;\n"
        f"    include {server_conf};\n"
        "}\n",
        encoding="utf-8",
    )
    return main


def nginx_argv(binary: str, prefix: Path, main: Path) -> list[str]:
    return [binary, "-p", f"{prefix}/", "-c", str(main), "-e", f"{prefix}/logs/error.log"]


def test_committed_nginx_config_passes_nginx_t(tmp_path: Path) -> None:
    binary = nginx_binary()
    # The committed file as it is, included where the nginx image includes conf.d/*.conf.
    main = render_nginx(tmp_path, NGINX_CONF)
    result = subprocess.run([*nginx_argv(binary, tmp_path, main), "-t"], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr
    assert "[warn]" not in result.stderr and "[emerg]" not in result.stderr, result.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


@dataclass
class RunningNginx:
    port: int
    feed_dir: Path
    prefix: Path

    def get(self, path: str, headers: dict[str, str] | None = None) -> Reply:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request("GET", path, headers=headers or {})
            response = connection.getresponse()
            return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
        finally:
            connection.close()


TOKEN = "q7Vx3-Lr_9ZkQ2mWn4Bt8yHc6JdPa1Ue"  # the shape of secrets.token_urlsafe(24)
BRANCH_FEED = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Roster//Longcheng//ZH\r\n"
    "NAME:顺景花园党支部 志愿服务\r\nEND:VCALENDAR\r\n"
).encode()


@pytest.fixture
def running_nginx(tmp_path: Path) -> Iterator[RunningNginx]:
    binary = nginx_binary()
    feeds = tmp_path / "feeds"
    for folder in ("branches", "communities", "volunteers"):
        (feeds / folder).mkdir(parents=True)
    (feeds / "branches" / "shunjing.ics").write_bytes(BRANCH_FEED)
    (feeds / "communities" / "ailian.ics").write_bytes(BRANCH_FEED)
    (feeds / "district.ics").write_bytes(BRANCH_FEED)
    (feeds / "volunteers" / f"{TOKEN}.ics").write_bytes(BRANCH_FEED)
    (feeds / "index.html").write_text("<!doctype html><title>龙城街道 志愿服务日历</title>", encoding="utf-8")
    # What an atomic writer leaves for an instant: a temp file beside the feed.
    (feeds / "branches" / ".shunjing.ics.k3j9x2.tmp").write_bytes(b"half a feed")

    port = free_port()
    conf = NGINX_CONF.read_text(encoding="utf-8")
    # A test copy: the committed file stays usable as it is in the container.
    assert conf.count(NGINX_LISTEN) == 1 and conf.count(NGINX_ROOT) == 1
    conf = conf.replace(NGINX_LISTEN, f"listen 127.0.0.1:{port};").replace(NGINX_ROOT, f"root {feeds};")
    server_conf = tmp_path / "roster.conf"
    server_conf.write_text(conf, encoding="utf-8")
    main = render_nginx(tmp_path, server_conf)
    process = subprocess.Popen([*nginx_argv(binary, tmp_path, main), "-g", "daemon off;"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while True:
            if process.poll() is not None:
                output = process.stdout.read().decode(errors="replace") if process.stdout else ""
                pytest.fail(f"nginx exited with {process.returncode}: {output}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("nginx did not start listening within 15 s")
                time.sleep(0.05)
        yield RunningNginx(port, feeds, tmp_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()


def assert_inline_calendar(response: Reply) -> None:
    assert response.status == 200
    assert response.header("Content-Type") == "text/calendar; charset=utf-8"
    assert "attachment" not in response.header("Content-Disposition")
    assert response.header("ETag")
    assert re.search(r"max-age=\d+|no-cache", response.header("Cache-Control"))


def test_published_feed_is_served_inline_as_utf8_calendar_with_etag_and_304(
    running_nginx: RunningNginx,
) -> None:
    response = running_nginx.get("/branches/shunjing.ics")
    assert_inline_calendar(response)
    assert response.body == BRANCH_FEED
    assert response.header("Cache-Control") == "public, max-age=300"
    assert response.header("Last-Modified")

    again = running_nginx.get("/branches/shunjing.ics", {"If-None-Match": response.header("ETag")})
    assert again.status == 304
    assert again.body == b""
    assert again.header("ETag") == response.header("ETag")

    # A republish that changed the feed changes the ETag: the client downloads it again.
    (running_nginx.feed_dir / "branches" / "shunjing.ics").write_bytes(BRANCH_FEED + b"\r\n")
    changed = running_nginx.get("/branches/shunjing.ics", {"If-None-Match": response.header("ETag")})
    assert changed.status == 200

    for path in ("/communities/ailian.ics", "/district.ics"):
        assert_inline_calendar(running_nginx.get(path))


def test_private_feed_is_served_only_by_its_token_name(running_nginx: RunningNginx) -> None:
    response = running_nginx.get(f"/volunteers/{TOKEN}.ics")
    assert_inline_calendar(response)
    assert response.header("Cache-Control") == "private, no-cache", "no shared cache keeps a private feed"
    for path in ("/volunteers/", "/volunteers", "/volunteers/?C=M;O=D", f"/volunteers/{TOKEN[:8]}.ics"):
        listing = running_nginx.get(path)
        assert listing.status in (403, 404), path
        assert TOKEN.encode() not in listing.body, path
    # The token is a credential: it stays out of the access log.
    access_log = running_nginx.prefix / "logs" / "access.log"
    assert access_log.exists() and TOKEN not in access_log.read_text()


def test_subscribe_page_is_utf8_html_and_nothing_else_is_served(running_nginx: RunningNginx) -> None:
    for path in ("/", "/index.html"):
        page = running_nginx.get(path)
        assert page.status == 200, path
        assert page.header("Content-Type") == "text/html; charset=utf-8", path
        assert page.header("Cache-Control"), path
        assert "龙城街道" in page.body.decode("utf-8")
    for path in ("/branches/", "/branches/.shunjing.ics.k3j9x2.tmp", "/branches/shunjing.ics.tmp", "/nginx.conf"):
        assert running_nginx.get(path).status in (403, 404), path
    health = running_nginx.get("/healthz")
    assert health.status == 200
