"""Attempts with a fixed clock: retries and their backoff, lease expiry, heartbeats, auto-pause."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.scheduling.test_policies import WORKER, add, at, claim, fire, ledger, schedule, task_of
from webapp.auth import Caller
from webapp.errors import ServiceError
from webapp.extensions import db
from webapp.models import Task
from webapp.scheduling import policies, schedules, tasks

CLIENT = Caller("client-1", False)
RETRY = {"max_attempts": 4, "initial_interval_seconds": 30, "backoff_coefficient": 3.0, "max_interval_seconds": 200}


@pytest.fixture(autouse=True)
def people(make_agent):
    """Register the owner and a worker."""
    make_agent("client-1")
    make_agent("worker-1", capabilities=["report-v1"])


def fail(app, task_id: str, now, **body) -> Task:
    """Fail a held task at `now`."""
    with app.app_context():
        return tasks.fail(WORKER, task_id, {"error_message": "boom", **body}, now=now)


def complete(app, task_id: str, now) -> Task:
    """Complete a held task at `now`."""
    with app.app_context():
        return tasks.complete(WORKER, task_id, {"result_data": {"ok": 1}}, now=now)


@pytest.mark.parametrize(
    ("attempts", "wait"),
    [(1, 30), (2, 90), (3, 200), (4, 200), (10, 200)],  # 30 x 3^(n-1), capped at 200
)
def test_the_backoff_grows_by_the_coefficient_up_to_the_max_interval(attempts, wait):
    assert policies.backoff(RETRY, attempts) == timedelta(seconds=wait)


def test_a_failed_attempt_is_retried_after_its_backoff_exact_to_the_second(app):
    sid = add(app, cron_expression="*/10 * * * *", retry_policy=RETRY)
    fire(app, at("08:10:00"))
    [tid] = claim(app, at("08:10:00"))
    task = fail(app, tid, at("08:10:05"))
    assert (task.status, task.attempts, task.not_before, task.agent_id) == ("PENDING", 1, at("08:10:35"), None)
    assert ledger(app, sid) == [("08:10", "RUNNING", None)]  # still going while it waits
    assert claim(app, at("08:10:34")) == []
    assert claim(app, at("08:10:35")) == [tid]
    assert fail(app, tid, at("08:11:00")).not_before == at("08:12:30")  # 90 s
    assert claim(app, at("08:12:30")) == [tid]
    assert fail(app, tid, at("08:13:00")).not_before == at("08:16:20")  # 270 s capped at 200
    assert claim(app, at("08:16:20")) == [tid]
    last = fail(app, tid, at("08:17:00"))  # the 4th attempt was the last
    assert (last.status, last.attempts, last.not_before, last.finished_at) == ("FAILED", 4, None, at("08:17:00"))
    assert ledger(app, sid) == [("08:10", "FAILED", None)]
    s = schedule(app, sid)
    assert (s.failed_runs, s.consecutive_failures) == (1, 1)
    with app.app_context():
        answer = tasks.get_task(CLIENT, tid)
        assert (answer.max_attempts, answer.timeout_seconds, answer.retry_policy["backoff_coefficient"]) == (
            4,
            300,
            3.0,
        )


def test_fail_with_retry_false_fails_for_good_at_once(app):
    sid = add(app, cron_expression="*/10 * * * *", retry_policy=RETRY)
    fire(app, at("08:10:00"))
    [tid] = claim(app, at("08:10:00"))
    assert fail(app, tid, at("08:10:05"), retry=False).status == "FAILED"
    assert ledger(app, sid) == [("08:10", "FAILED", None)]


def test_a_lease_that_runs_out_is_a_failed_attempt(app):
    sid = add(app, cron_expression="*/10 * * * *", timeout_seconds=60, retry_policy={"max_attempts": 2})
    fire(app, at("08:10:00"))
    with app.app_context():
        [task] = tasks.claim(WORKER, {"capabilities": ["report-v1"]}, now=at("08:10:00"))
        assert task.lease_expires_at == at("08:11:00")  # the task's timeout_seconds
        assert tasks.expire_leases(at("08:11:00")) == 0
        assert tasks.expire_leases(at("08:11:01")) == 1
        db.session.expire_all()
        retried = db.session.get(Task, task.task_id)
        assert (retried.status, retried.not_before) == ("PENDING", at("08:11:11"))  # the 10 s default backoff
        assert "Lease expired at 2025-03-01T08:11:00Z" in retried.error_message
        [again] = tasks.claim(WORKER, {"capabilities": ["report-v1"]}, now=at("08:11:11"))
        assert tasks.expire_leases(at("08:12:12")) == 1
    gone = task_of(app, sid, "08:10")
    assert (gone.status, gone.attempts) == ("FAILED", 2)
    assert ledger(app, sid) == [("08:10", "FAILED", None)]
    assert schedule(app, sid).failed_runs == 1


def test_a_heartbeat_extends_the_lease_and_only_the_holder_may_send_it(app, make_agent):
    add(app, cron_expression="*/10 * * * *", timeout_seconds=60)
    fire(app, at("08:10:00"))
    [tid] = claim(app, at("08:10:00"))
    with app.app_context():
        assert tasks.heartbeat(WORKER, tid, {}, now=at("08:10:50")).lease_expires_at == at("08:11:50")
        assert tasks.expire_leases(at("08:11:30")) == 0
        make_agent("worker-2", capabilities=["report-v1"])
        with pytest.raises(ServiceError) as err:
            tasks.heartbeat(Caller("worker-2", False), tid, {}, now=at("08:11:00"))
        assert err.value.status == 404  # not its client nor its holder: absent to it
        with pytest.raises(ServiceError) as err:
            tasks.heartbeat(Caller("client-1", False), tid, {}, now=at("08:11:00"))
        assert err.value.status == 409  # its client sees it, but does not hold it
        with pytest.raises(ServiceError) as err:
            tasks.heartbeat(WORKER, tid, {}, now=at("08:11:50"))
        assert (err.value.status, err.value.field) == (409, "lease_expires_at")  # too late: the attempt ended


def test_the_schedule_pauses_itself_on_the_nth_consecutive_failure(app):
    sid = add(app, cron_expression="*/10 * * * *", pause_after_failures=3)
    for n, minute in enumerate(("08:10", "08:20", "08:30"), start=1):
        fire(app, at(minute + ":00"))
        [tid] = claim(app, at(minute + ":01"))
        fail(app, tid, at(minute + ":02"))
        s = schedule(app, sid)
        assert (s.consecutive_failures, s.status) == (n, "PAUSED" if n == 3 else "ACTIVE")
    assert schedule(app, sid).paused_reason == "Paused after 3 consecutive failures"
    assert fire(app, at("08:40:00")) == 0  # paused: nothing fires
    with app.app_context():
        resumed = schedules.set_status(CLIENT, sid, "ACTIVE", now=at("08:45:00"))
        assert (resumed.status, resumed.consecutive_failures, resumed.paused_reason) == ("ACTIVE", 0, None)
        assert resumed.next_run_at == at("08:50:00")


def test_a_success_resets_the_count_of_consecutive_failures(app):
    sid = add(app, cron_expression="*/10 * * * *", pause_after_failures=2)
    for minute, ok in (("08:10", False), ("08:20", True), ("08:30", False)):
        fire(app, at(minute + ":00"))
        [tid] = claim(app, at(minute + ":01"))
        (complete if ok else fail)(app, tid, at(minute + ":02"))
    s = schedule(app, sid)
    assert (s.status, s.consecutive_failures, s.failed_runs) == ("ACTIVE", 1, 2)


def test_a_cancelled_task_cannot_be_finished_or_claimed(app):
    sid = add(app, cron_expression="*/10 * * * *", overlap_policy="REPLACE")
    fire(app, at("08:10:00"))
    old = task_of(app, sid, "08:10").task_id
    fire(app, at("08:20:00"))
    assert task_of(app, sid, "08:10").status == "CANCELLED"
    with app.app_context(), pytest.raises(ServiceError) as err:
        tasks.complete(CLIENT, old, {}, now=at("08:20:01"))  # its client sees it; nobody holds it
    assert (err.value.status, err.value.message) == (409, "Task is already CANCELLED")
