"""The volunteer pages under load, served by gunicorn, on SQLite and PostgreSQL.

Builds a fresh database per backend: 2 communities, 10 branches, 30 services (weekday classrooms,
clinics, visits) planned 4 weeks ahead from today, 200 volunteers each with a personal link and a
few shifts, the rest of the seats open. Starts ``gunicorn -w 4 'web:create_app()'`` on it
(ROSTER_* environment, rate limit raised for the bench) and prints, for 50 concurrent clients
(threads, one keep-alive ``http.client`` connection each, random volunteers):

* **saturated**: every client sends its next request as soon as the last one answered, for
  ``--seconds``: throughput, and p50/p95/p99 latency (queueing behind the busy workers included);
* **paced**: every client waits 0.5-1.5 s between requests (Locust's ``between(0.5, 1.5)``: 50
  people tapping at once, ~50 requests a second), the latency a volunteer sees; the target is
  p95 < 50 ms;

each for GET /v/<token> (我的排班), GET /v/<token>/open (可报名) and, as the baseline in the same
run, GET /healthz (no database, no template). Then the race: 32 volunteers of a branch of their
own (its one service is the race's, so its seats head their seats page on any weekday) who all
see the same role's 3 free seats (GET /open: CSRF token and cookie) POST the claim at the same moment (a
``threading.Barrier``): it prints who was seated and what the others were told, and checks that
exactly 3 seats are held in the database.

Usage: python bench/bench_web.py [--url postgresql+psycopg2://postgres@127.0.0.1:5432/postgres]
       [--only sqlite|postgresql] [--seconds 15] [--clients 50] [--workers 4]
The PostgreSQL URL names the admin database: the bench creates and drops its own database. The
SQLite database is a file in a temporary folder. The clients run on the same machine as the server
and share its cores (``nproc`` is printed).
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

from sqlalchemy import func, select
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scheduler import rosters  # noqa: E402
from scheduler.db import make_engine, session_scope  # noqa: E402
from scheduler.errors import RosterError  # noqa: E402
from scheduler.migrate import upgrade  # noqa: E402
from scheduler.models import SEATED_STATUSES, Assignment, Occurrence, Service  # noqa: E402

COMMUNITIES = ("ailian", "longdong")
BRANCHES_PER_COMMUNITY = 5
VOLUNTEERS = 200
RACERS = 32
RACE_SEATS = 3
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@contextmanager
def fresh_database(url: str, label: str, folder: Path) -> Iterator[str]:
    """A new empty database: a file in ``folder`` for SQLite, a database created (and dropped at
    the end) on the PostgreSQL server ``url`` names."""
    if url.startswith("sqlite"):
        yield f"sqlite:///{folder}/bench_web_{label}.db"
        return
    from bench.bench_fill import server_database

    with server_database(url, f"roster_bench_web_{label}_{uuid.uuid4().hex[:8]}") as created:
        yield created


@dataclass
class Built:
    tokens: list[str]
    seated: int
    open_seats: int
    race_tokens: list[str]
    race_path: str
    race_occurrence: int
    race_role: int


def build(url: str, now: datetime) -> Built:
    """The town the bench runs on, through the domain operations (as the CLI would build it)."""
    from scheduler.organisations import add_branch, add_community
    from scheduler.services import ServiceSpec, add_service
    from scheduler.volunteers import VolunteerSpec, add_volunteer, web_token_of

    engine = make_engine(url)
    upgrade(engine)
    rng = random.Random(7)
    today = now.date()
    kinds = [("四点半课堂", "classroom", "16:30", 120, ["辅导员:3:tutor", "看护:2"]),
             ("义诊", "clinic", "09:00", 180, ["医生:2:doctor", "引导:3"]),
             ("关爱空巢老人", "elderly_care", "14:00", 120, ["探访:4"])]
    days = ("MO,WE,FR", "TU,TH", "SA")
    with session_scope(engine) as s:
        branches: list[str] = []
        for c, community in enumerate(COMMUNITIES):
            add_community(s, community, f"社区{c + 1}")
            for b in range(BRANCHES_PER_COMMUNITY):
                slug = f"{community}-b{b}"
                add_branch(s, slug, f"花园{c + 1}-{b + 1}党支部", community)
                branches.append(slug)
        services: list[Service] = []
        for b, slug in enumerate(branches):
            for k, (title, kind, start, minutes, roles) in enumerate(kinds):
                services.append(add_service(s, f"{slug}-{kind.replace('_', '-')}", ServiceSpec(
                    title=title, kind=kind, branch=slug, venue=f"花园{b + 1}党群之家", rrule=f"FREQ=WEEKLY;BYDAY={days[k]}",
                    start_date=today, start_time=start, duration=minutes, holiday_policy="always", roles=roles,
                    contact_role="支部第一书记")))
        people = []
        for n in range(VOLUNTEERS):
            skills = rng.sample(["tutor", "doctor", "nurse"], k=rng.choice((0, 1, 1, 2)))
            people.append(add_volunteer(s, VolunteerSpec(name=f"志愿者{n:03d}", phone=f"139{n:08d}",
                                                         branch=branches[n % len(branches)], skills=skills)))
        # The race: a branch of its own whose only service it is (so the race's seats head every
        # racer's seats page, whatever the weekday: own branch first), at an hour no other shift uses.
        add_branch(s, f"{COMMUNITIES[0]}-race", "大义诊临时党支部", COMMUNITIES[0])
        race = add_service(s, "race-clinic", ServiceSpec(
            title="社区大义诊", kind="clinic", branch=f"{COMMUNITIES[0]}-race", venue="爱联党群服务中心",
            rrule="FREQ=WEEKLY;BYDAY=SU", start_date=today, start_time="19:00", duration=60, holiday_policy="always",
            roles=[f"引导:{RACE_SEATS}"], contact_role="社区工作人员"))
        racing = [add_volunteer(s, VolunteerSpec(name=f"报名者{n:02d}", phone=f"138{n:08d}",
                                                 branch=f"{COMMUNITIES[0]}-race")) for n in range(RACERS)]
        s.flush()
        occurrences = _plan(s, [*services, race], now)
        race_occ = min((o for o in occurrences if o.service_id == race.id and o.start_at > now + timedelta(days=1)),
                       key=lambda o: o.start_at)
        seated = 0
        for person in people:
            mine = [o for o in occurrences if o.service.branch_id == person.home_branch_id]
            for occ in rng.sample(mine, k=min(4, len(mine))):
                role = rng.choice(occ.service.roles)
                try:
                    with s.begin_nested():
                        rosters.assign(s, str(person.id), occ.id, role.name, now=now)
                    seated += 1
                except RosterError:
                    pass  # a skill, an overlap or a full role: as a coordinator would be refused
        tokens = [web_token_of(s, str(p.id)).web_token or "" for p in people]
        racers = [web_token_of(s, str(p.id)).web_token or "" for p in racing]
        capacity = sum(r.count for o in occurrences for r in o.service.roles)
        race_role = race.roles[0].id
        built = Built(tokens, seated, capacity - seated, racers, f"/claim/{race_occ.id}/{race_role}", race_occ.id,
                      race_role)
    engine.dispose()
    return built


def _plan(session: Session, services: list[Service], now: datetime) -> list[Occurrence]:
    """Four weeks of occurrences from today, by the planner the workers run."""
    from scheduler.planning import local_today, plan

    plan(session, local_today(now=now), 4, now=now)
    ids = [svc.id for svc in services]
    return list(session.scalars(select(Occurrence).where(Occurrence.service_id.in_(ids), Occurrence.start_at > now)
                                .order_by(Occurrence.start_at)))


@contextmanager
def gunicorn(url: str, home: Path, workers: int) -> Iterator[int]:
    """``gunicorn -w N 'web:create_app()'`` on a free port, until the block ends."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    env = {**os.environ, "ROSTER_DATABASE_URL": url, "ROSTER_HOME": str(home), "ROSTER_WEB_SECRET": "bench-" * 6,
           "ROSTER_WEB_RATE_LIMIT": "1000000 per minute", "ROSTER_WEB_BASE_URL": f"http://127.0.0.1:{port}"}
    binary = Path(sys.executable).parent / "gunicorn"
    process = subprocess.Popen([str(binary), "-w", str(workers), "-b", f"127.0.0.1:{port}", "--log-level", "warning",
                                "web:create_app()"], cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    conn.close()
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit("gunicorn did not start")
            time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    seconds: float = 0.0

    def line(self, label: str) -> str:
        ms = sorted(x * 1000 for x in self.latencies)
        q = statistics.quantiles(ms, n=100, method="inclusive")
        bad = {k: v for k, v in self.statuses.items() if k != 200}
        return (f"    {label:<16} {len(ms) / self.seconds:7.0f} req/s  p50 {q[49]:6.1f}  p95 {q[94]:6.1f}  "
                f"p99 {q[98]:6.1f}  max {ms[-1]:6.1f} ms  ({len(ms)} requests{', not 200: ' + str(bad) if bad else ''})")


def load(port: int, paths: list[str], clients: int, seconds: float, pace: tuple[float, float] | None) -> Run:
    """``clients`` threads, each on its own keep-alive connection, GET a random one of ``paths`` in a
    loop for ``seconds`` (after a one-second warm-up that is not counted)."""
    run = Run()
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)
    warm_until = stop_at = 0.0

    def client(seed: int) -> None:
        rng = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        codes: Counter[int] = Counter()
        start.wait()
        while (now := time.perf_counter()) < stop_at:
            began = time.perf_counter()
            conn.request("GET", rng.choice(paths))
            answer = conn.getresponse()
            answer.read()
            took = time.perf_counter() - began
            if answer.getheader("Connection", "").lower() == "close":
                conn.close()  # gunicorn's sync workers close each connection; http.client reopens it
            if now >= warm_until:
                mine.append(took)
                codes[answer.status] += 1
            if pace:
                time.sleep(rng.uniform(*pace))
        conn.close()
        with lock:
            run.latencies.extend(mine)
            run.statuses.update(codes)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    warm_until = time.perf_counter() + 1.0
    stop_at = warm_until + seconds
    start.wait()
    for thread in threads:
        thread.join()
    run.seconds = seconds
    return run


def race(port: int, built: Built, url: str) -> str:
    """32 volunteers claim the 3 free seats of one role at the same moment."""
    told: Counter[str] = Counter()
    lock = threading.Lock()
    barrier = threading.Barrier(len(built.race_tokens))

    def racer(token: str) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("GET", f"/v/{token}/open")
        page = conn.getresponse()
        body = page.read().decode()
        cookie = (page.getheader("Set-Cookie") or "").split(";", 1)[0]
        found = CSRF.search(body)
        seat = f'data-seat="{built.race_occurrence}-{built.race_role}"'
        if found is None or seat not in body:
            barrier.abort()  # the others stop waiting for this one
            raise AssertionError("a racer does not see the race's seats")
        conn.close()
        form = urlencode({"csrf_token": found.group(1)})
        headers = {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}
        # Connect after the barrier: a connection opened before it would hold one of the sync
        # workers idle while the other racers still need them for their seats pages.
        barrier.wait()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("POST", f"/v/{token}{built.race_path}", body=form, headers=headers)
        answer = conn.getresponse()
        answer.read()
        conn.close()
        cookie = (answer.getheader("Set-Cookie") or cookie).split(";", 1)[0]  # the flash rides in the session
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("GET", answer.getheader("Location") or f"/v/{token}", headers={"Cookie": cookie})
        shown = conn.getresponse().read().decode()
        conn.close()
        verdict = next((word for word in ("报名成功", "名额已满", "系统繁忙") if word in shown), f"HTTP {answer.status}?")
        with lock:
            told[verdict] += 1

    threads = [threading.Thread(target=racer, args=(token,)) for token in built.race_tokens]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    took = time.perf_counter() - began
    engine = make_engine(url)
    with session_scope(engine) as s:
        held = s.scalar(select(func.count()).select_from(Assignment).where(
            Assignment.occurrence_id == built.race_occurrence, Assignment.role_id == built.race_role,
            Assignment.status.in_(SEATED_STATUSES)))
    engine.dispose()
    assert held == RACE_SEATS, f"{held} seats held for {RACE_SEATS}"
    assert told["报名成功"] == RACE_SEATS, dict(told)
    return (f"    race: {len(built.race_tokens)} volunteers, {RACE_SEATS} seats, at once: told {dict(told)}; "
            f"seated in the database: {held} (all answered in {took:.1f} s)")


def bench(backend: str, url: str, args: argparse.Namespace, folder: Path) -> None:
    now = datetime.now(UTC)
    with fresh_database(url, backend, folder) as db_url:
        began = time.perf_counter()
        built = build(db_url, now)
        print(f"\n{backend}: {VOLUNTEERS} volunteers with a link, {built.seated} shifts held, {built.open_seats} "
              f"seats open in 4 weeks (built in {time.perf_counter() - began:.0f} s); gunicorn -w {args.workers}")
        shifts = [f"/v/{t}" for t in built.tokens]
        seats = [f"/v/{t}/open" for t in built.tokens]
        with gunicorn(db_url, folder / f"home-{backend}", args.workers) as port:
            for label, pace in (("saturated", None), ("paced 0.5-1.5 s", (0.5, 1.5))):
                print(f"  {args.clients} clients, {label}, {args.seconds:.0f} s each:")
                for name, paths in (("GET /healthz", ["/healthz"]), ("GET /v/<t>", shifts),
                                    ("GET /v/<t>/open", seats)):
                    run = load(port, paths, args.clients, args.seconds, pace)
                    print(run.line(name) + f"  load {os.getloadavg()[0]:.1f}", flush=True)
            print(race(port, built, db_url), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", default="postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args(argv)
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    print(f"python {sys.version.split()[0]}, nproc {os.cpu_count()}, RAM {mem:.0f} GiB, "
          f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} at the start")
    with tempfile.TemporaryDirectory(prefix="bench_web_") as tmp:
        if args.only != "postgresql":
            bench("sqlite", "sqlite://", args, Path(tmp))
        if args.only != "sqlite":
            bench("postgresql", args.url, args, Path(tmp))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
