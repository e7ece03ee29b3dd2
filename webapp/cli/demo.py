"""What the demo worker (`flask agents work`) does with one claimed task, as a real worker should.

1. "Work" for --work-seconds (input_data "work_seconds" wins), heartbeating every third of the
   task's timeout_seconds so its lease never runs out, and checking cancel_requested on every
   heartbeat (a REPLACE schedule asks a running task to stop): asked to stop, it stops and fails
   the task, which then ends CANCELLED. The tasks claimed with it and waiting their turn are
   heartbeated too, so none loses its lease while the ones before it are worked on.
2. Fail when input_data has "fail", or at random for a share --fail-rate of attempts (so a
   newcomer sees retries with backoff and auto-pause happen); the service decides whether a
   failed attempt is retried.
3. Otherwise complete it with an echo of its input.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

from .. import clock
from ..api.limits import DEFAULT_TIMEOUT
from ..auth import Caller
from ..clock import iso_z
from ..errors import ServiceError
from ..models import Task, TaskStatus
from ..scheduling import tasks

MIN_BEAT_SECONDS = 0.05


@dataclass
class Demo:
    """How the demo worker behaves: how long a task takes and how often it fails."""

    work_seconds: float = 0.0
    fail_rate: float = 0.0
    rng: random.Random | None = None

    def handle(self, caller: Caller, task: Task, waiting: Sequence[Task] = ()) -> str:
        """Do one claimed task, keeping the `waiting` ones' leases; return what became of it (COMPLETED,
        FAILED, RETRYING, CANCELLED or LOST)."""
        data = task.input_data if isinstance(task.input_data, dict) else {}
        try:
            if not self._work(caller, task, float(data.get("work_seconds", self.work_seconds)), waiting):
                ended = tasks.fail(caller, task.task_id, {"error_message": "Stopped: cancellation was requested"})
                return ended.status
            if data.get("fail"):
                return self._fail(caller, task, str(data["fail"]))
            if self.fail_rate and (self.rng or random).random() < self.fail_rate:
                return self._fail(caller, task, f"Simulated failure (--fail-rate {self.fail_rate:g})")
            result = {
                "worker": caller.agent_id,
                "task_type": task.task_type,
                "echo": data,
                "completed_at": iso_z(clock.utcnow()),
            }
            return tasks.complete(caller, task.task_id, {"result_data": result}).status
        except ServiceError as err:  # the lease ran out, or the task ended meanwhile: it is not ours now
            return f"LOST ({err.message})"

    def _work(self, caller: Caller, task: Task, seconds: float, waiting: Sequence[Task] = ()) -> bool:
        """Work for `seconds`, heartbeating it and the `waiting` tasks; return False when it should stop
        (cancel_requested)."""
        shortest = min((t.timeout_seconds or DEFAULT_TIMEOUT) for t in (task, *waiting))
        beat_every = max(shortest / 3, MIN_BEAT_SECONDS)
        deadline = time.monotonic() + seconds
        while True:
            if tasks.heartbeat(caller, task.task_id, {}).cancel_requested:
                return False
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            for later in waiting:
                _keep(caller, later)
            time.sleep(min(beat_every, left))  # a claimed task is finished even when the worker is asked to stop

    def _fail(self, caller: Caller, task: Task, error: str) -> str:
        """Fail this attempt; say whether the service retries it."""
        ended = tasks.fail(caller, task.task_id, {"error_message": error})
        return "RETRYING" if ended.status == TaskStatus.PENDING else ended.status


def _keep(caller: Caller, task: Task) -> None:
    """Heartbeat a task waiting its turn; one lost meanwhile (ended, or its lease gone) says so when its turn comes."""
    with contextlib.suppress(ServiceError):
        tasks.heartbeat(caller, task.task_id, {})
