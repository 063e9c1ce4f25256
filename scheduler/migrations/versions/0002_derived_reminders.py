"""derived reminders: the ledger keys on the shift's start; the scan's watermark and event flag;
the volunteer pages: a personal web token per volunteer, hand-over offers; how each attendance
check-in and check-out was made (cli, web-qr)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02

Every row is kept as it was (pending ones stay pending, sent ones sent): a row's ``shift_start``
is its occurrence's start now, which is what 0001's code had timed a pending row for (it re-timed
them on every move). Events already written are marked scanned (0001 wrote their reminders with
them); no watermark row, so the first scan looks at the whole window once and finds each owed
reminder already in the ledger: none lost, none sent twice.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import scheduler.db

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

#: 0001 left the (assignment, kind, channel) constraint unnamed; this names it on SQLite's reflection.
_UNNAMED = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _web_tokens() -> None:
    import secrets

    bind = op.get_bind()
    ids = [row[0] for row in bind.execute(sa.text("SELECT id FROM volunteer WHERE web_token IS NULL"))]
    for vid in ids:
        bind.execute(sa.text("UPDATE volunteer SET web_token = :token WHERE id = :id"),
                     {"token": secrets.token_urlsafe(16), "id": vid})


def _feedback_and_deadline() -> None:
    """The confirmation deadline of a service (hours before the shift) and the satisfaction ratings."""
    with op.batch_alter_table("service", schema=None) as batch_op:
        batch_op.add_column(sa.Column("confirm_hours", sa.Integer(), nullable=True))
    op.create_table(
        "rating",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("occurrence_id", sa.Integer(), nullable=True),
        sa.Column("stars", sa.Integer(), nullable=False),
        sa.Column("comment", sa.String(length=200), nullable=False),
        sa.Column("client_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", scheduler.db.UTCDateTime(), nullable=False),
        sa.CheckConstraint("stars >= 1 AND stars <= 5", name="rating_stars"),
        sa.ForeignKeyConstraint(["occurrence_id"], ["occurrence.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["service_id"], ["service.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_rating_service_created", "rating", ["service_id", "created_at"], unique=False)
    op.create_index("ix_rating_created", "rating", ["created_at"], unique=False)


def upgrade() -> None:
    op.add_column("volunteer", sa.Column("web_token", sa.String(length=64), nullable=True))
    _web_tokens()
    op.create_index("uq_volunteer_web_token", "volunteer", ["web_token"], unique=True)
    op.create_table(
        "handover",
        sa.Column("assignment_id", sa.Integer(), nullable=False),
        sa.Column("volunteer_id", sa.Integer(), nullable=False),
        sa.Column("created_at", scheduler.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["assignment_id"], ["assignment.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["volunteer_id"], ["volunteer.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("assignment_id"),
    )
    op.create_index("ix_handover_volunteer_id", "handover", ["volunteer_id"], unique=False)
    op.create_table(
        "reminder_scan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scanned_to", scheduler.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reminders_scanned_at", scheduler.db.UTCDateTime(), nullable=True))
        batch_op.create_index("ix_event_unscanned", ["reminders_scanned_at", "id"], unique=False)
    op.execute("UPDATE event SET reminders_scanned_at = created_at")
    _feedback_and_deadline()
    with op.batch_alter_table("attendance", schema=None) as batch_op:
        batch_op.add_column(sa.Column("checkin_method", sa.String(length=16), server_default="cli", nullable=False))
        batch_op.add_column(sa.Column("checkout_method", sa.String(length=16), nullable=True))
    op.execute("UPDATE attendance SET checkout_method = 'cli' WHERE check_out IS NOT NULL")

    with op.batch_alter_table("reminder", schema=None) as batch_op:
        batch_op.add_column(sa.Column("shift_start", scheduler.db.UTCDateTime(), nullable=True))
    op.execute(
        "UPDATE reminder SET shift_start = (SELECT o.start_at FROM assignment a"
        " JOIN occurrence o ON o.id = a.occurrence_id WHERE a.id = reminder.assignment_id)"
    )
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("reminder", schema=None, recreate="always",
                                  naming_convention=_UNNAMED) as batch_op:
            batch_op.drop_constraint("uq_reminder_assignment_id", type_="unique")
            batch_op.alter_column("shift_start", existing_type=scheduler.db.UTCDateTime(), nullable=False)
            batch_op.create_unique_constraint("uq_reminder_ledger",
                                              ["assignment_id", "kind", "channel", "shift_start"])
    else:
        op.drop_constraint("reminder_assignment_id_kind_channel_key", "reminder", type_="unique")
        op.alter_column("reminder", "shift_start", existing_type=scheduler.db.UTCDateTime(), nullable=False)
        op.create_unique_constraint("uq_reminder_ledger", "reminder",
                                    ["assignment_id", "kind", "channel", "shift_start"])


def downgrade() -> None:
    # Rows of one (assignment, kind, channel) for several starts keep the newest.
    op.execute(
        "DELETE FROM reminder WHERE id NOT IN (SELECT max(id) FROM reminder GROUP BY assignment_id, kind, channel)"
    )
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("reminder", schema=None, recreate="always") as batch_op:
            batch_op.drop_constraint("uq_reminder_ledger", type_="unique")
            batch_op.create_unique_constraint("reminder_assignment_id_kind_channel_key",
                                              ["assignment_id", "kind", "channel"])
            batch_op.drop_column("shift_start")
    else:
        op.drop_constraint("uq_reminder_ledger", "reminder", type_="unique")
        op.create_unique_constraint("reminder_assignment_id_kind_channel_key", "reminder",
                                    ["assignment_id", "kind", "channel"])
        op.drop_column("reminder", "shift_start")
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.drop_index("ix_event_unscanned")
        batch_op.drop_column("reminders_scanned_at")
    op.drop_table("reminder_scan")
    op.drop_index("ix_rating_created", table_name="rating")
    op.drop_index("ix_rating_service_created", table_name="rating")
    op.drop_table("rating")
    with op.batch_alter_table("service", schema=None) as batch_op:
        batch_op.drop_column("confirm_hours")
    with op.batch_alter_table("attendance", schema=None) as batch_op:
        batch_op.drop_column("checkout_method")
        batch_op.drop_column("checkin_method")
    op.drop_index("ix_handover_volunteer_id", table_name="handover")
    op.drop_table("handover")
    op.drop_index("uq_volunteer_web_token", table_name="volunteer")
    with op.batch_alter_table("volunteer", schema=None) as batch_op:
        batch_op.drop_column("web_token")
