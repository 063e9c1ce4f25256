"""Schema and migrations on SQLite and PostgreSQL."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.exc import IntegrityError, StatementError

from scheduler.db import session_scope
from scheduler.migrate import current_revision
from scheduler.models import Base, Occurrence
from tests import factories


def test_migrations_build_exactly_the_models(engine: Engine) -> None:
    assert current_revision(engine) == "0005"
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn, warnings.catch_warnings():
        # The one index the models create on PostgreSQL only (``ddl_if``): SQLite cannot reflect it.
        warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified expression-based index "
                                "'ix_service_offsets'; dialect 'sqlite'")
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        indexes = set(conn.scalars(text(
            "SELECT name FROM sqlite_master WHERE type = 'index'" if sqlite
            else "SELECT indexname FROM pg_indexes WHERE tablename = 'service'")))
    assert diff == []
    # Built where the model says: PostgreSQL has the expression index, SQLite does not.
    assert ("ix_service_offsets" in indexes) is (not sqlite)
    assert {"occurrence", "assignment", "reminder", "event"} <= set(inspect(engine).get_table_names())


def test_aware_datetimes_round_trip_as_utc(engine: Engine) -> None:
    shanghai = timezone(timedelta(hours=8))
    start = datetime(2026, 12, 7, 16, 30, tzinfo=shanghai)
    with session_scope(engine) as s:
        factories.org(s)
        svc = factories.service(s, slug="clinic")
        occ_id = factories.occurrence(s, svc, start=start).id
    with session_scope(engine) as s:
        occ = s.get(Occurrence, occ_id)
        assert occ is not None
        assert occ.start_at == start
        assert occ.start_at.tzinfo is UTC
        assert occ.start_at.hour == 8


def test_naive_datetimes_are_refused(engine: Engine) -> None:
    with pytest.raises(StatementError), session_scope(engine) as s:
        factories.org(s)
        svc = factories.service(s, slug="clinic")
        factories.occurrence(s, svc, start=datetime(2026, 12, 7, 8, 30))  # type: ignore[arg-type]


def test_occurrence_identity_is_unique(engine: Engine) -> None:
    start = datetime(2026, 12, 7, 8, 30, tzinfo=UTC)
    with session_scope(engine) as s:
        factories.org(s)
        factories.occurrence(s, factories.service(s, slug="clinic"), start=start)
    with pytest.raises(IntegrityError), session_scope(engine) as s:
        svc = s.scalars(select(Occurrence)).one().service
        factories.occurrence(s, svc, start=start)


def test_seat_number_required_exactly_for_seated_statuses(engine: Engine) -> None:
    with session_scope(engine) as s:
        factories.org(s)
        svc = factories.service(s, slug="clinic")
        occ = factories.occurrence(s, svc)
        vol = factories.volunteer(s)
        ids = (occ.id, svc.roles[0].id, vol.id)
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(text("INSERT INTO assignment (occurrence_id, role_id, volunteer_id, status, seat_no, forced, "
                          "sequence, created_at, updated_at) VALUES (:o, :r, :v, 'confirmed', NULL, false, 0, "
                          "'2026-01-01', '2026-01-01')"), {"o": ids[0], "r": ids[1], "v": ids[2]})


def test_status_checks_are_the_enums_values_and_match_the_migration(sqlite_engine: Engine) -> None:
    """The CHECK constraints are built from the StrEnums; the migration holds the same text."""
    from sqlalchemy import CheckConstraint

    from scheduler.models import ASSIGNMENT_STATUSES, AssignmentStatus, OccurrenceStatus

    assert ASSIGNMENT_STATUSES == tuple(AssignmentStatus)
    assert "status IN ('scheduled', 'cancelled')" in {
        str(c.sqltext) for c in Occurrence.__table__.constraints if isinstance(c, CheckConstraint)}
    assert OccurrenceStatus.CANCELLED == "cancelled" and f"{OccurrenceStatus.CANCELLED}" == "cancelled"
    for table in Base.metadata.sorted_tables:
        model = {c.name: " ".join(str(c.sqltext).split())
                 for c in table.constraints if isinstance(c, CheckConstraint)}
        migrated = {c["name"]: " ".join(c["sqltext"].split())
                    for c in inspect(sqlite_engine).get_check_constraints(table.name)}
        assert migrated == model, table.name


def test_an_enum_status_is_stored_and_read_back_as_its_plain_value(engine: Engine) -> None:
    from scheduler.models import OccurrenceStatus

    with session_scope(engine) as s:
        factories.org(s)
        factories.occurrence(s, factories.service(s), status=OccurrenceStatus.CANCELLED)
    with session_scope(engine) as s:
        raw = s.execute(text("SELECT status FROM occurrence")).scalar_one()
        assert raw == "cancelled" and type(raw) is str
        assert s.scalar(select(Occurrence.id).where(Occurrence.status == OccurrenceStatus.CANCELLED))
