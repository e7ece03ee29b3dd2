"""Command line: flask agents ..., flask users ... and flask events prune."""

from __future__ import annotations

import click
import sqlalchemy as sa
from flask import Flask
from flask.cli import AppGroup

from .. import auth, clock
from ..errors import ServiceError
from ..events import retention
from ..extensions import db
from ..models import Agent

agents_cli = AppGroup("agents", help="Register agents and manage their API keys.")
users_cli = AppGroup("users", help="Manage operator logins for the dashboard.")
events_cli = AppGroup("events", help="Keep the webhook outbox small.")


def _fail(err: ServiceError) -> None:
    """Print a refused command's reason and exit with status 1."""
    raise click.ClickException(err.message)


@agents_cli.command("create")
@click.argument("agent_id")
@click.option("--name", help="A readable name.")
@click.option("--capability", "capabilities", multiple=True, help="A capability it offers (repeatable).")
@click.option("--admin", is_flag=True, help="May see and change every client's schedules.")
def create_agent(agent_id: str, name: str | None, capabilities: tuple[str, ...], admin: bool) -> None:
    """Register an agent; its new API key is printed alone on the last line."""
    try:
        key = auth.create_agent(agent_id, name, list(capabilities), admin)
    except ServiceError as err:
        if err.code == "conflict":
            # A script doing KEY=$(... | tail -n 1) must not carry on with a stale key: say how to get one.
            raise click.ClickException(
                f"{err.message}; its key is unchanged. For a new key run: flask --app wsgi agents rotate {agent_id}"
            ) from None
        _fail(err)
    click.echo(f"Created agent {agent_id}{' (admin)' if admin else ''}. Its API key, shown only now:")
    click.echo(key)


@agents_cli.command("rotate")
@click.argument("agent_id")
def rotate_agent(agent_id: str) -> None:
    """Give an agent a new API key (the old one stops working); print it on the last line."""
    try:
        key = auth.rotate_key(agent_id)
    except ServiceError as err:
        _fail(err)
    click.echo(f"New API key for {agent_id}, shown only now:")
    click.echo(key)


@agents_cli.command("revoke")
@click.argument("agent_id")
def revoke_agent(agent_id: str) -> None:
    """Revoke an agent's API key."""
    try:
        auth.revoke_key(agent_id)
    except ServiceError as err:
        _fail(err)
    click.echo(f"Revoked the API key of {agent_id}.")


@agents_cli.command("list")
def list_agents() -> None:
    """List agents, their capabilities and whether their key is live, one per line under a header."""
    agents = list(db.session.scalars(sa.select(Agent).order_by(Agent.agent_id)))
    if not agents:
        click.echo("No agents yet. Register one with: flask --app wsgi agents create AGENT_ID --capability C")
        return
    rows = [("AGENT_ID", "ROLE", "KEY", "CAPABILITIES")]
    for agent in agents:
        key = "active" if agent.api_key_hash else "revoked"
        role = "admin" if agent.is_admin else "agent"
        rows.append((agent.agent_id, role, key, ",".join(agent.capabilities or []) or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)) + "  " + row[3])


@users_cli.command("create")
@click.argument("username")
@click.option("--password", help="The password; asked for when omitted.")
def create_user(username: str, password: str | None) -> None:
    """Create an operator login for the dashboard."""
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        auth.create_operator(username, password)
    except ServiceError as err:
        _fail(err)
    click.echo(f"Created operator {username}.")


@events_cli.command("prune")
@click.option(
    "--days",
    type=click.IntRange(min=1),
    help="Delete what ended more than this many days ago (default: EVENT_RETENTION_DAYS).",
)
def prune_events(days: int | None) -> None:
    """Delete finished webhook deliveries (with their attempts) and their events past the retention."""
    days = days or retention.retention_days()
    if days <= 0:
        raise click.ClickException("EVENT_RETENTION_DAYS is 0 (keep everything); give --days to prune anyway")
    pruned = retention.prune(clock.utcnow(), days)
    click.echo(f"Deleted {pruned.deliveries:,} webhook deliveries and {pruned.events:,} events older than {days} days.")


def init_app(app: Flask) -> None:
    """Register the command groups."""
    app.cli.add_command(agents_cli)
    app.cli.add_command(users_cli)
    app.cli.add_command(events_cli)
