"""Add holiday calendars, and the DST policy and holiday rule of each schedule

Revision ID: 0006
Revises: 0004
Create Date: 2026-11-27 07:45:00

Existing schedules keep the behaviour of Part 1: dst_gap SHIFT, dst_repeat FIRST, no calendar, no rule.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "calendars",
        sa.Column("calendar_id", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("dates", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["client_id"], ["agents.agent_id"]),
        sa.PrimaryKeyConstraint("calendar_id"),
    )
    op.create_index("ix_calendars_client", "calendars", ["client_id", "created_at"])
    # Plain ADD COLUMNs, not a batch rebuild: rebuilding scheduled_tasks on SQLite would drop its triggers.
    op.add_column("scheduled_tasks", sa.Column("dst_gap", sa.String(length=8), server_default="SHIFT", nullable=False))
    op.add_column(
        "scheduled_tasks", sa.Column("dst_repeat", sa.String(length=8), server_default="FIRST", nullable=False)
    )
    if op.get_bind().dialect.name == "sqlite":
        # SQLite adds a column with a REFERENCES clause, but Alembic only offers that through a rebuild.
        op.execute("ALTER TABLE scheduled_tasks ADD COLUMN calendar_id VARCHAR(64) REFERENCES calendars (calendar_id)")
    else:
        op.add_column(
            "scheduled_tasks",
            sa.Column("calendar_id", sa.String(length=64), sa.ForeignKey("calendars.calendar_id"), nullable=True),
        )
    op.add_column("scheduled_tasks", sa.Column("holiday_rule", sa.String(length=32), nullable=True))
    op.create_index("ix_scheduled_tasks_calendar_id", "scheduled_tasks", ["calendar_id"])


def downgrade():
    op.drop_index("ix_scheduled_tasks_calendar_id", "scheduled_tasks")
    with op.batch_alter_table("scheduled_tasks") as batch:
        for column in ("holiday_rule", "calendar_id", "dst_repeat", "dst_gap"):
            batch.drop_column(column)
    op.drop_index("ix_calendars_client", "calendars")
    op.drop_table("calendars")
