"""Extensions, created unbound, and the database transaction helpers."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session


class Base(DeclarativeBase):
    """Declarative base of every table."""


db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
migrate = Migrate()
csrf = CSRFProtect()
login_manager = LoginManager()

# Execution option that asks the SQLite "begin" hook for BEGIN IMMEDIATE.
_IMMEDIATE = "sqlite_begin_immediate"


def _sqlite_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
    """Set WAL, a busy timeout and foreign keys; let SQLAlchemy emit BEGIN itself."""
    # pysqlite's own transaction handling would issue a deferred BEGIN lazily;
    # turning it off lets the "begin" hook choose BEGIN IMMEDIATE for writers.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout = 30000")
    cur.execute("PRAGMA journal_mode = WAL")
    cur.execute("PRAGMA synchronous = NORMAL")
    cur.execute("PRAGMA foreign_keys = ON")
    cur.close()


def _sqlite_begin(conn) -> None:
    """Start a transaction: IMMEDIATE for writers so they queue instead of failing."""
    immediate = conn.get_execution_options().get(_IMMEDIATE)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def configure_engine(engine: Engine) -> None:
    """Install the SQLite connection hooks on an engine (no-op for other databases)."""
    if engine.dialect.name != "sqlite" or getattr(engine, "_sched_configured", False):
        return
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    engine._sched_configured = True  # type: ignore[attr-defined]


def begin_write(session: Session | None = None) -> Session:
    """Start a write transaction on the session (BEGIN IMMEDIATE on SQLite).

    A read transaction already open is ended first, because SQLite cannot
    upgrade a deferred reader to a writer without risking SQLITE_BUSY.
    """
    session = session or db.session()
    if session.in_transaction():
        session.commit()
    session.connection(execution_options={_IMMEDIATE: True})
    return session


@contextmanager
def write_transaction(session: Session | None = None) -> Iterator[Session]:
    """Run a block as one write transaction: commit on success, roll back on error."""
    session = begin_write(session)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
