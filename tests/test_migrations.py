"""The migrations and the models agree: Alembic's autogenerate finds nothing to change."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from webapp.extensions import db


def test_autogenerate_sees_no_difference_between_the_migrated_database_and_the_models(database_url):
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
            assert compare_metadata(context, db.metadata) == []
    finally:
        engine.dispose()


def test_the_count_tables_are_declared_in_the_models():
    assert {"schedule_counts", "schedule_count_deltas"} <= set(db.metadata.tables)
