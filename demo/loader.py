"""``roster demo``: load the Longcheng data, then run one cycle (plan, fill, publish, remind).

By default the cycle runs through a real Celery worker (``demo.workers``); ``--no-workers`` runs
the same jobs in this process.

Loading is idempotent: rows are keyed by slug (places, services) or phone (volunteers), so a
second run adds nothing. Volunteers are synthetic, generated from a fixed seed.
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from demo import data
from scheduler.db import run_in_transaction
from scheduler.i18n import N_, _, format_date, translate
from scheduler.models import Branch, Community, Coordinator, Service, Volunteer
from scheduler.organisations import add_branch, add_community
from scheduler.organisations.coordinators import add_coordinator
from scheduler.services import ServiceSpec, add_service
from scheduler.settings import Settings
from scheduler.volunteers import VolunteerSpec, add_volunteer

DEMO_VOLUNTEERS = 360
DEMO_SEED = 2019  # the year of the seed article


@dataclass
class LoadResult:
    coordinators: int = 0
    communities: int = 0
    branches: int = 0
    services: int = 0
    volunteers: int = 0
    total_communities: int = 0
    total_branches: int = 0
    total_services: int = 0
    total_volunteers: int = 0


def synthetic_volunteers(count: int = DEMO_VOLUNTEERS, seed: int = DEMO_SEED) -> list[VolunteerSpec]:
    """Deterministic volunteers with Chinese names, spread over the demo branches."""
    rng = random.Random(seed)
    phones: set[str] = set()
    specs: list[VolunteerSpec] = []
    branch_slugs = [slug for slug, _, _ in data.BRANCHES]
    for i in range(count):
        name = rng.choice(data.SURNAMES) + "".join(rng.choice(data.GIVEN) for _ in range(rng.choice((1, 2))))
        while True:
            phone = f"13{rng.randint(5, 9)}{rng.randint(0, 99_999_999):08d}"
            if phone not in phones:
                phones.add(phone)
                break
        skills = [skill for skill, share in data.SKILLS if rng.random() < share]
        specs.append(VolunteerSpec(
            name=name,
            phone=phone,
            email=f"volunteer{i + 1:03d}@example.cn" if rng.random() < 0.5 else None,
            branch=branch_slugs[i % len(branch_slugs)],
            skills=skills,
            availability=rng.choice(data.AVAILABILITY_PATTERNS),
            monthly_cap=rng.choice((0, 12, 16, 24, 40)),
        ))
    return specs


def _service_spec(item: dict[str, object], start: date) -> ServiceSpec:
    owner_kind, owner_slug = str(item["owner"]).split(":", 1)
    return ServiceSpec(
        title=str(item["title"]), kind=str(item["kind"]),
        branch=owner_slug if owner_kind == "branch" else None,
        community=owner_slug if owner_kind == "community" else None,
        venue=str(item["venue"]), every=str(item["every"]), start_date=start,
        start_time=str(item["time"]), duration=int(str(item["duration"])), holiday_policy=str(item["policy"]),
        visibility=str(item.get("visibility", "public")), contact_role=str(item["contact"]),
        roles=[str(r) for r in item["roles"]],  # type: ignore[attr-defined]
    )


def load_demo(session: Session, start: date) -> LoadResult:
    """Add whatever of the demo data is missing; return what was added and the totals."""
    result = LoadResult()
    communities = set(session.scalars(select(Community.slug)))
    for slug, name in data.COMMUNITIES:
        if slug not in communities:
            add_community(session, slug, name)
            result.communities += 1
    branches = set(session.scalars(select(Branch.slug)))
    for slug, name, community in data.BRANCHES:
        if slug not in branches:
            add_branch(session, slug, name, community)
            result.branches += 1
    services = set(session.scalars(select(Service.slug)))
    for item in data.SERVICES + data.centre_services():
        if item["slug"] not in services:
            add_service(session, str(item["slug"]), _service_spec(item, start))
            result.services += 1
    phones = set(session.scalars(select(Volunteer.phone)))
    for spec in synthetic_volunteers():
        if spec.phone not in phones:
            add_volunteer(session, spec)
            result.volunteers += 1
    # Each community's Party committee coordinates: it gets the weekly digest on the console.
    have = set(session.scalars(select(Coordinator.community_id)))
    for place in session.scalars(select(Community).order_by(Community.slug)):
        if place.id not in have:
            add_coordinator(session, f"{place.name}党委", community=place.slug)
            result.coordinators += 1
    result.total_communities = len(communities) + result.communities
    result.total_branches = len(branches) + result.branches
    result.total_services = len(services) + result.services
    result.total_volunteers = len(phones) + result.volunteers
    return result


class CycleSteps(Protocol):
    """The cycle's jobs, in order. ``InProcessSteps`` calls them here; ``demo.workers.WorkerSteps``
    sends the same jobs to a Celery worker and waits for each. Every method returns counts."""

    #: One line saying where the jobs ran.
    label: str

    def plan(self, today: date) -> dict[str, int]: ...

    def fill(self, first: date, last: date) -> dict[str, int]: ...

    def relay_and_publish(self) -> dict[str, int]: ...

    def send_due(self) -> tuple[dict[str, int], str]:
        """The dispatch counts and what the console channel printed."""
        ...


def _roster_command() -> str:
    """How to type ``roster`` here: the bare name when it is on PATH, else the venv's path."""
    import shutil
    import sys
    from pathlib import Path

    beside = Path(sys.executable).with_name("roster")
    if shutil.which("roster") == str(beside) or not beside.exists():
        return "roster"
    try:
        return str(beside.relative_to(Path.cwd()))
    except ValueError:
        return str(beside)


def run_demo(engine: Engine, settings: Settings, today: date | None = None,
             steps: CycleSteps | None = None) -> Iterator[str]:
    """Load the demo and run one cycle (in this process unless ``steps`` say otherwise); yield the
    lines a coordinator reads."""
    from scheduler.migrate import upgrade

    today = today or date.today()
    upgrade(engine)
    settings.ensure_dirs()
    loaded = run_in_transaction(engine, lambda s: load_demo(s, today - timedelta(days=today.weekday())))
    yield _("龙城街道 Longcheng demo (ROSTER_LANG=en or zh_CN chooses the language)")
    yield "  " + _("loaded: {communities} communities, {branches} branches, {services} services, "
                   "{volunteers} volunteers, {coordinators} coordinators added").format(
        communities=loaded.communities, branches=loaded.branches, services=loaded.services,
        volunteers=loaded.volunteers, coordinators=loaded.coordinators)
    yield "  " + _("now:    {communities} communities, {branches} branches, {services} services, "
                   "{volunteers} volunteers").format(
        communities=loaded.total_communities, branches=loaded.total_branches, services=loaded.total_services,
        volunteers=loaded.total_volunteers)
    yield from run_cycle(engine, settings, today, steps=steps)


def _relay_all(engine: Engine) -> int:
    from calendars.relay import relay_events

    total = 0
    while True:
        count = run_in_transaction(engine, lambda s: relay_events(s, limit=2000))
        total += count
        if count == 0:
            return total


class InProcessSteps:
    """The cycle's jobs called in this process: the functions the Celery tasks call (tasks/jobs.py)."""

    #: A message id (translated where it is shown).
    label = N_("in this process (--no-workers): the workers' functions, called directly")

    def __init__(self, engine: Engine, settings: Settings, now: datetime | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.now = now or datetime.now(UTC)

    def plan(self, today: date) -> dict[str, int]:
        from scheduler.planning import plan

        result = run_in_transaction(self.engine, lambda s: plan(s, today, self.settings.horizon_weeks, now=self.now,
                                                                policy=self.settings.policy()))
        return {k: v for k, v in result.as_dict().items() if isinstance(v, int)}

    def fill(self, first: date, last: date) -> dict[str, int]:
        from scheduler.rosters.fill import fill

        result = run_in_transaction(self.engine, lambda s: fill(s, first, last, now=self.now,
                                                                policy=self.settings.policy()))
        return {"filled": result.filled, "already_taken": result.already_taken, "left_open": result.left_open}

    def relay_and_publish(self) -> dict[str, int]:
        from calendars.publish import publish_dirty

        relayed = _relay_all(self.engine)
        published = run_in_transaction(
            self.engine, lambda s: publish_dirty(s, self.settings, now=self.now, include_district=True))
        return {"relayed": relayed, "written": published.written, "unchanged": published.unchanged,
                "deleted": published.deleted}

    def send_due(self) -> tuple[dict[str, int], str]:
        from scheduler.messages.channels import channels_from_settings
        from scheduler.reminders.dispatch import dispatch_due

        stream = io.StringIO()
        channels = channels_from_settings(self.settings, stream=stream)
        try:
            sent = dispatch_due(self.engine, self.settings, now=self.now, channels=channels, max_batches=100,
                                policy=self.settings.policy())
        finally:
            channels.close()
        return {k: v for k, v in sent.as_dict().items() if isinstance(v, int)}, stream.getvalue()


def console_reminders(text: str) -> list[str]:
    """The reminders in the console channel's output, one string each (other lines dropped)."""
    messages: list[list[str]] = []
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("[提醒 "):
            current = [line]
            messages.append(current)
        elif line.startswith(("[", "worker:")) or not line.strip():
            current = None  # a notice, or whatever else shares the worker's stdout
        elif current is not None:
            current.append(line)
    return ["\n".join(m) for m in messages]


def run_cycle(engine: Engine, settings: Settings, today: date, now: datetime | None = None,
              fill_days: int = 14, shown_reminders: int = 3, steps: CycleSteps | None = None) -> Iterator[str]:
    """One cycle of the workers' jobs, in order: plan, fill, relay, publish, send due reminders.

    ``roster run`` runs them on beat's intervals instead of once; ``steps`` says where they run
    (default: in this process).
    """
    steps = steps or InProcessSteps(engine, settings, now)
    yield "  " + _("workers:  {label}").format(label=translate(steps.label))
    planned = steps.plan(today)
    yield "  " + _("plan:     {created} occurrences created, {unchanged} unchanged, {cancelled} cancelled, "
                   "{removed} removed over {weeks} weeks").format(
        created=planned.get("created", 0), unchanged=planned.get("unchanged", 0),
        cancelled=planned.get("cancelled", 0), removed=planned.get("removed", 0), weeks=settings.horizon_weeks)
    if planned.get("provisional"):
        yield "            " + _("{count} occurrences are PROVISIONAL (待定): no official holiday data for their "
                                 "year yet; load it with `roster holidays load FILE`").format(
            count=planned["provisional"])
    last = today + timedelta(days=fill_days - 1)
    filled = steps.fill(today, last)
    yield "  " + _("fill:     {filled} seats filled from {first} to {last}, {taken} already taken, "
                   "{open} left open").format(
        filled=filled.get("filled", 0), first=format_date(today, with_year=True),
        last=format_date(last, with_year=True), taken=filled.get("already_taken", 0), open=filled.get("left_open", 0))
    published = steps.relay_and_publish()
    yield "  " + _("publish:  {relayed} events relayed; {written} feeds written, {unchanged} unchanged, "
                   "{deleted} deleted").format(
        relayed=published.get("relayed", 0), written=published.get("written", 0),
        unchanged=published.get("unchanged", 0), deleted=published.get("deleted", 0))
    sent, console = steps.send_due()
    yield "  " + _("remind:   {sent} reminders sent, {deferred} deferred (quiet hours or limits), {stale} stale, "
                   "{failed} failed").format(
        sent=sent.get("sent", 0), deferred=sent.get("deferred", 0), stale=sent.get("stale", 0),
        failed=sent.get("failed", 0))
    messages = console_reminders(console)
    for message in messages[:shown_reminders]:
        yield "            " + message.rstrip().replace("\n", "\n            ")
    if len(messages) > shown_reminders:
        yield "            " + _("... and {count} more on the console channel").format(
            count=len(messages) - shown_reminders)
    feeds = settings.feed_dir
    yield "  " + _("results:")
    yield "    " + _("database  {url}").format(url=settings.database_url)
    yield "    " + _("feeds     {folder}/ (index.html lists every public feed with a QR code)").format(folder=feeds)
    yield "    " + _("example   {first}, {second}").format(first=f"{feeds}/branches/shunjing.ics",
                                                           second=f"{feeds}/district.ics")
    roster = _roster_command()
    yield "    " + _("next      {commands}").format(
        commands=f"{roster} schedule --branch zilu-garden · {roster} feeds serve · {roster} run")
    yield "    " + _("language  ROSTER_LANG=zh_CN (中文) or ROSTER_LANG=en (English) before the command")
