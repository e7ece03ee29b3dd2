"""Index what pruning the webhook outbox looks up: a delivery's event, and an event's age

Revision ID: 0007
Revises: 0005
Create Date: 2026-11-27 12:30:00

Retention (webapp/events/retention.py) deletes events older than EVENT_RETENTION_DAYS that no
delivery still refers to: without these, each candidate event would scan every delivery, and
PostgreSQL would scan them again to check the foreign key of each deleted event.
"""

from alembic import op

revision = "0007"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_webhook_deliveries_event", "webhook_deliveries", ["event_id"])
    op.create_index("ix_events_occurred", "events", ["occurred_at"])


def downgrade():
    op.drop_index("ix_events_occurred", table_name="events")
    op.drop_index("ix_webhook_deliveries_event", table_name="webhook_deliveries")
