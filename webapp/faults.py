"""Database faults the service cannot help, told apart from bugs.

A lost connection, a lock or statement that ran out of time, a full disk and a read-only
database are not mistakes of a request: the API answers them 503 `unavailable` with
`Retry-After`, /healthz names them, and the dispatcher backs off and logs them quietly.
Every other database error stays a 500, because it is a bug to fix. Outage keeps the logs of a
loop that meets them quiet and useful.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import exc


@dataclass(frozen=True)
class Fault:
    """Why the database cannot serve right now: a kind, words for people, and when to retry."""

    kind: str
    message: str
    retry_after: int


LOCKED = Fault("locked", "The database is busy (a lock could not be had in time); retry shortly", 2)
TIMEOUT = Fault("timeout", "A database statement ran out of time; retry shortly", 2)
DOWN = Fault("down", "The database cannot be reached; retry shortly", 5)
FULL = Fault("full", "The database's disk is full; writes are refused until space is freed", 30)
READ_ONLY = Fault("read_only", "The database is read-only; writes are refused", 30)

# PostgreSQL SQLSTATEs (https://www.postgresql.org/docs/current/errcodes-appendix.html).
_SQLSTATES = {
    "55P03": LOCKED,  # lock_not_available: lock_timeout ran out
    "40001": LOCKED,  # serialization_failure
    "40P01": LOCKED,  # deadlock_detected
    "53300": LOCKED,  # too_many_connections
    "57014": TIMEOUT,  # query_canceled: statement_timeout ran out
    "25P03": TIMEOUT,  # idle_in_transaction_session_timeout ended the session
    "53100": FULL,  # disk_full
    "53200": FULL,  # out_of_memory
    "25006": READ_ONLY,  # read_only_sql_transaction (a standby, or default_transaction_read_only)
    "57P01": DOWN,  # admin_shutdown
    "57P02": DOWN,  # crash_shutdown
    "57P03": DOWN,  # cannot_connect_now (starting up or shutting down)
}
# SQLite reports its faults by message only.
_SQLITE = (
    ("database is locked", LOCKED),
    ("database table is locked", LOCKED),
    ("database or disk is full", FULL),
    ("readonly database", READ_ONLY),
    ("disk i/o error", DOWN),
    ("unable to open database file", DOWN),
)


def classify(err: BaseException) -> Fault | None:
    """Return the fault an exception reports, or None when it is not one (a bug, bad SQL, bad data)."""
    if isinstance(err, exc.TimeoutError):  # no pooled connection came free in time
        return LOCKED
    if not isinstance(err, exc.DBAPIError):
        return None
    if err.connection_invalidated:
        return DOWN
    orig = err.orig
    if isinstance(orig, sqlite3.Error):
        text = str(orig).lower()
        return next((fault for words, fault in _SQLITE if words in text), None)
    state = getattr(orig, "sqlstate", None)
    if state:
        return DOWN if state.startswith("08") else _SQLSTATES.get(state)
    # No SQLSTATE at all: the driver could not talk to the server (refused, reset, closed).
    return DOWN if isinstance(err, (exc.OperationalError, exc.InterfaceError)) else None


NOTE_EVERY = 60.0  # seconds between two notes of the same kind of fault
_noted: dict[str, float] = {}
_noted_lock = threading.Lock()


def note(log: logging.Logger, key: str, message: str, *args: object) -> None:
    """Log a warning at most once per NOTE_EVERY seconds per `key`: requests meet a fault in floods."""
    now = time.monotonic()
    with _noted_lock:
        if now - _noted.get(key, -NOTE_EVERY) < NOTE_EVERY:
            return
        _noted[key] = now
    log.warning(message, *args)


class Outage:
    """Quiet, useful logs for a loop that meets faults, and the back-off between its retries.

    The first failure is logged with a short traceback; while it lasts, one line a minute says for
    how long; the first success after it says how long it lasted. The retry delay grows from
    BACKOFF_FIRST to BACKOFF_MAX seconds. Time is read from `monotonic`, so tests can drive it.
    """

    BACKOFF_FIRST = 1.0
    BACKOFF_MAX = 5.0
    REPORT_EVERY = 60.0
    TRACEBACK_FRAMES = 5

    def __init__(self, log: logging.Logger, what: str, monotonic: Callable[[], float] = time.monotonic) -> None:
        """Log to `log` about `what` (e.g. "dispatcher")."""
        self.log, self.what, self.monotonic = log, what, monotonic
        self.since: float | None = None
        self.reported = 0.0
        self.failures = 0

    def failed(self, err: BaseException) -> float:
        """Note a failure; return how many seconds to wait before retrying."""
        now = self.monotonic()
        fault = classify(err)
        reason = f"database unavailable ({fault.kind})" if fault else "failed"
        if self.since is None:
            self.since, self.reported = now, now
            frames = "".join(traceback.format_exception(err, limit=-self.TRACEBACK_FRAMES, chain=False))
            self.log.error("%s %s: %s\n%s", self.what, reason, _first_line(err), frames.rstrip())
        elif now - self.reported >= self.REPORT_EVERY:
            self.reported = now
            self.log.warning("%s %s for %.0f s, retrying: %s", self.what, reason, now - self.since, _first_line(err))
        self.failures += 1
        return min(self.BACKOFF_FIRST * 2 ** (self.failures - 1), self.BACKOFF_MAX)

    def succeeded(self) -> None:
        """Note a success; after an outage, say how long it lasted."""
        if self.since is None:
            return
        lasted = self.monotonic() - self.since
        self.log.warning("%s recovered after %.1f s (%d failed attempts)", self.what, lasted, self.failures)
        self.since, self.failures = None, 0


def _first_line(err: BaseException) -> str:
    """Return the first line of an error's message, with its type."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"
