"""Points and time-bank credit (积分 / 时间银行): a ledger of credits earned from approved hours and
points spent at a service centre.

Rules (README, "Points"):

* Amounts are kept in hundredths of a point (``*_centi``), so 1.5 points an hour for 50 minutes is
  exactly 1.25 points; half a hundredth rounds up.
* A credit is the record's approved minutes times the rate of its service's kind **on the day it was
  served** (local date of the check-in). A rate takes effect from its date on and may not start in
  the past: credits already written are never recomputed (never retroactive). No rate set for a
  kind: 1 point an hour.
* The ledger is append-only (a trigger refuses UPDATE and DELETE): when an attendance record's
  approval or minutes change, :func:`sync_attendance_credit` writes one correcting entry for the
  difference between what the record should have earned and what its entries add up to, so calling
  it twice writes nothing the second time.
* The balance is never negative: ``points_balance`` carries ``CHECK (balance_centi >= 0)`` and a
  redemption is one conditional ``UPDATE``, in the same transaction as its ledger entry, so of two
  redemptions racing for the last points exactly one wins. A correction that would take back points
  already spent takes back what is left and says so in its note.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scheduler import validation as v
from scheduler.db import utcnow
from scheduler.errors import Conflict, InvalidInput
from scheduler.i18n import N_, _
from scheduler.models import (
    SERVICE_KINDS,
    Attendance,
    AttendanceStatus,
    Branch,
    Occurrence,
    PointsBalance,
    PointsEntry,
    PointsEntryKind,
    PointsRate,
    Service,
    Volunteer,
)
from scheduler.volunteers import get_volunteer

#: Points an approved hour earns when no rate was set for the service's kind (hundredths).
DEFAULT_RATE_CENTI = 100
#: The most points one redemption may spend, and the highest rate (a typo guard).
MAX_REDEEM = 1_000_000
MAX_RATE = Decimal("100")
#: How entry kinds read in tables (JSON keeps the English values).
ENTRY_KIND_LABELS = {"earned": N_("earned"), "correction": N_("correction"), "redeemed": N_("redeemed")}


# --------------------------------------------------------------------------- amounts


def points_text(centi: int) -> str:
    """``1250`` → ``12.50``."""
    return str((Decimal(centi) / 100).quantize(Decimal("0.01")))


def parse_rate(value: str | int | Decimal, field: str = "rate") -> int:
    """A rate in points per hour (``1``, ``1.5``, up to two decimals), as hundredths; above zero."""
    try:
        rate = Decimal(str(value).strip())
    except InvalidOperation:
        raise InvalidInput(field, _("{value} is not a number of points per hour like 1.5").format(
            value=repr(value))) from None
    if not rate.is_finite() or rate <= 0:
        raise InvalidInput(field, _("{value} is not above zero; a rate is points per approved hour, like 1.5")
                           .format(value=value))
    if rate > MAX_RATE:
        raise InvalidInput(field, _("{value} is more than {most} points an hour").format(value=value, most=MAX_RATE))
    if rate != rate.quantize(Decimal("0.01")):
        raise InvalidInput(field, _("{value} has more than two decimals").format(value=value))
    return int(rate * 100)


def parse_redeem_points(value: str | int, field: str = "points") -> int:
    """The points to spend: a positive whole number (hundredths returned)."""
    text = v.ascii_digits(str(value)).strip()
    if not text.isdigit() or int(text) <= 0:
        raise InvalidInput(field, _("{value} is not a positive whole number of points").format(value=repr(value)))
    if int(text) > MAX_REDEEM:
        raise InvalidInput(field, _("{value} is more than {most} points").format(value=value, most=MAX_REDEEM))
    return int(text) * 100


def credit_centi(minutes: int, rate_centi: int) -> int:
    """Hundredths of a point for ``minutes`` at ``rate_centi`` an hour, half up."""
    return (minutes * rate_centi + 30) // 60


# --------------------------------------------------------------------------- rates


def _kind(value: str) -> str:
    kind = (value or "").strip()
    if kind not in SERVICE_KINDS:
        raise InvalidInput("kind", _("{value} is not a service kind ({kinds})").format(
            value=repr(value), kinds=", ".join(SERVICE_KINDS)))
    return kind


def rate_on(session: Session, kind: str, day: date) -> int:
    """The rate (hundredths a point an hour) for ``kind`` on ``day``: the latest effective by then."""
    rate = session.scalar(
        select(PointsRate.rate_centi).where(PointsRate.kind == kind, PointsRate.effective_from <= day)
        .order_by(PointsRate.effective_from.desc()).limit(1)
    )
    return DEFAULT_RATE_CENTI if rate is None else int(rate)


def set_rate(session: Session, kind: str, rate: str | int | Decimal, effective_from: date, by: str,
             tz: ZoneInfo, now: datetime | None = None) -> PointsRate:
    """Set the rate for a service kind from a date on (today or later: never retroactive)."""
    now = now or utcnow()
    kind = _kind(kind)
    rate_centi = parse_rate(rate)
    by = v.text(by or "", "by", 64)
    today = now.astimezone(tz).date()
    if effective_from < today:
        raise InvalidInput("from", _("{day} is in the past; a rate applies from its date on, never to hours "
                                     "already served (today is {today})").format(
            day=effective_from.isoformat(), today=today.isoformat()))
    existing = session.scalar(select(PointsRate).where(PointsRate.kind == kind,
                                                       PointsRate.effective_from == effective_from))
    if existing is not None:
        raise Conflict(_("from: a rate for {kind} from {day} is already set ({rate} points an hour); "
                         "choose another date").format(kind=kind, day=effective_from.isoformat(),
                                                      rate=points_text(existing.rate_centi)))
    row = PointsRate(kind=kind, rate_centi=rate_centi, effective_from=effective_from, set_by=by, created_at=now)
    session.add(row)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(_("from: a rate for {kind} from {day} is already set; choose another date").format(
            kind=kind, day=effective_from.isoformat())) from None
    return row


def list_rates(session: Session) -> list[dict[str, Any]]:
    """Every rate ever set, by kind then date (the default applies before a kind's first one)."""
    rows = session.scalars(select(PointsRate).order_by(PointsRate.kind, PointsRate.effective_from))
    return [{"kind": r.kind, "rate": points_text(r.rate_centi), "rate_centi": r.rate_centi,
             "effective_from": r.effective_from.isoformat(), "set_by": r.set_by} for r in rows]


# --------------------------------------------------------------------------- the ledger


def _via(session: Session) -> str:
    return str(session.info.get("via") or "")


def _ensure_balance_row(session: Session, volunteer_id: int, now: datetime) -> None:
    dialect = session.get_bind().dialect.name
    values = {"volunteer_id": volunteer_id, "balance_centi": 0, "updated_at": now}
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        session.execute(pg_insert(PointsBalance).values(**values).on_conflict_do_nothing())
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        session.execute(sqlite_insert(PointsBalance).values(**values).on_conflict_do_nothing())


def balance_centi(session: Session, volunteer_id: int) -> int:
    value = session.scalar(select(PointsBalance.balance_centi).where(PointsBalance.volunteer_id == volunteer_id))
    return int(value or 0)


def _add(session: Session, volunteer_id: int, amount: int, now: datetime) -> bool:
    """Move the balance by ``amount``; False (nothing changed) when it would go below zero."""
    _ensure_balance_row(session, volunteer_id, now)
    result = session.execute(
        update(PointsBalance)
        .where(PointsBalance.volunteer_id == volunteer_id, PointsBalance.balance_centi + amount >= 0)
        .values(balance_centi=PointsBalance.balance_centi + amount, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _served_day(session: Session, record: Attendance) -> tuple[date, str]:
    occurrence = session.get(Occurrence, record.occurrence_id)
    assert occurrence is not None  # a foreign key
    service: Service = occurrence.service
    return record.check_in.astimezone(ZoneInfo(service.timezone)).date(), service.kind


def sync_attendance_credit(session: Session, record: Attendance, by: str = "",
                           now: datetime | None = None) -> PointsEntry | None:
    """Make the points an attendance record earned match its state (idempotent).

    Called after each change of the record (check-out, correction, approval, rejection), in its
    transaction, with the volunteer's row locked by the attendance operation. An approved record
    earns its minutes at the rate of its kind on the day served; anything else earns nothing. The
    difference from what its entries add up to is written as one new entry.
    """
    now = now or utcnow()
    target, rate, minutes = 0, None, None
    if record.status == AttendanceStatus.APPROVED and record.minutes:
        day, kind = _served_day(session, record)
        rate, minutes = rate_on(session, kind, day), record.minutes
        target = credit_centi(minutes, rate)
    rows = session.execute(
        select(func.count(PointsEntry.id), func.coalesce(func.sum(PointsEntry.amount_centi), 0))
        .where(PointsEntry.attendance_id == record.id)
    ).one()
    count, credited = int(rows[0]), int(rows[1])
    delta = target - credited
    if delta == 0:
        return None
    note = ""
    if delta < 0:
        available = balance_centi(session, record.volunteer_id)
        if available < -delta:
            note = _("{spent} points were already spent and could not be taken back").format(
                spent=points_text(-delta - available))
            delta = -available
        if delta == 0:
            return None
    changed = _add(session, record.volunteer_id, delta, now)
    assert changed  # a credit always applies; a debit was cut to the balance above (volunteer row locked)
    entry = PointsEntry(
        volunteer_id=record.volunteer_id, kind=PointsEntryKind.EARNED if count == 0 else PointsEntryKind.CORRECTION,
        amount_centi=delta, attendance_id=record.id, rate_centi=rate, minutes=minutes, note=note,
        by=v.text(by or record.approved_by or "", "by", 64, required=False), via=_via(session), created_at=now,
    )
    session.add(entry)
    session.flush()
    return entry


def redeem(session: Session, volunteer_ref: str, points: str | int, centre: str, purpose: str, by: str,
           now: datetime | None = None) -> PointsEntry:
    """Spend whole points at a service centre; refused (nothing written) beyond the balance.

    The balance moves by one conditional UPDATE (``WHERE balance_centi >= n``) under
    ``CHECK (balance_centi >= 0)``: of two redemptions racing for the last points one wins.
    """
    now = now or utcnow()
    amount = parse_redeem_points(points)
    centre = v.text(centre or "", "at", 200)
    purpose = v.text(purpose or "", "for", 300)
    by = v.text(by or "", "by", 64)
    volunteer = get_volunteer(session, volunteer_ref)
    if not _add(session, volunteer.id, -amount, now):
        raise Conflict(_("points: not enough points: volunteer #{id} has {balance}, asked to redeem {asked}").format(
            id=volunteer.id, balance=points_text(balance_centi(session, volunteer.id)), asked=points_text(amount)))
    entry = PointsEntry(volunteer_id=volunteer.id, kind=PointsEntryKind.REDEEMED, amount_centi=-amount,
                        centre=centre, purpose=purpose, by=by, via=_via(session), created_at=now)
    session.add(entry)
    session.flush()
    return entry


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class Statement:
    volunteer_id: int
    name: str
    opening_centi: int
    closing_centi: int
    entries: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {"volunteer_id": self.volunteer_id, "name": self.name, "opening": points_text(self.opening_centi),
                "closing": points_text(self.closing_centi), "entries": self.entries}


def _local_bounds(date_from: date | None, date_to: date | None, tz: ZoneInfo) -> tuple[datetime | None, datetime | None]:
    if date_from and date_to and date_to < date_from:
        raise InvalidInput("to", _("{to} is before --from {start}").format(to=date_to.isoformat(),
                                                                          start=date_from.isoformat()))
    since = datetime.combine(date_from, time(0), tzinfo=tz).astimezone(UTC) if date_from else None
    until = datetime.combine(date_to + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC) if date_to else None
    return since, until


def entry_as_dict(entry: PointsEntry, tz: ZoneInfo) -> dict[str, Any]:
    return {
        "id": entry.id, "kind": entry.kind, "points": points_text(entry.amount_centi),
        "amount_centi": entry.amount_centi, "attendance_id": entry.attendance_id, "minutes": entry.minutes,
        "rate": points_text(entry.rate_centi) if entry.rate_centi is not None else None,
        "centre": entry.centre, "for": entry.purpose, "note": entry.note, "by": entry.by, "via": entry.via,
        "at": entry.created_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
    }


def statement(session: Session, volunteer_ref: str, tz: ZoneInfo, date_from: date | None = None,
              date_to: date | None = None) -> Statement:
    """A volunteer's entries in [from, to] (local dates), with the balance before and after."""
    volunteer = get_volunteer(session, volunteer_ref)
    since, until = _local_bounds(date_from, date_to, tz)
    mine = PointsEntry.volunteer_id == volunteer.id
    opening = 0
    if since is not None:
        opening = int(session.scalar(select(func.coalesce(func.sum(PointsEntry.amount_centi), 0))
                                     .where(mine, PointsEntry.created_at < since)) or 0)
    query = select(PointsEntry).where(mine)
    if since is not None:
        query = query.where(PointsEntry.created_at >= since)
    if until is not None:
        query = query.where(PointsEntry.created_at < until)
    entries = list(session.scalars(query.order_by(PointsEntry.created_at, PointsEntry.id)))
    closing = opening + sum(e.amount_centi for e in entries)
    return Statement(volunteer.id, volunteer.name, opening, closing, [entry_as_dict(e, tz) for e in entries])


def balances(session: Session, volunteer_ref: str | None = None, branch: str | None = None,
             community: str | None = None) -> list[dict[str, Any]]:
    """Balances of one volunteer, of a branch's or a community's volunteers (by home branch), or of
    everyone who has a ledger entry."""
    query = (select(Volunteer, func.coalesce(PointsBalance.balance_centi, 0))
             .outerjoin(PointsBalance, PointsBalance.volunteer_id == Volunteer.id))
    if volunteer_ref is not None:
        query = query.where(Volunteer.id == get_volunteer(session, volunteer_ref).id)
    elif branch is not None:
        from scheduler.organisations import get_branch

        query = query.where(Volunteer.home_branch_id == get_branch(session, branch).id)
    elif community is not None:
        from scheduler.organisations import get_community

        branch_ids = select(Branch.id).where(Branch.community_id == get_community(session, community).id)
        query = query.where(Volunteer.home_branch_id.in_(branch_ids))
    else:
        query = query.where(PointsBalance.volunteer_id.is_not(None))
    earned = dict(session.execute(
        select(PointsEntry.volunteer_id, func.sum(PointsEntry.amount_centi))
        .where(PointsEntry.kind != PointsEntryKind.REDEEMED).group_by(PointsEntry.volunteer_id)).all())
    spent = dict(session.execute(
        select(PointsEntry.volunteer_id, func.sum(PointsEntry.amount_centi))
        .where(PointsEntry.kind == PointsEntryKind.REDEEMED).group_by(PointsEntry.volunteer_id)).all())
    out = []
    for volunteer, balance in session.execute(query.order_by(Volunteer.id)):
        out.append({
            "volunteer_id": volunteer.id, "name": volunteer.name,
            "home_branch": volunteer.home_branch.name if volunteer.home_branch else "",
            "earned": points_text(int(earned.get(volunteer.id) or 0)),
            "redeemed": points_text(-int(spent.get(volunteer.id) or 0)),
            "balance": points_text(int(balance)), "balance_centi": int(balance),
        })
    return out
