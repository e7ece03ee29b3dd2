"""The app's Prometheus metrics: firings, lateness, skipped, task outcomes, requests, events, webhook deliveries.

A scrape reports totals for every process of one server. Under gunicorn, gunicorn.conf.py gives
the server a fresh directory in PROMETHEUS_MULTIPROC_DIR before any worker starts, and
prometheus-client's multiprocess mode keeps each worker's counts in files there; a scrape, whichever
worker answers it, sums them (a worker that gunicorn replaced still counts). Without that directory
(`flask run`, `flask scheduler run`, tests) the counts live in the process, which is then the
whole server. The backlog and task gauges are read from the database at scrape time.
"""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy as sa
from flask import Flask
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

from . import clock
from .extensions import db
from .models import DeliveryStatus, ScheduledTask, ScheduleStatus, Task, TaskStatus, WebhookDelivery

LATENESS_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 2, 5, 10, 30, 60, 300, 3600, float("inf"))


class _DatabaseGauges:
    """Gauges computed at scrape time: the due backlog and the tasks by status."""

    def __init__(self, app: Flask) -> None:
        """Remember the app whose database is read."""
        self.app = app

    def describe(self) -> Iterator[Metric]:
        """Describe the gauges without touching the database (registration calls this)."""
        yield GaugeMetricFamily("scheduler_due_backlog", "ACTIVE schedules whose next_run_at has passed")
        yield GaugeMetricFamily("scheduler_tasks", "Tasks by status", labels=["status"])
        yield GaugeMetricFamily("scheduler_queue_depth", "PENDING tasks by capability", labels=["capability"])
        yield GaugeMetricFamily("scheduler_webhook_deliveries_pending", "Webhook deliveries not yet delivered")

    def collect(self) -> Iterator[Metric]:
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
            depth = db.session.execute(
                sa.select(Task.capability_required, sa.func.count())
                .where(Task.status == TaskStatus.PENDING)
                .group_by(Task.capability_required)
            ).all()
            waiting = db.session.scalar(
                sa.select(sa.func.count())
                .select_from(WebhookDelivery)
                .where(WebhookDelivery.status == DeliveryStatus.PENDING)
            )
            db.session.rollback()
        backlog.add_metric([], float(due or 0))
        for status in TaskStatus:
            by_status.add_metric([status], float(counts.get(status, 0)))
        queue = GaugeMetricFamily("scheduler_queue_depth", "PENDING tasks by capability", labels=["capability"])
        for capability, n in depth:
            queue.add_metric([capability], float(n))
        pending = GaugeMetricFamily("scheduler_webhook_deliveries_pending", "Webhook deliveries not yet delivered")
        pending.add_metric([], float(waiting or 0))
        yield backlog
        yield by_status
        yield queue
        yield pending


class Metrics:
    """The app's metrics, in its own registry (tests build many apps in one process)."""

    def __init__(self, app: Flask) -> None:
        """Create the collectors, and the registry a scrape reads: every process's files, or this one."""
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
        self.events = Counter("scheduler_events", "Events emitted (committed), by type", ["event"], registry=r)
        self.delivery_attempts = Counter(
            "scheduler_webhook_delivery_attempts", "Webhook delivery attempts by outcome", ["outcome"], registry=r
        )
        self.delivery_failures = Counter(
            "scheduler_webhook_deliveries_failed", "Webhook deliveries given up after the last retry", registry=r
        )
        self.unclaimed = Counter("scheduler_unclaimed_task_alerts", "task.unclaimed alerts sent", registry=r)
        directory = app.config.get("METRICS_DIR")
        if directory:
            # The counters above write to this process's file; the scrape sums every process's files.
            self.scrape_registry = CollectorRegistry()
            MultiProcessCollector(self.scrape_registry, path=directory)
        else:
            self.scrape_registry = r
        self.scrape_registry.register(_DatabaseGauges(app))

    def scrape(self) -> bytes:
        """Return the metrics of the whole server in the Prometheus text format."""
        return generate_latest(self.scrape_registry)

    def record_firings(self, lateness: list[float], skipped: int) -> None:
        """Count firings, their lateness and the occurrences skipped."""
        if lateness:
            self.firings.inc(len(lateness))
            for seconds in lateness:
                self.lateness.observe(max(seconds, 0.0))
        if skipped:
            self.skipped.inc(skipped)

    def record_events(self, counts: dict[str, int]) -> None:
        """Count committed events by type."""
        for event, n in counts.items():
            self.events.labels(event=event).inc(n)

    def record_delivery(self, delivered: bool, gave_up: bool) -> None:
        """Count one delivery attempt, and a delivery given up."""
        self.delivery_attempts.labels(outcome="delivered" if delivered else "failed").inc()
        if gave_up:
            self.delivery_failures.inc()

    def record_task(self, outcome: str, count: int = 1) -> None:
        """Count task claims and outcomes (claimed, completed, failed, lease_expired)."""
        self.task_outcomes.labels(outcome=outcome).inc(count)
