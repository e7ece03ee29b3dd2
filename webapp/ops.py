"""Operations endpoints: GET /healthz and GET /metrics (Prometheus text), no key needed.

Each app has its own CollectorRegistry (tests build many apps in one process). Under gunicorn
with several workers the counters are per worker process: a scrape answers for the worker it
reaches. The backlog and task gauges are read from the database at scrape time, so they are
the same whichever worker answers.
"""

from __future__ import annotations

import threading
import time

import sqlalchemy as sa
from flask import Blueprint, Flask, Response, current_app, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy.exc import SQLAlchemyError

from . import clock, faults
from .extensions import db, discard_session, write_transaction
from .models import ScheduledTask, ScheduleStatus, Task, TaskStatus

bp = Blueprint("ops", __name__)

# The write probe runs at most once per this many seconds per process while it passes, and once
# a second while it fails (so recovery shows at once), whatever the rate of health checks.
PROBE_INTERVAL_OK = 5.0
PROBE_INTERVAL_FAILED = 1.0
LATENESS_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 2, 5, 10, 30, 60, 300, 3600, float("inf"))


class _DatabaseGauges:
    """Gauges computed at scrape time: the due backlog and the tasks by status."""

    def __init__(self, app: Flask) -> None:
        """Remember the app whose database is read."""
        self.app = app

    def describe(self):
        """Describe the gauges without touching the database (registration calls this)."""
        yield GaugeMetricFamily("scheduler_due_backlog", "ACTIVE schedules whose next_run_at has passed")
        yield GaugeMetricFamily("scheduler_tasks", "Tasks by status", labels=["status"])

    def collect(self):
        """Query the database for the current values."""
        backlog = GaugeMetricFamily("scheduler_due_backlog", "ACTIVE schedules whose next_run_at has passed")
        by_status = GaugeMetricFamily("scheduler_tasks", "Tasks by status", labels=["status"])
        with self.app.app_context():
            due = db.session.scalar(
                sa.select(sa.func.count())
                .select_from(ScheduledTask)
                .where(ScheduledTask.status == ScheduleStatus.ACTIVE, ScheduledTask.next_run_at <= clock.utcnow())
            )
            counts = dict(db.session.execute(sa.select(Task.status, sa.func.count()).group_by(Task.status)).all())
            db.session.rollback()
        backlog.add_metric([], float(due or 0))
        for status in TaskStatus:
            by_status.add_metric([status], float(counts.get(status, 0)))
        yield backlog
        yield by_status


class Metrics:
    """The app's metrics, in its own registry."""

    def __init__(self, app: Flask) -> None:
        """Create the collectors."""
        self.registry = CollectorRegistry()
        r = self.registry
        self.firings = Counter("scheduler_firings", "Occurrences fired (tasks created)", registry=r)
        self.lateness = Histogram(
            "scheduler_fire_lateness_seconds",
            "Seconds between an occurrence and its firing",
            buckets=LATENESS_BUCKETS,
            registry=r,
        )
        self.skipped = Counter("scheduler_skipped_occurrences", "Missed occurrences skipped", registry=r)
        self.task_outcomes = Counter("scheduler_task_outcomes", "Task claims and outcomes", ["outcome"], registry=r)
        self.api_requests = Counter(
            "scheduler_api_requests",
            "HTTP requests by endpoint and status",
            ["endpoint", "method", "status"],
            registry=r,
        )
        r.register(_DatabaseGauges(app))

    def record_firings(self, lateness: list[float], skipped: int) -> None:
        """Count firings, their lateness and the occurrences skipped."""
        if lateness:
            self.firings.inc(len(lateness))
            for seconds in lateness:
                self.lateness.observe(max(seconds, 0.0))
        if skipped:
            self.skipped.inc(skipped)

    def record_task(self, outcome: str, count: int = 1) -> None:
        """Count task claims and outcomes (claimed, completed, failed, lease_expired)."""
        self.task_outcomes.labels(outcome=outcome).inc(count)


class WriteProbe:
    """A cheap write that commits, rate-limited: it finds a full disk, a read-only database or a held lock."""

    def __init__(self) -> None:
        """Start with no probe run yet."""
        self._lock = threading.Lock()
        self._next = 0.0
        self._fault: faults.Fault | None = None

    def check(self) -> faults.Fault | None:
        """Return the fault of the latest probe, probing again when the last one is old enough."""
        with self._lock:
            now = time.monotonic()
            if now < self._next:
                return self._fault
            # Others use the previous answer while this one probes.
            self._next = now + PROBE_INTERVAL_FAILED
        fault = self._probe()
        with self._lock:
            self._fault = fault
            self._next = time.monotonic() + (PROBE_INTERVAL_FAILED if fault else PROBE_INTERVAL_OK)
        return fault

    @staticmethod
    def _probe() -> faults.Fault | None:
        """Rewrite the one alembic_version row with itself and commit; return the fault, if any."""
        try:
            with write_transaction() as session:
                session.execute(sa.text("UPDATE alembic_version SET version_num = version_num"))
        except SQLAlchemyError as err:
            return faults.classify(err) or faults.Fault("error", f"The write probe failed: {err.__class__.__name__}", 5)
        return None


def _unhealthy(failed: str, fault: faults.Fault, checks: dict):
    """Answer 503 naming the failed check, its reason and when to retry."""
    current_app.logger.warning("health check %s failed: %s", failed, fault.message)
    body = {"status": "unavailable", "failed": failed, "reason": fault.kind, "error": fault.message, "checks": checks}
    response = jsonify(body)
    response.status_code = 503
    response.headers["Retry-After"] = str(fault.retry_after)
    return response


@bp.get("/healthz")
def healthz():
    """Answer 200 when the database answers a read and takes a write (probed at most every few seconds).

    A 503 names the check that failed (`database`: no answer; `write`: the probe could not
    commit, e.g. a full disk, a read-only database or a lock held too long) and why.
    """
    checks = {"database": "ok", "write": "not run"}
    try:
        db.session.execute(sa.text("SELECT 1"))
        db.session.rollback()
    except SQLAlchemyError as err:
        discard_session()
        checks["database"] = "failed"
        return _unhealthy("database", faults.classify(err) or faults.DOWN, checks)
    fault = current_app.extensions["scheduler_write_probe"].check()
    if fault is not None:
        checks["write"] = "failed"
        return _unhealthy("write", fault, checks)
    checks["write"] = "ok"
    return jsonify({"status": "ok", "checks": checks})


@bp.get("/metrics")
def metrics():
    """Return the metrics in the Prometheus text format."""
    registry = current_app.extensions["scheduler_metrics"].registry
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def _count_request(response):
    """Count every request by endpoint (the route, not the raw path) and status."""
    metrics = current_app.extensions.get("scheduler_metrics")
    if metrics is not None:
        endpoint = request.endpoint or "unmatched"
        metrics.api_requests.labels(endpoint=endpoint, method=request.method, status=str(response.status_code)).inc()
    return response


def init_app(app: Flask) -> None:
    """Create the app's metrics, register the endpoints and the request counter."""
    app.extensions["scheduler_metrics"] = Metrics(app)
    app.extensions["scheduler_write_probe"] = WriteProbe()
    app.register_blueprint(bp)
    app.after_request(_count_request)
