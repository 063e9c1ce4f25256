"""qualifications with a validity, a role's required qualification; birth dates, minimum ages, guardians' consent (issue 18)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import scheduler.db

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("role", schema=None) as batch_op:
        batch_op.add_column(sa.Column("required_qualification", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("min_age", sa.Integer(), nullable=True))
    with op.batch_alter_table("service", schema=None) as batch_op:
        batch_op.add_column(sa.Column("minor_latest_end", sa.String(length=5), nullable=True))
    with op.batch_alter_table("volunteer", schema=None) as batch_op:
        batch_op.add_column(sa.Column("birth_date", sa.Date(), nullable=True))
    op.create_table(
        "qualification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("volunteer_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("issuer", sa.String(length=120), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=True),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column("created_at", scheduler.db.UTCDateTime(), nullable=False),
        sa.CheckConstraint("expires_on IS NULL OR issued_on IS NULL OR expires_on >= issued_on",
                           name="qualification_dates"),
        sa.ForeignKeyConstraint(["volunteer_id"], ["volunteer.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("volunteer_id", "kind", "number", name="uq_qualification_number"),
    )
    op.create_index("ix_qualification_expires", "qualification", ["expires_on"])
    op.create_index(op.f("ix_qualification_volunteer_id"), "qualification", ["volunteer_id"])
    op.create_table(
        "qualification_notice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("qualification_id", sa.Integer(), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.String(length=32), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", scheduler.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["qualification_id"], ["qualification.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("qualification_id", "threshold", "recipient", "expires_on",
                            name="uq_qualification_notice"),
    )
    op.create_table(
        "guardian_consent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("volunteer_id", sa.Integer(), nullable=False),
        sa.Column("guardian_name", sa.String(length=64), nullable=False),
        sa.Column("relation", sa.String(length=32), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("given_on", sa.Date(), nullable=False),
        sa.Column("copy_reminders", sa.Boolean(), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("revoked_at", scheduler.db.UTCDateTime(), nullable=True),
        sa.Column("revoked_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", scheduler.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["volunteer_id"], ["volunteer.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_guardian_consent_volunteer", "guardian_consent", ["volunteer_id", "revoked_at"])


def downgrade() -> None:
    op.drop_index("ix_guardian_consent_volunteer", table_name="guardian_consent")
    op.drop_table("guardian_consent")
    op.drop_table("qualification_notice")
    op.drop_index(op.f("ix_qualification_volunteer_id"), table_name="qualification")
    op.drop_index("ix_qualification_expires", table_name="qualification")
    op.drop_table("qualification")
    with op.batch_alter_table("volunteer", schema=None) as batch_op:
        batch_op.drop_column("birth_date")
    with op.batch_alter_table("service", schema=None) as batch_op:
        batch_op.drop_column("minor_latest_end")
    with op.batch_alter_table("role", schema=None) as batch_op:
        batch_op.drop_column("min_age")
        batch_op.drop_column("required_qualification")
