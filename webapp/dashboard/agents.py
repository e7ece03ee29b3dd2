"""The agents page: who may call the API, what they can do, and a form to register one."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for

from .. import auth
from ..errors import ServiceError
from ..extensions import db
from ..models import Agent, ScheduledTask, ScheduleStatus
from .forms import AgentForm, focus_first_error
from .htmx import require_login

bp = Blueprint("dashboard_agents", __name__)
bp.before_request(require_login)


def agent_ids() -> list[str]:
    """Return every agent id, sorted (the client filter of the schedule list)."""
    return list(db.session.scalars(sa.select(Agent.agent_id).order_by(Agent.agent_id)))


def agent_choices() -> list[tuple[str, str]]:
    """Return (id, label) pairs of the agents a schedule can belong to."""
    rows = db.session.execute(sa.select(Agent.agent_id, Agent.name).order_by(Agent.agent_id))
    return [(agent_id, agent_id if not name or name == agent_id else f"{agent_id} ({name})") for agent_id, name in rows]


def known_capabilities() -> list[str]:
    """Return every capability some agent offers (suggestions for the schedule form)."""
    found: set[str] = set()
    for caps in db.session.scalars(sa.select(Agent.capabilities)):
        found.update(caps or [])
    return sorted(found)


def _agents() -> list[dict]:
    """Return the agents with the number of live schedules each owns."""
    counts = dict(
        db.session.execute(
            sa.select(ScheduledTask.client_id, sa.func.count())
            .where(ScheduledTask.status != ScheduleStatus.DELETED)
            .group_by(ScheduledTask.client_id)
        ).all()
    )
    agents = db.session.scalars(sa.select(Agent).order_by(Agent.agent_id))
    return [{"agent": a, "schedules": counts.get(a.agent_id, 0)} for a in agents]


def _page(
    form: AgentForm,
    status: int = 200,
    new_key: str | None = None,
    new_id: str | None = None,
    rotated: bool = False,
):
    """Render the agents page."""
    response = (
        render_template("agents.html", form=form, agents=_agents(), new_key=new_key, new_id=new_id, rotated=rotated),
        status,
        # The page may show a key once: keep it out of every cache.
        {"Cache-Control": "no-store"},
    )
    return response


@bp.get("/agents")
def agent_list():
    """List agents and their capabilities, with the registration form."""
    return _page(AgentForm())


@bp.post("/agents")
def agent_create():
    """Register an agent and show its key, this once."""
    form = AgentForm()
    if not form.validate_on_submit():
        focus_first_error(form)
        return _page(form, 400)
    try:
        key = auth.create_agent(form.agent_id.data, form.name.data or None, form.capability_list(), form.admin.data)
    except ServiceError as err:
        field = form._fields.get(err.field or "")
        if field is not None:
            field.errors = [*field.errors, err.message]
        else:
            form.form_errors.append(err.message)
        focus_first_error(form)
        return _page(form, err.status)
    created = form.agent_id.data.strip()
    return _page(AgentForm(formdata=None), 201, new_key=key, new_id=created)


def _chosen_agent() -> str:
    """Return the agent id a key action names in its form."""
    return (request.form.get("agent_id") or "").strip()


@bp.post("/agents/rotate")
def agent_rotate():
    """Give an agent a new key (the old one stops working at once) and show it, this once."""
    agent_id = _chosen_agent()
    try:
        key = auth.rotate_key(agent_id)
    except ServiceError as err:
        flash(err.message, "error")
        return redirect(url_for("dashboard_agents.agent_list"))
    return _page(AgentForm(formdata=None), new_key=key, new_id=agent_id, rotated=True)


@bp.post("/agents/revoke")
def agent_revoke():
    """Revoke an agent's key: its calls answer 401 until a new key is issued."""
    agent_id = _chosen_agent()
    try:
        auth.revoke_key(agent_id)
    except ServiceError as err:
        flash(err.message, "error")
    else:
        flash(f"Revoked the API key of {agent_id}. Its calls are refused until you issue a new key.", "success")
    return redirect(url_for("dashboard_agents.agent_list"))
