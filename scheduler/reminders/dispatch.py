"""Claim due reminders in batches, send them, mark them: at least once, and once in practice.

One cycle (:func:`dispatch_due`), per batch:

1. **Claim** (one short transaction): due rows that are ``pending``, or ``claimed`` with an expired
   lease, become ``claimed`` by this worker until ``lease_until``; ``FOR UPDATE SKIP LOCKED`` on
   PostgreSQL lets workers claim disjoint batches; SQLite's ``BEGIN IMMEDIATE`` serializes them. In
   the same transaction each claimed row is checked against the current roster: the assignment no
   longer seated or the occurrence cancelled -> ``cancelled``; the shift already begun -> ``stale``
   (recorded, not sent); inside quiet hours -> put back until they end, if that still precedes the
   shift.
2. **Send**, outside any transaction.
3. **Mark** ``sent`` (another short transaction, guarded by ``claimed_by`` so that a worker whose
   lease was taken over cannot overwrite). External channels are marked one message at a time.

A worker that dies after the claim leaves rows whose lease expires; the next cycle claims and sends
them. The one duplicate window: a worker that dies after the channel accepted a message and before
the mark committed; the message goes out again after the lease, with the same idempotency key.
Retries back off exponentially; after ``max_attempts`` claims a row is ``failed`` (permanent), listed
by ``roster reminders list --failed``.

A minor's message is copied to the guardian when the consent in force asks for it (``roster minor
consent --copy-reminders``): when the volunteer's row is claimed to be sent, the claim writes the copy's
own row (same assignment, kind and start; channel ``guardian``), claimed with it, so that it goes in
the same batch by SMS to the guardian's phone and is retried, capped (the number's SMS daily cap) and
listed like any reminder. A copy whose consent was revoked, or whose volunteer is 18 on the shift's
day, is cancelled at its claim.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, delete, func, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from scheduler.ages import guardian_copy_phones, minor_on
from scheduler.db import session_scope, utcnow
from scheduler.messages import ShiftFacts, change_of
from scheduler.messages.channels import (
    GUARDIAN_CHANNEL,
    Channel,
    ChannelError,
    ChannelSet,
    Outgoing,
    channels_from_settings,
    target_hash,
)
from scheduler.models import (
    Assignment,
    AssignmentStatus,
    ChannelSend,
    Occurrence,
    OccurrenceStatus,
    Reminder,
    ReminderStatus,
    Role,
    Service,
    Volunteer,
    idempotency_key,
)
from scheduler.policy import OperationPolicy
from scheduler.reminders import QuietHours
from scheduler.reminders.scan import scan_due

DEFAULT_LEASE_SECONDS = 300
DEFAULT_MAX_ATTEMPTS = 5
BACKOFF_BASE_SECONDS = 60
BACKOFF_MAX_SECONDS = 3600
#: Statuses of an assignment whose volunteer still expects the shift.
EXPECTING = (AssignmentStatus.INVITED, AssignmentStatus.CONFIRMED)
#: ChannelSend rows older than this serve no limit any more.
CHANNEL_SEND_RETENTION = timedelta(days=2)


@dataclass
class DispatchResult:
    #: Before-shift reminders the scan found owed and recorded in the ledger.
    recorded: int = 0
    claimed: int = 0
    sent: int = 0
    stale: int = 0
    cancelled: int = 0
    #: Put back for later: quiet hours, a rate limit, a daily cap.
    deferred: int = 0
    #: Failed this time, will be tried again after a backoff.
    retried: int = 0
    #: Failed permanently.
    failed: int = 0
    #: Sent, but the lease had been taken over before the mark (a counted duplicate risk).
    lost_leases: int = 0
    batches: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: DispatchResult) -> None:
        for name in ("recorded", "claimed", "sent", "stale", "cancelled", "deferred", "retried", "failed", "lost_leases",
                     "batches"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors.extend(other.errors)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["errors"] = data["errors"][:20]
        return data


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def backoff(attempts: int) -> timedelta:
    """60 s, 2 min, 4 min... capped at an hour."""
    return timedelta(seconds=min(BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0), BACKOFF_MAX_SECONDS))


def claim_due_reminders(session: Session, now: datetime, batch_size: int, worker_id: str,
                        lease: timedelta) -> list[int]:
    """Claim up to ``batch_size`` due rows for ``worker_id``; each claim counts as an attempt."""
    due = (
        select(Reminder.id)
        .where(Reminder.status.in_((ReminderStatus.PENDING, ReminderStatus.CLAIMED)), Reminder.due_at <= now,
               or_(Reminder.status == ReminderStatus.PENDING, Reminder.lease_until < now))
        .order_by(Reminder.due_at, Reminder.id)
        .limit(batch_size)
    )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    statement = (
        update(Reminder)
        .where(Reminder.id.in_(due.scalar_subquery()))
        .values(status=ReminderStatus.CLAIMED, claimed_by=worker_id, lease_until=now + lease,
                attempts=Reminder.attempts + 1, updated_at=now)
        .returning(Reminder.id)
    )
    return list(session.scalars(statement, execution_options={"synchronize_session": False}))


def _facts(occurrence: Occurrence, service: Service, role: Role, payload: dict[str, Any]) -> ShiftFacts:
    old_start = None
    if isinstance(payload.get("old_start"), str):
        try:
            old_start = datetime.fromisoformat(payload["old_start"])
        except ValueError:
            old_start = None
    return ShiftFacts(
        service_title=service.title, start_at=occurrence.start_at, end_at=occurrence.end_at,
        timezone=service.timezone, venue=service.venue, role=role.name,
        occurrence_cancelled=occurrence.status == OccurrenceStatus.CANCELLED, old_start_at=old_start,
        reason=str(payload.get("reason") or ""),
    )


def _assigned_shifts(session: Session, payloads: list[dict[str, Any]], now: datetime) -> dict[int, ShiftFacts]:
    """The shifts an "assigned" notice names (``payload["assignment_ids"]``) that the volunteer still
    holds and that have not ended, by assignment id (one query for the batch)."""
    ids = sorted({int(aid) for payload in payloads for aid in payload.get("assignment_ids") or ()})
    found: dict[int, ShiftFacts] = {}
    for start in range(0, len(ids), 5000):
        for aid, status, occurrence, service, role in session.execute(
                select(Assignment.id, Assignment.status, Occurrence, Service, Role)
                .join(Occurrence, Assignment.occurrence_id == Occurrence.id)
                .join(Service, Occurrence.service_id == Service.id)
                .join(Role, Assignment.role_id == Role.id)
                .where(Assignment.id.in_(ids[start:start + 5000]))):
            if status in EXPECTING and occurrence.status == OccurrenceStatus.SCHEDULED and occurrence.end_at > now:
                found[aid] = _facts(occurrence, service, role, {})
    return found


def _assigned_facts(payload: dict[str, Any], shifts: dict[int, ShiftFacts]) -> ShiftFacts | None:
    """One fact set for an "assigned" notice: its first live shift, the others in ``also``."""
    live = sorted((shifts[int(aid)] for aid in payload.get("assignment_ids") or () if int(aid) in shifts),
                  key=lambda facts: facts.start_at)
    if not live:
        return None
    return replace(live[0], also=tuple(live[1:]))


def _release(ids: list[int], due_at: datetime, now: datetime, refund: bool = True) -> Any:
    """Put claimed rows back to pending (a deferral is not an attempt)."""
    values: dict[str, Any] = {"status": ReminderStatus.PENDING, "due_at": due_at, "claimed_by": None, "lease_until": None,
                              "updated_at": now}
    if refund:
        values["attempts"] = Reminder.attempts - 1
    return update(Reminder).where(Reminder.id.in_(ids)).values(**values)


def _guardian_phones(session: Session, rows: Sequence[Any]) -> dict[int, str]:
    """Claimed row id -> the guardian's phone, for the rows of volunteers who are minors on their
    shift's day (in the service's zone) with a consent in force that asks for copies of reminders."""
    minors: dict[int, list[int]] = {}
    for row in rows:
        rid, occurrence, service, vid, born, id_number = row[0], row[6], row[7], row[9], row[14], row[15]
        if minor_on(born, id_number, occurrence.start_at.astimezone(ZoneInfo(service.timezone)).date()):
            minors.setdefault(vid, []).append(rid)
    phones = guardian_copy_phones(session, minors)
    return {rid: phones[vid] for vid, rids in minors.items() if vid in phones for rid in rids}


def _owe_guardian_copies(session: Session, copies: list[tuple[Outgoing, dict[str, Any]]], now: datetime,
                         worker_id: str, lease_until: datetime) -> list[Outgoing]:
    """Write each copy's own ledger row (same assignment, kind and start; channel ``guardian``),
    already claimed by this worker, so that it goes in this batch and is retried, capped and listed
    like any reminder. A row that exists already (the volunteer's message is being retried) is left
    to its own course."""
    module: Any = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    owed = []
    for out, row in copies:
        inserted = session.scalar(module.insert(Reminder).values(
            assignment_id=row["assignment_id"], kind=out.kind, channel=GUARDIAN_CHANNEL,
            shift_start=row["shift_start"], due_at=now, status=ReminderStatus.CLAIMED, attempts=1,
            claimed_by=worker_id, lease_until=lease_until, payload=row["payload"], created_at=now, updated_at=now,
        ).on_conflict_do_nothing().returning(Reminder.id))
        if inserted is not None:
            owed.append(replace(out, reminder_id=inserted))
    return owed


def _classify(session: Session, ids: list[int], now: datetime, quiet: QuietHours | None,
              result: DispatchResult, web_base_url: str = "",
              claim: tuple[str, datetime] | None = None) -> list[Outgoing]:
    """Decide, in the claim's transaction, what each claimed row becomes; return those to send.
    ``claim`` (worker id, lease end): a minor's message owes the guardian a copy, claimed with it."""
    rows = session.execute(
        select(Reminder.id, Reminder.assignment_id, Reminder.kind, Reminder.channel, Reminder.payload,
               Assignment.status, Occurrence, Service, Role, Volunteer.id, Volunteer.email, Volunteer.phone,
               Reminder.shift_start, Volunteer.web_token, Volunteer.birth_date, Volunteer.id_number)
        .join(Assignment, Reminder.assignment_id == Assignment.id)
        .join(Occurrence, Assignment.occurrence_id == Occurrence.id)
        .join(Service, Occurrence.service_id == Service.id)
        .join(Role, Assignment.role_id == Role.id)
        .join(Volunteer, Assignment.volunteer_id == Volunteer.id)
        .where(Reminder.id.in_(ids))
    ).all()
    cancelled: list[int] = []
    stale: list[int] = []
    deferred: dict[datetime, list[int]] = {}
    outgoing: list[Outgoing] = []
    shifts = _assigned_shifts(session, [row[4] or {} for row in rows if change_of(row[2]) == "assigned"], now)
    guardians = _guardian_phones(session, rows)
    copies: list[tuple[Outgoing, dict[str, Any]]] = []
    for (rid, aid, kind, channel, payload, a_status, occurrence, service, role, vid, email, phone,
         shift_start, web_token, _born, _id_number) in rows:
        change = change_of(kind)
        facts = None
        guardian_phone = guardians.get(rid)
        if channel == GUARDIAN_CHANNEL and guardian_phone is None:
            # The copy is owed only while the volunteer is a minor on the shift's day and the
            # consent in force asks for copies (revoked, or 18 by then: no copy).
            cancelled.append(rid)
            continue
        if change == "assigned":
            # Told once for all of a volunteer's new shifts: those still held and not over.
            facts = _assigned_facts(payload or {}, shifts)
            if facts is None:
                cancelled.append(rid)
                continue
        elif change is None:
            # A before-shift reminder is owed only while the volunteer still expects the shift.
            if a_status not in EXPECTING or occurrence.status != OccurrenceStatus.SCHEDULED:
                cancelled.append(rid)
                continue
            # Computed for a start the shift no longer has (moved: the scan owes one for the new
            # start), or for an offset the service no longer has.
            if shift_start != occurrence.start_at or _offset_of(kind) not in _offsets(service.reminder_offsets):
                cancelled.append(rid)
                continue
            if occurrence.start_at <= now:
                stale.append(rid)
                continue
        elif occurrence.end_at <= now:
            stale.append(rid)
            continue
        if quiet is not None:
            local = now.astimezone(ZoneInfo(service.timezone))
            if quiet.contains(local.time()):
                _, window_end = quiet.window_around(local)
                # Deferred to the end of quiet hours only if that still precedes the shift;
                # otherwise the message goes now rather than after the shift has begun.
                if window_end < (facts.start_at if facts is not None else occurrence.start_at):
                    deferred.setdefault(window_end.astimezone(now.tzinfo), []).append(rid)
                    continue
        if channel == GUARDIAN_CHANNEL:  # the guardian's phone; never the volunteer's personal link
            outgoing.append(Outgoing(
                reminder_id=rid, idempotency_key=idempotency_key(aid, kind, channel, shift_start), kind=kind,
                channel=channel, volunteer_id=vid, facts=facts or _facts(occurrence, service, role, payload or {}),
                phone=guardian_phone))
            continue
        out = Outgoing(
            reminder_id=rid, idempotency_key=idempotency_key(aid, kind, channel, shift_start), kind=kind, channel=channel,
            volunteer_id=vid,
            facts=facts or _facts(occurrence, service, role, payload or {}), email=email, phone=phone,
            link=f"{web_base_url}/v/{web_token}" if web_base_url and web_token else None,
        )
        outgoing.append(out)
        if guardian_phone is not None:
            copies.append((replace(out, channel=GUARDIAN_CHANNEL, email=None, link=None, phone=guardian_phone,
                                   idempotency_key=idempotency_key(aid, kind, GUARDIAN_CHANNEL, shift_start)),
                           {"assignment_id": aid, "shift_start": shift_start, "payload": payload or {}}))
    if copies and claim is not None:
        outgoing.extend(_owe_guardian_copies(session, copies, now, *claim))
    if cancelled:
        session.execute(update(Reminder).where(Reminder.id.in_(cancelled))
                        .values(status=ReminderStatus.CANCELLED, claimed_by=None, lease_until=None, updated_at=now))
    if stale:
        session.execute(update(Reminder).where(Reminder.id.in_(stale))
                        .values(status=ReminderStatus.STALE, claimed_by=None, lease_until=None, updated_at=now,
                                last_error="the shift had begun before the reminder could go out"))
    for due_at, group in deferred.items():
        session.execute(_release(group, due_at, now))
    result.cancelled += len(cancelled)
    result.stale += len(stale)
    result.deferred += sum(len(g) for g in deferred.values())
    return outgoing


def _offset_of(kind: str) -> int | None:
    try:
        return int(kind.split(":", 1)[1])
    except (IndexError, ValueError):
        return None


def _offsets(value: Any) -> set[int]:
    return {int(o) for o in value or ()}


def _lock_target(session: Session, channel: str, target: str) -> None:
    # Serialize the count-then-insert of one robot's sends across workers (PostgreSQL; SQLite's
    # BEGIN IMMEDIATE already serializes writers).
    if session.get_bind().dialect.name == "postgresql":
        key = int(target[:15], 16)
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def reserve_send(session: Session, channel: Channel, out: Outgoing, now: datetime, timezone: str,
                 quiet: QuietHours | None) -> datetime | None:
    """Count the target's recent sends; under the limits, record this one and return None, else
    return when to try again. A reservation is not undone when the send fails: the robot may have
    counted it, and an over-cautious count only delays."""
    if channel.rate_limit is None and channel.daily_cap is None:
        return None
    target = target_hash(f"{channel.name}:{channel.target(out)}")
    _lock_target(session, channel.name, target)
    recent = select(func.count(), func.min(ChannelSend.sent_at)).where(
        ChannelSend.channel == channel.name, ChannelSend.target == target)
    if channel.rate_limit is not None:
        limit, seconds = channel.rate_limit
        count, oldest = session.execute(recent.where(ChannelSend.sent_at > now - timedelta(seconds=seconds))).one()
        if count >= limit:
            return (oldest or now) + timedelta(seconds=seconds)
    if channel.daily_cap is not None:
        tz = ZoneInfo(timezone)
        midnight = datetime.combine(now.astimezone(tz).date(), datetime.min.time(), tz)
        count, _ = session.execute(recent.where(ChannelSend.sent_at >= midnight)).one()
        if count >= channel.daily_cap:
            tomorrow = midnight + timedelta(days=1)
            return quiet.end_after(tomorrow.date(), tz) if quiet is not None else tomorrow
    session.add(ChannelSend(channel=channel.name, target=target, sent_at=now))
    return None


def _mark_sent(session: Session, ids: list[int], worker_id: str, now: datetime) -> int:
    result = session.execute(
        update(Reminder)
        .where(Reminder.id.in_(ids), Reminder.status == ReminderStatus.CLAIMED, Reminder.claimed_by == worker_id)
        .values(status=ReminderStatus.SENT, sent_at=now, lease_until=None, last_error=None, updated_at=now)
        .returning(Reminder.id),
        execution_options={"synchronize_session": False},
    )
    return len(list(result.scalars()))


def _mark_failure(session: Session, out: Outgoing, error: ChannelError, worker_id: str, now: datetime,
                  max_attempts: int) -> str:
    attempts = session.scalar(select(Reminder.attempts).where(Reminder.id == out.reminder_id,
                                                              Reminder.claimed_by == worker_id))
    if attempts is None:
        return "lost"
    message = str(error)[:500]
    if error.permanent or attempts >= max_attempts:
        values: dict[str, Any] = {"status": ReminderStatus.FAILED, "last_error": message}
        outcome = "failed"
    else:
        values = {"status": ReminderStatus.PENDING, "due_at": now + backoff(attempts), "last_error": message}
        outcome = "retried"
    session.execute(update(Reminder).where(Reminder.id == out.reminder_id, Reminder.claimed_by == worker_id)
                    .values(claimed_by=None, lease_until=None, updated_at=now, **values))
    return outcome


def _send_batch(engine: Engine, channels: ChannelSet, outgoing: list[Outgoing], worker_id: str,
                now: datetime, settings: Any, quiet: QuietHours | None, max_attempts: int,
                result: DispatchResult) -> None:
    unmarked: list[int] = []
    for out in outgoing:
        try:
            channel = channels.get(out.channel)
            if channel.rate_limit is not None or channel.daily_cap is not None:
                with session_scope(engine) as session:
                    retry_at = reserve_send(session, channel, out, now, out.facts.timezone, quiet)
                    if retry_at is not None:
                        if channel.daily_cap is not None and retry_at >= out.facts.start_at:
                            raise ChannelError(f"daily {channel.name} cap for this number reached",
                                               permanent=True)
                        session.execute(_release([out.reminder_id], retry_at, now))
                        result.deferred += 1
                        continue
            channel.send(out)
        except Exception as raised:  # noqa: BLE001 - one message's fault must not stop the batch
            # A channel's bug or an SDK's unexpected exception (not a ChannelError): retried like a
            # transient failure, so the rest of the batch goes and the row fails after max_attempts
            # instead of waiting for its lease at every cycle. Only the type is kept: an exception's
            # text may quote the message or the number.
            exc = raised if isinstance(raised, ChannelError) else ChannelError(
                f"{type(raised).__name__} in the {out.channel} channel")
            with session_scope(engine) as session:
                outcome = _mark_failure(session, out, exc, worker_id, now, max_attempts)
            if outcome in ("failed", "retried"):
                setattr(result, outcome, getattr(result, outcome) + 1)
            result.errors.append(f"#{out.reminder_id} {out.channel}: {exc}")
            continue
        # Accepted by the channel: from here until the mark commits is the duplicate window.
        if channel.mark_each:
            with session_scope(engine) as session:
                marked = _mark_sent(session, [out.reminder_id], worker_id, now)
            result.sent += marked
            result.lost_leases += 1 - marked
        else:
            unmarked.append(out.reminder_id)
    if unmarked:
        with session_scope(engine) as session:
            marked = _mark_sent(session, unmarked, worker_id, now)
        result.sent += marked
        result.lost_leases += len(unmarked) - marked


def dispatch_due(engine: Engine, settings: Any, now: datetime | None = None, batch_size: int = 200,
                 worker_id: str | None = None, *, policy: OperationPolicy, channels: ChannelSet | None = None,
                 max_batches: int = 1, lease_seconds: int = DEFAULT_LEASE_SECONDS,
                 max_attempts: int = DEFAULT_MAX_ATTEMPTS
                 ) -> DispatchResult:
    """Claim, send and mark due reminders: up to ``max_batches`` batches (fewer when none are left).

    ``now`` freezes the clock (tests); otherwise each batch reads it afresh. Quiet hours come from
    ``policy`` (``Settings.policy()``); ``settings`` configures the channels when ``channels`` is left out.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    worker_id = worker_id or default_worker_id()
    quiet = policy.quiet_hours
    own_channels = channels is None
    channel_set = channels or channels_from_settings(settings)
    total = DispatchResult()
    try:
        with session_scope(engine) as session:
            total.recorded = scan_due(session, now or utcnow(), policy=policy).recorded
        for _ in range(max_batches):
            moment = now or utcnow()
            batch = DispatchResult(batches=1)
            with session_scope(engine) as session:
                ids = claim_due_reminders(session, moment, batch_size, worker_id,
                                          timedelta(seconds=lease_seconds))
                batch.claimed = len(ids)
                outgoing = _classify(session, ids, moment, quiet, batch, getattr(settings, "web_base_url", ""),
                                     (worker_id, moment + timedelta(seconds=lease_seconds))) if ids else []
            if outgoing:
                _send_batch(engine, channel_set, outgoing, worker_id, moment, settings, quiet, max_attempts,
                            batch)
            total.add(batch)
            if len(ids) < batch_size:
                break
    finally:
        if own_channels:
            channel_set.close()
    return total


def prune_channel_sends(session: Session, now: datetime | None = None) -> int:
    """Delete ChannelSend rows too old to count for any limit."""
    cutoff = (now or utcnow()) - CHANNEL_SEND_RETENTION
    result: Any = session.execute(delete(ChannelSend).where(ChannelSend.sent_at < cutoff))
    return int(result.rowcount or 0)


def failed_reminders(session: Session) -> list[Reminder]:
    """Permanent failures, for coordinators."""
    return list(session.scalars(select(Reminder).where(Reminder.status == ReminderStatus.FAILED).order_by(Reminder.id)))
