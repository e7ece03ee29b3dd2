"""The delivery pump: a bounded thread pool fed by a timer job, apart from the dispatcher's tick.

Each second the pump claims as many due attempts as it has free threads (at most half of them in flight
per webhook, so one slow or dead receiver never holds up the others) and hands them to the pool; a
thread that finishes an attempt claims the next due one itself, so a burst drains without waiting.
Claiming is one short transaction; the HTTP calls and their results happen in the pool's threads, so
neither a firing transaction nor the dispatcher's tick ever waits on a receiver.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from flask import Flask

from .. import clock, faults
from ..extensions import db
from . import delivery, ssrf

log = logging.getLogger(__name__)

DEFAULT_WORKERS = 8


class Pump:
    """A bounded pool of delivery threads for one app."""

    def __init__(self, app: Flask, workers: int | None = None) -> None:
        """Prepare the pool (threads start on first use)."""
        self.app = app
        self.workers = workers or int(app.config.get("WEBHOOK_WORKERS") or DEFAULT_WORKERS)
        # Half the threads at most per webhook: a dead receiver holds up only its own attempts.
        self.per_webhook = max(1, self.workers // 2)
        self.pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="webhook")
        self.in_flight: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._local = threading.local()
        self.stopped = False

    def pump(self, now: datetime | None = None) -> int:
        """Claim due attempts for the free threads and start them; return how many started."""
        with self._lock:
            free = self.workers - sum(self.in_flight.values())
            busy = dict(self.in_flight)
        if free <= 0 or self.stopped:
            return 0
        now = now or clock.utcnow()
        if not delivery.any_due(now):
            return 0
        jobs = delivery.claim(now, free, self.per_webhook, busy)
        for job in jobs:
            with self._lock:
                self.in_flight[job.webhook_id] += 1
            self.pool.submit(self._run, job)
        return len(jobs)

    def _run(self, job: delivery.Job) -> None:
        """Make attempts in a pool thread: this one, then more while some are due (so a burst drains fast)."""
        with self.app.app_context():
            while job is not None:
                try:
                    allow = bool(self.app.config.get("WEBHOOK_ALLOW_PRIVATE"))
                    result = delivery.attempt(job, allow, self._http(allow))
                    delivery.record(job, result, clock.utcnow())
                except Exception as err:  # the attempt stays claimed; its lease runs out and it is retried
                    _log_failure(err, f"webhook delivery {job.delivery_id} could not be recorded")
                finally:
                    self._release(job.webhook_id)
                job = self._next()
            db.session.remove()

    def _release(self, webhook_id: str) -> None:
        """Count an attempt of a webhook as no longer in flight."""
        with self._lock:
            self.in_flight[webhook_id] -= 1
            if self.in_flight[webhook_id] <= 0:
                del self.in_flight[webhook_id]

    def _next(self) -> delivery.Job | None:
        """Claim one more due attempt for this thread, within the per-webhook cap; None when none is due."""
        if self.stopped:
            return None
        with self._lock:
            busy = dict(self.in_flight)
        try:
            jobs = delivery.claim(clock.utcnow(), 1, self.per_webhook, busy)
        except Exception as err:  # the timer's next pump tries again
            _log_failure(err, "claiming the next webhook delivery failed")
            return None
        if not jobs:
            return None
        with self._lock:
            self.in_flight[jobs[0].webhook_id] += 1
        return jobs[0]

    def _http(self, allow_private: bool):
        """Return this thread's delivery session (kept, so receivers' connections are reused)."""
        http = getattr(self._local, "http", None)
        if http is None or getattr(self._local, "allow", None) != allow_private:
            http = self._local.http = ssrf.session(allow_private)
            self._local.allow = allow_private
        return http

    def idle(self) -> bool:
        """Tell whether no attempt is in flight."""
        with self._lock:
            return not self.in_flight

    def stop(self, wait: bool = False) -> None:
        """Stop taking work; attempts in flight finish (or, unrecorded, are retried after their lease)."""
        self.stopped = True
        self.pool.shutdown(wait=wait, cancel_futures=True)


def _log_failure(err: BaseException, what: str) -> None:
    """Log a pool thread's failure: a database fault in one line a minute at most (the pump retries it),
    anything else with its traceback, because it is a bug."""
    fault = faults.classify(err)
    if fault is None:
        log.error("%s", what, exc_info=err)
    else:
        faults.note(log, f"webhook-pool-{fault.kind}", "%s: %s; retried later", what, fault.message)
