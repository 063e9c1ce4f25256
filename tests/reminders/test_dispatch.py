"""The dispatcher: claim with a lease, send outside the transaction, mark; stale, quiet, retries."""

from __future__ import annotations

import io
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from scheduler.db import session_scope
from scheduler.i18n import using
from scheduler.messages import local_time
from scheduler.messages.channels import (
    ChannelError,
    ChannelSet,
    NullChannel,
    Outgoing,
    RecordingSmsProvider,
    SmsChannel,
)
from scheduler.models import Assignment, ChannelSend, Reminder
from scheduler.policy import DEFAULT_POLICY
from scheduler.reminders import list_reminders, notify, retry_reminder
from scheduler.reminders.dispatch import (
    DEFAULT_MAX_ATTEMPTS,
    _mark_sent,
    backoff,
    claim_due_reminders,
    dispatch_due,
)
from tests.workers_support import (
    NOW,
    WebhookSink,
    cancel_assignment,
    create_shift,
    reminders_of,
    scan,
    settings_for,
    statuses,
)


class RecordingChannel(NullChannel):
    """Counts what it was asked to send, by reminder id."""

    name = "console"

    def __init__(self, fail: int = 0, permanent: bool = False) -> None:
        super().__init__()
        self.sent: list[int] = []
        self.fail = fail
        self.permanent = permanent
        self._lock = threading.Lock()

    def send(self, out: Outgoing) -> None:
        if self.fail:
            self.fail -= 1
            raise ChannelError("server said no", permanent=self.permanent)
        with self._lock:
            self.sent.append(out.reminder_id)


def only(channel: object) -> ChannelSet:
    return ChannelSet({"console": lambda: channel, "null": lambda: channel})


#: The policy the entry points would build from ``settings_for`` (quiet hours 22:00-07:30).
POLICY = settings_for("sqlite://").policy()


def test_due_reminder_is_sent_once_and_marked_sent(engine: Engine) -> None:
    shift = create_shift(engine, NOW + timedelta(hours=20), volunteers=2)
    stream = io.StringIO()
    settings = settings_for(str(engine.url))
    first = dispatch_due(engine, settings, policy=POLICY, now=NOW, channels=ChannelSet({"console": lambda: _console(stream)}))
    again = dispatch_due(engine, settings, policy=POLICY, now=NOW + timedelta(seconds=5))
    assert (first.recorded, first.claimed, first.sent) == (2, 2, 2)  # the 24 h ones (due now); 2 h later
    assert (again.recorded, again.claimed) == (0, 0)
    assert stream.getvalue().count("【志愿服务提醒】四点半课堂") == 2
    with using("zh_CN"):  # what volunteers read (the suite's own language is English)
        start_words = f"将于{local_time(NOW + timedelta(hours=20), 'Asia/Shanghai')}开始"
    assert start_words in stream.getvalue() and "岗位：辅导员" in stream.getvalue()
    assert sorted(statuses(engine, shift).values()) == ["sent", "sent"]
    later = dispatch_due(engine, settings, policy=POLICY, now=NOW + timedelta(hours=18),
                         channels=ChannelSet({"console": lambda: _console(stream)}))
    assert (later.recorded, later.sent) == (2, 2)
    assert sorted(statuses(engine, shift)) == sorted(f"{a}:before:{o}" for a in shift.assignment_ids
                                                     for o in (1440, 120))


def _console(stream: io.StringIO) -> object:
    from scheduler.messages.channels import ConsoleChannel

    return ConsoleChannel(stream)


def test_console_output_names_volunteers_by_id_only(engine: Engine) -> None:
    create_shift(engine, NOW + timedelta(hours=1), volunteers=1)
    stream = io.StringIO()
    dispatch_due(engine, settings_for(str(engine.url)), policy=POLICY, now=NOW,
                 channels=ChannelSet({"console": lambda: _console(stream)}))
    assert "志愿者#" in stream.getvalue() and "李" not in stream.getvalue()


def test_reminder_not_due_yet_is_not_claimed(engine: Engine) -> None:
    create_shift(engine, NOW + timedelta(days=3))
    channel = RecordingChannel()
    result = dispatch_due(engine, settings_for(str(engine.url)), policy=POLICY, now=NOW, channels=only(channel))
    assert result.claimed == 0 and channel.sent == []


def test_worker_dying_after_claim_is_sent_once_after_the_lease_expires(engine: Engine) -> None:
    create_shift(engine, NOW + timedelta(hours=10), volunteers=3)
    assert scan(engine, NOW) == 3
    with session_scope(engine) as session:  # a worker claims, then dies before sending
        claimed = claim_due_reminders(session, NOW, 200, "dead-worker", timedelta(minutes=5))
    assert len(claimed) == 3
    channel = RecordingChannel()
    settings = settings_for(str(engine.url))
    during = dispatch_due(engine, settings, policy=POLICY, now=NOW + timedelta(minutes=4), channels=only(channel))
    after = dispatch_due(engine, settings, policy=POLICY, now=NOW + timedelta(minutes=6), channels=only(channel))
    later = dispatch_due(engine, settings, policy=POLICY, now=NOW + timedelta(minutes=20), channels=only(channel))
    assert during.claimed == 0
    assert after.sent == 3 and later.claimed == 0
    assert sorted(channel.sent) == sorted(claimed)
    assert {r.attempts for r in reminders_of(engine) if r.status == "sent"} == {2}


def test_lease_taken_over_before_the_mark_is_counted_as_the_duplicate_window(engine: Engine) -> None:
    create_shift(engine, NOW + timedelta(hours=10), volunteers=2)
    assert scan(engine, NOW) == 2
    with session_scope(engine) as session:
        slow = claim_due_reminders(session, NOW, 200, "slow-worker", timedelta(minutes=5))
    # The slow worker's channel accepted; its lease expired before it could mark; another worker
    # claimed and sent too. The mark of the slow worker then finds nothing: two copies went out.
    channel = RecordingChannel()
    dispatch_due(engine, settings_for(str(engine.url)), policy=POLICY, now=NOW + timedelta(minutes=6), channels=only(channel))
    with session_scope(engine) as session:
        assert _mark_sent(session, slow, "slow-worker", NOW + timedelta(minutes=7)) == 0
    assert len(channel.sent) == 2
    assert [r.status for r in reminders_of(engine) if r.kind == "before:1440"] == ["sent", "sent"]


def test_two_dispatchers_at_once_send_each_reminder_once(engine: Engine) -> None:
    for _ in range(4):
        create_shift(engine, NOW + timedelta(hours=1), volunteers=25, offsets=[120])
    channel = RecordingChannel()
    settings = settings_for(str(engine.url))
    errors: list[BaseException] = []

    def run(worker: str) -> None:
        try:
            dispatch_due(engine, settings, policy=POLICY, now=NOW, batch_size=7, worker_id=worker, channels=only(channel),
                         max_batches=100)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(f"w{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert len(channel.sent) == 100 and len(set(channel.sent)) == 100
    assert set(statuses(engine).values()) == {"sent"}


def test_stale_reminder_is_recorded_and_not_sent(engine: Engine) -> None:
    create_shift(engine, NOW + timedelta(hours=3), offsets=[120])
    assert scan(engine, NOW + timedelta(hours=1, minutes=1)) == 1
    channel = RecordingChannel()
    # Recorded, then the dispatcher was down until after the shift began.
    result = dispatch_due(engine, settings_for(str(engine.url)), policy=POLICY, now=NOW + timedelta(hours=3, minutes=1),
                          channels=only(channel))
    assert result.stale == 1 and channel.sent == []
    [row] = reminders_of(engine)
    assert row.status == "stale" and "begun" in (row.last_error or "")


def test_a_dispatcher_down_until_the_shift_began_records_nothing_for_it(engine: Engine) -> None:
    create_shift(engine, NOW + timedelta(hours=3), offsets=[1440, 120])
    assert scan(engine, NOW - timedelta(days=1)) == 0
    result = dispatch_due(engine, settings_for(str(engine.url)), policy=POLICY, now=NOW + timedelta(hours=3),
                          channels=only(RecordingChannel()))
    assert (result.recorded, result.claimed) == (0, 0) and reminders_of(engine) == []


def test_reminder_cancelled_after_claim_is_never_sent(engine: Engine) -> None:
    shift = create_shift(engine, NOW + timedelta(hours=5), offsets=[1440])
    assert scan(engine, NOW) == 1
    with session_scope(engine) as session:
        claim_due_reminders(session, NOW, 200, "dead-worker", timedelta(minutes=1))
    cancel_assignment(engine, shift.assignment_ids[0], NOW)
    channel = RecordingChannel()
    result = dispatch_due(engine, settings_for(str(engine.url)), policy=POLICY, now=NOW + timedelta(minutes=5),
                          channels=only(channel))
    assert channel.sent == [] and (result.recorded, result.cancelled) == (0, 1)  # re-checked at the claim
    assert list(statuses(engine, shift).values()) == ["cancelled"]


def test_reminder_of_unseated_assignment_is_cancelled_at_claim(engine: Engine) -> None:
    shift = create_shift(engine, NOW + timedelta(hours=5), offsets=[1440])
    assert scan(engine, NOW) == 1
    with session_scope(engine) as session:  # changed behind the reminders' back
        assignment = session.get(Assignment, shift.assignment_ids[0])
        assert assignment is not None
        assignment.status, assignment.seat_no = "declined", None
    channel = RecordingChannel()
    result = dispatch_due(engine, settings_for(str(engine.url)), policy=POLICY, now=NOW, channels=only(channel))
    assert result.cancelled == 1 and channel.sent == []


def test_transient_failure_backs_off_then_fails_permanently_after_max_attempts(engine: Engine) -> None:
    create_shift(engine, NOW + timedelta(days=1, hours=6), offsets=[1440])
    channel = RecordingChannel(fail=100)
    settings = settings_for(str(engine.url))
    moment = NOW + timedelta(hours=6)
    seen = []
    for attempt in range(1, DEFAULT_MAX_ATTEMPTS + 1):
        result = dispatch_due(engine, settings, policy=POLICY, now=moment, channels=only(channel))
        [row] = reminders_of(engine)
        seen.append(row.status)
        if attempt < DEFAULT_MAX_ATTEMPTS:
            assert result.retried == 1 and row.due_at == moment + backoff(attempt)
            moment = row.due_at
    assert seen == ["pending"] * (DEFAULT_MAX_ATTEMPTS - 1) + ["failed"]
    with session_scope(engine) as session:
        failed = list_reminders(session, failed_only=True)
        assert [r.last_error for r in failed] == ["server said no"]
        retry_reminder(session, failed[0].id, now=moment)
    channel.fail = 0
    assert dispatch_due(engine, settings, policy=POLICY, now=moment, channels=only(channel)).sent == 1


def test_backoff_grows_exponentially_and_is_capped() -> None:
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 10)] == [60, 120, 240, 3600]


def test_permanent_failure_is_failed_at_once(engine: Engine) -> None:
    create_shift(engine, NOW + timedelta(hours=5), offsets=[1440])
    result = dispatch_due(engine, settings_for(str(engine.url)), policy=POLICY, now=NOW,
                          channels=only(RecordingChannel(fail=1, permanent=True)))
    assert result.failed == 1 and list(statuses(engine).values()) == ["failed"]


def test_unconfigured_channel_fails_permanently_and_is_listed(engine: Engine) -> None:
    create_shift(engine, NOW + timedelta(hours=5), offsets=[1440], channel="email")
    result = dispatch_due(engine, settings_for(str(engine.url)), policy=POLICY, now=NOW)  # no ROSTER_SMTP_HOST
    assert result.failed == 1
    with session_scope(engine) as session:
        [row] = list_reminders(session, failed_only=True)
        assert "ROSTER_SMTP_HOST" in (row.last_error or "")


# --------------------------------------------------------------------------- quiet hours

SHANGHAI = "+08:00"


def local(text: str) -> datetime:
    return datetime.fromisoformat(text + SHANGHAI).astimezone(UTC)


def test_reminder_due_in_quiet_hours_goes_out_when_they_end_if_that_precedes_the_shift(engine: Engine) -> None:
    create_shift(engine, local("2026-12-08T09:00"), offsets=[120])
    assert scan(engine, local("2026-12-07T21:28"), quiet="22:00-07:30") == 0
    assert scan(engine, local("2026-12-07T21:29"), quiet="22:00-07:30") == 1  # a quiet window's length ahead
    [row] = reminders_of(engine)
    assert row.due_at == local("2026-12-08T07:30")  # not 07:00


def test_reminder_due_in_quiet_hours_goes_out_before_they_start_when_their_end_is_too_late(
        engine: Engine) -> None:
    create_shift(engine, local("2026-12-08T07:00"), offsets=[1440, 120])
    assert scan(engine, local("2026-12-06T12:00"), quiet="22:00-07:30") == 0
    assert scan(engine, local("2026-12-07T07:00"), quiet="22:00-07:30") == 1  # the 24 h one
    # The 2 h one falls at 05:00 (quiet) and goes at 21:59 the evening before: recorded by then.
    assert scan(engine, local("2026-12-07T19:29"), quiet="22:00-07:30") == 1
    due = {r.kind: r.due_at for r in reminders_of(engine)}
    assert due["before:120"] == local("2026-12-07T21:59")  # 05:00 is quiet; 07:30 is after the shift
    assert due["before:1440"] == local("2026-12-07T07:30")  # 07:00 the day before is quiet


def _role_change_owed_late_at_night(engine: Engine) -> datetime:
    """A role-change notice owed at 23:10 the night before a 15:00 shift; returns that instant."""
    shift = create_shift(engine, local("2026-12-08T15:00"), offsets=[])
    late = local("2026-12-07T23:10")
    with session_scope(engine) as session:
        assignment = session.get(Assignment, shift.assignment_ids[0])
        assert assignment is not None
        notify(session, assignment, "role_changed", now=late, policy=DEFAULT_POLICY)
    return late


def test_change_notice_claimed_in_quiet_hours_waits_until_they_end(engine: Engine) -> None:
    late = _role_change_owed_late_at_night(engine)
    channel = RecordingChannel()
    settings = settings_for(str(engine.url))
    result = dispatch_due(engine, settings, policy=POLICY, now=late, channels=only(channel))
    [row] = reminders_of(engine)
    assert result.deferred == 1 and channel.sent == [] and row.due_at == local("2026-12-08T07:30")
    assert row.attempts == 0  # a deferral is not an attempt
    assert dispatch_due(engine, settings, policy=POLICY, now=local("2026-12-08T07:30"), channels=only(channel)).sent == 1


def test_dispatch_takes_quiet_hours_from_the_policy_it_is_given(engine: Engine) -> None:
    late = _role_change_owed_late_at_night(engine)
    channel = RecordingChannel()
    settings = settings_for(str(engine.url))  # says 22:00-07:30; the policy says none
    no_quiet = settings_for(str(engine.url), quiet_hours="off").policy()
    assert dispatch_due(engine, settings, policy=no_quiet, now=late, channels=only(channel)).sent == 1


def test_notice_in_quiet_hours_goes_now_when_the_shift_starts_before_they_end(engine: Engine) -> None:
    shift = create_shift(engine, local("2026-12-08T07:00"), offsets=[])
    late = local("2026-12-07T23:10")
    with session_scope(engine) as session:
        assignment = session.get(Assignment, shift.assignment_ids[0])
        assert assignment is not None
        notify(session, assignment, "cancelled", now=late, policy=DEFAULT_POLICY)
    channel = RecordingChannel()
    assert dispatch_due(engine, settings_for(str(engine.url)), policy=POLICY, now=late, channels=only(channel)).sent == 1


# --------------------------------------------------------------------------- rate limits, caps


def test_robot_takes_twenty_messages_a_minute_and_the_rest_wait(engine: Engine) -> None:
    create_shift(engine, NOW + timedelta(hours=1), volunteers=25, offsets=[120], channel="wecom")
    with WebhookSink() as sink:
        settings = settings_for(str(engine.url), wecom_webhook=sink.url)
        first = dispatch_due(engine, settings, policy=POLICY, now=NOW)
        assert (first.sent, first.deferred, sink.count()) == (20, 5, 20)
        waiting = [r for r in reminders_of(engine) if r.status == "pending"]
        assert {r.due_at for r in waiting} == {NOW + timedelta(seconds=60)}
        assert dispatch_due(engine, settings, policy=POLICY, now=NOW + timedelta(seconds=30)).claimed == 0
        second = dispatch_due(engine, settings, policy=POLICY, now=NOW + timedelta(seconds=60))
        assert second.sent == 5 and sink.count() == 25
    with session_scope(engine) as session:
        targets = set(session.scalars(select(ChannelSend.target)))
    assert len(targets) == 1 and "secret-key" not in next(iter(targets))


def test_sms_daily_cap_per_number(engine: Engine) -> None:
    shift = create_shift(engine, NOW + timedelta(hours=3), offsets=[170, 160, 150], channel="sms")
    for minutes in (10, 20, 30):  # each recorded as it comes due; none sent yet
        assert scan(engine, NOW + timedelta(minutes=minutes), channel="sms") == 1
    provider = RecordingSmsProvider()
    channels = ChannelSet({"sms": lambda: SmsChannel(provider, daily_cap=2)})
    result = dispatch_due(engine, settings_for(str(engine.url)), policy=POLICY, now=NOW + timedelta(minutes=30),
                          channels=channels)
    assert len(provider.sent) == 2 and result.sent == 2 and result.failed == 1
    assert len({s["phone"] for s in provider.sent}) == 1
    [failed] = [r for r in reminders_of(engine, shift) if r.status == "failed"]
    assert "cap" in (failed.last_error or "")
    assert {s["out_id"] for s in provider.sent} <= {r.idempotency_key for r in reminders_of(engine)}



def test_claim_skips_rows_locked_by_another_transaction_on_postgresql(pg_engine: Engine) -> None:
    # SQLite has no row locks: its BEGIN IMMEDIATE makes the second claimer wait instead.
    engine = pg_engine
    create_shift(engine, NOW + timedelta(hours=1), volunteers=4, offsets=[120])
    assert scan(engine, NOW) == 4
    with session_scope(engine) as holder:
        first = claim_due_reminders(holder, NOW, 2, "a", timedelta(minutes=5))
        # While the first claim's transaction is open, a second claimer neither waits nor double-claims.
        with session_scope(engine) as other:
            second = claim_due_reminders(other, NOW, 10, "b", timedelta(minutes=5))
    assert len(first) == 2 and len(second) == 2 and not set(first) & set(second)
    with session_scope(engine) as session:
        owners = {r.id: r.claimed_by for r in session.scalars(select(Reminder))}
    assert sorted(owners.values()) == ["a", "a", "b", "b"]


def test_seat_cancelled_between_scan_and_send_sends_nothing(engine: Engine) -> None:
    """The scan recorded the reminder; the seat is given up before a dispatcher claims it: the
    claim re-checks the seat and cancels the row."""
    shift = create_shift(engine, NOW + timedelta(hours=2), volunteers=2, offsets=[120])
    assert scan(engine, NOW) == 2
    cancel_assignment(engine, shift.assignment_ids[0], NOW)
    channel = RecordingChannel()
    result = dispatch_due(engine, settings_for(str(engine.url)), policy=POLICY, now=NOW, channels=only(channel))
    kept = {r.assignment_id: r for r in reminders_of(engine, shift)}
    assert (result.sent, result.cancelled) == (1, 1) and channel.sent == [kept[shift.assignment_ids[1]].id]
    assert kept[shift.assignment_ids[0]].status == "cancelled"


class BrokenChannel(NullChannel):
    """Raises what a bug or an SDK would raise (not a ChannelError) for the first message it is given,
    quoting the message's text and the number."""

    name = "console"

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []

    def send(self, out: Outgoing) -> None:
        self.calls.append(out.reminder_id)
        if len(self.calls) == 1:
            raise RuntimeError(f"cannot encode {out.facts.venue} for 13812345678")


def test_an_unexpected_exception_in_a_channel_is_a_retry_not_a_stopped_batch(engine: Engine) -> None:
    create_shift(engine, NOW + timedelta(hours=20), volunteers=2)
    broken = BrokenChannel()
    result = dispatch_due(engine, settings_for(str(engine.url)), policy=POLICY, now=NOW, channels=only(broken))
    assert (result.claimed, result.sent, result.retried) == (2, 1, 1)  # the other message still went
    with session_scope(engine) as s:
        failed = s.scalars(select(Reminder).where(Reminder.id == broken.calls[0])).one()
        assert failed.status == "pending" and failed.due_at > NOW
        assert failed.last_error == "RuntimeError in the console channel"  # no text, no number kept
    assert not any("13812345678" in e or "顺景" in e for e in result.errors)



def test_a_retry_refused_for_its_status_names_the_status_in_the_coordinators_language(engine: Engine) -> None:
    from scheduler.errors import Conflict

    create_shift(engine, NOW + timedelta(hours=20), offsets=[1440])
    channel = RecordingChannel()
    assert dispatch_due(engine, settings_for(str(engine.url)), policy=POLICY, now=NOW, channels=only(channel)).sent == 1
    [row] = reminders_of(engine)
    with using("zh_CN"), session_scope(engine) as session, pytest.raises(Conflict) as info:
        retry_reminder(session, row.id, now=NOW)
    assert "已发送" in str(info.value) and "sent" not in str(info.value)
