"""The points ledger on SQLite and PostgreSQL: credits from approved hours at the rate of the day
served, corrections as new entries, redemptions never below zero, an append-only ledger."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from scheduler import attendance as att
from scheduler import points
from scheduler.db import session_scope
from scheduler.errors import Conflict, InvalidInput
from scheduler.models import PointsBalance, PointsEntry, PointsRate
from tests import factories
from tests.points.conftest import BEFORE, serve

SHANGHAI = ZoneInfo("Asia/Shanghai")
# 2026-12-07 16:30 and 2026-12-09 16:30 in Shanghai.
DEC7 = datetime(2026, 12, 7, 8, 30, tzinfo=UTC)
DEC9 = datetime(2026, 12, 9, 8, 30, tzinfo=UTC)


def _entries(session: Session, volunteer_id: int) -> list[tuple[str, int]]:
    return [(e.kind, e.amount_centi) for e in session.scalars(
        select(PointsEntry).where(PointsEntry.volunteer_id == volunteer_id).order_by(PointsEntry.id))]


def _balance(session: Session, volunteer_id: int) -> int:
    return points.balance_centi(session, volunteer_id)


def test_approved_hours_earn_one_point_an_hour_by_default(session: Session) -> None:
    factories.org(session)
    svc, vol = factories.service(session), factories.volunteer(session)
    record = serve(session, svc, vol, DEC7, 135)
    assert record.status == "approved"
    assert _entries(session, vol.id) == [("earned", 225)]  # 2 h 15 min = 2.25 points
    entry = session.scalars(select(PointsEntry)).one()
    assert (entry.attendance_id, entry.rate_centi, entry.minutes, entry.by) == (record.id, 100, 135, "auto")
    assert _balance(session, vol.id) == 225


def test_a_rate_applies_from_its_date_on_never_to_hours_served_before(session: Session) -> None:
    factories.org(session)
    visits = factories.service(session, kind="elderly_care", title="关爱空巢老人", visibility="private")
    vol = factories.volunteer(session)
    points.set_rate(session, "elderly_care", "1.5", date(2026, 12, 8), by="张主任", tz=SHANGHAI, now=BEFORE)
    serve(session, visits, vol, DEC7, 60)  # served the day before the rate: 1 point
    serve(session, visits, vol, DEC9, 60)  # served on the rate's days: 1.5 points
    assert _entries(session, vol.id) == [("earned", 100), ("earned", 150)]
    # Another kind keeps the default.
    classroom = factories.service(session)
    serve(session, classroom, vol, DEC9 + timedelta(days=1), 60)
    assert _entries(session, vol.id)[-1] == ("earned", 100)


def test_a_rate_cannot_start_in_the_past_nor_be_zero_or_below(session: Session) -> None:
    with pytest.raises(InvalidInput, match="^from: 2026-12-05 is in the past"):
        points.set_rate(session, "clinic", "2", date(2026, 12, 5), by="张主任", tz=SHANGHAI, now=BEFORE)
    for bad in ("0", "-1", "abc", "1.555", "NaN"):
        with pytest.raises(InvalidInput, match="^rate: "):
            points.set_rate(session, "clinic", bad, date(2026, 12, 8), by="张主任", tz=SHANGHAI, now=BEFORE)
    with pytest.raises(InvalidInput, match="^kind: 'dancing' is not a service kind"):
        points.set_rate(session, "dancing", "1", date(2026, 12, 8), by="张主任", tz=SHANGHAI, now=BEFORE)
    points.set_rate(session, "clinic", "2", date(2026, 12, 8), by="张主任", tz=SHANGHAI, now=BEFORE)
    with pytest.raises(Conflict, match="already set"):
        points.set_rate(session, "clinic", "3", date(2026, 12, 8), by="张主任", tz=SHANGHAI, now=BEFORE)
    assert session.scalar(select(func.count()).select_from(PointsRate)) == 1


def test_corrections_rejections_and_approvals_write_correcting_entries(session: Session) -> None:
    factories.org(session)
    svc, vol = factories.service(session), factories.volunteer(session)
    record = serve(session, svc, vol, DEC7, 120)
    later = DEC7 + timedelta(hours=4)
    att.correct(session, record.id, "check_out", DEC7 + timedelta(minutes=90), by="李书记", reason="忘记签退",
                now=later)
    att.reject(session, record.id, by="张主任", reason="重复记录", now=later)
    att.approve(session, record.id, by="张主任", now=later)
    assert _entries(session, vol.id) == [("earned", 200), ("correction", -50), ("correction", -150),
                                         ("correction", 150)]
    assert _balance(session, vol.id) == 150
    # Idempotent: syncing again writes nothing.
    assert points.sync_attendance_credit(session, record, now=later) is None
    assert len(_entries(session, vol.id)) == 4


def test_a_rejection_never_takes_the_balance_below_zero(session: Session) -> None:
    factories.org(session)
    svc, vol = factories.service(session), factories.volunteer(session)
    record = serve(session, svc, vol, DEC7, 120)
    points.redeem(session, str(vol.id), 2, centre="爱联社区党群服务中心", purpose="大米", by="李书记", now=BEFORE)
    att.reject(session, record.id, by="张主任", reason="重复记录", now=DEC7 + timedelta(hours=4))
    assert _balance(session, vol.id) == 0
    assert _entries(session, vol.id) == [("earned", 200), ("redeemed", -200)]


def test_redeeming_more_than_the_balance_is_refused_and_nothing_is_written(session: Session) -> None:
    factories.org(session)
    svc, vol = factories.service(session), factories.volunteer(session)
    serve(session, svc, vol, DEC7, 180)
    with pytest.raises(Conflict, match=r"^points: not enough points: volunteer #\d+ has 3.00, asked to redeem 4.00"):
        points.redeem(session, str(vol.id), 4, centre="中心", purpose="大米", by="李书记")
    entry = points.redeem(session, str(vol.id), 3, centre="中心", purpose="大米", by="李书记")
    assert (entry.kind, entry.amount_centi, entry.centre, entry.purpose, entry.by) == ("redeemed", -300, "中心", "大米",
                                                                                     "李书记")
    assert _balance(session, vol.id) == 0
    assert _entries(session, vol.id) == [("earned", 300), ("redeemed", -300)]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"points": 0}, "^points: 0 is not a positive whole number"),
    ({"points": "-3"}, "^points: '-3' is not a positive whole number"),
    ({"points": "1.5"}, r"^points: '1.5' is not a positive whole number"),
    ({"points": "abc"}, "^points: 'abc' is not a positive whole number"),
    ({"purpose": "  "}, "^for: must not be empty"),
    ({"centre": ""}, "^at: must not be empty"),
])
def test_bad_redemptions_name_the_field(session: Session, kwargs: dict[str, object], message: str) -> None:
    factories.org(session)
    svc, vol = factories.service(session), factories.volunteer(session)
    serve(session, svc, vol, DEC7, 180)
    args: dict[str, object] = {"points": 1, "centre": "中心", "purpose": "大米", "by": "李书记"} | kwargs
    with pytest.raises(InvalidInput, match=message):
        points.redeem(session, str(vol.id), **args)  # type: ignore[arg-type]
    assert _entries(session, vol.id) == [("earned", 300)]


def test_the_ledger_is_append_only_and_the_balance_never_negative(engine: Engine) -> None:
    with session_scope(engine) as s:
        factories.org(s)
        svc, vol = factories.service(s), factories.volunteer(s)
        serve(s, svc, vol, DEC7, 60)
        vid = vol.id
    for statement in ("UPDATE points_entry SET amount_centi = 5000", "DELETE FROM points_entry"):
        with pytest.raises(DBAPIError, match="never changed or deleted"), session_scope(engine) as s:
            s.execute(text(statement))
    with pytest.raises(DBAPIError), session_scope(engine) as s:
        s.execute(text("UPDATE points_balance SET balance_centi = -1"))
    with session_scope(engine) as s:
        assert s.get(PointsBalance, vid).balance_centi == 100  # type: ignore[union-attr]
        assert _entries(s, vid) == [("earned", 100)]


def test_statement_and_balances(session: Session) -> None:
    factories.org(session)
    svc, vol = factories.service(session), factories.volunteer(session)
    other = factories.volunteer(session, name="李明")
    serve(session, svc, vol, DEC7, 60)
    serve(session, svc, vol, DEC9, 120)
    points.redeem(session, str(vol.id), 1, centre="中心", purpose="毛巾", by="李书记", now=DEC9 + timedelta(hours=6))
    whole = points.statement(session, str(vol.id), SHANGHAI)
    assert (whole.opening_centi, whole.closing_centi, len(whole.entries)) == (0, 200, 3)
    part = points.statement(session, str(vol.id), SHANGHAI, date(2026, 12, 8), date(2026, 12, 31))
    assert (part.opening_centi, part.closing_centi, [e["points"] for e in part.entries]) == (100, 200,
                                                                                          ["2.00", "-1.00"])
    everyone = points.balances(session)
    assert [(b["volunteer_id"], b["earned"], b["redeemed"], b["balance"]) for b in everyone] == [
        (vol.id, "3.00", "1.00", "2.00")]
    branch = points.balances(session, branch="shunjing")
    assert [(b["volunteer_id"], b["balance"]) for b in branch] == [(vol.id, "2.00"), (other.id, "0.00")]
    assert [b["balance"] for b in points.balances(session, community="ailian")] == ["2.00", "0.00"]
