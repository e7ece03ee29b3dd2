"""Add the event outbox, webhooks, their deliveries and attempts, the audit log and unclaimed alerts

Revision ID: 0005
Revises: 0006
Create Date: 2026-11-27 07:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    # Plain ALTER TABLE (no batch copy): a copied scheduled_tasks would lose its count triggers.
    op.add_column("scheduled_tasks", sa.Column("unclaimed_alert_seconds", sa.Integer(), nullable=True))
    op.add_column("tasks", sa.Column("unclaimed_alerted_at", sa.DateTime(), nullable=True))
    op.create_table(
        "events",
        sa.Column("event_id", sa.String(length=64), primary_key=True),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=128), nullable=False),
        sa.Column("schedule_id", sa.String(length=64), nullable=True),
        sa.Column("execution_id", sa.String(length=64), nullable=True),
        sa.Column("task_id", sa.String(length=64), nullable=True),
        sa.Column("occurred_at", sa.DateTime(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
    )
    op.create_index("ix_events_client", "events", ["client_id", "occurred_at"])
    op.create_table(
        "webhooks",
        sa.Column("webhook_id", sa.String(length=64), primary_key=True),
        sa.Column("client_id", sa.String(length=128), sa.ForeignKey("agents.agent_id"), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("secret", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_webhooks_client", "webhooks", ["client_id", "created_at"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("delivery_id", sa.String(length=64), primary_key=True),
        sa.Column(
            "webhook_id",
            sa.String(length=64),
            sa.ForeignKey("webhooks.webhook_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("event_id", sa.String(length=64), sa.ForeignKey("events.event_id"), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("claim_token", sa.String(length=32), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_webhook_deliveries_due", "webhook_deliveries", ["status", "next_attempt_at"])
    op.create_index("ix_webhook_deliveries_webhook", "webhook_deliveries", ["webhook_id", "created_at"])
    op.create_table(
        "webhook_attempts",
        sa.Column("attempt_id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "delivery_id",
            sa.String(length=64),
            sa.ForeignKey("webhook_deliveries.delivery_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("attempted_at", sa.DateTime(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
    )
    op.create_index("ix_webhook_attempts_delivery", "webhook_attempts", ["delivery_id", "attempted_at"])
    op.create_table(
        "audit_log",
        sa.Column("audit_id", sa.String(length=64), primary_key=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor_type", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.String(length=128), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("schedule_id", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=128), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
    )
    op.create_index("ix_audit_log_schedule", "audit_log", ["schedule_id", "at"])
    op.create_index("ix_audit_log_client", "audit_log", ["client_id", "at"])
    op.create_index("ix_audit_log_at", "audit_log", ["at"])


def downgrade():
    op.drop_table("audit_log")
    op.drop_table("webhook_attempts")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhooks")
    op.drop_table("events")
    op.drop_column("tasks", "unclaimed_alerted_at")
    op.drop_column("scheduled_tasks", "unclaimed_alert_seconds")

