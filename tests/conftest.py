"""Fixtures: an app on a fresh database per test, its client and CLI runner, and agents with keys.

The suite runs on SQLite by default. Set TEST_DATABASE_URL=postgresql+psycopg://... to run it
on PostgreSQL instead (the database is emptied and migrated by the suite).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from webapp import clock, create_app
from webapp.auth import create_agent
from webapp.extensions import db

PG_URL = os.environ.get("TEST_DATABASE_URL", "")


def _migrate(url: str) -> None:
    """Bring the database at `url` up to date through the real migrations."""
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "SCHEDULER_ENABLED": False})
    with app.app_context():
        upgrade()
        db.engine.dispose()


@pytest.fixture(scope="session")
def database_template(tmp_path_factory) -> str:
    """Migrate once per run: a template SQLite file, or the PostgreSQL test database."""
    if PG_URL:
        engine = sa.create_engine(PG_URL)
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
        engine.dispose()
        _migrate(PG_URL)
        return PG_URL
    path = tmp_path_factory.mktemp("template") / "template.db"
    _migrate(f"sqlite:///{path}")
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return str(path)


@pytest.fixture
def database_url(database_template: str, tmp_path: Path) -> str:
    """Return the URL of an empty, migrated database for this test."""
    if PG_URL:
        engine = sa.create_engine(PG_URL)
        with engine.begin() as conn:
            tables = [t for t in sa.inspect(conn).get_table_names() if t != "alembic_version"]
            conn.exec_driver_sql(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
        engine.dispose()
        return PG_URL
    path = tmp_path / "test.db"
    shutil.copyfile(database_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def app(database_url: str):
    """Return the app on a fresh database, without its dispatcher thread."""
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SCHEDULER_ENABLED": False,
            "SECRET_KEY": "test-secret",
        }
    )
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    """Return a test client."""
    return app.test_client()


@pytest.fixture
def runner(app):
    """Return a CLI runner."""
    return app.test_cli_runner()


@pytest.fixture
def freeze_clock(monkeypatch):
    """Return freeze(at): from then on clock.utcnow() answers `at` everywhere; call again to move it."""
    state: dict[str, datetime] = {}
    monkeypatch.setattr(clock, "utcnow", lambda: state["now"])

    def freeze(at: datetime) -> None:
        """Set the instant the clock answers."""
        state["now"] = at

    return freeze


@pytest.fixture
def make_agent(app):
    """Register an agent and return its bearer headers: make_agent("client-1", admin=False, capabilities=[...])."""

    def make(agent_id: str = "client-1", admin: bool = False, capabilities: list[str] | None = None) -> dict:
        with app.app_context():
            key = create_agent(agent_id, None, capabilities or ["report-v1"], admin)
        return {"Authorization": f"Bearer {key}"}

    return make


@pytest.fixture
def auth(make_agent) -> dict:
    """Return the bearer headers of a plain agent, client-1."""
    return make_agent("client-1")
