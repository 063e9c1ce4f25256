"""``roster demo``: load the Longcheng data, then run one cycle (plan, fill, publish, remind).

Loading is idempotent: rows are keyed by slug (places, services) or phone (volunteers), so a
second run adds nothing. Volunteers are synthetic, generated from a fixed seed.
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from scheduler import demo_data as data
from scheduler.db import run_in_transaction
from scheduler.models import Branch, Community, Service, Volunteer
from scheduler.organisations import add_branch, add_community
from scheduler.services import ServiceSpec, add_service
from scheduler.settings import Settings
from scheduler.volunteers import VolunteerSpec, add_volunteer

DEMO_VOLUNTEERS = 360
DEMO_SEED = 2019  # the year of the seed article


@dataclass
class LoadResult:
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
    result.total_communities = len(communities) + result.communities
    result.total_branches = len(branches) + result.branches
    result.total_services = len(services) + result.services
    result.total_volunteers = len(phones) + result.volunteers
    return result


def run_demo(engine: Engine, settings: Settings, today: date | None = None) -> Iterator[str]:
    """Load the demo and run one cycle; yield the lines a coordinator reads."""
    from scheduler.migrate import upgrade

    today = today or date.today()
    upgrade(engine)
    settings.ensure_dirs()
    loaded = run_in_transaction(engine, lambda s: load_demo(s, today - timedelta(days=today.weekday())))
    yield "龙城街道 Longcheng demo"
    yield (f"  loaded: {loaded.communities} communities, {loaded.branches} branches, {loaded.services} services, "
           f"{loaded.volunteers} volunteers added")
    yield (f"  now:    {loaded.total_communities} communities, {loaded.total_branches} branches, "
           f"{loaded.total_services} services, {loaded.total_volunteers} volunteers")
    yield from run_cycle(engine, settings, today)


def _relay_all(engine: Engine) -> int:
    from scheduler.relay import relay_events

    total = 0
    while True:
        count = run_in_transaction(engine, lambda s: relay_events(s, limit=2000))
        total += count
        if count == 0:
            return total


def run_cycle(engine: Engine, settings: Settings, today: date, now: datetime | None = None,
              fill_days: int = 14, shown_reminders: int = 3) -> Iterator[str]:
    """One cycle of the workers' jobs, in order: plan, fill, relay, publish, send due reminders.

    These are the functions the Celery tasks call (tasks/jobs.py); ``roster run`` runs them on
    beat's intervals instead of once.
    """
    from calendars.publish import publish_dirty
    from scheduler.channels import channels_from_settings
    from scheduler.dispatch import dispatch_due
    from scheduler.fill import fill
    from scheduler.planning import plan

    now = now or datetime.now(UTC)
    planned = run_in_transaction(engine, lambda s: plan(s, today, settings.horizon_weeks, now=now))
    yield (f"  plan:     {planned.created} occurrences created, {planned.unchanged} unchanged, "
           f"{planned.cancelled} cancelled, {planned.removed} removed over {settings.horizon_weeks} weeks")
    if planned.provisional:
        yield (f"            {planned.provisional} occurrences are PROVISIONAL (待定): no official holiday data "
               "for their year yet; load it with `roster holidays load FILE`")
    last = today + timedelta(days=fill_days - 1)
    filled = run_in_transaction(engine, lambda s: fill(s, today, last, now=now))
    yield (f"  fill:     {filled.filled} seats filled from {today.isoformat()} to {last.isoformat()}, "
           f"{filled.already_taken} already taken, {filled.left_open} left open")
    relayed = _relay_all(engine)
    published = run_in_transaction(engine, lambda s: publish_dirty(s, settings, now=now, include_district=True))
    yield (f"  publish:  {relayed} events relayed; {published.written} feeds written, "
           f"{published.unchanged} unchanged, {published.deleted} deleted")
    stream = io.StringIO()
    channels = channels_from_settings(settings, stream=stream)
    try:
        sent = dispatch_due(engine, settings, now=now, channels=channels, max_batches=100)
    finally:
        channels.close()
    yield (f"  remind:   {sent.sent} reminders sent, {sent.deferred} deferred (quiet hours or limits), "
           f"{sent.stale} stale, {sent.failed} failed")
    messages = [m for m in stream.getvalue().split("[提醒 ") if m.strip()]
    for message in messages[:shown_reminders]:
        yield "            [提醒 " + message.rstrip().replace("\n", "\n            ")
    if len(messages) > shown_reminders:
        yield f"            ... and {len(messages) - shown_reminders} more on the console channel"
    feeds = settings.feed_dir
    yield "  results:"
    yield f"    database  {settings.database_url}"
    yield f"    feeds     {feeds}/ (index.html lists every public feed with a QR code)"
    yield f"    example   {feeds}/branches/shunjing.ics, {feeds}/district.ics"
    yield "    next      roster schedule --branch zilu-garden · roster feeds serve · roster run"
