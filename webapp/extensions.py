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
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Session


class Base(DeclarativeBase):
    """Declarative base of every table."""


db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
migrate = Migrate()
csrf = CSRFProtect()
login_manager = LoginManager()

# Execution options that ask the SQLite "begin" hook for BEGIN IMMEDIATE, and for a lock wait.
_IMMEDIATE = "sqlite_begin_immediate"
LOCK_WAIT = "sqlite_lock_wait_ms"
# Session.info key: seconds every write transaction of that session waits for SQLite's lock.
SESSION_LOCK_WAIT = "sched_lock_wait_seconds"


def _sqlite_hooks(default_wait_ms: int):
    """Return the "connect" and "begin" hooks of a SQLite engine whose lock wait is `default_wait_ms`.

    A request waits at most DATABASE_LOCK_TIMEOUT for the write lock (then answers 503); the
    dispatcher asks for a longer wait (see begin_write). The pragma is sent only when the
    pooled connection's current wait differs, so a request pays nothing for it.
    """

    def connect(dbapi_conn: sqlite3.Connection, record) -> None:
        """Set the lock wait, WAL and foreign keys; let SQLAlchemy emit BEGIN itself."""
        # pysqlite's own transaction handling would issue a deferred BEGIN lazily;
        # turning it off lets the "begin" hook choose BEGIN IMMEDIATE for writers.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {default_wait_ms}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()
        record.info[LOCK_WAIT] = default_wait_ms

    def begin(conn) -> None:
        """Start a transaction: IMMEDIATE for writers so they queue instead of failing."""
        options = conn.get_execution_options()
        wait_ms = options.get(LOCK_WAIT) or default_wait_ms
        info = conn.connection.info
        if info.get(LOCK_WAIT) != wait_ms:
            conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(wait_ms)}")
            info[LOCK_WAIT] = wait_ms
        conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get(_IMMEDIATE) else "BEGIN")

    return connect, begin


def configure_engine(engine: Engine, lock_timeout: float = 2.0) -> None:
    """Install the SQLite connection hooks on an engine, waiting `lock_timeout` s for locks (no-op elsewhere)."""
    if engine.dialect.name != "sqlite" or getattr(engine, "_sched_configured", False):
        return
    connect, begin = _sqlite_hooks(int(lock_timeout * 1000))
    event.listen(engine, "connect", connect)
    event.listen(engine, "begin", begin)
    engine._sched_configured = True  # type: ignore[attr-defined]


def is_postgres(session: Session | None = None) -> bool:
    """Tell whether the session (the app's, by default) talks to PostgreSQL rather than SQLite."""
    return (session or db.session()).get_bind().dialect.name == "postgresql"


def begin_write(session: Session | None = None, lock_wait: float | None = None) -> Session:
    """Start a write transaction on the session (BEGIN IMMEDIATE on SQLite).

    A read transaction already open is ended first, because SQLite cannot
    upgrade a deferred reader to a writer without risking SQLITE_BUSY.
    `lock_wait` (seconds) overrides how long SQLite waits for the write lock; without it, the
    session's own `info[SESSION_LOCK_WAIT]` does (the dispatcher's tick sets it for all its writes).
    """
    session = session or db.session()
    if session.in_transaction():
        session.commit()
    options: dict = {_IMMEDIATE: True}
    lock_wait = lock_wait or session.info.get(SESSION_LOCK_WAIT)
    if lock_wait:
        options[LOCK_WAIT] = int(lock_wait * 1000)
    session.connection(execution_options=options)
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


def discard_session(session: Session | None = None) -> None:
    """Roll back a session after a database fault; a dead connection may refuse even that."""
    session = session or db.session()
    try:
        session.rollback()
    except SQLAlchemyError:
        session.invalidate()
