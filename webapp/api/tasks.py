"""The /aitp task endpoints: run a schedule now, and the claim/complete/fail loop of worker agents."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from ..auth import current_caller, require_agent
from ..clock import iso_z
from ..scheduling import dispatcher, tasks
from ..scheduling.answers import execution_dict, task_dict
from .schedules import json_body, register_id_converters
from .schemas import RUN
from .validation import validate

bp = Blueprint("api_tasks", __name__, url_prefix="/aitp")
bp.record_once(register_id_converters)


def _optional_body() -> dict:
    """Return the JSON body, or {} when the request has none at all."""
    if not request.get_data(cache=True):
        return {}
    return json_body()


@bp.post("/tasks/schedule/<schedule_id:schedule_id>/run")
@require_agent
def run_schedule(schedule_id: str):
    """Fire a schedule once, now, outside its rhythm; 201 with the execution."""
    validate(RUN, _optional_body())  # nothing to say yet: a field sent here is refused, never ignored
    execution = dispatcher.run_now(current_caller(), schedule_id)
    return jsonify(execution_dict(execution)), 201


@bp.post("/tasks/claim")
@require_agent
def claim_tasks():
    """Claim PENDING tasks for the offered capabilities: {"tasks": [...]}, possibly empty."""
    claimed = tasks.claim(current_caller(), json_body())
    executions = tasks.executions_of([t.task_id for t in claimed])
    return jsonify({"tasks": [task_dict(t, executions.get(t.task_id)) for t in claimed]})


@bp.post("/tasks/<task_id:task_id>/complete")
@require_agent
def complete_task(task_id: str):
    """Complete a task this agent holds."""
    task = tasks.complete(current_caller(), task_id, _optional_body())
    return jsonify(task_dict(task, tasks.executions_of([task_id]).get(task_id)))


@bp.post("/tasks/<task_id:task_id>/fail")
@require_agent
def fail_task(task_id: str):
    """Fail a task this agent holds."""
    task = tasks.fail(current_caller(), task_id, json_body())
    return jsonify(task_dict(task, tasks.executions_of([task_id]).get(task_id)))


@bp.post("/tasks/<task_id:task_id>/heartbeat")
@require_agent
def heartbeat_task(task_id: str):
    """Extend the lease of a task this agent holds; say whether its cancellation was requested."""
    task = tasks.heartbeat(current_caller(), task_id, _optional_body())
    return jsonify(
        {
            "task_id": task.task_id,
            "lease_expires_at": iso_z(task.lease_expires_at),
            "cancel_requested": bool(task.cancel_requested),
        }
    )


@bp.get("/tasks/<task_id:task_id>")
@require_agent
def get_task(task_id: str):
    """Return a task to its client, its claiming agent or an admin."""
    task = tasks.get_task(current_caller(), task_id)
    return jsonify(task_dict(task, tasks.executions_of([task_id]).get(task_id)))
