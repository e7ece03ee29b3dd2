"""The timer around dispatcher.tick: one APScheduler job, and the rules for where it starts.

The job runs one tick (fire what is due, requeue expired leases, housekeeping), then moves its
own next run to the instant the tick returns: the earliest next_run_at, at most one second
ahead, so a schedule created by another process still fires within a second. A commit in this
process that sets an earlier next_run_at wakes it sooner. The database stays the only source of
truth: every gunicorn worker may run a timer; exactness comes from the claims in dispatcher.py.
A tick that fails (the database is down, full, or locked too long) is retried after 1 s, then
2 s, 4 s and every 5 s while it keeps failing, and logged quietly (faults.Outage).
"""

from __future__ import annotations

import atexit
import logging
import threading
from datetime import datetime, timedelta

import click
from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask, current_app, has_app_context
from flask.helpers import get_debug_flag
from sqlalchemy import event
from sqlalchemy.orm import Session, object_session

from .. import clock, config, faults
from ..events import alerts, retention
from ..events.pump import Pump
from ..models import ScheduledTask, ScheduleStatus
from . import dispatcher

log = logging.getLogger(__name__)
JOB_ID = "dispatch"
DELIVER_JOB_ID = "deliver"
ALERT_EVERY = timedelta(seconds=5)


class Timer:
    """A BackgroundScheduler with the one dispatch job, bound to an app."""

    def __init__(self, app: Flask) -> None:
        """Prepare (not start) the scheduler for `app`."""
        self.app = app
        self.scheduler = BackgroundScheduler(timezone="UTC")
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self.pump = Pump(app)
        self._alerted_at: datetime | None = None
        self.pruner = retention.Pruner()
        # One tracker for both jobs: an outage is one story, told once per process, not once per job.
        self.outage = faults.Outage(log, "dispatcher")

    def start(self) -> None:
        """Start the scheduler; the first tick runs at once."""
        self.scheduler.add_job(
            self.run_tick,
            "interval",
            # A safety net only: every tick moves the next one explicitly (see wake), so a long
            # tick does not make APScheduler skip overlapping runs every second.
            seconds=30,
            id=JOB_ID,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            next_run_time=clock.utcnow(),
        )
        # Its own job (its own thread): webhook deliveries never wait for, or hold up, a firing.
        self.scheduler.add_job(
            self.deliver,
            "interval",
            seconds=1,
            id=DELIVER_JOB_ID,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )
        self.scheduler.start()
        log.info("dispatcher timer started")

    def run_tick(self) -> None:
        """Run one dispatcher tick in the app, then move the next run to the instant it returns."""
        target = None
        try:
            with self.app.app_context():
                target = dispatcher.tick(should_stop=self.stopping.is_set)
            self.outage.succeeded()
        except Exception as err:  # a database outage must not kill the timer; retry after a back-off
            target = clock.utcnow() + timedelta(seconds=self.outage.failed(err))
        finally:
            if not self.stopping.is_set():
                self._move(target or dispatcher.wake_instant(None, clock.utcnow()), replace=True)

    def deliver(self) -> None:
        """Hand due webhook attempts to the delivery pool; every few seconds, send unclaimed-task alerts;
        every PRUNE_EVERY, delete deliveries and events past EVENT_RETENTION_DAYS (events/retention.py)."""
        try:
            with self.app.app_context():
                self.pump.pump()
                now = clock.utcnow()
                if self._alerted_at is None or now - self._alerted_at >= ALERT_EVERY:
                    self._alerted_at = now
                    alerts.check_unclaimed(now)
                pruned = self.pruner.prune_if_due(now)
                if pruned and (pruned.deliveries or pruned.events):
                    log.info("pruned %d webhook deliveries and %d events", pruned.deliveries, pruned.events)
            self.outage.succeeded()
        except Exception as err:  # like the tick: an outage must not kill the job; the next second retries
            self.outage.failed(err)  # the tick's story: first failure in full, then a line a minute

    def wake(self, at: datetime | None) -> None:
        """Tick just after `at` (clamped to [now, now + 1 s]) if that is earlier than the next tick."""
        self._move(dispatcher.wake_instant(at, clock.utcnow()), replace=False)

    def _move(self, target: datetime, replace: bool) -> None:
        """Move the next tick to `target`; only ever earlier unless `replace`."""
        with self._lock:
            job = self.scheduler.get_job(JOB_ID)
            if job is None or self.stopping.is_set():
                return
            if replace or job.next_run_time is None or target < job.next_run_time:
                job.modify(next_run_time=target)

    def stop(self) -> None:
        """Stop after the batch in flight commits (or rolls back); idempotent."""
        if self.stopping.is_set():
            return
        self.stopping.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
            log.info("dispatcher timer stopped")
        self.pump.stop()


def should_start(app: Flask) -> bool:
    """Tell whether this process runs the timer (see the rules in init_app)."""
    if not app.config.get("SCHEDULER_ENABLED", True) or app.config.get("TESTING"):
        return False
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return True  # gunicorn or another WSGI server
    if ctx.info_name != "run" or (ctx.parent is not None and ctx.parent.parent is not None):
        return False  # another command, or `scheduler run`, which runs its own timer
    reload = ctx.params.get("reload")
    if reload is None:
        reload = get_debug_flag()
    # With the reloader, the watcher parent only restarts the child; the child serves.
    return not reload or config.is_reloader_child()


def start(app: Flask) -> Timer:
    """Start a timer for `app` (tests call this to ask for one) and stop it at exit."""
    timer = Timer(app)
    app.extensions["scheduler_timer"] = timer
    timer.start()
    atexit.register(timer.stop)
    return timer


def _note_schedule(_mapper, _connection, target: ScheduledTask) -> None:
    """Remember a written schedule's next_run_at so the commit can wake the timer early."""
    if target.status == ScheduleStatus.ACTIVE and target.next_run_at is not None:
        session = object_session(target)
        if session is not None:
            session.info.setdefault("scheduler_wake", []).append(target.next_run_at)


def _wake_after_commit(session: Session) -> None:
    """After a commit that set a next_run_at, wake this process's timer if it is earlier."""
    times = session.info.pop("scheduler_wake", None)
    if not times:
        return
    if has_app_context():
        timer = current_app.extensions.get("scheduler_timer")
        if timer is not None:
            timer.wake(min(times))


def _rollback(session: Session) -> None:
    """Forget the wake-ups of a rolled-back transaction."""
    session.info.pop("scheduler_wake", None)


def listen_for_schedule_writes() -> None:
    """Install the wake-up hooks once per process."""
    if event.contains(ScheduledTask, "after_insert", _note_schedule):
        return
    event.listen(ScheduledTask, "after_insert", _note_schedule)
    event.listen(ScheduledTask, "after_update", _note_schedule)
    event.listen(Session, "after_commit", _wake_after_commit)
    event.listen(Session, "after_rollback", _rollback)


def init_app(app: Flask) -> None:
    """Install the wake-up hooks and start the timer when this process should run it.

    The timer starts with `flask run` (in the reloader's child only) and under a WSGI server,
    never for other CLI commands, in tests, or when SCHEDULER_ENABLED is off.
    """
    listen_for_schedule_writes()
    if should_start(app):
        start(app)
