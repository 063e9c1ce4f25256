"""A minor's reminders copied to the guardian (issue 18): by SMS to the phone of the consent in force
that asked for copies, as a ledger row of its own (channel ``guardian``) that is sent in the same
batch, retried, capped and listed like any reminder; never the volunteer's personal link; no copy once
the consent is revoked or the volunteer is 18 on the shift's day (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import Engine, select

from scheduler.db import session_scope
from scheduler.i18n import using
from scheduler.messages import local_time
from scheduler.messages.channels import (
    ChannelSet,
    GuardianSmsChannel,
    NullChannel,
    RecordingSmsProvider,
    SmsChannel,
)
from scheduler.models import Reminder, Volunteer
from scheduler.reminders import notify
from scheduler.reminders.dispatch import dispatch_due
from scheduler.volunteers.minors import ConsentSpec, record_consent, revoke_consent
from tests.workers_support import NOW, create_shift, settings_for

SETTINGS_URL = "sqlite://"
POLICY = settings_for(SETTINGS_URL).policy()
START = NOW + timedelta(hours=24)  # Tuesday 8 December, 10:00 in Shanghai: its 24 h reminder is due now
GUARDIAN = "13812345678"


def _channels(provider: RecordingSmsProvider, null: NullChannel) -> ChannelSet:
    return ChannelSet({"console": lambda: null, "sms": lambda: SmsChannel(provider, 10),
                       "guardian": lambda: GuardianSmsChannel(provider, 10)})


def _minor_shift(engine: Engine, born: date, copy: bool = True, start: datetime = START) -> tuple[int, int]:
    """A confirmed seat of a volunteer born on ``born`` with a guardian's consent on record."""
    shift = create_shift(engine, start)
    vid = shift.volunteer_ids[0]
    with session_scope(engine) as session:
        session.get(Volunteer, vid).birth_date = born
        record_consent(session, str(vid), ConsentSpec("王建国", "父亲", GUARDIAN, "2026-11-20", copy_reminders=copy),
                       "社工", date(2026, 12, 1), now=NOW - timedelta(days=6))
    return vid, shift.assignment_ids[0]


def _ledger(engine: Engine) -> list[tuple[str, str, str]]:
    with session_scope(engine) as session:
        return [(r.kind, r.channel, r.status) for r in session.scalars(select(Reminder).order_by(Reminder.id))]


def test_the_guardian_gets_a_copy_of_each_reminder_once(engine: Engine) -> None:
    _minor_shift(engine, date(2012, 5, 1))
    provider, null = RecordingSmsProvider(), NullChannel()
    settings = settings_for(str(engine.url), web_base_url="https://roster.example.org")
    first = dispatch_due(engine, settings, policy=POLICY, now=NOW, channels=_channels(provider, null))
    assert first.sent == 2  # the volunteer's (console) and the guardian's copy, in one cycle
    assert _ledger(engine) == [("before:1440", "console", "sent"), ("before:1440", "guardian", "sent")]
    [copy] = provider.sent
    assert copy["phone"] == GUARDIAN and copy["template"] == "ROSTER_GUARDIAN_COPY"
    with using("zh_CN"):
        assert copy["params"]["time"] == local_time(START, "Asia/Shanghai")
    assert copy["params"]["clock"] == "10:00" and copy["params"]["service"] == "四点半课堂"
    assert "link" not in copy["params"]  # the volunteer's personal pages are the volunteer's
    # Later cycles: the 2 h reminder and its copy; nothing sent twice.
    dispatch_due(engine, settings, policy=POLICY, now=NOW + timedelta(minutes=5), channels=_channels(provider, null))
    assert len(provider.sent) == 1
    dispatch_due(engine, settings, policy=POLICY, now=START - timedelta(hours=2), channels=_channels(provider, null))
    assert [(s["phone"], s["template"]) for s in provider.sent] == [(GUARDIAN, "ROSTER_GUARDIAN_COPY")] * 2
    assert len({s["out_id"] for s in provider.sent}) == 2


def test_change_notices_are_copied_too(engine: Engine) -> None:
    _vid, aid = _minor_shift(engine, date(2012, 5, 1), start=NOW + timedelta(days=5))
    with session_scope(engine) as session:
        from scheduler.models import Assignment

        notify(session, session.get(Assignment, aid), "role_changed", NOW, policy=POLICY)
    provider = RecordingSmsProvider()
    dispatch_due(engine, settings_for(str(engine.url)), policy=POLICY, now=NOW,
                 channels=_channels(provider, NullChannel()))
    assert [(kind.split(":")[0], channel) for kind, channel, status in _ledger(engine) if status == "sent"] == [
        ("role_changed", "console"), ("role_changed", "guardian")]
    assert provider.sent[0]["phone"] == GUARDIAN


def test_no_copy_without_opt_in_for_an_adult_or_after_revoking(engine: Engine) -> None:
    _minor_shift(engine, date(2012, 5, 1), copy=False)
    # 18 on the shift's day in Shanghai (born 8 December 2008: the shift is on the 8th there).
    _minor_shift(engine, date(2008, 12, 8))
    kid, _ = _minor_shift(engine, date(2012, 5, 1))
    provider = RecordingSmsProvider()
    settings = settings_for(str(engine.url))
    result = dispatch_due(engine, settings, policy=POLICY, now=NOW, channels=_channels(provider, NullChannel()))
    assert result.sent == 4 and [s["phone"] for s in provider.sent] == [GUARDIAN]
    # The copy owed for the 2 h reminder is written with it; revoked before then, none is written.
    with session_scope(engine) as session:
        revoke_consent(session, str(kid), "社工", now=NOW)
    dispatch_due(engine, settings, policy=POLICY, now=START - timedelta(hours=2), channels=_channels(provider, NullChannel()))
    assert len(provider.sent) == 1
    assert [c for _k, c, _s in _ledger(engine)].count("guardian") == 1


def test_a_copy_revoked_while_it_waits_is_cancelled_and_a_failed_one_is_retried(engine: Engine) -> None:
    kid, _ = _minor_shift(engine, date(2012, 5, 1))
    provider = RecordingSmsProvider(fail_next=1)
    settings = settings_for(str(engine.url))
    first = dispatch_due(engine, settings, policy=POLICY, now=NOW, channels=_channels(provider, NullChannel()))
    assert (first.sent, first.retried) == (1, 1)
    assert ("before:1440", "guardian", "pending") in _ledger(engine)  # backing off, not lost
    second = dispatch_due(engine, settings, policy=POLICY, now=NOW + timedelta(minutes=2),
                          channels=_channels(provider, NullChannel()))
    assert second.sent == 1 and provider.sent[0]["phone"] == GUARDIAN
    # Another copy waiting in quiet hours, revoked meanwhile: cancelled at its claim, not sent.
    kid2, aid2 = _minor_shift(engine, date(2013, 1, 1), start=NOW + timedelta(days=3))
    with session_scope(engine) as session:
        session.add(Reminder(assignment_id=aid2, kind="promoted", channel="guardian",
                             shift_start=NOW + timedelta(days=3), due_at=NOW + timedelta(minutes=3), payload={}))
        revoke_consent(session, str(kid2), "社工", now=NOW)
    third = dispatch_due(engine, settings, policy=POLICY, now=NOW + timedelta(minutes=3),
                         channels=_channels(provider, NullChannel()))
    assert third.cancelled == 1 and len(provider.sent) == 1
    assert ("promoted", "guardian", "cancelled") in _ledger(engine)
    assert kid != kid2


def test_the_guardians_copies_share_the_daily_cap_of_their_number(engine: Engine) -> None:
    for _ in range(3):
        _minor_shift(engine, date(2012, 5, 1))
    provider = RecordingSmsProvider()
    channels = ChannelSet({"console": lambda: NullChannel(), "guardian": lambda: GuardianSmsChannel(provider, 2)})
    result = dispatch_due(engine, settings_for(str(engine.url)), policy=POLICY, now=NOW, channels=channels)
    assert len(provider.sent) == 2  # one phone, cap 2 a day: the third copy waits for tomorrow
    assert result.deferred == 1
