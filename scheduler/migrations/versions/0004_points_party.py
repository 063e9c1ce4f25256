"""points and time-bank credit (a ledger, rates per service kind from a date); serving Party members and their work unit (issue 18)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

The ledger is append-only: a trigger on each backend refuses UPDATE and DELETE of its rows
(corrections are new entries). The balance row per volunteer carries ``CHECK (balance_centi >= 0)``:
a redemption is ``UPDATE ... SET balance_centi = balance_centi - n WHERE balance_centi >= n``, so of
two racing for the last points one wins.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import scheduler.db

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_KINDS = "kind IN ('earned', 'correction', 'redeemed')"


def upgrade() -> None:
    with op.batch_alter_table("volunteer", schema=None) as batch_op:
        batch_op.add_column(sa.Column("party_member", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("work_unit", sa.String(length=200), nullable=True))
    op.create_table(
        "points_rate",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("rate_centi", sa.Integer(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("set_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", scheduler.db.UTCDateTime(), nullable=False),
        sa.CheckConstraint("rate_centi > 0", name="points_rate_positive"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "effective_from"),
    )
    op.create_table(
        "points_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("volunteer_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount_centi", sa.Integer(), nullable=False),
        sa.Column("attendance_id", sa.Integer(), nullable=True),
        sa.Column("rate_centi", sa.Integer(), nullable=True),
        sa.Column("minutes", sa.Integer(), nullable=True),
        sa.Column("centre", sa.String(length=200), nullable=True),
        sa.Column("purpose", sa.String(length=300), nullable=True),
        sa.Column("note", sa.String(length=300), nullable=False),
        sa.Column("by", sa.String(length=64), nullable=False),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.Column("created_at", scheduler.db.UTCDateTime(), nullable=False),
        sa.CheckConstraint(_KINDS, name="points_entry_kind"),
        sa.CheckConstraint("amount_centi <> 0", name="points_entry_nonzero"),
        sa.ForeignKeyConstraint(["attendance_id"], ["attendance.id"]),
        sa.ForeignKeyConstraint(["volunteer_id"], ["volunteer.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_points_entry_volunteer", "points_entry", ["volunteer_id", "created_at"])
    op.create_index("ix_points_entry_attendance", "points_entry", ["attendance_id"])
    op.create_table(
        "points_balance",
        sa.Column("volunteer_id", sa.Integer(), nullable=False),
        sa.Column("balance_centi", sa.Integer(), nullable=False),
        sa.Column("updated_at", scheduler.db.UTCDateTime(), nullable=False),
        sa.CheckConstraint("balance_centi >= 0", name="points_balance_nonnegative"),
        sa.ForeignKeyConstraint(["volunteer_id"], ["volunteer.id"]),
        sa.PrimaryKeyConstraint("volunteer_id"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE FUNCTION points_entry_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'points ledger entries are never changed or deleted; write a correction';
            END;
            $$ LANGUAGE plpgsql
        """)
        op.execute("CREATE TRIGGER points_entry_append_only BEFORE UPDATE OR DELETE ON points_entry "
                   "FOR EACH ROW EXECUTE FUNCTION points_entry_append_only()")
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(f"""
                CREATE TRIGGER points_entry_no_{action.lower()} BEFORE {action} ON points_entry
                BEGIN
                    SELECT RAISE(ABORT, 'points ledger entries are never changed or deleted; write a correction');
                END
            """)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS points_entry_append_only ON points_entry")
        op.execute("DROP FUNCTION IF EXISTS points_entry_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS points_entry_no_update")
        op.execute("DROP TRIGGER IF EXISTS points_entry_no_delete")
    op.drop_table("points_balance")
    op.drop_index("ix_points_entry_attendance", table_name="points_entry")
    op.drop_index("ix_points_entry_volunteer", table_name="points_entry")
    op.drop_table("points_entry")
    op.drop_table("points_rate")
    with op.batch_alter_table("volunteer", schema=None) as batch_op:
        batch_op.drop_column("work_unit")
        batch_op.drop_column("party_member")
