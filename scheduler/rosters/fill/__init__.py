"""Auto-fill (自动排班): fill open seats fairly and deterministically, and explain each choice.

Rules, in order, for every open seat (occurrences by start time, then id; roles by id):

1. Only volunteers who pass every check a coordinator's ``assign`` applies: active, the role's
   skill, a weekly availability window covering the shift, no blackout date, no overlapping shift
   (never a double booking), the monthly cap including this shift, not already on a row of this
   occurrence (someone who declined is not asked again); and the hard rules: a role's required
   qualification valid on the shift's date, its minimum age, a minor's guardian consent and latest end.
2. The service's own branch first, then the rest of its community (a community-run service draws
   on the whole community at once).
3. Within a tier: fewer recent no-shows (90 days) first, then fewer minutes served over the trailing
   window (28 days before ``first``, plus what is already rostered up to ``last``, including what
   this run adds), then least recently served, then the lowest volunteer id.

Scale: everything is loaded in a handful of queries (occurrences, roles, volunteers, assignments
around the range), computed in memory, and written in bulk: no query per candidate. Candidates come
off a heap in rank order (the same order as sorting the pool). Communities share no candidate, so
the pass goes a group of communities at a time (the same choices, with the group's volunteers warm
in the CPU cache) and puts the seats back in start order. On PostgreSQL the seats are COPYed
by a writer thread, a batch at a time (each in key order), while the plan goes on (the server's index and foreign-key
work runs on the other core). SQLite writes at the end with executemany. A fill writes no
before-shift reminder: the dispatcher's scan derives them from the seats when they come due. A seat a coordinator took while the fill
was computing is skipped and reported, never double-booked (UNIQUE(occurrence_id, role_id,
seat_no) is the arbiter: the batch falls back to ``ON CONFLICT DO NOTHING``).

Modules: ``loading`` (the queries), ``ranking`` (candidates, eligibility, the greedy pass),
``explain`` (the stored explanation, ``why``, why a seat stayed open), ``rows`` (columns and the
"assigned" notices), ``write`` with its backends ``write_postgres`` and ``write_generic``.
"""

from __future__ import annotations

import gc
import time
from datetime import date, datetime

from sqlalchemy.orm import Session

from scheduler.db import analyze_after_bulk_write, utcnow
from scheduler.errors import InvalidInput
from scheduler.i18n import _
from scheduler.policy import DEFAULT_POLICY, OperationPolicy
from scheduler.rosters.fill.explain import why
from scheduler.rosters.fill.loading import load_bookings, load_candidates, load_occurrences
from scheduler.rosters.fill.ranking import Planner, plan
from scheduler.rosters.fill.results import FillResult, OpenSeats, Placement
from scheduler.rosters.fill.write import write
from scheduler.rosters.fill.write_postgres import SeatStreamer
from scheduler.volunteers.eligibility import load_bulk_hard_rules

__all__ = ["FillResult", "OpenSeats", "Placement", "fill", "why"]

MAX_DAYS = 92


def fill(session: Session, first: date, last: date, branch: str | None = None, community: str | None = None,
         dry_run: bool = False, now: datetime | None = None, policy: OperationPolicy = DEFAULT_POLICY) -> FillResult:
    """Fill the open seats of occurrences whose local date is in ``first``..``last``; see the module doc.
    Notices are routed by ``policy`` (its default channel)."""
    # A city's fill allocates millions of small acyclic tuples: the cyclic collector's passes over
    # them cost a quarter of the run and free nothing, so it is paused for the call.
    collecting = gc.isenabled()
    frozen = gc.get_freeze_count()  # a worker may have frozen its heap on purpose (feeds): keep it so
    gc.disable()
    try:
        return _fill(session, first, last, branch, community, dry_run, now, policy)
    finally:
        if collecting:
            # Nothing was collected meanwhile, so all the fill made sits in the youngest generation:
            # move it to the oldest first, or the next young collections walk those millions of
            # objects (4.5 s on the full synthetic city, paid inside the caller's commit).
            if not frozen:
                gc.freeze()
                gc.unfreeze()
            gc.enable()


def _fill(session: Session, first: date, last: date, branch: str | None, community: str | None,
          dry_run: bool, now: datetime | None, policy: OperationPolicy) -> FillResult:
    if last < first:
        raise InvalidInput("to", "the last date is before the first")
    if (last - first).days >= MAX_DAYS:
        raise InvalidInput("to", _("fill at most {days} days at once").format(days=MAX_DAYS))
    if branch and community:
        raise InvalidInput("branch", "give a branch or a community, not both")
    now = now or utcnow()
    result = FillResult(first=first, last=last, dry_run=dry_run)
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        tick = time.perf_counter()
        result.timings[name] = round(tick - clock, 3)
        clock = tick

    occurrences, services, roles = load_occurrences(session, first, last, branch, community, now)
    result.occurrences = len(occurrences)
    lap("load_occurrences")
    vols = load_candidates(session, services, occurrences)
    lap("load_volunteers")
    planner = Planner(vols)
    planner.hard = load_bulk_hard_rules(session, services, vols)
    load_bookings(session, planner, occurrences, first, last)
    planner.rekey()
    lap("load_assignments")

    streamer = None
    if not dry_run and session.get_bind().dialect.name == "postgresql":
        streamer = SeatStreamer(session, now)
    try:
        plan(planner, occurrences, services, roles, result, streamer)
    except BaseException:
        if streamer is not None:
            streamer.abort()  # the caller's transaction rolls back what it wrote
        raise
    inserted = streamer.close(result.placements) if streamer is not None else None
    # Streamed, the seats went in during the plan: the phase is both.
    lap("compute" if streamer is None else "compute_and_write_seats")
    if streamer is not None:  # of which the writer thread's database work (overlapping the plan)
        result.timings.update({name: round(value, 3) for name, value in streamer.seconds.items()})
    if not dry_run and result.placements:
        write(session, result, services, occurrences, vols, now, inserted, policy=policy)
    lap("write")
    if not dry_run and analyze_after_bulk_write(session, ["assignment"], len(result.placements)):
        lap("analyze")
    return result
