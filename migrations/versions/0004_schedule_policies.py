"""Add schedule policies, task attempts and the occurrence ledger

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-27 06:50:00

Every new schedule column has a default that keeps an existing schedule behaving as before
(ALLOW, FIRE_LATEST, no window, no bounds, no limit, no jitter, one attempt, a 300 s lease).
Executions and tasks made before gain what can be derived: finished times, and the reason
MISSED on the skipped executions (Part 1 skipped only missed occurrences).
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None


def _schedule_columns():
    """Return the new scheduled_tasks columns."""
    return [
        sa.Column("overlap_policy", sa.String(length=16), server_default="ALLOW", nullable=False),
        sa.Column("misfire_policy", sa.String(length=16), server_default="FIRE_LATEST", nullable=False),
        sa.Column("catchup_window_seconds", sa.Integer(), nullable=True),
        sa.Column("start_at", sa.DateTime(), nullable=True),
        sa.Column("end_at", sa.DateTime(), nullable=True),
        sa.Column("max_runs", sa.Integer(), nullable=True),
        sa.Column("remaining_runs", sa.Integer(), nullable=True),
        sa.Column("jitter_seconds", sa.Integer(), server_default="0", nullable=False),
        sa.Column("retry_policy", sa.JSON(), nullable=True),
        sa.Column("timeout_seconds", sa.Integer(), server_default="300", nullable=False),
        sa.Column("pause_after_failures", sa.Integer(), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("paused_reason", sa.Text(), nullable=True),
    ]


def _task_columns():
    """Return the new tasks columns."""
    return [
        sa.Column("max_attempts", sa.Integer(), server_default="1", nullable=False),
        sa.Column("retry_policy", sa.JSON(), nullable=True),
        sa.Column("timeout_seconds", sa.Integer(), server_default="300", nullable=False),
        sa.Column("not_before", sa.DateTime(), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
    ]


def _execution_columns():
    """Return the new schedule_executions columns."""
    return [
        sa.Column("trigger", sa.String(length=16), server_default="SCHEDULE", nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
    ]


def upgrade():
    for table, columns in (
        ("scheduled_tasks", _schedule_columns()),
        ("tasks", _task_columns()),
        ("schedule_executions", _execution_columns()),
    ):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.add_column(column)
    with op.batch_alter_table("schedule_executions", schema=None) as batch_op:
        batch_op.create_index("ix_schedule_executions_open", ["schedule_id", "status"], unique=False)
    # What the old rows already tell: when finished tasks ended, and why executions were skipped.
    op.execute("UPDATE tasks SET finished_at = updated_at WHERE status IN ('COMPLETED', 'FAILED')")
    op.execute("UPDATE tasks SET started_at = created_at WHERE attempts > 0")
    op.execute(
        "UPDATE schedule_executions SET finished_at = "
        "(SELECT tasks.finished_at FROM tasks WHERE tasks.task_id = schedule_executions.task_id), "
        "started_at = (SELECT tasks.started_at FROM tasks WHERE tasks.task_id = schedule_executions.task_id), "
        "attempts = COALESCE((SELECT tasks.attempts FROM tasks WHERE tasks.task_id = schedule_executions.task_id), 0) "
        "WHERE task_id IS NOT NULL"
    )
    op.execute("UPDATE schedule_executions SET reason = 'MISSED' WHERE status = 'SKIPPED'")
    op.execute(
        "UPDATE schedule_executions SET status = 'RUNNING' WHERE status = 'PENDING' AND task_id IN "
        "(SELECT task_id FROM tasks WHERE status = 'RUNNING')"
    )


def downgrade():
    with op.batch_alter_table("schedule_executions", schema=None) as batch_op:
        batch_op.drop_index("ix_schedule_executions_open")
    op.execute("UPDATE schedule_executions SET status = 'PENDING' WHERE status IN ('BUFFERED', 'RUNNING')")
    op.execute("UPDATE schedule_executions SET status = 'FAILED' WHERE status = 'CANCELLED'")
    op.execute("UPDATE tasks SET status = 'FAILED' WHERE status = 'CANCELLED'")
    for table, columns in (
        ("schedule_executions", _execution_columns()),
        ("tasks", _task_columns()),
        ("scheduled_tasks", _schedule_columns()),
    ):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in reversed(columns):
                batch_op.drop_column(column.name)
