"""The command line and the schema: agents, operators, migrations, auto-upgrade."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from webapp import create_app
from webapp.extensions import db
from webapp.models import Agent, Operator

ROOT = Path(__file__).resolve().parents[2]


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


def test_agents_create_of_an_existing_id_suggests_rotate_and_keeps_the_key(runner, app, client):
    first = runner.invoke(args=["agents", "create", "dup"])
    key = first.output.strip().splitlines()[-1]
    again = runner.invoke(args=["agents", "create", "dup"])
    assert again.exit_code == 1
    assert "Agent dup already exists" in again.output and "flask --app wsgi agents rotate dup" in again.output
    assert not again.output.strip().splitlines()[-1].startswith("sk_")  # no key-shaped last line to capture
    assert client.get("/aitp/tasks/schedule", headers={"Authorization": f"Bearer {key}"}).status_code == 200


def test_agents_list_prints_a_header_then_one_agent_per_line(runner):
    empty = runner.invoke(args=["agents", "list"])
    assert empty.exit_code == 0 and "No agents yet" in empty.output
    runner.invoke(args=["agents", "create", "worker-1", "--capability", "report-v1", "--capability", "pdf-v2"])
    runner.invoke(args=["agents", "create", "root", "--admin"])
    runner.invoke(args=["agents", "revoke", "root"])
    lines = runner.invoke(args=["agents", "list"]).output.splitlines()
    assert lines[0].split() == ["AGENT_ID", "ROLE", "KEY", "CAPABILITIES"]
    assert lines[1].split() == ["root", "admin", "revoked", "-"]
    assert lines[2].split() == ["worker-1", "agent", "active", "report-v1,pdf-v2"]
    assert len({line.index(line.split()[1]) for line in lines}) == 1  # the columns line up


def test_db_upgrade_says_what_it_did(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "SCHEDULER_ENABLED": False})
    first = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert first.exit_code == 0, first.output
    assert f"Upgraded {url} from an empty database to revision" in first.output
    assert "0001 (Create the schedule service tables)" in first.output
    again = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert "already up to date at revision" in again.output and "nothing to do" in again.output
    with app.app_context():
        db.engine.dispose()


def test_db_upgrade_of_the_embedded_default_reports_the_upgrade_done_on_start(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'auto.db'}")
    app = create_app({"SCHEDULER_ENABLED": False})  # upgrades itself on start
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert "from an empty database to revision" in result.output, result.output
    with app.app_context():
        db.engine.dispose()


def _readme_snippet(marker: str) -> str:
    """Return the README's shell block that contains the marker."""
    blocks = re.findall(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    return next(block for block in blocks if marker in block)


def test_the_readme_key_snippet_fails_loudly_when_the_agent_exists(tmp_path):
    snippet = _readme_snippet("agents create client-123").replace(".venv/bin/flask", f"{sys.executable} -m flask")
    script = f'{snippet}\necho "KEY=$KEY"\n'
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'readme.db'}", "SCHEDULER_ENABLED": "0"}
    first = subprocess.run(["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert re.search(r"^KEY=sk_\S+$", first.stdout, re.M)
    second = subprocess.run(["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode != 0 and "KEY=" not in second.stdout
    assert "agents rotate client-123" in second.stderr


def test_a_refused_gunicorn_start_is_one_line_even_without_the_config_file(tmp_path):
    gunicorn = Path(sys.executable).parent / "gunicorn"
    if not gunicorn.exists():
        pytest.skip(f"gunicorn is not installed next to {sys.executable}")
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'g.db'}", "SCHEDULER_ENABLED": "0"}
    env.pop("SECRET_KEY", None)
    empty_config = tmp_path / "bare.conf.py"
    empty_config.write_text("")
    for extra in ([], ["-c", str(empty_config)]):  # the master's check, then each worker's
        args = [str(gunicorn), *extra, "--bind", "127.0.0.1:0", "--workers", "2", "wsgi:app"]
        refused = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert refused.returncode != 0
        assert "InsecureSettings" not in refused.stderr and "wsgi.py" not in refused.stderr  # no traceback of ours
        lines = [line for line in refused.stderr.splitlines() if "Refusing to start" in line]
        assert lines and all("SECRET_KEY is the development default" in line for line in lines)
        if not extra:  # checked once in the master: one line, and gunicorn never boots a worker
            assert len(lines) == 1 and "Traceback" not in refused.stderr and "Booting worker" not in refused.stderr
