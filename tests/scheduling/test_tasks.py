"""The task loop: claim, leases, complete and fail, who may see what, and the demo worker."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from webapp.api.limits import DEFAULT_TIMEOUT
from webapp.auth import Caller
from webapp.errors import ServiceError
from webapp.extensions import db
from webapp.models import ScheduledTask, ScheduleExecution, Task
from webapp.scheduling import dispatcher, schedules, tasks

NOW = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
OWNER = Caller("client-1", False)
WORKER = Caller("worker-1", False)


def make_tasks(app, count: int = 1, priority: int = 5, capability: str = "report-v1", **fields) -> list[str]:
    """Create `count` tasks by running a one-time schedule of client-1 now; return their ids, oldest first."""
    ids = []
    for i in range(count):
        body = {"task_type": "report", "capability_required": capability, "priority": priority, "run_at": None}
        body.update(cron_expression="0 9 * * *", **fields)
        with app.app_context():
            sid = schedules.create_schedule(OWNER, body, now=NOW).schedule_id
            ids.append(dispatcher.run_now(OWNER, sid, now=NOW + timedelta(seconds=i)).task_id)
    return ids


def claim(app, caller: Caller = WORKER, now: datetime = NOW, **body) -> list[str]:
    """Claim as `caller`; return the claimed ids."""
    body.setdefault("capabilities", ["report-v1"])
    with app.app_context():
        return [t.task_id for t in tasks.claim(caller, body, now=now)]


def task(app, task_id: str) -> Task:
    """Read a task afresh."""
    with app.app_context():
        return db.session.get(Task, task_id)


def execution_of(app, task_id: str) -> ScheduleExecution:
    """Read the execution of a task."""
    with app.app_context():
        return db.session.scalar(sa.select(ScheduleExecution).where(ScheduleExecution.task_id == task_id))


@pytest.fixture
def agents(make_agent) -> dict:
    """Register the owner client-1, two workers and an admin; return their headers by name."""
    return {
        "owner": make_agent("client-1"),
        "worker": make_agent("worker-1", capabilities=["report-v1", "email-v1"]),
        "other": make_agent("worker-2", capabilities=["report-v1"]),
        "admin": make_agent("root", admin=True, capabilities=[]),
    }


def test_a_claim_takes_the_highest_priority_then_the_oldest(app, agents):
    low = make_tasks(app, 1, priority=3)
    old, new = make_tasks(app, 2, priority=8)
    make_tasks(app, 1, priority=9, capability="email-v1")
    assert claim(app, limit=3) == [old, new, *low]
    t = task(app, old)
    assert (t.status, t.agent_id, t.attempts) == ("RUNNING", "worker-1", 1)
    assert t.lease_expires_at == NOW + timedelta(seconds=DEFAULT_TIMEOUT)


def test_a_claim_takes_one_task_by_default_and_never_the_same_twice(app, agents):
    first, second = make_tasks(app, 2)
    assert claim(app) == [first]
    assert claim(app, caller=Caller("worker-2", False)) == [second]
    assert claim(app) == []


def test_an_unregistered_capability_is_refused_and_nothing_changes(app, agents):
    [tid] = make_tasks(app, 1, capability="email-v1")
    with app.app_context(), pytest.raises(ServiceError) as err:
        tasks.claim(Caller("worker-2", False), {"capabilities": ["email-v1"]}, now=NOW)
    assert (err.value.status, err.value.field) == (400, "capabilities")
    assert task(app, tid).status == "PENDING"
    assert claim(app, caller=Caller("root", True), capabilities=["email-v1"]) == [tid]  # admins may claim any


def test_concurrent_claimers_never_share_a_task(app, agents):
    ids = make_tasks(app, 40)
    got: list[str] = []
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        """Claim two at a time until nothing is left."""
        try:
            while batch := claim(app, caller=Caller(name, False), limit=2):
                got.extend(batch)
        except BaseException as err:  # noqa: BLE001 - reported by the assertion below
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(n,)) for n in ("worker-1", "worker-2") * 3]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sorted(got) == sorted(ids)  # every task once, none twice


def test_an_expired_lease_returns_the_task_and_counts_the_attempt(app, agents):
    [tid] = make_tasks(app, 1, retry_policy={"max_attempts": 2, "initial_interval_seconds": 1})
    assert claim(app, lease_seconds=30) == [tid]
    assert claim(app, caller=Caller("worker-2", False), now=NOW + timedelta(seconds=29)) == []
    # Expired at 30 s: a failed attempt, retried after its 1 s backoff.
    assert claim(app, caller=Caller("worker-2", False), now=NOW + timedelta(seconds=31)) == []
    assert claim(app, caller=Caller("worker-2", False), now=NOW + timedelta(seconds=32)) == [tid]
    t = task(app, tid)
    assert (t.status, t.agent_id, t.attempts) == ("RUNNING", "worker-2", 2)
    with app.app_context(), pytest.raises(ServiceError) as err:  # the first worker lost it
        tasks.complete(WORKER, tid, {"result_data": {}}, now=NOW + timedelta(seconds=32))
    assert err.value.status == 404


def test_the_dispatcher_tick_requeues_and_finally_fails_a_task_out_of_attempts(app, agents):
    retry = {"max_attempts": 5, "initial_interval_seconds": 1, "backoff_coefficient": 1.0}
    [tid] = make_tasks(app, 1, retry_policy=retry)
    at = NOW
    for _ in range(5):
        assert claim(app, now=at, lease_seconds=10) == [tid]
        at += timedelta(seconds=11)
        with app.app_context():
            assert tasks.expire_leases(at) == 1
        at += timedelta(seconds=1)  # the backoff
    t = task(app, tid)
    assert (t.status, t.attempts) == ("FAILED", 5)
    assert execution_of(app, tid).status == "FAILED"
    with app.app_context():
        assert db.session.get(ScheduledTask, execution_of(app, tid).schedule_id).failed_runs == 1
        assert tasks.expire_leases(at) == 0


def test_complete_finishes_the_task_and_its_execution(app, agents):
    [tid] = make_tasks(app, 1)
    claim(app)
    with app.app_context():
        tasks.complete(WORKER, tid, {"result_data": {"rows": 3}}, now=NOW + timedelta(seconds=5))
        with pytest.raises(ServiceError) as err:
            tasks.complete(WORKER, tid, {"result_data": {}}, now=NOW)
        assert err.value.status == 409
        with pytest.raises(ServiceError) as err:
            tasks.fail(WORKER, tid, {"error_message": "late"}, now=NOW)
        assert err.value.status == 409
    t, e = task(app, tid), execution_of(app, tid)
    assert (t.status, t.result_data, t.lease_expires_at) == ("COMPLETED", {"rows": 3}, None)
    assert (e.status, e.result_data, e.error_message) == ("COMPLETED", {"rows": 3}, None)


def test_fail_finishes_the_execution_and_counts_a_failed_run(app, agents):
    [tid] = make_tasks(app, 1)
    claim(app)
    with app.app_context():
        tasks.fail(WORKER, tid, {"error_message": "printer on fire"}, now=NOW)
    e = execution_of(app, tid)
    assert (task(app, tid).status, e.status, e.error_message) == ("FAILED", "FAILED", "printer on fire")
    with app.app_context():
        s = db.session.get(ScheduledTask, e.schedule_id)
        assert (s.failed_runs, s.total_runs) == (1, 1)


def test_the_task_endpoints_follow_who_may_see_and_finish(client, app, agents):
    [tid] = make_tasks(app, 1)
    response = client.post("/aitp/tasks/claim", json={"capabilities": ["report-v1"]}, headers=agents["worker"])
    assert response.status_code == 200
    [claimed] = response.get_json()["tasks"]
    assert (claimed["task_id"], claimed["status"], claimed["execution"]["status"]) == (tid, "RUNNING", "RUNNING")
    assert claimed["lease_expires_at"].endswith("Z") and claimed["schedule_id"].startswith("sched-")
    for who, status in (("owner", 200), ("worker", 200), ("admin", 200), ("other", 404)):
        assert client.get(f"/aitp/tasks/{tid}", headers=agents[who]).status_code == status
    # The owner sees the task but does not hold it; a stranger does not see it at all.
    assert client.post(f"/aitp/tasks/{tid}/complete", json={}, headers=agents["owner"]).status_code == 409
    assert client.post(f"/aitp/tasks/{tid}/complete", json={}, headers=agents["other"]).status_code == 404
    done = client.post(f"/aitp/tasks/{tid}/complete", json={"result_data": [1, 2]}, headers=agents["worker"])
    assert (done.status_code, done.get_json()["execution"]["result_data"]) == (200, [1, 2])
    again = client.post(f"/aitp/tasks/{tid}/fail", json={"error_message": "x"}, headers=agents["worker"])
    assert (again.status_code, again.get_json()["error"]["code"]) == (409, "conflict")
    assert client.get("/aitp/tasks/task-nope", headers=agents["admin"]).status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"capabilities": []}, 400, "capabilities"),
        ({"capabilities": ["report-v1"], "limit": 0}, 400, "limit"),
        ({"capabilities": ["report-v1"], "extra": 1}, 400, "extra"),
        ({"capabilities": ["video-v9"]}, 400, "capabilities"),
    ],
)
def test_a_bad_claim_is_refused(client, app, agents, body, status, field):
    [tid] = make_tasks(app, 1)
    response = client.post("/aitp/tasks/claim", json=body, headers=agents["worker"])
    assert (response.status_code, response.get_json()["error"]["field"]) == (status, field)
    assert task(app, tid).status == "PENDING"


def test_the_task_endpoints_need_a_key(client, app, agents):
    assert client.post("/aitp/tasks/claim", json={"capabilities": ["report-v1"]}).status_code == 401
    assert client.get("/aitp/tasks/task-x").status_code == 401


def test_agents_work_once_completes_and_fails_tasks(app, runner, agents):
    [done] = make_tasks(app, 1, input_data={"n": 1})
    [failed] = make_tasks(app, 1, input_data={"fail": "no paper"})
    result = runner.invoke(args=["agents", "work", "--capability", "report-v1", "--once", "--agent-id", "worker-1"])
    assert result.exit_code == 0, result.output
    assert f"COMPLETED {done}" in result.output and f"FAILED {failed}" in result.output
    assert task(app, done).result_data["echo"] == {"n": 1}
    assert execution_of(app, failed).error_message == "no paper"


def test_agents_work_registers_a_missing_agent_and_refuses_a_foreign_capability(app, runner, agents):
    result = runner.invoke(args=["agents", "work", "--capability", "report-v1", "--once", "--agent-id", "demo"])
    assert result.exit_code == 0 and "Registered agent demo" in result.output
    refused = runner.invoke(args=["agents", "work", "--capability", "email-v1", "--once", "--agent-id", "demo"])
    assert refused.exit_code != 0 and "has not registered capability email-v1" in refused.output


@pytest.mark.parametrize("finish", ["complete", "fail"])
def test_an_expired_lease_ends_the_attempt_even_before_the_task_is_requeued(app, agents, finish):
    [tid] = make_tasks(app, 1, retry_policy={"max_attempts": 2, "initial_interval_seconds": 1})
    assert claim(app, lease_seconds=30) == [tid]
    body = {"result_data": {"rows": 1}} if finish == "complete" else {"error_message": "late"}
    with app.app_context(), pytest.raises(ServiceError) as err:  # no tick has requeued it yet
        getattr(tasks, finish)(WORKER, tid, body, now=NOW + timedelta(seconds=30))
    assert (err.value.status, err.value.field) == (409, "lease_expires_at")
    assert "lease expired at 2025-03-01T08:00:30Z" in err.value.message
    t = task(app, tid)
    assert (t.status, t.agent_id, t.result_data, t.error_message) == ("RUNNING", "worker-1", None, None)
    assert execution_of(app, tid).status == "RUNNING"  # an execution is RUNNING while its task is claimed
    with app.app_context():
        assert tasks.expire_leases(NOW + timedelta(seconds=31)) == 1
    assert (task(app, tid).status, task(app, tid).attempts) == ("PENDING", 1)
    with app.app_context():  # just inside the lease, the holder may still finish
        assert claim(app, now=NOW + timedelta(seconds=40), lease_seconds=30) == [tid]
        getattr(tasks, finish)(WORKER, tid, body, now=NOW + timedelta(seconds=69))
    assert task(app, tid).status == ("COMPLETED" if finish == "complete" else "FAILED")
