"""Operations endpoints: GET /healthz and GET /metrics (Prometheus text, see metrics.py), no key needed."""

from __future__ import annotations

import threading
import time

import sqlalchemy as sa
from flask import Blueprint, Flask, Response, current_app, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy.exc import SQLAlchemyError

from . import faults
from .extensions import db, discard_session, write_transaction
from .metrics import Metrics

bp = Blueprint("ops", __name__)

# The write probe runs at most once per this many seconds per process while it passes, and once
# a second while it fails (so recovery shows at once), whatever the rate of health checks.
PROBE_INTERVAL_OK = 5.0
PROBE_INTERVAL_FAILED = 1.0


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
    faults.note(
        current_app.logger, f"healthz {failed} {fault.kind}", "health check %s failed: %s", failed, fault.message
    )
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
    return Response(current_app.extensions["scheduler_metrics"].scrape(), content_type=CONTENT_TYPE_LATEST)


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
