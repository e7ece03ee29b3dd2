"""Keep per-client, per-status schedule counts so that list totals cost O(1)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 00:20:00

Triggers append +1/-1 rows to schedule_count_deltas (no hot row, so concurrent
writers never contend); webapp.counts folds them into schedule_counts.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SQLITE_TRIGGERS = [
    """CREATE TRIGGER trg_schedule_count_insert AFTER INSERT ON scheduled_tasks BEGIN
         INSERT INTO schedule_count_deltas (client_id, status, d) VALUES (NEW.client_id, NEW.status, 1);
       END""",
    """CREATE TRIGGER trg_schedule_count_update AFTER UPDATE OF status, client_id ON scheduled_tasks
       WHEN OLD.status IS NOT NEW.status OR OLD.client_id IS NOT NEW.client_id BEGIN
         INSERT INTO schedule_count_deltas (client_id, status, d)
         VALUES (OLD.client_id, OLD.status, -1), (NEW.client_id, NEW.status, 1);
       END""",
    """CREATE TRIGGER trg_schedule_count_delete AFTER DELETE ON scheduled_tasks BEGIN
         INSERT INTO schedule_count_deltas (client_id, status, d) VALUES (OLD.client_id, OLD.status, -1);
       END""",
]

POSTGRES_TRIGGERS = [
    """CREATE FUNCTION schedule_count_delta() RETURNS trigger AS $$
       BEGIN
         IF TG_OP IN ('UPDATE', 'DELETE') THEN
           INSERT INTO schedule_count_deltas (client_id, status, d) VALUES (OLD.client_id, OLD.status, -1);
         END IF;
         IF TG_OP IN ('INSERT', 'UPDATE') THEN
           INSERT INTO schedule_count_deltas (client_id, status, d) VALUES (NEW.client_id, NEW.status, 1);
         END IF;
         RETURN NULL;
       END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER trg_schedule_count_insert AFTER INSERT OR DELETE ON scheduled_tasks
       FOR EACH ROW EXECUTE FUNCTION schedule_count_delta()""",
    """CREATE TRIGGER trg_schedule_count_update AFTER UPDATE OF status, client_id ON scheduled_tasks
       FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.client_id IS DISTINCT FROM NEW.client_id)
       EXECUTE FUNCTION schedule_count_delta()""",
]


def upgrade():
    op.create_table(
        "schedule_counts",
        sa.Column("client_id", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("client_id", "status"),
    )
    op.create_table(
        "schedule_count_deltas",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("client_id", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("d", sa.Integer(), nullable=False),
    )
    dialect = op.get_bind().dialect.name
    for statement in POSTGRES_TRIGGERS if dialect == "postgresql" else SQLITE_TRIGGERS:
        op.execute(statement)
    op.execute(
        "INSERT INTO schedule_counts (client_id, status, n) "
        "SELECT client_id, status, COUNT(*) FROM scheduled_tasks GROUP BY client_id, status"
    )


def downgrade():
    op.execute("DROP TRIGGER IF EXISTS trg_schedule_count_insert" + (" ON scheduled_tasks" if _pg() else ""))
    op.execute("DROP TRIGGER IF EXISTS trg_schedule_count_update" + (" ON scheduled_tasks" if _pg() else ""))
    if _pg():
        op.execute("DROP FUNCTION IF EXISTS schedule_count_delta()")
    else:
        op.execute("DROP TRIGGER IF EXISTS trg_schedule_count_delete")
    op.drop_table("schedule_count_deltas")
    op.drop_table("schedule_counts")


def _pg() -> bool:
    return op.get_bind().dialect.name == "postgresql"
