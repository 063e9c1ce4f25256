"""Whether a volunteer can serve a shift: the role's skill, a weekly availability window covering
it, no blackout date, no overlapping shift, the monthly cap. A coordinator's ``assign`` refuses a
seat that breaks one (unless forced), auto-fill applies the same pure rules to rows it loaded in
bulk, and moving an occurrence warns about the seated volunteers its new time breaks.

Hard rules (``hard_reasons``), never overridden by ``--force``: a role's required qualification,
valid on the shift's date; a role's minimum age; a volunteer under 18 needs a guardian's consent in
force and a shift ending by the minors' latest hour. ``check_reasons`` includes them, so every path
that asks it (the seats page, hand-over offers, the waitlist) refuses them too."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

from scheduler import validation as v
from scheduler.i18n import N_, _, translate
from scheduler.models import (
    SEATED_STATUSES,
    Assignment,
    GuardianConsent,
    Occurrence,
    OccurrenceStatus,
    Qualification,
    Role,
    Volunteer,
)
from scheduler.volunteers.minors import ADULT_AGE, age_on, default_latest_end, effective_birth_date
from scheduler.volunteers.qualifications import kind_label
from scheduler.volunteers.skills import canonical_or_same

#: Weekdays as the availability notation writes them (``mon 16:30-18:30``); a Chinese reader sees 周一.
WEEKDAY_NAMES = {1: N_("mon"), 2: N_("tue"), 3: N_("wed"), 4: N_("thu"), 5: N_("fri"), 6: N_("sat"), 7: N_("sun")}


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


# Pure rules, shared with auto-fill (scheduler.rosters.fill), which applies them to rows it loaded in bulk.
def local_span(start_at: datetime, end_at: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    return start_at.astimezone(tz), end_at.astimezone(tz)


def span_key(local_start: datetime, local_end: datetime) -> tuple[int, str, str] | None:
    """(ISO weekday, "HH:MM", "HH:MM") of a shift, or None when it runs past midnight."""
    if local_end.date() == local_start.date():
        end = local_end.strftime("%H:%M")
    elif local_end.date() == local_start.date() + timedelta(days=1) and local_end.hour == local_end.minute == 0:
        end = "24:00"
    else:
        return None
    return local_start.isoweekday(), local_start.strftime("%H:%M"), end


def available(availability: Mapping[str, Any] | None, key: tuple[int, str, str] | None) -> bool:
    """Whether one weekly window covers the whole shift. No windows at all means any time."""
    if not availability:
        return True
    if key is None:
        return False
    weekday, start, end = key
    for window in availability.get(str(weekday), ()):
        first, _, last = str(window).partition("-")
        if first <= start and end <= last:
            return True
    return False


def blackout_days(local_start: datetime, local_end: datetime) -> list[str]:
    """The local dates a shift touches (ISO), for the blackout check."""
    days = [local_start.date()]
    last = (local_end - timedelta(microseconds=1)).date()
    while days[-1] < last:
        days.append(days[-1] + timedelta(days=1))
    return [d.isoformat() for d in days]


def month_bounds(local_start: datetime) -> tuple[datetime, datetime]:
    """The calendar month (in the shift's own zone) that the monthly cap counts."""
    first = local_start.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    nxt = (first + timedelta(days=32)).replace(day=1)
    return first, nxt


def describe_span(key: tuple[int, str, str] | None, local_start: datetime) -> str:
    """A shift's weekly span for a reason (``mon 16:30-18:30``, in Chinese ``周一 16:30-18:30``)."""
    if key is None:
        return _("{start} (past midnight)").format(start=f"{local_start:%Y-%m-%d %H:%M}")
    return f"{translate(WEEKDAY_NAMES[key[0]])} {key[1]}-{key[2]}"


#: A volunteer's seated shift as the overlap and cap rules read it: (assignment id, occurrence id,
#: start_at, end_at).
SeatedShift = tuple[int, int, datetime, datetime]


def seated_shifts(session: Session, volunteer: Volunteer, first: datetime, last: datetime) -> list[SeatedShift]:
    """The volunteer's seated shifts of scheduled occurrences that end after ``first`` and start
    before ``last``: what ``check_reasons(..., shifts=...)`` needs for shifts between them (load
    once, check many: the seats page; one statement built once, on the Core connection)."""
    session.flush()  # Core statements do not autoflush: a caller's pending change is counted too
    return [(a, o, s, e) for a, o, s, e in session.connection().execute(
        _seated_statement(), {"volunteer": volunteer.id, "first": first, "last": last})]


@lru_cache(maxsize=1)
def _seated_statement() -> Select[int, int, datetime, datetime]:
    return (select(Assignment.id, Occurrence.id, Occurrence.start_at, Occurrence.end_at)
            .join(Occurrence, Occurrence.id == Assignment.occurrence_id)
            .where(Assignment.volunteer_id == bindparam("volunteer"), Assignment.status.in_(SEATED_STATUSES),
                   Occurrence.status == OccurrenceStatus.SCHEDULED, Occurrence.end_at > bindparam("first"),
                   Occurrence.start_at < bindparam("last")))


@dataclass(frozen=True, slots=True)
class Standing:
    """What the hard rules read about one volunteer: birth date, a consent in force, and the
    validity (issued_on, expires_on) of each qualification kind held."""

    birth_date: date | None = None
    consent: bool = False
    qualifications: Mapping[str, Sequence[tuple[date | None, date | None]]] = field(default_factory=dict)


NO_STANDING = Standing()


def standings(session: Session, volunteer_ids: Iterable[int]) -> dict[int, Standing]:
    """Standings of many volunteers in three queries a thousand ids at a time (auto-fill's bulk
    path); a volunteer with no birth date and no qualification is left out (``NO_STANDING``)."""
    ids = sorted(set(volunteer_ids))
    born: dict[int, date] = {}
    consent: set[int] = set()
    held: dict[int, dict[str, list[tuple[date | None, date | None]]]] = {}
    for i in range(0, len(ids), 1000):
        chunk = ids[i:i + 1000]
        for vid, day, id_number in session.execute(
                select(Volunteer.id, Volunteer.birth_date, Volunteer.id_number).where(
                    Volunteer.id.in_(chunk), Volunteer.birth_date.is_not(None) | Volunteer.id_number.is_not(None))):
            found = effective_birth_date(day, id_number)
            if found is not None:
                born[vid] = found
        consent.update(session.scalars(select(GuardianConsent.volunteer_id).where(
            GuardianConsent.volunteer_id.in_(chunk), GuardianConsent.revoked_at.is_(None))))
        for vid, kind, issued, expires in session.execute(
                select(Qualification.volunteer_id, Qualification.kind, Qualification.issued_on,
                       Qualification.expires_on).where(Qualification.volunteer_id.in_(chunk))):
            held.setdefault(vid, {}).setdefault(kind, []).append((issued, expires))
    return {vid: Standing(born.get(vid), vid in consent, held.get(vid, {}))
            for vid in set(born) | set(held)}


def standing_of(session: Session, volunteer: Volunteer) -> Standing:
    return standings(session, [volunteer.id]).get(volunteer.id, NO_STANDING)


def latest_end_of(service_latest_end: str | None) -> str:
    """The minors' latest end ("HH:MM") at a service: its own setting, else the configured default."""
    return service_latest_end or default_latest_end()


#: Short English codes of the hard rules, as auto-fill counts the candidates each one ruled out.
HARD_CODES = ("qualification", "age", "minor without consent", "minor: ends too late")


def hard_rule_reasons(standing: Standing, volunteer_id: int, required: str | None, min_age: int | None,
                      local_start: datetime, local_end: datetime, latest_end: str) -> list[str]:
    """The hard rules, pure. Ages and validity are taken at the shift's local date; the latest end
    in the service's zone."""
    return [text for _code, text in _hard_rules(standing, volunteer_id, required, min_age, local_start, local_end,
                                               latest_end)]


def _hard_rules(standing: Standing, volunteer_id: int, required: str | None, min_age: int | None,
                local_start: datetime, local_end: datetime, latest_end: str | None) -> list[tuple[str, str]]:
    """``latest_end`` None: the configured default, read (a setting) only for a minor."""
    reasons: list[tuple[str, str]] = []
    day = local_start.date()
    if required:
        spans = standing.qualifications.get(required, ())
        if not spans:
            reasons.append((HARD_CODES[0], _("qualification: the role requires a {kind}; volunteer #{id} has none on record "
                             "(not overridable)").format(kind=kind_label(required), id=volunteer_id)))
        elif not any((issued is None or issued <= day) and (expires is None or day <= expires)
                     for issued, expires in spans):
            ends = max((e for _i, e in spans if e is not None), default=None)
            if ends is not None and all(e is not None for _i, e in spans) and ends < day:
                reasons.append((HARD_CODES[0], _("qualification: volunteer #{id}'s {kind} ended on {date}, before the shift "
                                 "(not overridable)").format(id=volunteer_id, kind=kind_label(required),
                                                             date=ends.isoformat())))
            else:
                reasons.append((HARD_CODES[0], _("qualification: volunteer #{id}'s {kind} is not valid on {date} "
                                 "(not overridable)").format(id=volunteer_id, kind=kind_label(required),
                                                             date=day.isoformat())))
    born = standing.birth_date
    if born is None:
        if min_age:
            reasons.append((HARD_CODES[1], _("age: the role needs volunteers aged {min} or over; volunteer #{id} has no birth "
                             "date on record").format(min=min_age, id=volunteer_id)))
        return reasons
    age = age_on(born, day)
    if min_age and age < min_age:
        reasons.append((HARD_CODES[1], _("age: the role needs volunteers aged {min} or over; volunteer #{id} is {age} on "
                         "{date}").format(min=min_age, id=volunteer_id, age=age, date=day.isoformat())))
    if age < ADULT_AGE:
        latest_end = latest_end or default_latest_end()
        if not standing.consent:
            reasons.append((HARD_CODES[2], _("minor: volunteer #{id} is {age}, under 18, and has no guardian's consent on record "
                             "(roster guardian consent)").format(id=volunteer_id, age=age)))
        ends_late = local_end.date() > day and not (local_end.date() == day + timedelta(days=1)
                                                    and local_end.hour == local_end.minute == 0
                                                    and latest_end == "24:00")
        if ends_late or local_end.strftime("%H:%M") > latest_end:
            reasons.append((HARD_CODES[3], _("minor: volunteer #{id} is under 18 and the shift ends at {end}, after {latest}").format(
                id=volunteer_id, end=local_end.strftime("%H:%M"), latest=latest_end)))
    return reasons


class BulkHardRules:
    """The hard rules over rows loaded once for a whole fill: the roles that require a
    qualification or an age, the services' latest end for minors, and the candidates' standings."""

    def __init__(self, roles: Mapping[int, tuple[str | None, int | None]], latest: Mapping[int, str | None],
                 people: Mapping[int, Standing]) -> None:
        self.roles, self.latest, self.people = roles, latest, people
        self.default_latest = default_latest_end()

    def code(self, volunteer_id: int, role_id: int, service_id: int, local_start: datetime,
             local_end: datetime) -> str | None:
        """The first hard rule the candidate breaks (a ``HARD_CODES`` entry), or None."""
        rule = self.roles.get(role_id)
        standing = self.people.get(volunteer_id)
        if rule is None and (standing is None or standing.birth_date is None):
            return None
        required, min_age = rule if rule is not None else (None, None)
        found = _hard_rules(standing or NO_STANDING, volunteer_id, required, min_age, local_start, local_end,
                            self.latest.get(service_id) or self.default_latest)
        return found[0][0] if found else None


def load_bulk_hard_rules(session: Session, service_ids: Collection[int],
                         volunteer_ids: Collection[int]) -> BulkHardRules:
    """What ``BulkHardRules`` needs, in five queries whatever the number of candidates: the rule
    rows are few (roles with a requirement, volunteers with a birth date or a qualification)."""
    from scheduler.models import Service

    wanted_services = set(service_ids)
    wanted = set(volunteer_ids)
    roles = {rid: (req, age) for rid, sid, req, age in session.execute(
        select(Role.id, Role.service_id, Role.required_qualification, Role.min_age)
        .where((Role.required_qualification.is_not(None)) | (Role.min_age.is_not(None)))) if sid in wanted_services}
    latest = {sid: end for sid, end in session.execute(
        select(Service.id, Service.minor_latest_end).where(Service.minor_latest_end.is_not(None)))
        if sid in wanted_services}
    born: dict[int, date] = {}
    for vid, day, id_number in session.execute(
            select(Volunteer.id, Volunteer.birth_date, Volunteer.id_number).where(
                Volunteer.birth_date.is_not(None) | Volunteer.id_number.is_not(None), Volunteer.active.is_(True))):
        found = effective_birth_date(day, id_number) if vid in wanted else None
        if found is not None:
            born[vid] = found
    consent = {vid for vid in session.scalars(select(GuardianConsent.volunteer_id).where(
        GuardianConsent.revoked_at.is_(None))) if vid in wanted}
    held: dict[int, dict[str, list[tuple[date | None, date | None]]]] = {}
    for vid, kind, issued, expires in session.execute(
            select(Qualification.volunteer_id, Qualification.kind, Qualification.issued_on, Qualification.expires_on)):
        if vid in wanted:
            held.setdefault(vid, {}).setdefault(kind, []).append((issued, expires))
    people = {vid: Standing(born.get(vid), vid in consent, held.get(vid, {})) for vid in set(born) | set(held)}
    return BulkHardRules(roles, latest, people)


def hard_reasons(session: Session, volunteer: Volunteer, occurrence: Occurrence, role: Role,
                 standing: Standing | None = None) -> list[str]:
    """Every hard rule this placement breaks (qualification, age, consent, a minor's latest end)."""
    placement = Placement.of(occurrence, role)
    if standing is None:
        if not needs_standing(volunteer, placement):
            return []
        standing = standing_of(session, volunteer)
    local_start, local_end = local_span(placement.start_at, placement.end_at, zone(placement.timezone))
    return hard_rule_reasons(standing, volunteer.id, placement.required_qualification, placement.min_age,
                             local_start, local_end, latest_end_of(placement.minor_latest_end))


@dataclass(frozen=True, slots=True)
class Placement:
    """A seat as the rules read it, in plain columns (no ORM object needed: the seats page checks
    hundreds of candidate rows a request)."""

    occurrence_id: int
    start_at: datetime
    end_at: datetime
    timezone: str
    role_name: str
    skill: str | None = None
    required_qualification: str | None = None
    min_age: int | None = None
    #: The service's own latest end for minors ("HH:MM"), else None (the configured default).
    minor_latest_end: str | None = None

    @classmethod
    def of(cls, occurrence: Occurrence, role: Role) -> Placement:
        service = occurrence.service
        return cls(occurrence.id, occurrence.start_at, occurrence.end_at, service.timezone, role.name, role.skill,
                   role.required_qualification, role.min_age, service.minor_latest_end)


def needs_standing(volunteer: Volunteer, placement: Placement) -> bool:
    """Whether the hard rules must load the volunteer's standing for this seat (a requirement of
    the role, or a birth date that may make them a minor)."""
    return (bool(placement.required_qualification or placement.min_age) or volunteer.birth_date is not None
            or bool(volunteer.id_number))


def check_reasons(session: Session, volunteer: Volunteer, occurrence: Occurrence, role: Role,
                  ignore: Collection[int] = (), shifts: list[SeatedShift] | None = None,
                  standing: Standing | None = None) -> list[str]:
    """Every rule this placement breaks, as messages a coordinator reads (``check_breaks``)."""
    return [text for _code, text in check_breaks(session, volunteer, occurrence, role, ignore, shifts, standing)]


def check_breaks(session: Session, volunteer: Volunteer, occurrence: Occurrence, role: Role,
                 ignore: Collection[int] = (), shifts: list[SeatedShift] | None = None,
                 standing: Standing | None = None) -> list[tuple[str, str]]:
    """(code, message) of every rule this placement breaks (``placement_breaks``; empty: all fine).

    ``ignore`` holds assignment ids to leave out of the overlap and cap sums (the shift a volunteer
    gives up in a swap). ``shifts`` (from ``seated_shifts``, covering the occurrence's calendar
    month and its span) replaces the query for the overlap and the cap. The hard rules come
    first (``standing``, from ``standings``, saves their queries when many rows are checked).
    """
    placement = Placement.of(occurrence, role)
    if standing is None:
        standing = standing_of(session, volunteer) if needs_standing(volunteer, placement) else NO_STANDING
    if shifts is None:
        # One query for both rules: the seated shifts overlapping this one or in its calendar month.
        month_start, month_end = month_bounds(local_span(occurrence.start_at, occurrence.end_at,
                                                         zone(placement.timezone))[0])
        seated = (
            select(Assignment.id, Occurrence.id, Occurrence.start_at, Occurrence.end_at)
            .join(Occurrence, Occurrence.id == Assignment.occurrence_id)
            .where(Assignment.volunteer_id == volunteer.id, Assignment.status.in_(SEATED_STATUSES),
                   Occurrence.status == OccurrenceStatus.SCHEDULED, Occurrence.id != occurrence.id,
                   ((Occurrence.start_at < occurrence.end_at) & (Occurrence.end_at > occurrence.start_at))
                   | ((Occurrence.start_at >= month_start) & (Occurrence.start_at < month_end)))
        )
        if ignore:
            seated = seated.where(Assignment.id.not_in(list(ignore)))
        shifts = [(a, o, s, e) for a, o, s, e in session.execute(seated)]
    elif ignore:
        shifts = [row for row in shifts if row[0] not in ignore]
    return placement_breaks(volunteer, placement, standing, shifts)


def placement_fits(volunteer: Volunteer, placement: Placement, standing: Standing,
                   shifts: Sequence[SeatedShift]) -> bool:
    """``check_reasons`` without the database, as a yes or no: whether the seat breaks no rule
    (``placement_breaks`` is empty), given the volunteer's standing and seated shifts (covering the
    seat's span and calendar month; the seat's own occurrence is left out here). Stops at the first
    rule broken and writes no message: the seats page asks it of every row it lists."""
    return next(_breaking(volunteer, placement, standing, shifts), None) is None


#: Short English codes of the soft rules (``placement_breaks``), as moving a shift filters them.
SOFT_CODES = ("skill", "availability", "blackout", "overlap", "monthly cap")


def placement_breaks(volunteer: Volunteer, placement: Placement, standing: Standing,
                     shifts: Sequence[SeatedShift]) -> list[tuple[str, str]]:
    """(code, message) of every rule the seat breaks: the hard rules' ``HARD_CODES``, then the
    soft ones' ``SOFT_CODES``; the message in the language in force."""
    return [(code, message()) for code, message in _breaking(volunteer, placement, standing, shifts)]


def _breaking(volunteer: Volunteer, placement: Placement, standing: Standing,
              shifts: Sequence[SeatedShift]) -> Iterator[tuple[str, Callable[[], str]]]:
    """The rules, in order, lazily: (code, a function writing the message) of each one broken."""
    tz = zone(placement.timezone)
    local_start, local_end = local_span(placement.start_at, placement.end_at, tz)
    for code, text in _hard_rules(standing, volunteer.id, placement.required_qualification, placement.min_age,
                                  local_start, local_end, placement.minor_latest_end):
        yield code, text.__str__
    if placement.skill:
        skills = [canonical_or_same(s) for s in volunteer.skills or []]  # 医生 = doctor, even in older rows
        if canonical_or_same(placement.skill) not in skills:
            yield SOFT_CODES[0], lambda: _("skill: role {role} needs '{skill}'; volunteer #{id} has {skills}").format(
                role=placement.role_name, skill=placement.skill, id=volunteer.id, skills=", ".join(skills) or _("no skills"))
    key = span_key(local_start, local_end)
    if not available(volunteer.availability, key):
        yield SOFT_CODES[1], lambda: _("availability: volunteer #{id} is not available {span} (windows: {windows})").format(
            id=volunteer.id, span=describe_span(key, local_start),
            windows=v.format_availability(volunteer.availability) or _("none"))
    if volunteer.blackout_dates:
        blocked = set(volunteer.blackout_dates) & set(blackout_days(local_start, local_end))
        if blocked:
            yield SOFT_CODES[2], lambda: _("blackout: volunteer #{id} is away on {days}").format(
                id=volunteer.id, days=", ".join(sorted(blocked)))

    mine = [row for row in shifts if row[1] != placement.occurrence_id]
    clashes = [row for row in mine if row[2] < placement.end_at and row[3] > placement.start_at]
    if clashes:
        yield SOFT_CODES[3], lambda: _("overlap: volunteer #{id} already serves at occurrence {occurrences} at that "
                                       "time").format(id=volunteer.id,
                                                      occurrences=", ".join("#" + str(row[1]) for row in clashes))
    if volunteer.monthly_cap_hours:
        month_start, month_end = month_bounds(local_start)
        minutes = sum((row[3] - row[2]).total_seconds() for row in mine if month_start <= row[2] < month_end) / 60
        shift = (placement.end_at - placement.start_at).total_seconds() / 60
        if minutes + shift > volunteer.monthly_cap_hours * 60:
            yield SOFT_CODES[4], lambda: _("monthly cap: volunteer #{id} would serve {hours} h in {month}, over the cap "
                                           "of {cap} h").format(id=volunteer.id, hours=f"{(minutes + shift) / 60:g}",
                                                                month=f"{local_start:%Y-%m}",
                                                                cap=volunteer.monthly_cap_hours)
