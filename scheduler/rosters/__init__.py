"""Rosters (排班): assign, unassign, confirm, decline, swap, and a waitlist promoted in order.

Capacity is a database invariant: a seated assignment holds ``seat_no`` in 1..role.count and
UNIQUE(occurrence_id, role_id, seat_no) forbids two holders of one seat. We take the lowest free
seat inside a SAVEPOINT and, when another writer took it first (IntegrityError), look again; when
no seat number is left the role is full. A read-then-write count alone would overbook under races.

Soft checks (skill, availability, blackout dates, overlapping shifts, monthly cap) refuse with
``CheckRefused``; a coordinator may override them with ``force`` (recorded on the row). A
deactivated volunteer and a full role are never overridable.

Every change writes its event (ids only) and its change notice in the caller's transaction; the
before-shift reminders follow from the seat (``scheduler.reminders.scan``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scheduler import validation as v
from scheduler.db import utcnow
from scheduler.errors import CapacityFull, CheckRefused, Conflict, InvalidInput, NotFound
from scheduler.events import record_event
from scheduler.i18n import _
from scheduler.models import (
    SEATED_STATUSES,
    Assignment,
    AssignmentStatus,
    Occurrence,
    OccurrenceStatus,
    Role,
    Volunteer,
)
from scheduler.planning.occurrences import get_occurrence
from scheduler.policy import DEFAULT_POLICY, OperationPolicy
from scheduler.reminders import notify, notify_assigned
from scheduler.rosters.schedule import status_label
from scheduler.volunteers import get_volunteer
from scheduler.volunteers.eligibility import check_reasons, hard_reasons, zone

#: Seated statuses a coordinator can still change (attended / no_show belong to attendance).
OPEN_SEATED = (AssignmentStatus.INVITED, AssignmentStatus.CONFIRMED)
# --------------------------------------------------------------------------- lookups


def get_assignment(session: Session, assignment_id: str | int) -> Assignment:
    assignment = session.get(Assignment, v.record_id(assignment_id, "assignment"))
    if assignment is None:
        raise NotFound("assignment", assignment_id)
    return assignment


def find_assignment(session: Session, ref: str | int, occurrence_id: str | int | None = None) -> Assignment:
    """An assignment by its id, or (when ``occurrence_id`` is given) by volunteer id/phone at that occurrence."""
    if occurrence_id is None:
        return get_assignment(session, ref)
    volunteer = get_volunteer(session, str(ref))
    occurrence = get_occurrence(session, occurrence_id)
    assignment = session.scalar(
        select(Assignment).where(Assignment.occurrence_id == occurrence.id, Assignment.volunteer_id == volunteer.id)
    )
    if assignment is None:
        raise NotFound("assignment", _("volunteer #{volunteer} at occurrence #{occurrence}").format(
            volunteer=volunteer.id, occurrence=occurrence.id))
    return assignment


def role_of(occurrence: Occurrence, role_name: str | None) -> Role:
    """The service's role by name; the only role when the service has one and no name is given."""
    roles = occurrence.service.roles
    if role_name is None or not role_name.strip():
        if len(roles) == 1:
            return roles[0]
        raise InvalidInput("role", _("service {service} has several roles; give one of {roles}").format(
            service=occurrence.service.slug, roles=", ".join(r.name for r in roles)))
    wanted = role_name.strip()
    for role in roles:
        if role.name == wanted:
            return role
    raise NotFound("role", _("{wanted} (service {service} has {roles})").format(
        wanted=wanted, service=occurrence.service.slug, roles=", ".join(r.name for r in roles)))


def _require_open(occurrence: Occurrence, now: datetime) -> None:
    if occurrence.status != OccurrenceStatus.SCHEDULED:
        raise Conflict(_("occurrence #{id} is {status}").format(id=occurrence.id,
                                                                status=status_label(occurrence.status)))
    if occurrence.end_at <= now:
        raise Conflict(_("occurrence #{id} is already over").format(id=occurrence.id))


def _require_active(volunteer: Volunteer) -> None:
    if not volunteer.active:
        raise Conflict(_("volunteer #{id} is deactivated and cannot take shifts (not overridable)").format(
            id=volunteer.id))


# --------------------------------------------------------------------------- seats


def free_seats(session: Session, occurrence_id: int, role: Role, exclude_id: int | None = None) -> list[int]:
    """Seat numbers 1..count that no seated assignment holds, lowest first."""
    query = select(Assignment.seat_no).where(
        Assignment.occurrence_id == occurrence_id, Assignment.role_id == role.id, Assignment.seat_no.is_not(None)
    )
    if exclude_id is not None:
        query = query.where(Assignment.id != exclude_id)
    with session.no_autoflush:
        taken = set(session.scalars(query))
    return [n for n in range(1, role.count + 1) if n not in taken]


def _seat(session: Session, assignment: Assignment, role: Role, status: str, prefer: int | None = None) -> None:
    """Give ``assignment`` the lowest free seat (or ``prefer``) in ``role``; CapacityFull when none is left.

    Each attempt runs in a SAVEPOINT: when another transaction committed (or holds) the same seat
    number, the unique constraint rejects ours, the savepoint rolls back and we look again.
    """
    occurrence_id = assignment.occurrence_id
    volunteer_id = assignment.volunteer_id
    values = {name: getattr(assignment, name) for name in (
        "occurrence_id", "role_id", "volunteer_id", "forced", "force_note", "reason", "explanation", "sequence",
        "created_at", "updated_at")}
    for _attempt in range(role.count + 10):
        free = free_seats(session, occurrence_id, role, assignment.id)
        if not free:
            raise CapacityFull(_("role {role} at occurrence #{occurrence} is full ({count} of {count} seats "
                                 "taken)").format(role=role.name, occurrence=occurrence_id, count=role.count))
        seat = prefer if prefer in free else free[0]
        prefer = None
        try:
            with session.begin_nested():
                for name, value in values.items():
                    setattr(assignment, name, value)
                assignment.status = status
                assignment.seat_no = seat
                assignment.waitlist_pos = None
                session.add(assignment)
                session.flush()
            return
        except IntegrityError:
            # Lost the race for that seat, or this volunteer got a row here meanwhile.
            other = session.scalar(select(Assignment.id).where(
                Assignment.occurrence_id == occurrence_id, Assignment.volunteer_id == volunteer_id))
            if other is not None and other != assignment.id:
                raise Conflict(_("volunteer #{volunteer} was just placed at occurrence #{occurrence} by someone "
                                 "else").format(volunteer=volunteer_id, occurrence=occurrence_id)) from None
    raise CapacityFull(_("role {role} at occurrence #{occurrence} stayed full after several attempts").format(
        role=role.name, occurrence=occurrence_id))


def _waitlist(session: Session, assignment: Assignment) -> None:
    last = session.scalar(select(func.max(Assignment.waitlist_pos)).where(
        Assignment.occurrence_id == assignment.occurrence_id, Assignment.role_id == assignment.role_id,
        Assignment.status == AssignmentStatus.WAITLISTED))
    assignment.status = AssignmentStatus.WAITLISTED
    assignment.seat_no = None
    assignment.waitlist_pos = (last or 0) + 1
    session.add(assignment)
    session.flush()


def _event(session: Session, kind: str, assignment: Assignment, **extra: Any) -> None:
    record_event(session, kind, assignment_id=assignment.id, occurrence_id=assignment.occurrence_id,
                 volunteer_id=assignment.volunteer_id, role_id=assignment.role_id, status=assignment.status,
                 **extra)


def _touch(assignment: Assignment, now: datetime) -> None:
    assignment.sequence = (assignment.sequence or 0) + 1
    assignment.updated_at = now


def _shift_ahead(assignment: Assignment, now: datetime) -> bool:
    return assignment.occurrence.end_at > now and assignment.occurrence.status == OccurrenceStatus.SCHEDULED


# --------------------------------------------------------------------------- operations


def assign(session: Session, volunteer_ref: str, occurrence_id: str | int, role_name: str | None = None,
           force: bool = False, note: str | None = None, now: datetime | None = None,
           waitlist: bool = False, policy: OperationPolicy = DEFAULT_POLICY) -> Assignment:
    """Put a volunteer in a role at an occurrence (status ``invited``).

    Refuses with CheckRefused (listing every reason) unless ``force``; a full role raises
    CapacityFull, or with ``waitlist`` puts the volunteer on the role's waitlist. A volunteer already
    seated in another role of the same occurrence moves to this role (and is told).
    """
    now = now or utcnow()
    volunteer = get_volunteer(session, volunteer_ref)
    occurrence = get_occurrence(session, occurrence_id)
    role = role_of(occurrence, role_name)
    _require_active(volunteer)
    _require_open(occurrence, now)
    if note is not None:
        note = v.text(note, "note", 300, required=False) or None
    existing = session.scalar(select(Assignment).where(
        Assignment.occurrence_id == occurrence.id, Assignment.volunteer_id == volunteer.id))
    if existing is not None and existing.status in SEATED_STATUSES and existing.role_id == role.id:
        raise Conflict(_("volunteer #{volunteer} is already {status} as {role} at occurrence #{occurrence} "
                         "(assignment #{id})").format(volunteer=volunteer.id, status=status_label(existing.status),
                                                      role=role.name, occurrence=occurrence.id, id=existing.id))
    if existing is not None and existing.status == AssignmentStatus.WAITLISTED and existing.role_id == role.id:
        raise Conflict(_("volunteer #{volunteer} is already on the waitlist for {role} at occurrence "
                         "#{occurrence} (position {position})").format(
            volunteer=volunteer.id, role=role.name, occurrence=occurrence.id, position=existing.waitlist_pos))
    if existing is not None and existing.status in (AssignmentStatus.ATTENDED, AssignmentStatus.NO_SHOW):
        raise Conflict(_("assignment #{id} is already recorded as {status}").format(
            id=existing.id, status=status_label(existing.status)))

    if not waitlist and not free_seats(session, occurrence.id, role):
        # Said first: a full role is not overridable, so the soft checks would only mislead.
        raise CapacityFull(_("role {role} at occurrence #{occurrence} is full ({count} of {count} seats "
                             "taken)").format(role=role.name, occurrence=occurrence.id, count=role.count))
    what = _("cannot assign volunteer #{volunteer} to occurrence #{occurrence} as {role}").format(
        volunteer=volunteer.id, occurrence=occurrence.id, role=role.name)
    _refuse_hard(session, volunteer, occurrence, role, what)
    reasons = check_reasons(session, volunteer, occurrence, role)
    if reasons and not force:
        raise CheckRefused(_overridable(what, reasons), reasons)
    if force and not reasons:
        force = False  # nothing was overridden: don't mark the row as forced
    explanation = {"method": "manual", "overridden": reasons} if reasons else {"method": "manual"}

    if existing is not None and existing.status in OPEN_SEATED:
        return _change_role(session, existing, role, force, note, explanation, now, policy=policy)

    assignment = _ready_row(existing, volunteer, occurrence, role, force, note, explanation, now)
    try:
        _seat(session, assignment, role, AssignmentStatus.INVITED)
    except CapacityFull:
        if not waitlist:
            raise
        _waitlist(session, assignment)
        _event(session, "assignment.created", assignment, waitlist_pos=assignment.waitlist_pos)
        return assignment
    _event(session, "assignment.created", assignment, forced=assignment.forced)
    notify_assigned(session, assignment, now, policy=policy)
    return assignment


def _refuse_hard(session: Session, volunteer: Volunteer, occurrence: Occurrence, role: Role, what: str) -> None:
    """Refuse a placement that breaks a hard rule (qualification, age, a minor's consent or latest
    end), whatever ``force`` says."""
    hard = hard_reasons(session, volunteer, occurrence, role)
    if hard:
        raise CheckRefused(_("{what}: {reasons} (--force does not override these)").format(
            what=what, reasons="; ".join(hard)), hard)


def _overridable(what: str, reasons: list[str]) -> str:
    """The message of a refusal that --force overrides."""
    return _("{what}: {reasons} (use --force to override)").format(what=what, reasons="; ".join(reasons))


def _change_role(session: Session, assignment: Assignment, role: Role, force: bool, note: str | None,
                 explanation: dict[str, Any], now: datetime, *, policy: OperationPolicy) -> Assignment:
    old_role = assignment.role
    status = assignment.status
    assignment.forced = force
    assignment.force_note = note if force else None
    assignment.explanation = explanation
    assignment.role_id = role.id
    _touch(assignment, now)
    _seat(session, assignment, role, status)
    session.refresh(assignment, ["role"])
    _event(session, "assignment.changed", assignment, previous_role_id=old_role.id)
    notify(session, assignment, "role_changed", now, policy=policy)
    promote_waitlist(session, assignment.occurrence, old_role, now, policy=policy)
    return assignment


def _release(session: Session, assignment: Assignment, status: str, now: datetime, reason: str | None) -> None:
    assignment.status = status
    assignment.seat_no = None
    assignment.waitlist_pos = None
    if reason is not None:
        assignment.reason = reason
    _touch(assignment, now)
    session.flush()


def unassign(session: Session, ref: str | int, occurrence_id: str | int | None = None, now: datetime | None = None,
             reason: str | None = None, policy: OperationPolicy = DEFAULT_POLICY) -> Assignment:
    """Take a volunteer off a shift (or off a waitlist); the freed seat goes to the first waitlisted."""
    now = now or utcnow()
    assignment = find_assignment(session, ref, occurrence_id)
    if assignment.status in (AssignmentStatus.ATTENDED, AssignmentStatus.NO_SHOW):
        raise Conflict(_("assignment #{id} is recorded as {status}; correct attendance instead").format(
            id=assignment.id, status=status_label(assignment.status)))
    if assignment.status in (AssignmentStatus.CANCELLED, AssignmentStatus.DECLINED):
        raise Conflict(_("assignment #{id} is already {status}").format(
            id=assignment.id, status=status_label(assignment.status)))
    was_seated = assignment.status in SEATED_STATUSES
    if reason is not None:
        reason = v.text(reason, "reason", 300, required=False) or None
    _release(session, assignment, AssignmentStatus.CANCELLED, now, reason)
    _event(session, "assignment.cancelled", assignment)
    if was_seated and _shift_ahead(assignment, now):
        notify(session, assignment, "unassigned", now, policy=policy)
    if was_seated:
        promote_waitlist(session, assignment.occurrence, assignment.role, now, policy=policy)
    return assignment


def confirm(session: Session, ref: str | int, occurrence_id: str | int | None = None,
            now: datetime | None = None, policy: OperationPolicy = DEFAULT_POLICY) -> Assignment:
    """The volunteer confirms an invited shift."""
    now = now or utcnow()
    assignment = find_assignment(session, ref, occurrence_id)
    if assignment.status == AssignmentStatus.CONFIRMED:
        raise Conflict(_("assignment #{id} is already confirmed").format(id=assignment.id))
    if assignment.status != AssignmentStatus.INVITED:
        raise Conflict(_("assignment #{id} is {status}; only an invited shift can be confirmed").format(
            id=assignment.id, status=status_label(assignment.status)))
    assignment.status = AssignmentStatus.CONFIRMED
    _touch(assignment, now)
    session.flush()
    _event(session, "assignment.changed", assignment)
    return assignment


def decline(session: Session, ref: str | int, reason: str | None = None, occurrence_id: str | int | None = None,
            now: datetime | None = None, policy: OperationPolicy = DEFAULT_POLICY) -> Assignment:
    """The volunteer declines (a reason is optional); the seat goes to the first waitlisted."""
    return decline_shift(session, ref, reason, occurrence_id, now, policy=policy).declined


@dataclass
class Declined:
    """A declined shift and who moved up into its seat: (assignment, former waitlist position)."""

    declined: Assignment
    seat_no: int | None
    promoted: list[tuple[Assignment, int]] = field(default_factory=list)


def decline_shift(session: Session, ref: str | int, reason: str | None = None,
                  occurrence_id: str | int | None = None, now: datetime | None = None, policy: OperationPolicy = DEFAULT_POLICY) -> Declined:
    """``decline``, telling also which seat was freed and who moved up from the waitlist."""
    now = now or utcnow()
    reason = v.text(reason or "", "reason", 300, required=False) or None
    assignment = find_assignment(session, ref, occurrence_id)
    if assignment.status not in (*OPEN_SEATED, AssignmentStatus.WAITLISTED):
        raise Conflict(_("assignment #{id} is {status}; it cannot be declined").format(
            id=assignment.id, status=status_label(assignment.status)))
    was_seated = assignment.status in SEATED_STATUSES
    result = Declined(assignment, assignment.seat_no)
    _release(session, assignment, AssignmentStatus.DECLINED, now, reason)
    _event(session, "assignment.changed", assignment)
    if was_seated:
        positions = dict(session.execute(select(Assignment.id, Assignment.waitlist_pos).where(
            Assignment.occurrence_id == assignment.occurrence_id, Assignment.role_id == assignment.role_id,
            Assignment.status == AssignmentStatus.WAITLISTED)).all())  # type: ignore[arg-type]
        result.promoted = [(entry, positions.get(entry.id) or 0)
                           for entry in promote_waitlist(session, assignment.occurrence, assignment.role, now, policy=policy)]
    return result


def promote_waitlist(session: Session, occurrence: Occurrence, role: Role,
                     now: datetime | None = None, policy: OperationPolicy = DEFAULT_POLICY) -> list[Assignment]:
    """Fill free seats of ``role`` from its waitlist, in order; each promoted volunteer is told.

    Someone who can no longer take the shift (deactivated, or a check now fails and the entry was
    not forced) is skipped and stays on the list.
    """
    now = now or utcnow()
    promoted: list[Assignment] = []
    if occurrence.status != OccurrenceStatus.SCHEDULED or occurrence.end_at <= now:
        return promoted
    waiting = list(session.scalars(select(Assignment).where(
        Assignment.occurrence_id == occurrence.id, Assignment.role_id == role.id,
        Assignment.status == AssignmentStatus.WAITLISTED).order_by(Assignment.waitlist_pos, Assignment.id)))
    for entry in waiting:
        if not free_seats(session, occurrence.id, role):
            break
        if not entry.volunteer.active:
            continue
        if not entry.forced and check_reasons(session, entry.volunteer, occurrence, role):
            continue
        if entry.forced and hard_reasons(session, entry.volunteer, occurrence, role):
            continue  # a forced entry skipped only soft rules
        position = entry.waitlist_pos
        _touch(entry, now)
        try:
            _seat(session, entry, role, AssignmentStatus.INVITED)
        except CapacityFull:
            entry.status, entry.waitlist_pos = AssignmentStatus.WAITLISTED, position
            break
        _event(session, "waitlist.promoted", entry, waitlist_pos=position)
        notify(session, entry, "promoted", now, policy=policy)
        promoted.append(entry)
    return promoted


def _place(session: Session, volunteer: Volunteer, occurrence: Occurrence, role: Role, status: str,
           prefer: int | None, forced: bool, note: str | None, explanation: dict[str, Any],
           now: datetime) -> Assignment:
    """Seat a volunteer (reusing their declined/cancelled/waitlisted row at that occurrence)."""
    row = session.scalar(select(Assignment).where(
        Assignment.occurrence_id == occurrence.id, Assignment.volunteer_id == volunteer.id))
    if row is not None and row.status in SEATED_STATUSES:
        raise Conflict(_("volunteer #{volunteer} already serves at occurrence #{occurrence} (assignment #{id})")
                       .format(volunteer=volunteer.id, occurrence=occurrence.id, id=row.id))
    row = _ready_row(row, volunteer, occurrence, role, forced, note, explanation, now)
    _seat(session, row, role, status, prefer)
    return row


def _ready_row(row: Assignment | None, volunteer: Volunteer, occurrence: Occurrence, role: Role, forced: bool,
               note: str | None, explanation: dict[str, Any], now: datetime) -> Assignment:
    """The volunteer's row at the occurrence, ready to seat in ``role``: a new one, or their earlier
    (declined, cancelled, waitlisted) one with its sequence bumped."""
    if row is None:
        row = Assignment(occurrence_id=occurrence.id, volunteer_id=volunteer.id, created_at=now, sequence=0)
    else:
        _touch(row, now)
    row.occurrence = occurrence
    row.volunteer = volunteer
    row.role_id = role.id
    row.forced = forced
    row.force_note = note if forced else None
    row.reason = None
    row.explanation = explanation
    row.updated_at = now
    return row


def swap(session: Session, ref: str | int, other: str | int | None = None, to_volunteer: str | None = None,
         force: bool = False, note: str | None = None, now: datetime | None = None, policy: OperationPolicy = DEFAULT_POLICY) -> list[Assignment]:
    """Two volunteers trade shifts (``other`` is the second assignment), or one hands a shift to
    another volunteer (``to_volunteer``). Seats are kept; the checks apply to each new holder.

    Returns the assignments that now hold the shifts.
    """
    now = now or utcnow()
    if (other is None) == (to_volunteer is None):
        raise InvalidInput("swap", "give a second assignment to trade with, or --to VOLUNTEER to hand over")
    if note is not None:
        note = v.text(note, "note", 300, required=False) or None
    first = get_assignment(session, ref)
    if first.status not in OPEN_SEATED:
        raise Conflict(_("assignment #{id} is {status}; only an invited or confirmed shift can be swapped").format(
            id=first.id, status=status_label(first.status)))
    _require_open(first.occurrence, now)
    if to_volunteer is not None:
        return [_hand_over(session, first, get_volunteer(session, to_volunteer), force, note, now, policy=policy)]
    second = get_assignment(session, other)  # type: ignore[arg-type]
    if second.id == first.id:
        raise InvalidInput("swap", "an assignment cannot be swapped with itself")
    if second.status not in OPEN_SEATED:
        raise Conflict(_("assignment #{id} is {status}; only an invited or confirmed shift can be swapped").format(
            id=second.id, status=status_label(second.status)))
    _require_open(second.occurrence, now)
    if second.volunteer_id == first.volunteer_id:
        raise Conflict(_("both assignments belong to the same volunteer"))
    for a in (first, second):
        _require_active(a.volunteer)
    what = _("cannot swap assignments #{first} and #{second}").format(first=first.id, second=second.id)
    _refuse_hard(session, first.volunteer, second.occurrence, second.role, what)
    _refuse_hard(session, second.volunteer, first.occurrence, first.role, what)
    reasons = (check_reasons(session, first.volunteer, second.occurrence, second.role, ignore=[first.id])
               + check_reasons(session, second.volunteer, first.occurrence, first.role, ignore=[second.id]))
    if reasons and not force:
        raise CheckRefused(_overridable(what, reasons), reasons)
    forced = bool(reasons and force)
    explanation = {"method": "swap", "with": [first.id, second.id], "overridden": reasons}
    if first.occurrence_id == second.occurrence_id:
        return _trade_roles(session, first, second, forced, note, explanation, now, policy=policy)
    spots = [(first.occurrence, first.role, first.seat_no, first.status),
             (second.occurrence, second.role, second.seat_no, second.status)]
    people = [first.volunteer, second.volunteer]
    for a in (first, second):
        _release(session, a, AssignmentStatus.CANCELLED, now, "swapped")
        _event(session, "assignment.cancelled", a, swap=True)
        notify(session, a, "unassigned", now, {"swap": True}, policy=policy)
    result: list[Assignment] = []
    for person, (occurrence, role, seat, status) in zip(people[::-1], spots, strict=True):
        row = _place(session, person, occurrence, role, status, seat, forced, note, explanation, now)
        _event(session, "assignment.created", row, swap=True, forced=forced)
        notify_assigned(session, row, now, policy=policy)
        result.append(row)
    return result


def _hand_over(session: Session, assignment: Assignment, taker: Volunteer, force: bool, note: str | None,
               now: datetime, *, policy: OperationPolicy) -> Assignment:
    _require_active(taker)
    if taker.id == assignment.volunteer_id:
        raise Conflict(_("volunteer #{volunteer} already holds assignment #{id}").format(
            volunteer=taker.id, id=assignment.id))
    occurrence, role, seat = assignment.occurrence, assignment.role, assignment.seat_no
    what = _("cannot hand assignment #{id} to volunteer #{volunteer}").format(id=assignment.id, volunteer=taker.id)
    _refuse_hard(session, taker, occurrence, role, what)
    reasons = check_reasons(session, taker, occurrence, role)
    if reasons and not force:
        raise CheckRefused(_overridable(what, reasons), reasons)
    existing = session.scalar(select(Assignment).where(
        Assignment.occurrence_id == occurrence.id, Assignment.volunteer_id == taker.id))
    if existing is not None and existing.status in SEATED_STATUSES:
        raise Conflict(_("volunteer #{volunteer} already serves at occurrence #{occurrence} (assignment #{id})")
                       .format(volunteer=taker.id, occurrence=occurrence.id, id=existing.id))
    _release(session, assignment, AssignmentStatus.CANCELLED, now, "handed over")
    _event(session, "assignment.cancelled", assignment, swap=True)
    notify(session, assignment, "unassigned", now, {"swap": True}, policy=policy)
    explanation = {"method": "handover", "from_assignment": assignment.id, "overridden": reasons}
    row = _place(session, taker, occurrence, role, AssignmentStatus.INVITED, seat, bool(reasons and force), note, explanation, now)
    _event(session, "assignment.created", row, swap=True, forced=row.forced)
    notify_assigned(session, row, now, policy=policy)
    return row


def _trade_roles(session: Session, first: Assignment, second: Assignment, forced: bool, note: str | None,
                 explanation: dict[str, Any], now: datetime, *, policy: OperationPolicy) -> list[Assignment]:
    """Two volunteers of one occurrence trade roles: the rows swap role and seat.

    The seat CHECK only asks for seat_no >= 1, so a seat number past any role's count parks one row
    while the other moves, keeping UNIQUE(occurrence, role, seat) satisfied at every flush.
    """
    a_spot, b_spot = (first.role_id, first.seat_no), (second.role_id, second.seat_no)
    first.seat_no = 100_000 + first.id
    session.flush()
    second.role_id, second.seat_no = a_spot
    session.flush()
    first.role_id, first.seat_no = b_spot
    for row in (first, second):
        row.forced = forced or row.forced
        if forced:
            row.force_note = note
        row.explanation = explanation
        _touch(row, now)
    session.flush()
    for row in (first, second):
        session.refresh(row, ["role"])
        _event(session, "assignment.changed", row, swap=True)
        notify(session, row, "role_changed", now, policy=policy)
    return [first, second]


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class AssignmentView:
    """An assignment as a coordinator sees it; ``start_at`` is aware UTC, shown in ``timezone``.

    ``volunteer`` (the name) is None unless it was asked for.
    """

    id: int
    occurrence_id: int
    service: str
    start_at: datetime
    timezone: str
    role: str
    volunteer_id: int
    status: str
    seat_no: int | None
    waitlist_pos: int | None
    forced: bool
    force_note: str | None
    reason: str | None
    volunteer: str | None = None

    @property
    def local_start(self) -> datetime:
        return self.start_at.astimezone(zone(self.timezone))

    def as_json(self) -> dict[str, Any]:
        """The stable JSON shape (``--json``): ``start`` is local ISO with its offset."""
        data: dict[str, Any] = {
            "id": self.id,
            "occurrence_id": self.occurrence_id,
            "service": self.service,
            "start": self.local_start.isoformat(),
            "role": self.role,
            "volunteer_id": self.volunteer_id,
            "status": self.status,
            "seat_no": self.seat_no,
            "waitlist_pos": self.waitlist_pos,
            "forced": self.forced,
            "force_note": self.force_note,
            "reason": self.reason,
        }
        if self.volunteer is not None:
            data["volunteer"] = self.volunteer
        return data


def assignment_view(assignment: Assignment, with_name: bool = False) -> AssignmentView:
    """The assignment's view; ``with_name`` adds the volunteer's name."""
    occurrence = assignment.occurrence
    return AssignmentView(
        id=assignment.id, occurrence_id=assignment.occurrence_id, service=occurrence.service.slug,
        start_at=occurrence.start_at.astimezone(UTC), timezone=occurrence.service.timezone,
        role=assignment.role.name, volunteer_id=assignment.volunteer_id, status=assignment.status,
        seat_no=assignment.seat_no, waitlist_pos=assignment.waitlist_pos, forced=assignment.forced,
        force_note=assignment.force_note, reason=assignment.reason,
        volunteer=assignment.volunteer.name if with_name else None,
    )


@dataclass(frozen=True)
class DeclinedView:
    """A decline as a coordinator sees it: the declined assignment, the seat it freed, and who moved
    up into it (their view, with name, and their former waitlist position)."""

    declined: AssignmentView
    freed_seat: int | None
    promoted: tuple[tuple[AssignmentView, int], ...]

    def as_json(self) -> dict[str, Any]:
        return dict(self.declined.as_json(), freed_seat=self.freed_seat, promoted=[
            dict(entry.as_json(), from_waitlist_pos=position) for entry, position in self.promoted])


def declined_view(result: Declined) -> DeclinedView:
    return DeclinedView(assignment_view(result.declined), result.seat_no,
                        tuple((assignment_view(entry, with_name=True), position) for entry, position in result.promoted))


def volunteer_shifts(session: Session, volunteer_id: int, first: date | None = None) -> Iterable[Assignment]:
    """A volunteer's seated assignments from ``first`` on (used by the private feed and the CLI)."""
    query = (select(Assignment).join(Occurrence, Occurrence.id == Assignment.occurrence_id)
             .where(Assignment.volunteer_id == volunteer_id, Assignment.status.in_(SEATED_STATUSES))
             .order_by(Occurrence.start_at, Assignment.id))
    if first is not None:
        query = query.where(Occurrence.start_at >= datetime.combine(first, datetime.min.time(), zone("UTC")))
    return session.scalars(query)
