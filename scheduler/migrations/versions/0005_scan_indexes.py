"""the reminder scan's two indexes: events not yet scanned (partial, on id), and the services'
reminder offsets as text, on PostgreSQL (the scan's distinct offsets by a loose index scan)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03

Indexes only: no row changes. ``ix_event_unscanned`` was on (reminders_scanned_at, id); once all
events are scanned the planner, with statistics from before the scan stamped them, walked the
primary key through every event (25-45 ms on a city's 48,000 events, every scan). The partial
index holds only the events still to scan. ``ix_service_offsets`` lets the scan find the few
distinct offset lists with one index probe each instead of reading all 50,000 services.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

UNSCANNED = sa.text("reminders_scanned_at IS NULL")
OFFSETS = sa.text("CAST(reminder_offsets AS VARCHAR)")


def upgrade() -> None:
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.drop_index("ix_event_unscanned")
    op.create_index("ix_event_unscanned", "event", ["id"], unique=False, postgresql_where=UNSCANNED,
                    sqlite_where=UNSCANNED)
    if op.get_bind().dialect.name == "postgresql":  # see Service.__table_args__
        op.create_index("ix_service_offsets", "service", [OFFSETS], unique=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_service_offsets", table_name="service")
    op.drop_index("ix_event_unscanned", table_name="event")
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.create_index("ix_event_unscanned", ["reminders_scanned_at", "id"], unique=False)
