"""Dispatcher throughput and timer lateness. Not a test: it prints figures.

Run: .venv/bin/python bench/fire.py [--pg postgresql+psycopg://.../scratch_db]
1. SQLite: 20,000 schedules due at once, drained by one dispatcher (fire_due), beside the same
   three statements per firing (insert task, insert execution, update schedule) sent through
   raw sqlite3.executemany in batches of 500 (WAL) in the same run. Target ratio >= 0.1.
   Each is run --rounds times on fresh copies and the best rate counts (machines are noisy).
2. PostgreSQL (when reachable): the same with two dispatcher processes, against raw psycopg
   executemany. The database given is emptied. Default: BENCH_PG_URL, else a local scratch database.
3. Lateness of 5,000 every-minute schedules firing at once through the real timer (target p99 < 1 s).
4. SQLite: the run of 1. again with a webhook subscribed to every event of every schedule (an admin's),
   beside the run without (target: at most 20% slower), then the deliveries per second of the events
   it wrote, posted by the delivery pool to a receiver on 127.0.0.1.
5. (SQLite, in the run of 1) The same 20,000 schedules with every policy set (overlap SKIP with half of
   them still running, jitter, max_runs, a catch-up window), beside their plain twin: the same
   schedules and the same runs still going, with every policy at its default. Both are found due
   5 s after their time (every jittered instant has come; both in the dispatcher's on-time lane),
   in the same process, round for round: schedules decided per second (fired or skipped for
   overlap). Target: at most 30% slower than the plain twin. The twin, not the run of 1., is the
   baseline: its database holds the same rows, so only the policies differ.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from flask_migrate import upgrade

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402
from fire_policies import policy_fields, seed_going_runs, verify_policies  # noqa: E402 - beside this script

from webapp import create_app  # noqa: E402
from webapp.auth import (
    Caller,  # noqa: E402
    create_agent,  # noqa: E402
)
from webapp.events import webhooks  # noqa: E402
from webapp.events.pump import Pump  # noqa: E402
from webapp.extensions import db  # noqa: E402
from webapp.models import (  # noqa: E402
    Agent,
    ScheduledTask,
    ScheduleExecution,
    Task,
    WebhookDelivery,  # noqa: E402
    new_id,
)
from webapp.scheduling import dispatcher, timer  # noqa: E402

N = 20_000
BATCH = 500
DUE = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)  # a Monday, on the hour: every expression below is due
NOW = DUE + timedelta(seconds=1)
NOW_POLICIES = DUE + timedelta(seconds=5)  # past every jittered instant (jitter 4 s), within the on-time lane
EXPRESSIONS = ["* * * * *", "*/5 * * * *", "0 * * * *", "0 9 * * *", "0 9 * * 1-5", None]  # None: one-time
ZONES = ["UTC", "Europe/London", "Africa/Abidjan", "Atlantic/Reykjavik"]  # all at UTC+0 in March
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/sched_bench_fire"


def make_app(url: str):
    """Return an app on `url` with the schema in place and no timer."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SCHEDULER_ENABLED": False, "AUTO_UPGRADE": False})
    with app.app_context():
        upgrade()
    return app


def seed(app, count: int, due: datetime, expressions=EXPRESSIONS, with_policies: bool = False) -> None:
    """Insert `count` ACTIVE schedules due at `due`, mixing expressions, zones and one-time runs (and every
    policy, with_policies)."""
    with app.app_context():
        if db.session.get(Agent, "bench") is None:
            create_agent("bench", None, ["report-v1"])
        rows = []
        for i in range(count):
            expression = expressions[i % len(expressions)]
            rows.append(
                {
                    "schedule_id": new_id("sched"),
                    "client_id": "bench",
                    "task_type": "report",
                    "capability_required": "report-v1",
                    "input_data": {"n": i},
                    "priority": 5,
                    "cron_expression": expression,
                    "run_at": None if expression else due,
                    "timezone": ZONES[i % len(ZONES)],
                    "status": "ACTIVE",
                    "next_run_at": due,
                    "total_runs": 0,
                    "failed_runs": 0,
                    "created_at": due - timedelta(days=1),
                    "updated_at": due - timedelta(days=1),
                    "jitter_seconds": 0,
                    "max_runs": None,
                    "remaining_runs": None,
                }
            )
            if with_policies:
                rows[-1].update(policy_fields(rows[-1]["schedule_id"], expression, due))
        for start in range(0, count, 5000):
            db.session.execute(sa.insert(ScheduledTask.__table__), rows[start : start + 5000])
        db.session.commit()


def verify(app, count: int, now: datetime) -> str:
    """Check every schedule fired once: return a one-line verdict."""
    with app.app_context():
        s = db.session
        dupes = s.scalar(
            sa.select(sa.func.count()).select_from(
                sa.select(ScheduleExecution.schedule_id)
                .group_by(ScheduleExecution.schedule_id, ScheduleExecution.scheduled_for)
                .having(sa.func.count() > 1)
                .subquery()
            )
        )
        executions = s.scalar(sa.select(sa.func.count()).select_from(ScheduleExecution))
        tasks = s.scalar(sa.select(sa.func.count()).select_from(Task))
        due = s.scalar(
            sa.select(sa.func.count())
            .select_from(ScheduledTask)
            .where(ScheduledTask.status == "ACTIVE", ScheduledTask.next_run_at <= now)
        )
    ok = dupes == 0 and executions == tasks == count and due == 0
    assert ok, f"duplicates={dupes} executions={executions} tasks={tasks} still due={due}"
    return f"{executions:,} executions, {tasks:,} tasks, 0 duplicates, 0 still due"


def drain(app, now: datetime) -> tuple[int, float]:
    """Fire everything due at `now` in this process; return (fired, seconds)."""
    with app.app_context():
        started = time.perf_counter()
        fired = dispatcher.fire_due(now, batch_size=BATCH)
        return fired, time.perf_counter() - started


def raw_params(app, now: datetime, text_dates: bool) -> list[list[tuple[str, list]]]:
    """Build each batch's statements and parameters (outside the timing): per firing, insert the task,
    insert the execution, and advance the schedule (SET status only for a one-time schedule, which
    completes; the dispatcher does the same)."""
    fmt = (
        (lambda d: d.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")) if text_dates else (lambda d: d)
    )
    with app.app_context():
        rows = db.session.execute(sa.select(ScheduledTask.__table__)).all()
    batches = []
    for start in range(0, len(rows), BATCH):
        tasks, executions, advance, complete = [], [], [], []
        for r in rows[start : start + BATCH]:
            task_id = new_id("task")
            tasks.append((task_id, r.client_id, r.task_type, r.capability_required, json.dumps(r.input_data),
                          r.priority, "PENDING", 0, fmt(now), fmt(now)))  # fmt: skip
            executions.append((new_id("exec"), r.schedule_id, task_id, fmt(r.next_run_at), fmt(now), "PENDING"))
            if r.cron_expression:
                nxt = fmt(r.next_run_at + timedelta(minutes=1))
                advance.append((nxt, fmt(r.next_run_at), fmt(now), r.schedule_id, fmt(r.next_run_at)))
            else:
                complete.append((None, fmt(r.next_run_at), "COMPLETED", fmt(now), r.schedule_id, fmt(r.next_run_at)))
        batch = [(INSERT_TASK, tasks), (INSERT_EXECUTION, executions), (ADVANCE, advance), (COMPLETE, complete)]
        batches.append([(statement, params) for statement, params in batch if params])
    return batches


INSERT_TASK = (
    "INSERT INTO tasks (task_id, client_id, task_type, capability_required, input_data, priority, status, "
    "attempts, created_at, updated_at) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})"
)
INSERT_EXECUTION = (
    "INSERT INTO schedule_executions (execution_id, schedule_id, task_id, scheduled_for, executed_at, status) "
    "VALUES ({p}, {p}, {p}, {p}, {p}, {p})"
)
ADVANCE = (
    "UPDATE scheduled_tasks SET next_run_at = {p}, last_run_at = {p}, total_runs = total_runs + 1, "
    "updated_at = {p} WHERE schedule_id = {p}{guard}"
)
COMPLETE = (
    "UPDATE scheduled_tasks SET next_run_at = {p}, last_run_at = {p}, status = {p}, total_runs = total_runs + 1, "
    "updated_at = {p} WHERE schedule_id = {p}{guard}"
)
# As in the dispatcher: SQLite advances with a conditional update, PostgreSQL by key (rows locked).
GUARD = {"?": " AND next_run_at = ? AND status = 'ACTIVE'", "%s": ""}


def raw_run(conn, batches, placeholder: str, begin: str) -> float:
    """Send each batch's statements with executemany, one transaction per batch; return seconds."""
    guard = GUARD[placeholder]
    prepared = [
        [(s.format(p=placeholder, guard=guard), p if guard or s.startswith("INSERT") else [u[:-1] for u in p])
         for s, p in batch]
        for batch in batches
    ]  # fmt: skip
    cur = conn.cursor()
    started = time.perf_counter()
    for batch in prepared:
        cur.execute(begin)
        for statement, params in batch:
            cur.executemany(statement, params)
        cur.execute("COMMIT")
    return time.perf_counter() - started


def bench_sqlite(tmp: Path, rounds: int) -> None:
    """Print fire_due against raw sqlite3 executemany, each round on fresh copies of the same schedules."""
    template = tmp / "template.db"
    app = make_app(f"sqlite:///{template}")
    seed(app, N, DUE)
    batches = raw_params(app, NOW, text_dates=True)
    with app.app_context():
        db.session.execute(sa.text("PRAGMA wal_checkpoint(TRUNCATE)"))
        db.session.remove()
        db.engine.dispose()
    policy_template, going = _policy_template(tmp, with_policies=True)
    twin_template, _ = _policy_template(tmp, with_policies=False)
    best, best_raw, best_policies, best_twin = 0.0, 0.0, 0.0, 0.0
    for r in range(rounds):
        rate, policy_verdict = _decide_all(tmp / f"policies{r}.db", policy_template, going, overlap=True)
        best_policies = max(best_policies, rate)
        rate, twin_verdict = _decide_all(tmp / f"twin{r}.db", twin_template, going, overlap=False)
        best_twin = max(best_twin, rate)
        shutil.copyfile(template, tmp / f"fire{r}.db")
        fire_app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/fire{r}.db", "SCHEDULER_ENABLED": False})
        fired, seconds = drain(fire_app, NOW)
        verdict = verify(fire_app, N, NOW)
        with fire_app.app_context():
            db.engine.dispose()
        shutil.copyfile(template, tmp / f"raw{r}.db")
        conn = sqlite3.connect(tmp / f"raw{r}.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        raw_seconds = raw_run(conn, batches, "?", "BEGIN IMMEDIATE")
        conn.close()
        best, best_raw = max(best, fired / seconds), max(best_raw, N / raw_seconds)
    report("sqlite fire_due", best, best_raw, f"{verdict} (best of {rounds} rounds each)")
    print(
        f"sqlite fire_due, every policy set: {best_policies:,.0f} schedules decided/s | plain twin: {best_twin:,.0f}/s"
        f" | ratio {best_policies / best_twin:.2f} (target >= 0.70)"
    )
    print(
        f"  beside the run of 1. ({best:,.0f} firings/s, empty tables, 1 s late): ratio {best_policies / best:.2f};"
        f" firings alone (half are skipped for overlap): {best_policies / 2:,.0f}/s"
    )
    print(f"  check: {policy_verdict}; twin: {twin_verdict} (best of {rounds} rounds)")


def _decide_all(path: Path, template: Path, going: int, overlap: bool) -> tuple[float, str]:
    """Drain a copy of `template` at NOW_POLICIES; return the schedules decided per second and the check."""
    shutil.copyfile(template, path)
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}", "SCHEDULER_ENABLED": False})
    _, seconds = drain(app, NOW_POLICIES)
    verdict = verify_policies(app, N, going if overlap else 0, NOW_POLICIES)
    with app.app_context():
        db.engine.dispose()
    return N / seconds, verdict


def _policy_template(tmp: Path, with_policies: bool) -> tuple[Path, int]:
    """Build the database of the every-policy run (or its plain twin, every policy at its default); return
    its path and how many schedules have a run going."""
    template = tmp / ("policies.db" if with_policies else "twin.db")
    app = make_app(f"sqlite:///{template}")
    seed(app, N, DUE, with_policies=with_policies)
    going = seed_going_runs(app, DUE)
    with app.app_context():
        db.session.execute(sa.text("PRAGMA wal_checkpoint(TRUNCATE)"))
        db.session.remove()
        db.engine.dispose()
    return template, going


def report(label: str, rate: float, raw_rate: float, verdict: str) -> None:
    """Print one comparison line."""
    print(f"{label}: {rate:,.0f} firings/s | raw executemany: {raw_rate:,.0f}/s | ratio {rate / raw_rate:.2f}")
    print(f"  check: {verdict}")


def _pg_worker(url: str, go, results) -> None:
    """A dispatcher process: wait for the start signal, drain, report (fired, finished at)."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SCHEDULER_ENABLED": False, "AUTO_UPGRADE": False})
    with app.app_context():
        db.session.execute(sa.text("SELECT 1"))
        db.session.rollback()
    go.wait()
    fired, _ = drain(app, NOW)
    results.put((fired, time.time()))


def reset_pg(url: str) -> None:
    """Empty the scratch database's schema so the benchmark starts clean."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()


def _pg_round(url: str) -> tuple[float, float, str]:
    """Seed, run raw executemany, reset, then drain with two dispatcher processes; return (rate, raw rate, verdict)."""
    import psycopg  # here, not at the top: the SQLite half of the benchmark runs without the driver

    reset_pg(url)
    app = make_app(url)
    seed(app, N, DUE)
    with app.app_context():
        db.session.execute(sa.text("ANALYZE"))
        db.session.commit()
    batches = raw_params(app, NOW, text_dates=False)
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        raw_seconds = raw_run(conn, batches, "%s", "BEGIN")
        conn.execute("TRUNCATE schedule_executions, tasks")
        conn.execute("UPDATE scheduled_tasks SET next_run_at = %s, total_runs = 0, status = 'ACTIVE'", (DUE,))
        conn.execute("VACUUM ANALYZE")
    ctx = mp.get_context("spawn")
    go, results = ctx.Event(), ctx.Queue()
    workers = [ctx.Process(target=_pg_worker, args=(url, go, results)) for _ in range(2)]
    for w in workers:
        w.start()
    time.sleep(3)  # let both start and connect before the clock starts
    started = time.time()
    go.set()
    outcomes = [results.get(timeout=300) for _ in workers]
    for w in workers:
        w.join()
    fired = sum(f for f, _ in outcomes)
    seconds = max(t for _, t in outcomes) - started
    verdict = verify(app, N, NOW) + f"; split {' + '.join(f'{f:,}' for f, _ in outcomes)}"
    with app.app_context():
        db.engine.dispose()
    return fired / seconds, N / raw_seconds, verdict


def bench_pg(url: str, rounds: int) -> None:
    """Print two dispatcher processes against raw psycopg executemany on PostgreSQL."""
    results = [_pg_round(url) for _ in range(rounds)]
    best, best_raw = max(r[0] for r in results), max(r[1] for r in results)
    report("postgresql fire_due x2 processes", best, best_raw, f"{results[-1][2]} (best of {rounds} rounds each)")


def bench_lateness(tmp: Path, count: int = 5000) -> None:
    """Print the lateness of `count` every-minute schedules firing at once through the real timer."""
    app = make_app(f"sqlite:///{tmp / 'lateness'}.db")
    now = datetime.now(UTC)
    due = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    if (due - now).total_seconds() < 8:
        due += timedelta(minutes=1)
    seed(app, count, due, expressions=["* * * * *"])
    running = timer.start(app)
    try:
        while datetime.now(UTC) < due + timedelta(seconds=5):
            time.sleep(0.2)
    finally:
        running.stop()
    with app.app_context():
        late = sorted(
            (e - s).total_seconds()
            for e, s in db.session.execute(sa.select(ScheduleExecution.executed_at, ScheduleExecution.scheduled_for))
        )
    assert len(late) == count, f"{len(late)} of {count} fired"
    p50, p99 = late[len(late) // 2], late[int(len(late) * 0.99) - 1]
    summary = f"p50 {p50:.3f} s | p99 {p99:.3f} s | max {late[-1]:.3f} s"
    print(f"timer lateness, {count:,} every-minute schedules at once: {summary}")


class _Accept(BaseHTTPRequestHandler):
    """A receiver that accepts every delivery at once."""

    def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
        """Read the body and answer 204."""
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_args) -> None:
        """Stay quiet."""


def bench_webhooks(tmp: Path, rounds: int) -> None:
    """Print fire_due with and without a webhook on every event, and deliveries per second."""
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Accept)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    plain, hooked = tmp / "plain.db", tmp / "hooked.db"
    app = make_app(f"sqlite:///{plain}")
    seed(app, N, DUE)
    with app.app_context():
        db.session.execute(sa.text("PRAGMA wal_checkpoint(TRUNCATE)"))
        db.session.remove()
        db.engine.dispose()
    shutil.copyfile(plain, hooked)
    hook_app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{hooked}", "SCHEDULER_ENABLED": False})
    with hook_app.app_context():
        create_agent("bench-admin", None, [], True)
        url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
        body = {"url": url, "events": ["execution.completed", "execution.failed", "execution.skipped",
                                       "schedule.auto_paused", "schedule.failed", "schedule.completed",
                                       "task.unclaimed"]}  # fmt: skip
        webhooks.create_webhook(Caller("bench-admin", True), body, allow_private=True)
        db.engine.dispose()
    best = {"plain": 0.0, "hooked": 0.0}
    for r in range(rounds):
        for name, template in (("plain", plain), ("hooked", hooked)):
            path = tmp / f"{name}{r}.db"
            shutil.copyfile(template, path)
            run_app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}", "SCHEDULER_ENABLED": False})
            fired, seconds = drain(run_app, NOW)
            verify(run_app, N, NOW)
            best[name] = max(best[name], fired / seconds)
            with run_app.app_context():
                run_app.config["WEBHOOK_ALLOW_PRIVATE"] = True
                owed = db.session.query(WebhookDelivery).count()
                db.engine.dispose()
    slower = 1 - best["hooked"] / best["plain"]
    print(
        f"sqlite fire_due with a webhook on every event: {best['hooked']:,.0f} firings/s | without: "
        f"{best['plain']:,.0f}/s | {slower:.0%} slower (target <= 20%); {owed:,} deliveries owed"
    )
    pump = Pump(run_app, workers=8)
    started = time.perf_counter()
    with run_app.app_context():
        while db.session.query(WebhookDelivery).filter(WebhookDelivery.status != "DELIVERED").count():
            db.session.rollback()
            pump.pump()
            time.sleep(0.01)
        db.session.rollback()
    seconds = time.perf_counter() - started
    pump.stop(wait=True)
    receiver.shutdown()
    print(f"webhook deliveries to a receiver on 127.0.0.1 (8 threads): {owed / seconds:,.0f} deliveries/s")


def pg_url(given: str | None) -> str | None:
    """Return a reachable PostgreSQL URL (creating the default scratch database), or None."""
    url = given or os.environ.get("BENCH_PG_URL") or DEFAULT_PG
    try:
        import psycopg  # here, not at the top: without the driver this only reports "skipped"

        if url == DEFAULT_PG:
            with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as conn:
                if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'sched_bench_fire'").fetchone():
                    conn.execute("CREATE DATABASE sched_bench_fire")
        psycopg.connect(url.replace("+psycopg", ""), connect_timeout=3).close()
    except Exception as err:  # noqa: BLE001 - any failure means "not reachable"
        print(f"postgresql: skipped ({err.__class__.__name__}: {str(err).strip().splitlines()[0]})")
        return None
    return url


def main() -> None:
    """Run the three benchmarks."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", help="PostgreSQL URL of a scratch database (it is emptied)")
    parser.add_argument("--rounds", type=int, default=3, help="repeat each throughput run; the best counts")
    parser.add_argument("--skip-lateness", action="store_true", help="skip the timer lateness run (waits for a minute)")
    parser.add_argument("--only-webhooks", action="store_true", help="run only the webhook comparison (4.)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bench_webhooks(Path(tmp), args.rounds)
        if args.only_webhooks:
            return
        bench_sqlite(Path(tmp), args.rounds)
        url = pg_url(args.pg)
        if url:
            bench_pg(url, args.rounds)
        if not args.skip_lateness:
            bench_lateness(Path(tmp))


if __name__ == "__main__":
    main()
