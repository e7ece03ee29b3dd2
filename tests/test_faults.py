"""Faults the service cannot help answer 503 `unavailable` with Retry-After, never 500, and change nothing.

Each fault is made real where the sandbox allows it: a read-only database (SQLite's query_only,
PostgreSQL's default_transaction_read_only), a full disk (a SQLite file on a tiny tmpfs when this
process may mount one; otherwise SQLite's own "database or disk is full" raised by the driver
hook; on PostgreSQL a trigger raising SQLSTATE 53100), and an unreachable database.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import sqlite3
import subprocess
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy import event

from tests.conftest import PG_URL
from tests.dashboard_helpers import Dashboard
from webapp import create_app, faults
from webapp.extensions import db
from webapp.models import ScheduledTask

BODY = {"task_type": "report", "capability_required": "report-v1", "cron_expression": "*/5 * * * *"}


def _wrap(orig: Exception) -> sa.exc.DBAPIError:
    """Wrap a driver error the way SQLAlchemy does."""
    return sa.exc.DBAPIError.instance("UPDATE x", {}, orig, Exception)


@pytest.mark.parametrize(
    ("orig", "kind"),
    [
        (sqlite3.OperationalError("database is locked"), "locked"),
        (sqlite3.OperationalError("database or disk is full"), "full"),
        (sqlite3.OperationalError("attempt to write a readonly database"), "read_only"),
        (sqlite3.OperationalError("unable to open database file"), "down"),
        (sqlite3.OperationalError("disk I/O error"), "down"),
        (sqlite3.OperationalError("no such table: nothing"), None),  # a bug, not a fault
        (sqlite3.IntegrityError("UNIQUE constraint failed"), None),
        (psycopg.errors.LockNotAvailable("lock timeout"), "locked"),
        (psycopg.errors.QueryCanceled("statement timeout"), "timeout"),
        (psycopg.errors.IdleInTransactionSessionTimeout("idle"), "timeout"),
        (psycopg.errors.DiskFull("no space left"), "full"),
        (psycopg.errors.ReadOnlySqlTransaction("read-only"), "read_only"),
        (psycopg.errors.AdminShutdown("terminating"), "down"),
        (psycopg.errors.ConnectionFailure("gone"), "down"),
        (psycopg.OperationalError("connection refused"), "down"),
        (psycopg.errors.UndefinedTable("no such table"), None),
        (psycopg.errors.UniqueViolation("duplicate"), None),
    ],
)
def test_database_errors_are_told_apart_from_bugs(orig, kind):
    fault = faults.classify(_wrap(orig))
    assert (fault.kind if fault else None) == kind


def _count(app) -> int:
    """Count the schedules stored."""
    with app.app_context():
        n = db.session.scalar(sa.select(sa.func.count()).select_from(ScheduledTask))
        db.session.rollback()
        return n


def _assert_503(response, kind_words: str) -> None:
    """A 503 `unavailable` in the JSON error shape, with Retry-After, that says what happened."""
    assert response.status_code == 503, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field"}
    assert body["error"]["code"] == "unavailable"
    assert kind_words in body["error"]["message"]
    assert int(response.headers["Retry-After"]) >= 1


@contextlib.contextmanager
def read_only(app):
    """Make every new connection of the app read-only (the pooled ones are dropped first)."""
    with app.app_context():  # not held open: requests inside would share its session
        engine = db.engine
    engine.dispose()
    postgres = engine.dialect.name == "postgresql"

    def connect(dbapi_conn, _record) -> None:
        """Refuse writes on this connection."""
        if postgres:
            dbapi_conn.execute("SET default_transaction_read_only = on")
            dbapi_conn.commit()
        else:
            dbapi_conn.execute("PRAGMA query_only = ON")

    event.listen(engine, "connect", connect)
    try:
        yield
    finally:
        event.remove(engine, "connect", connect)
        engine.dispose()


def test_a_read_only_database_answers_503_to_writes_and_still_serves_reads(app, client, auth):
    sid = client.post("/aitp/tasks/schedule", json=BODY, headers=auth).get_json()["schedule_id"]
    with read_only(app):
        _assert_503(client.post("/aitp/tasks/schedule", json=BODY, headers=auth), "read-only")
        _assert_503(client.put(f"/aitp/tasks/schedule/{sid}", json={"priority": 9}, headers=auth), "read-only")
        assert client.get(f"/aitp/tasks/schedule/{sid}", headers=auth).status_code == 200
        health = client.get("/healthz")
        assert health.status_code == 503 and health.headers["Retry-After"]
        assert health.get_json() | {"error": None} == {
            "status": "unavailable",
            "failed": "write",
            "reason": "read_only",
            "error": None,
            "checks": {"database": "ok", "write": "failed"},
        }
    assert _count(app) == 1
    assert client.get(f"/aitp/tasks/schedule/{sid}", headers=auth).get_json()["priority"] == 5


def test_a_dashboard_action_on_a_read_only_database_answers_a_503_page(app, client):
    ui = Dashboard(app, client).sign_in()
    ui.agent()
    sid = ui.schedule()
    with read_only(app):
        response = ui.post(f"/schedules/{sid}/pause", {"view": "row"}, htmx=True)
    assert response.status_code == 503
    assert response.mimetype == "text/html" and int(response.headers["Retry-After"]) >= 1
    assert "Briefly unavailable" in response.get_data(as_text=True)
    assert ui.stored(sid).status == "ACTIVE"


def _mount_tiny_filesystem(path: Path) -> bool:
    """Mount a 1 MiB tmpfs at `path`; return False where this process may not."""
    path.mkdir()
    if shutil.which("mount") is None:
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(path)], capture_output=True)
    return done.returncode == 0


def _fill(directory: Path) -> None:
    """Write a filler file until the filesystem refuses more."""
    with contextlib.suppress(OSError), (directory / "filler").open("wb") as filler:
        while True:
            filler.write(b"\0" * 4096)
            filler.flush()


@contextlib.contextmanager
def disk_full_sqlite(database_url: str, tmp_path: Path):
    """Yield an app whose SQLite file sits on a full disk (a tiny tmpfs, or the driver's own error injected)."""
    mount = tmp_path / "tiny"
    mounted = _mount_tiny_filesystem(mount)
    source = Path(database_url.removeprefix("sqlite:///"))
    target = mount / "full.db" if mounted else source
    if mounted:
        shutil.copyfile(source, target)
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{target}", "SCHEDULER_ENABLED": False})
    try:
        with app.app_context():
            from webapp.auth import create_agent

            key = create_agent("client-1", None, ["report-v1"])
            if mounted:
                _fill(mount)
            else:
                print("no tmpfs here (not allowed to mount): injecting SQLite's disk-full error instead")

                def full(_conn, _cursor, statement, *_args) -> None:
                    """Fail every write the way a full disk does."""
                    if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
                        raise sqlite3.OperationalError("database or disk is full")

                event.listen(db.engine, "before_cursor_execute", full)
        yield app, {"Authorization": f"Bearer {key}"}
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        if mounted:
            subprocess.run(["umount", "-l", str(mount)], check=False)


@contextlib.contextmanager
def disk_full_postgres(app):
    """Make writes to schedules and the health probe fail with PostgreSQL's disk_full (SQLSTATE 53100)."""
    tables = ("scheduled_tasks", "alembic_version")
    with app.app_context(), db.engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE FUNCTION test_disk_full() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = '53100'; END $$"
        )
        for table in tables:
            conn.exec_driver_sql(
                f"CREATE TRIGGER test_disk_full BEFORE INSERT OR UPDATE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION test_disk_full()"
            )
    try:
        yield
    finally:
        with app.app_context(), db.engine.begin() as conn:
            for table in tables:
                conn.exec_driver_sql(f"DROP TRIGGER test_disk_full ON {table}")
            conn.exec_driver_sql("DROP FUNCTION test_disk_full()")


def test_a_full_disk_answers_503_and_healthz_says_so(app, database_url, tmp_path, make_agent):
    if PG_URL:
        headers = make_agent("client-1")
        full, target = disk_full_postgres(app), app
    else:
        full = disk_full_sqlite(database_url, tmp_path)
    with full as made:
        if not PG_URL:
            target, headers = made
        client = target.test_client()
        _assert_503(client.post("/aitp/tasks/schedule", json=BODY, headers=headers), "disk is full")
        health = client.get("/healthz")
        assert health.status_code == 503, health.get_json()
        assert (health.get_json()["failed"], health.get_json()["reason"]) == ("write", "full")
        assert client.get("/aitp/tasks/schedule", headers=headers).status_code == 200
        assert _count(target) == 0


def test_an_unreachable_database_answers_503_everywhere(tmp_path):
    url = f"sqlite:///{tmp_path}/missing-dir/none.db"
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "SCHEDULER_ENABLED": False})
    client = app.test_client()
    response = client.get("/aitp/tasks/schedule", headers={"Authorization": "Bearer nope"})
    _assert_503(response, "cannot be reached")
    health = client.get("/healthz")
    assert (health.status_code, health.get_json()["failed"], health.get_json()["reason"]) == (503, "database", "down")
    with app.app_context():
        db.engine.dispose()


def test_an_outage_is_logged_once_then_once_a_minute_then_on_recovery(caplog):
    clock = [0.0]
    outage = faults.Outage(logging.getLogger("test.outage"), "dispatcher", monotonic=lambda: clock[0])
    try:
        raise _wrap(psycopg.OperationalError("connection refused"))
    except sa.exc.DBAPIError as err:
        down = err
    waits = []
    with caplog.at_level(logging.INFO, logger="test.outage"):
        while clock[0] < 150:  # a 150 s outage, retried as the back-off says
            waits.append(outage.failed(down))
            clock[0] += waits[-1]
        outage.succeeded()
        outage.succeeded()  # no outage, nothing to say
    assert waits[:6] == [1, 2, 4, 5, 5, 5]
    records = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert [level for level, _ in records] == ["ERROR", "WARNING", "WARNING", "WARNING"]
    first = records[0][1]
    assert first.startswith("dispatcher database unavailable (down): OperationalError: (psycopg.OperationalError)")
    assert "Traceback" in first and len(first.splitlines()) < 25
    assert "unavailable (down) for 62 s, retrying" in records[1][1]
    assert "unavailable (down) for 122 s, retrying" in records[2][1]
    assert records[3][1] == f"dispatcher recovered after {clock[0]:.1f} s ({len(waits)} failed attempts)"
