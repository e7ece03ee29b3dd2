"""Latency of the list and history endpoints on SQLite at 10k and 100k schedules.

Run: .venv/bin/python bench/api_list.py  (prints figures; it is not a test)
Targets: p99 under 20 ms for each call; list at 100k within 1.5x of list at 10k.
The baseline is a no-op Flask route measured in the same run, through the same client.
It also measures the list's first page with its total taken by an indexed COUNT(*) instead of the
trigger-maintained counts (scheduling/counts.py), to tell whether those counts still earn their keep.
And the dashboard's pages as an operator meets them (list, each order, a search, a detail page with
10k runs of history), signed in: whole HTML pages, printed beside their figure at 10k without a target.
"""

from __future__ import annotations

import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest import mock

from flask_migrate import upgrade

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

from webapp import (
    auth,  # noqa: E402
    create_app,  # noqa: E402
    paging,  # noqa: E402
)
from webapp.auth import create_agent  # noqa: E402
from webapp.extensions import db  # noqa: E402
from webapp.models import ScheduledTask, ScheduleExecution, new_id  # noqa: E402
from webapp.scheduling import counts  # noqa: E402

ROUNDS = 300
PASSWORD = "bench-password-1"
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def build(path: Path, schedules: int, executions: int) -> tuple:
    """Create a database with that many schedules and one schedule's history; return (app, key, schedule id)."""
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}", "SCHEDULER_ENABLED": False})
    with app.app_context():
        upgrade()
        key = create_agent("bench", None, ["report-v1"], False)
        rows = [
            {
                "schedule_id": new_id("sched"),
                "client_id": "bench",
                "task_type": "report",
                "capability_required": "report-v1",
                "input_data": {"n": i},
                "priority": 5,
                "cron_expression": "*/5 * * * *",
                "timezone": "UTC",
                "status": "ACTIVE",
                "next_run_at": T0 + timedelta(minutes=i % 1440),
                "total_runs": 0,
                "failed_runs": 0,
                "created_at": T0 + timedelta(seconds=i),
                "updated_at": T0,
            }
            for i in range(schedules)
        ]
        for start in range(0, len(rows), 5000):
            db.session.execute(sa.insert(ScheduledTask), rows[start : start + 5000])
        target = rows[0]["schedule_id"]
        db.session.execute(
            sa.insert(ScheduleExecution),
            [
                {
                    "execution_id": new_id("exec"),
                    "schedule_id": target,
                    "task_id": None,
                    "status": "SKIPPED",
                    "scheduled_for": T0 + timedelta(minutes=5 * i),
                    "executed_at": T0,
                }
                for i in range(executions)
            ],
        )
        db.session.commit()
        db.session.execute(sa.text("ANALYZE"))
        db.session.commit()
        counts.fold(db.session())

    @app.get("/noop")
    def noop():
        return "ok"

    return app, key, target


def measure(client, url: str, headers: dict) -> tuple[float, float]:
    """Return the median and p99 latency in ms of GET url."""
    for _ in range(20):
        assert client.get(url, headers=headers).status_code == 200
    samples = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        response = client.get(url, headers=headers)
        samples.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


DASHBOARD_PAGES = {
    "dashboard list": "/schedules",
    "dashboard list, sorted by name": "/schedules?sort=name",
    "dashboard list, sorted by next run": "/schedules?sort=next_run",
    "dashboard search (matches all)": "/schedules?q=report",
    "dashboard search (matches none)": "/schedules?q=nothing-like-it",
}


def signed_in(app):
    """Return a test client signed in to the dashboard as an operator."""
    with app.app_context():
        auth.create_operator("bench", PASSWORD)
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(
        r'<meta name="csrf-token" content="([^"]+)"', page
    )
    response = client.post("/login", data={"username": "bench", "password": PASSWORD, "csrf_token": token.group(1)})
    assert response.status_code == 302, response.status_code
    return client


def indexed_count(session, client_id: str | None, statuses) -> tuple[int, int]:
    """Count the matching schedules with COUNT(*) over an index (the alternative to counts.total)."""
    query = sa.select(sa.func.count()).select_from(ScheduledTask).where(ScheduledTask.status.in_(list(statuses)))
    if client_id is not None:
        query = query.where(ScheduledTask.client_id == client_id)
    return int(session.scalar(query)), 0


def run(size: int, tmp: Path) -> dict:
    """Measure every endpoint on a database of `size` schedules."""
    app, key, target = build(tmp / f"bench{size}.db", size, 10_000)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {key}"}
    with app.app_context():
        # The row just above the middle of the listing: a cursor that starts at depth size/2.
        middle = db.session.scalar(
            sa.select(ScheduledTask)
            .order_by(ScheduledTask.created_at.desc(), ScheduledTask.schedule_id.desc())
            .offset(size // 2 - 1)
            .limit(1)
        )
        cursor = paging.encode_cursor(middle.created_at, middle.schedule_id)
    results = {
        "noop route": measure(client, "/noop", {}),
        "list first page": measure(client, "/aitp/tasks/schedule?limit=20", headers),
        f"list offset {size // 2}": measure(client, f"/aitp/tasks/schedule?limit=20&offset={size // 2}", headers),
        f"list keyset at depth {size // 2}": measure(client, f"/aitp/tasks/schedule?limit=20&cursor={cursor}", headers),
        "history first page (10k executions)": measure(client, f"/aitp/tasks/schedule/{target}/executions", headers),
    }
    with mock.patch.object(counts, "total", indexed_count):
        results["list first page, COUNT(*) total"] = measure(client, "/aitp/tasks/schedule?limit=20", headers)
    dashboard = signed_in(app)
    for name, url in DASHBOARD_PAGES.items():
        results[name] = measure(dashboard, url, {})
    results["dashboard detail (10k history)"] = measure(dashboard, f"/schedules/{target}", {})
    with app.app_context():
        plan = db.session.execute(
            sa.text(
                "EXPLAIN QUERY PLAN SELECT COUNT(*) FROM scheduled_tasks "
                "WHERE status IN ('ACTIVE', 'PAUSED', 'COMPLETED', 'FAILED') AND client_id = 'bench'"
            )
        ).all()
    print(f"{size:>7} schedules | COUNT(*) plan: {'; '.join(row[-1] for row in plan)}")
    for name, (p50, p99) in results.items():
        print(f"{size:>7} schedules | {name:<38} | p50 {p50:6.2f} ms | p99 {p99:6.2f} ms")
    return results


def main() -> None:
    """Run the benchmark at 10k and 100k schedules and print the comparison."""
    with tempfile.TemporaryDirectory() as tmp:
        small = run(10_000, Path(tmp))
        large = run(100_000, Path(tmp))
    ratio = large["list first page"][1] / small["list first page"][1]
    counted = "list first page, COUNT(*) total"
    count_ratio = large[counted][1] / small[counted][1]
    print(f"list first page with COUNT(*) p99 at 100k / at 10k: {count_ratio:.2f}x (target <= 1.5x)")
    fits = large[counted][1] < 20 and count_ratio <= 1.5
    print(f"COUNT(*) totals {'meet' if fits else 'miss'} the list targets: p99 {large[counted][1]:.2f} ms at 100k")
    keyset = large["list keyset at depth 50000"][1] / small["list keyset at depth 5000"][1]
    print(f"list first page p99 at 100k / at 10k: {ratio:.2f}x (target <= 1.5x)")
    print(f"list keyset page p99 at depth 50k / at depth 5k: {keyset:.2f}x (target <= 1.5x)")
    for name, (_, p99) in large.items():
        if name.startswith("dashboard"):  # a whole HTML page: measured, without the API's target
            print(f"100k p99 {name}: {p99:.2f} ms (at 10k: {small[name][1]:.2f} ms)")
            continue
        verdict = "ok" if p99 < 20 else "over target"
        print(f"100k p99 {name}: {p99:.2f} ms vs no-op {large['noop route'][1]:.2f} ms (target < 20 ms): {verdict}")


if __name__ == "__main__":
    main()
