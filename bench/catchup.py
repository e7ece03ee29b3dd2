"""On-time firings and API writes during a year-long catch-up. Not a test: it prints figures.

Run: .venv/bin/python bench/catchup.py [--backlog 1000] [--on-time 30] [--seconds 12]
On SQLite, with the real timer thread: --backlog every-minute schedules whose next_run_at is a
year ago, and --on-time one-time schedules due one by one over --seconds, while a client creates
a schedule through the API every 100 ms. It prints the on-time lateness (executed_at minus the
occurrence, as the service stamps it) and the create latency, beside a baseline run in the same
process without the backlog. Targets: on-time worst < 1 s, API create p99 < 200 ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402
from flask_migrate import upgrade  # noqa: E402

from webapp import create_app  # noqa: E402
from webapp.auth import Caller, create_agent  # noqa: E402
from webapp.extensions import db  # noqa: E402
from webapp.models import ScheduleExecution  # noqa: E402
from webapp.scheduling import schedules, timer  # noqa: E402

CLIENT = Caller("bench", False)
BODY = {"task_type": "report", "capability_required": "report-v1"}


def percentile(values: list[float], share: float) -> float:
    """Return the value below which `share` of the values lie."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def run(backlog: int, on_time: int, seconds: float) -> dict:
    """Measure one run on a fresh SQLite file; return its figures."""
    folder = tempfile.mkdtemp(prefix="bench-catchup-")
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/b.db", "SCHEDULER_ENABLED": False})
    with app.app_context():
        upgrade()
        key = create_agent("bench", None, ["report-v1"])
        year_ago = datetime.now(UTC) - timedelta(days=365)
        for _ in range(backlog):
            schedules.create_schedule(CLIENT, {**BODY, "cron_expression": "* * * * *"}, now=year_ago)
        start = datetime.now(UTC) + timedelta(seconds=1)
        ids = [
            schedules.create_schedule(
                CLIENT, {**BODY, "run_at": (start + timedelta(seconds=seconds * i / on_time)).isoformat()}
            ).schedule_id
            for i in range(on_time)
        ]
    headers = {"Authorization": f"Bearer {key}"}
    latencies: list[float] = []
    refused: list[int] = []
    stop = threading.Event()

    def writer() -> None:
        """Create a schedule through the API every 100 ms, timing each."""
        client = app.test_client()
        while not stop.wait(0.1):
            began = time.perf_counter()
            response = client.post(
                "/aitp/tasks/schedule", json={**BODY, "cron_expression": "0 9 * * *"}, headers=headers
            )
            latencies.append(time.perf_counter() - began)
            if response.status_code != 201:
                refused.append(response.status_code)

    running = timer.start(app)
    writing = threading.Thread(target=writer)
    writing.start()
    time.sleep(seconds + 2.5)
    stop.set()
    writing.join()
    running.stop()
    with app.app_context():
        rows = db.session.execute(
            sa.select(ScheduleExecution.executed_at, ScheduleExecution.scheduled_for).where(
                ScheduleExecution.schedule_id.in_(ids), ScheduleExecution.task_id.is_not(None)
            )
        ).all()
        caught_up = db.session.scalar(
            sa.select(sa.func.count(sa.distinct(ScheduleExecution.schedule_id))).where(
                ScheduleExecution.schedule_id.not_in(ids), ScheduleExecution.task_id.is_not(None)
            )
        )
        db.engine.dispose()
    late = [(a.replace(tzinfo=UTC) - b.replace(tzinfo=UTC)).total_seconds() for a, b in rows]
    return {
        "fired": f"{len(late)}/{on_time}",
        "late_median": statistics.median(late) if late else float("nan"),
        "late_worst": max(late) if late else float("nan"),
        "api_p50": percentile(latencies, 0.5) * 1000,
        "api_p99": percentile(latencies, 0.99) * 1000,
        "api_max": max(latencies) * 1000,
        "caught_up": caught_up,
        "refused": f"{len(refused)}/{len(latencies)} {sorted(set(refused))}",
    }


def main() -> None:
    """Print the run with a backlog beside the baseline without one."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backlog", type=int, default=1000)
    parser.add_argument("--on-time", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=12)
    args = parser.parse_args()
    baseline = run(0, args.on_time, args.seconds)
    loaded = run(args.backlog, args.on_time, args.seconds)
    for name, figures in (("baseline, no backlog", baseline), (f"{args.backlog} schedules a year behind", loaded)):
        print(
            f"{name:32} on-time fired {figures['fired']}, lateness median {figures['late_median']:.3f} s"
            f" worst {figures['late_worst']:.3f} s; API create p50 {figures['api_p50']:.0f} ms"
            f" p99 {figures['api_p99']:.0f} ms max {figures['api_max']:.0f} ms, not 201: {figures['refused']};"
            f" backlog schedules caught up {figures['caught_up']}"
        )
    ok = loaded["late_worst"] < 1 and loaded["api_p99"] < 200
    print(f"targets (on-time worst < 1 s, API create p99 < 200 ms): {'met' if ok else 'MISSED'}")


if __name__ == "__main__":
    main()
