"""The schema, read as a data dictionary. Times are aware UTC datetimes (``UTCDateTime``)."""

from __future__ import annotations

import enum
import hashlib
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from scheduler.db import UTCDateTime, utcnow


class HolidayPolicy(enum.StrEnum):
    """How a service meets statutory holidays (DESIGN.md, "Holiday policy per service")."""

    ALWAYS = "always"
    SKIP_HOLIDAYS = "skip_holidays"
    #: Official workdays only, make-up weekend workdays (调休上班) included.
    WORKDAYS = "workdays"


class Visibility(enum.StrEnum):
    PUBLIC = "public"
    #: Never in a public feed (home visits).
    PRIVATE = "private"


class ServiceKind(enum.StrEnum):
    CLINIC = "clinic"  # 义诊
    CLASSROOM = "classroom"  # 四点半课堂 / 课业辅导
    ELDERLY_CARE = "elderly_care"  # 关爱空巢老人 (home visits are private)
    READING = "reading"  # 亲子阅读
    CENTRE_OPENING = "centre_opening"  # 党群服务中心错时服务
    CULTURE = "culture"  # 文艺 / 书画 / 舞蹈
    LEGAL = "legal"  # 法治宣传 / 信访
    COMMUNITY = "community"  # 邻里 / 公益服务
    OTHER = "other"


class OccurrenceStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"


class CancelCause(enum.StrEnum):
    """Why planning cancelled an occurrence: a closure covers it (lifting the closure reinstates it),
    or the schedule dropped it while someone held a seat. NULL when scheduled or cancelled by hand
    (pinned)."""

    CLOSURE = "closure"
    REPLAN = "replan"


class AssignmentStatus(enum.StrEnum):
    INVITED = "invited"
    CONFIRMED = "confirmed"
    DECLINED = "declined"
    CANCELLED = "cancelled"
    WAITLISTED = "waitlisted"
    ATTENDED = "attended"
    NO_SHOW = "no_show"


class ClosureScope(enum.StrEnum):
    DISTRICT = "district"
    COMMUNITY = "community"
    BRANCH = "branch"
    SERVICE = "service"


class HolidayDayKind(enum.StrEnum):
    REST = "rest"
    #: A make-up workday (调休上班).
    WORKDAY = "workday"


class ReminderStatus(enum.StrEnum):
    PENDING = "pending"
    CLAIMED = "claimed"
    SENT = "sent"
    CANCELLED = "cancelled"
    FAILED = "failed"
    STALE = "stale"


class AttendanceStatus(enum.StrEnum):
    OPEN = "open"
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    REJECTED = "rejected"


class AttendanceMethod(enum.StrEnum):
    """How a check-in or check-out was made."""

    CLI = "cli"
    WEB_QR = "web-qr"


# The value tuples, in declaration order (CHECK constraints, option choices, validation).
HOLIDAY_POLICIES = tuple(HolidayPolicy)
VISIBILITIES = tuple(Visibility)
SERVICE_KINDS = tuple(ServiceKind)
OCCURRENCE_STATUSES = tuple(OccurrenceStatus)
CANCEL_CAUSES = tuple(CancelCause)
ASSIGNMENT_STATUSES = tuple(AssignmentStatus)
#: Statuses that hold a seat (count against the role's capacity).
SEATED_STATUSES = (AssignmentStatus.INVITED, AssignmentStatus.CONFIRMED, AssignmentStatus.ATTENDED,
                   AssignmentStatus.NO_SHOW)
CLOSURE_SCOPES = tuple(ClosureScope)
HOLIDAY_DAY_KINDS = tuple(HolidayDayKind)
REMINDER_STATUSES = tuple(ReminderStatus)
ATTENDANCE_STATUSES = tuple(AttendanceStatus)


def _in(column: str, values: tuple[str, ...]) -> str:
    # str(): an enum member's repr is not its SQL literal.
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


class Community(Base):
    """社区: one of the subdistrict's communities, with its 党群服务中心."""

    __tablename__ = "community"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    centre_name: Mapped[str] = mapped_column(String(200), default="")
    centre_address: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    branches: Mapped[list[Branch]] = relationship(back_populates="community", order_by="Branch.slug")


class Branch(Base):
    """花园小区党支部: an estate branch inside a community; feeds are published per branch."""

    __tablename__ = "branch"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    secretary_title: Mapped[str] = mapped_column(String(120), default="第一书记")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    community: Mapped[Community] = relationship(back_populates="branches")


class Service(Base):
    """志愿服务项目: a recurring activity owned by a branch or by a community's Party committee."""

    __tablename__ = "service"
    __table_args__ = (
        CheckConstraint(_in("holiday_policy", HOLIDAY_POLICIES), name="service_holiday_policy"),
        CheckConstraint(_in("visibility", VISIBILITIES), name="service_visibility"),
        CheckConstraint("duration_minutes > 0 AND duration_minutes <= 1440", name="service_duration"),
        # The reminder offsets as text: the reminder scan finds the few distinct lists with one probe
        # each (``scheduler.reminders.scan.offsets_in_use``), not by reading every service. On
        # PostgreSQL only: SQLite cannot reflect an expression index (a table rebuilt by a later
        # migration would lose it), and its databases hold a subdistrict's few hundred services.
        Index("ix_service_offsets", text("CAST(reminder_offsets AS VARCHAR)")).ddl_if(dialect="postgresql"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32), default=ServiceKind.OTHER)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    #: NULL when the community's own Party committee runs the service.
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("branch.id"), index=True)
    venue: Mapped[str] = mapped_column(String(300), default="")
    #: RFC 5545 RRULE value (without the ``RRULE:`` prefix), expanded from start_date at start_time.
    rrule: Mapped[str] = mapped_column(String(500))
    start_date: Mapped[date] = mapped_column(Date)
    #: Local wall-clock start, "HH:MM", in ``timezone``.
    start_time: Mapped[str] = mapped_column(String(5))
    duration_minutes: Mapped[int] = mapped_column(Integer)
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    holiday_policy: Mapped[str] = mapped_column(String(16), default=HolidayPolicy.ALWAYS)
    visibility: Mapped[str] = mapped_column(String(8), default=Visibility.PUBLIC)
    #: Public contact role shown in feeds (a role, never a person's phone).
    contact_role: Mapped[str] = mapped_column(String(120), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    #: Minutes before the shift at which reminders go out.
    reminder_offsets: Mapped[list[Any]] = mapped_column(default=lambda: [1440, 120])
    #: Hours before the shift by which an invited volunteer must confirm; at that moment an
    #: unconfirmed seat is released to the waitlist (``scheduler.rosters.deadline``). NULL: no deadline.
    confirm_hours: Mapped[int | None] = mapped_column(Integer)
    #: Local "HH:MM" by which a minor's shift must end here; NULL: ``ROSTER_MINOR_LATEST_END`` (21:00).
    minor_latest_end: Mapped[str | None] = mapped_column(String(5))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    community: Mapped[Community] = relationship()
    branch: Mapped[Branch | None] = relationship()
    roles: Mapped[list[Role]] = relationship(
        back_populates="service", order_by="Role.id", cascade="all, delete-orphan"
    )


class Role(Base):
    """岗位: a slot type in a service with a count and an optional required skill."""

    __tablename__ = "role"
    __table_args__ = (
        UniqueConstraint("service_id", "name"),
        CheckConstraint("count >= 1 AND count <= 500", name="role_count"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("service.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(Integer)
    skill: Mapped[str | None] = mapped_column(String(64))
    #: A qualification kind (``scheduler.volunteers.qualifications``) the holder must have, valid on
    #: the shift's date: a hard check, never overridden (migration 0003).
    required_qualification: Mapped[str | None] = mapped_column(String(64))
    #: The youngest age (in years, at the shift's local date) allowed in the role; NULL: any age.
    min_age: Mapped[int | None] = mapped_column(Integer)

    service: Mapped[Service] = relationship(back_populates="roles")


class Volunteer(Base):
    """志愿者. ``availability`` maps ISO weekday "1".."7" to ["HH:MM-HH:MM", ...] (absent: any time)."""

    __tablename__ = "volunteer"
    __table_args__ = (Index("uq_volunteer_web_token", "web_token", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    phone: Mapped[str] = mapped_column(String(20), unique=True)
    email: Mapped[str | None] = mapped_column(String(200))
    chat_id: Mapped[str | None] = mapped_column(String(120))
    #: Citizen ID number; only ever exported masked.
    id_number: Mapped[str | None] = mapped_column(String(18))
    #: Entered, or read from an 18-digit ID number (migration 0003); decides the minors' rules.
    birth_date: Mapped[date | None] = mapped_column(Date)
    home_branch_id: Mapped[int | None] = mapped_column(ForeignKey("branch.id"), index=True)
    skills: Mapped[list[Any]] = mapped_column(default=list)
    availability: Mapped[dict[str, Any]] = mapped_column(default=dict)
    blackout_dates: Mapped[list[Any]] = mapped_column(default=list)
    #: Most hours a month this volunteer wants to serve (NULL: no cap).
    monthly_cap_hours: Mapped[int | None] = mapped_column(Integer)
    preferred_channel: Mapped[str | None] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    feed_token: Mapped[str] = mapped_column(String(64), unique=True)
    #: The last token's value, whose file the next publish deletes. Indexed: every publish looks for
    #: the few set ones, and a scan of the table cost 30 ms at 300,000 volunteers.
    retired_feed_token: Mapped[str | None] = mapped_column(String(64), index=True)
    #: The personal link to the volunteer pages (``/v/<token>``, 128+ bits), separate from the feed's.
    web_token: Mapped[str | None] = mapped_column(String(64))
    #: A serving Party member who reports to the residential community (在职党员到社区报到), and
    #: their work unit (工作单位), which asks about the hours every quarter (migration 0004).
    party_member: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    work_unit: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    home_branch: Mapped[Branch | None] = relationship()


class Closure(Base):
    """停课/闭馆: inclusive date range when a scope does not run."""

    __tablename__ = "closure"
    __table_args__ = (
        CheckConstraint(_in("scope", CLOSURE_SCOPES), name="closure_scope"),
        CheckConstraint("end_date >= start_date", name="closure_dates"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(16))
    community_id: Mapped[int | None] = mapped_column(ForeignKey("community.id"))
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("branch.id"))
    service_id: Mapped[int | None] = mapped_column(ForeignKey("service.id", ondelete="CASCADE"))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class HolidayDay(Base):
    """A day of an officially loaded year's schedule: a rest day or a make-up workday (调休上班)."""

    __tablename__ = "holiday_day"
    __table_args__ = (CheckConstraint(_in("kind", HOLIDAY_DAY_KINDS), name="holiday_day_kind"),)

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    year: Mapped[int] = mapped_column(Integer, index=True)
    kind: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(64), default="")


class HolidayYear(Base):
    """A year whose official schedule a coordinator loaded."""

    __tablename__ = "holiday_year"

    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(300), default="")
    loaded_at: Mapped[datetime] = mapped_column(default=utcnow)


class Occurrence(Base):
    """场次: one dated instance; identity (service, original_start) never changes, even when moved."""

    __tablename__ = "occurrence"
    __table_args__ = (
        UniqueConstraint("service_id", "original_start"),
        CheckConstraint(_in("status", OCCURRENCE_STATUSES), name="occurrence_status"),
        CheckConstraint(f"cancel_cause IS NULL OR {_in('cancel_cause', CANCEL_CAUSES)}",
                        name="occurrence_cancel_cause"),
        CheckConstraint("end_at > start_at", name="occurrence_times"),
        Index("ix_occurrence_start", "start_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("service.id", ondelete="CASCADE"))
    original_start: Mapped[datetime] = mapped_column()
    start_at: Mapped[datetime] = mapped_column()
    end_at: Mapped[datetime] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default=OccurrenceStatus.SCHEDULED)
    cancel_reason: Mapped[str | None] = mapped_column(String(200))
    #: One of CANCEL_CAUSES when planning cancelled it; NULL otherwise.
    cancel_cause: Mapped[str | None] = mapped_column(String(16))
    #: Moved or cancelled by hand: re-planning leaves it alone.
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Planned without official holiday data for its year.
    provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    #: RFC 5545 SEQUENCE: bumped when start, end, location, status or title changes.
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    service: Mapped[Service] = relationship()


class Assignment(Base):
    """排班: a volunteer in a role at an occurrence.

    Capacity is a database invariant: a seated assignment holds ``seat_no`` in 1..role.count and
    (occurrence, role, seat_no) is unique, so two writers cannot take the same last seat.
    """

    __tablename__ = "assignment"
    __table_args__ = (
        UniqueConstraint("occurrence_id", "volunteer_id"),
        UniqueConstraint("occurrence_id", "role_id", "seat_no"),
        CheckConstraint(_in("status", ASSIGNMENT_STATUSES), name="assignment_status"),
        CheckConstraint(
            f"(seat_no IS NOT NULL AND seat_no >= 1) = ({_in('status', SEATED_STATUSES)})",
            name="assignment_seat_iff_seated",
        ),
        Index("ix_assignment_volunteer", "volunteer_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    occurrence_id: Mapped[int] = mapped_column(ForeignKey("occurrence.id", ondelete="CASCADE"))
    role_id: Mapped[int] = mapped_column(ForeignKey("role.id", ondelete="CASCADE"), index=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteer.id"))
    status: Mapped[str] = mapped_column(String(16), default=AssignmentStatus.INVITED)
    seat_no: Mapped[int | None] = mapped_column(Integer)
    #: Order on the waitlist (lower first) while ``status == 'waitlisted'``.
    waitlist_pos: Mapped[int | None] = mapped_column(Integer)
    forced: Mapped[bool] = mapped_column(Boolean, default=False)
    force_note: Mapped[str | None] = mapped_column(String(300))
    reason: Mapped[str | None] = mapped_column(String(300))
    #: How auto-fill chose this volunteer (candidates and scores), for ``roster why``.
    explanation: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    occurrence: Mapped[Occurrence] = relationship()
    role: Mapped[Role] = relationship()
    volunteer: Mapped[Volunteer] = relationship()


class Handover(Base):
    """转让: a shift its volunteer offered, from the volunteer pages, to another volunteer; it moves
    when they accept (``rosters.swap``), or the offer is withdrawn."""

    __tablename__ = "handover"

    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignment.id", ondelete="CASCADE"), primary_key=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteer.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Event(Base):
    """事件: a fact written in the same transaction as the change (transactional outbox)."""

    __tablename__ = "event"
    __table_args__ = (Index("ix_event_unrelayed", "relayed_at", "id"),
                      # Only the events the reminder scan has still to look at (a handful, whatever
                      # the table's size): the scan reads them at every dispatch.
                      Index("ix_event_unscanned", "id", postgresql_where=text("reminders_scanned_at IS NULL"),
                            sqlite_where=text("reminders_scanned_at IS NULL")))

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    #: ids and ISO strings only, never personal data.
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    relayed_at: Mapped[datetime | None] = mapped_column()
    #: When the reminder scan looked at the seats this event names (``scheduler.reminders.scan``).
    reminders_scanned_at: Mapped[datetime | None] = mapped_column()


class Reminder(Base):
    """提醒: the delivery ledger: a message owed to a volunteer, sent once; unique per assignment, kind,
    channel and the shift's start it was computed for (a moved shift is owed fresh ones).

    Before-shift rows are written by the dispatcher's scan when they come due (derived from the
    seats, ``scheduler.reminders.scan``); change notices by the change itself, in its transaction.
    """

    __tablename__ = "reminder"
    __table_args__ = (
        UniqueConstraint("assignment_id", "kind", "channel", "shift_start", name="uq_reminder_ledger"),
        CheckConstraint(_in("status", REMINDER_STATUSES), name="reminder_status"),
        Index("ix_reminder_due", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignment.id", ondelete="CASCADE"))
    #: "before:1440", "before:120", "moved:<seq>", "cancelled:<seq>", "role_changed:<seq>", "promoted".
    kind: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    #: The shift's start when the row was written: a before-shift row is sent only while it still holds.
    shift_start: Mapped[datetime] = mapped_column()
    due_at: Mapped[datetime] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default=ReminderStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column()
    claimed_by: Mapped[str | None] = mapped_column(String(120))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    assignment: Mapped[Assignment] = relationship()

    @property
    def idempotency_key(self) -> str:
        """Derived, not stored: a function of the row's unique key (see :func:`idempotency_key`)."""
        return idempotency_key(self.assignment_id, self.kind, self.channel, self.shift_start)


def idempotency_key(assignment_id: int, kind: str, channel: str, shift_start: datetime | None = None) -> str:
    """The key a channel is given with a reminder, so that it drops a repeat of the same message:
    stable across retries, the same for the same ledger row. Being a function of the row's unique
    key, it is unique too without a column or an index of its own (a random unique index cost a
    city-wide fill a fifth of its time). A before-shift reminder's key names the start it was
    computed for (a moved shift's new reminder is a new message); a notice's kind is unique already."""
    raw = f"roster:{assignment_id}:{kind}:{channel}"
    if kind.startswith("before:") and shift_start is not None:
        raw += ":" + shift_start.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return hashlib.sha256(raw.encode()).hexdigest()[:40]


class ReminderScan(Base):
    """How far the reminder scan has looked: before-shift instants up to ``scanned_to`` are in the
    ledger (one row, id 1; none yet means the next scan looks at the whole window)."""

    __tablename__ = "reminder_scan"

    id: Mapped[int] = mapped_column(primary_key=True)
    scanned_to: Mapped[datetime] = mapped_column()


class ChannelSend(Base):
    """What a channel accepted, for rate limits (per robot per minute) and SMS daily caps."""

    __tablename__ = "channel_send"
    __table_args__ = (Index("ix_channel_send_recent", "channel", "target", "sent_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    #: A hash of the robot URL or phone number, never the secret itself.
    target: Mapped[str] = mapped_column(String(64))
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)


class FeedState(Base):
    """One published feed: its key ("branch:<slug>", "community:<slug>", "district", "volunteer:<id>")."""

    __tablename__ = "feed_state"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    dirty: Mapped[bool] = mapped_column(Boolean, default=True)
    dirty_since: Mapped[datetime | None] = mapped_column()
    published_at: Mapped[datetime | None] = mapped_column()
    content_hash: Mapped[str | None] = mapped_column(String(64))
    path: Mapped[str | None] = mapped_column(String(300))


class Coordinator(Base):
    """A coordinator who gets digests and warnings (a branch's 第一书记, a community's staff)."""

    __tablename__ = "coordinator"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    community_id: Mapped[int | None] = mapped_column(ForeignKey("community.id"))
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("branch.id"))
    email: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(16), default="console")


class Attendance(Base):
    """A check-in/out pair; hours count service time only (no travel), to the minute."""

    __tablename__ = "attendance"
    __table_args__ = (
        CheckConstraint(_in("status", ATTENDANCE_STATUSES), name="attendance_status"),
        CheckConstraint("check_out IS NULL OR check_out > check_in", name="attendance_times"),
        Index("ix_attendance_volunteer", "volunteer_id", "check_in"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteer.id"))
    occurrence_id: Mapped[int] = mapped_column(ForeignKey("occurrence.id"))
    assignment_id: Mapped[int | None] = mapped_column(ForeignKey("assignment.id"))
    check_in: Mapped[datetime] = mapped_column()
    check_out: Mapped[datetime | None] = mapped_column()
    minutes: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default=AttendanceStatus.OPEN)
    recorded_by: Mapped[str] = mapped_column(String(64), default="")
    #: How the check-in and the check-out were made (AttendanceMethod): typed by a coordinator
    #: (``cli``) or scanned by the volunteer at the venue (``web-qr``).
    checkin_method: Mapped[str] = mapped_column(String(16), default=AttendanceMethod.CLI, server_default="cli")
    checkout_method: Mapped[str | None] = mapped_column(String(16))
    approved_by: Mapped[str | None] = mapped_column(String(64))
    approved_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AttendanceCorrection(Base):
    """The trail of a correction: who changed what, when and why."""

    __tablename__ = "attendance_correction"

    id: Mapped[int] = mapped_column(primary_key=True)
    attendance_id: Mapped[int] = mapped_column(ForeignKey("attendance.id"), index=True)
    field: Mapped[str] = mapped_column(String(32))
    old_value: Mapped[str | None] = mapped_column(String(64))
    new_value: Mapped[str | None] = mapped_column(String(64))
    corrected_by: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(300))
    corrected_at: Mapped[datetime] = mapped_column(default=utcnow)


class Rating(Base):
    """满意度: one anonymous 1-5 rating of a service, given from the QR code at its venue.

    No personal data: no name, phone or IP address. ``client_hash`` is a keyed hash of the client
    (address and browser), to see whether many ratings came from one place; it cannot be turned
    back into the address. The comment is shown to coordinators only.
    """

    __tablename__ = "rating"
    __table_args__ = (
        CheckConstraint("stars >= 1 AND stars <= 5", name="rating_stars"),
        Index("ix_rating_service_created", "service_id", "created_at"),
        Index("ix_rating_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("service.id", ondelete="CASCADE"))
    #: The shift on at the venue when the rating was given (or just ended); NULL otherwise.
    occurrence_id: Mapped[int | None] = mapped_column(ForeignKey("occurrence.id", ondelete="SET NULL"))
    stars: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(String(200), default="")
    client_hash: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --------------------------------------------------------------------------- points (issue 18, items 3-4)


class PointsEntryKind(enum.StrEnum):
    #: Credit for approved hours (attendance_id set).
    EARNED = "earned"
    #: A correcting entry for an attendance record whose approved minutes or status changed.
    CORRECTION = "correction"
    #: Points spent at a service centre (negative).
    REDEEMED = "redeemed"


POINTS_ENTRY_KINDS = tuple(PointsEntryKind)


class PointsRate(Base):
    """积分标准: points per approved hour for a service kind, from a date on (never retroactive).
    Amounts are hundredths of a point (150 = 1.5 points an hour)."""

    __tablename__ = "points_rate"
    __table_args__ = (
        UniqueConstraint("kind", "effective_from"),
        CheckConstraint("rate_centi > 0", name="points_rate_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    rate_centi: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[date] = mapped_column(Date)
    set_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PointsEntry(Base):
    """积分/时间银行 ledger: one credit or debit, never changed or deleted (a trigger refuses it);
    a correction is a new entry. ``amount_centi`` is signed hundredths of a point."""

    __tablename__ = "points_entry"
    __table_args__ = (
        CheckConstraint(_in("kind", POINTS_ENTRY_KINDS), name="points_entry_kind"),
        CheckConstraint("amount_centi <> 0", name="points_entry_nonzero"),
        Index("ix_points_entry_volunteer", "volunteer_id", "created_at"),
        Index("ix_points_entry_attendance", "attendance_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteer.id"))
    kind: Mapped[str] = mapped_column(String(16))
    amount_centi: Mapped[int] = mapped_column(Integer)
    attendance_id: Mapped[int | None] = mapped_column(ForeignKey("attendance.id"))
    #: The rate applied (hundredths of a point per hour) and the minutes it was applied to.
    rate_centi: Mapped[int | None] = mapped_column(Integer)
    minutes: Mapped[int | None] = mapped_column(Integer)
    #: Where points were spent (a service centre) and for what.
    centre: Mapped[str | None] = mapped_column(String(200))
    purpose: Mapped[str | None] = mapped_column(String(300))
    note: Mapped[str] = mapped_column(String(300), default="")
    #: Who wrote it (a coordinator, or "auto" for the approval rules) and through what (cli, web, worker).
    by: Mapped[str] = mapped_column(String(64), default="")
    via: Mapped[str] = mapped_column(String(16), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PointsBalance(Base):
    """A volunteer's balance, the sum of their ledger entries, kept in the same transaction as each
    entry; ``CHECK (balance_centi >= 0)`` is what lets only one of two racing redemptions win."""

    __tablename__ = "points_balance"
    __table_args__ = (CheckConstraint("balance_centi >= 0", name="points_balance_nonnegative"),)

    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteer.id"), primary_key=True)
    balance_centi: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


# --------------------------------------------------------------------------- qualifications, minors (issue 18, items 1-2)


class Qualification(Base):
    """资质证书: a volunteer's qualification (执业医师证, 健康证...) valid from ``issued_on`` to
    ``expires_on`` inclusive (NULL: no end). ``number`` is shown masked except to coordinators asking
    for ``--full``."""

    __tablename__ = "qualification"
    __table_args__ = (
        UniqueConstraint("volunteer_id", "kind", "number", name="uq_qualification_number"),
        CheckConstraint("expires_on IS NULL OR issued_on IS NULL OR expires_on >= issued_on",
                        name="qualification_dates"),
        Index("ix_qualification_expires", "expires_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteer.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    issuer: Mapped[str] = mapped_column(String(120), default="")
    number: Mapped[str] = mapped_column(String(64), default="")
    issued_on: Mapped[date | None] = mapped_column(Date)
    expires_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class QualificationNotice(Base):
    """The ledger of expiry notices: one row per qualification, threshold (30 or 7 days) and
    recipient ("volunteer" or "coordinator:<id>"), written before the send; the unique key is what
    makes two beats send each notice once."""

    __tablename__ = "qualification_notice"
    __table_args__ = (UniqueConstraint("qualification_id", "threshold", "recipient", "expires_on",
                                       name="uq_qualification_notice"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    qualification_id: Mapped[int] = mapped_column(ForeignKey("qualification.id", ondelete="CASCADE"))
    threshold: Mapped[int] = mapped_column(Integer)
    recipient: Mapped[str] = mapped_column(String(32))
    #: The end date it was computed for: a renewed qualification is owed fresh notices.
    expires_on: Mapped[date] = mapped_column(Date)
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="sent")
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class GuardianConsent(Base):
    """监护人同意: a guardian's consent for a volunteer under 18. Revoking sets ``revoked_at``; rows
    are never deleted (the history is kept). At most one consent in force per volunteer."""

    __tablename__ = "guardian_consent"
    __table_args__ = (Index("ix_guardian_consent_volunteer", "volunteer_id", "revoked_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteer.id", ondelete="CASCADE"))
    guardian_name: Mapped[str] = mapped_column(String(64))
    relation: Mapped[str] = mapped_column(String(32))
    phone: Mapped[str] = mapped_column(String(20))
    given_on: Mapped[date] = mapped_column(Date)
    #: Opt-in: the guardian gets a copy of the minor's reminders.
    copy_reminders: Mapped[bool] = mapped_column(Boolean, default=False)
    recorded_by: Mapped[str] = mapped_column(String(64), default="")
    revoked_at: Mapped[datetime | None] = mapped_column()
    revoked_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
