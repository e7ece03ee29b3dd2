"""The command line and the schema: agents, operators, migrations, auto-upgrade."""

from __future__ import annotations

import sqlalchemy as sa

from webapp import create_app
from webapp.extensions import db
from webapp.models import Agent, Operator


def test_agents_create_prints_the_key_alone_on_the_last_line(runner, app, client):
    result = runner.invoke(
        args=[
            "agents",
            "create",
            "client-123",
            "--name",
            "Reports",
            "--capability",
            "report-v1",
            "--capability",
            "mail-v1",
        ]
    )
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1]
    assert key.startswith("sk_") and " " not in key
    with app.app_context():
        agent = db.session.get(Agent, "client-123")
        assert agent.capabilities == ["report-v1", "mail-v1"] and not agent.is_admin
        assert agent.api_key_hash != key and key not in agent.api_key_hash
    response = client.get("/aitp/tasks/schedule", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200


def test_agents_create_refuses_a_duplicate(runner, app):
    assert runner.invoke(args=["agents", "create", "dup"]).exit_code == 0
    result = runner.invoke(args=["agents", "create", "dup", "--admin"])
    assert result.exit_code != 0
    assert "already exists" in result.output
    with app.app_context():
        assert db.session.get(Agent, "dup").is_admin is False


def test_revoked_and_rotated_keys_stop_working(runner, client):
    old = runner.invoke(args=["agents", "create", "rot"]).output.strip().splitlines()[-1]
    new = runner.invoke(args=["agents", "rotate", "rot"]).output.strip().splitlines()[-1]
    assert client.get("/aitp/tasks/schedule", headers={"Authorization": f"Bearer {old}"}).status_code == 401
    assert client.get("/aitp/tasks/schedule", headers={"Authorization": f"Bearer {new}"}).status_code == 200
    assert runner.invoke(args=["agents", "revoke", "rot"]).exit_code == 0
    assert client.get("/aitp/tasks/schedule", headers={"Authorization": f"Bearer {new}"}).status_code == 401


def test_users_create_stores_a_hashed_password(runner, app):
    result = runner.invoke(args=["users", "create", "alice", "--password", "correct horse"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        operator = db.session.get(Operator, "alice")
        assert operator.password_hash != "correct horse"
    short = runner.invoke(args=["users", "create", "bob", "--password", "short"])
    assert short.exit_code != 0
    with app.app_context():
        assert db.session.get(Operator, "bob") is None


def test_db_upgrade_builds_a_new_sqlite_file(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "SCHEDULER_ENABLED": False})
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        names = set(sa.inspect(db.engine).get_table_names())
        assert {"agents", "tasks", "scheduled_tasks", "schedule_executions", "operators"} <= names
        uniques = sa.inspect(db.engine).get_unique_constraints("schedule_executions")
        assert any(u["column_names"] == ["schedule_id", "scheduled_for"] for u in uniques)
        assert db.session.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
        db.engine.dispose()


def test_the_embedded_default_upgrades_itself_on_start(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'auto.db'}")
    app = create_app({"SCHEDULER_ENABLED": False})
    with app.app_context():
        assert "scheduled_tasks" in sa.inspect(db.engine).get_table_names()
        db.engine.dispose()
