"""Foreground processes: `flask scheduler run` (the dispatcher alone) and `flask agents work` (a demo worker).

Both stop cleanly on SIGTERM or SIGINT: the dispatcher lets its batch in flight commit (or
roll back), the worker finishes the tasks it has claimed before it exits.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Iterator

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from .. import auth
from ..auth import Caller
from ..errors import ServiceError
from ..extensions import db
from ..models import Agent
from ..scheduling import tasks, timer
from .commands import agents_cli
from .demo import Demo

scheduler_cli = AppGroup("scheduler", help="Run the dispatcher.")


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """Yield an event set by SIGTERM or SIGINT; restore the previous handlers afterwards."""
    stop = threading.Event()

    def handler(_signum, _frame) -> None:
        """Ask the loop to stop at its next safe point."""
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@scheduler_cli.command("run")
@click.option("--batch-size", type=click.IntRange(1, 10000), help="Schedules claimed per transaction (500).")
def run_scheduler(batch_size: int | None) -> None:
    """Run the dispatcher alone, in the foreground, until SIGTERM or SIGINT."""
    app = current_app._get_current_object()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    if batch_size:
        app.config["DISPATCH_BATCH_SIZE"] = batch_size
    with _stop_on_signals() as stop:
        running = timer.start(app)
        click.echo(f"Dispatcher running (pid {os.getpid()}); stop it with SIGTERM or Ctrl-C.")
        while not stop.wait(0.5):
            pass
        click.echo("Stopping: letting the batch in flight finish...")
        running.stop()
    click.echo("Dispatcher stopped.")


def _worker_caller(agent_id: str, capabilities: tuple[str, ...]) -> Caller:
    """Return the worker's identity, registering the agent on first use."""
    agent = db.session.get(Agent, agent_id)
    db.session.rollback()
    if agent is None:
        try:
            auth.create_agent(agent_id, "Demo worker", list(capabilities))
        except ServiceError as err:
            raise click.ClickException(err.message) from None
        click.echo(f"Registered agent {agent_id} with capabilities {', '.join(capabilities)}.")
        return Caller(agent_id=agent_id, is_admin=False)
    missing = [c for c in capabilities if c not in (agent.capabilities or [])]
    if missing and not agent.is_admin:
        raise click.ClickException(f"Agent {agent_id} has not registered capability {missing[0]}")
    return Caller(agent_id=agent_id, is_admin=bool(agent.is_admin))


@click.command("work")
@click.option("--capability", "capabilities", multiple=True, required=True, help="A capability served (repeatable).")
@click.option("--agent-id", default="local-worker", show_default=True, help="The agent the worker acts as.")
@click.option("--once", is_flag=True, help="Claim one round of tasks, finish them, and exit.")
@click.option(
    "--poll-interval", type=click.FloatRange(0.01), default=1.0, show_default=True, help="Seconds between idle polls."
)
@click.option("--limit", type=click.IntRange(1, 100), default=10, show_default=True, help="Tasks claimed per round.")
@click.option(
    "--work-seconds",
    type=click.FloatRange(0, 3600),
    default=0.0,
    show_default=True,
    help="Seconds each task takes (heartbeating meanwhile); input_data work_seconds wins.",
)
@click.option(
    "--fail-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Share of attempts to fail at random, to watch retries and auto-pause (e.g. 0.3).",
)
@with_appcontext
def work(
    capabilities: tuple[str, ...],
    agent_id: str,
    once: bool,
    poll_interval: float,
    limit: int,
    work_seconds: float,
    fail_rate: float,
) -> None:
    """Run a demo worker: claim tasks for the capabilities, do them, repeat until SIGTERM/SIGINT."""
    caller = _worker_caller(agent_id, capabilities)
    demo = Demo(work_seconds=work_seconds, fail_rate=fail_rate)
    finished = 0
    click.echo(f"Worker {agent_id} serving {', '.join(capabilities)}.")
    with _stop_on_signals() as stop:
        while True:
            claimed = tasks.claim(caller, {"capabilities": list(capabilities), "limit": limit})
            for turn, task in enumerate(claimed):  # finish what was claimed even when asked to stop
                status = demo.handle(caller, task, waiting=claimed[turn + 1 :])
                finished += 1
                click.echo(
                    f"{status} {task.task_id} ({task.task_type}, attempt {task.attempts} of {task.max_attempts})"
                )
            db.session.remove()
            if once or stop.is_set():
                break
            if not claimed:
                stop.wait(poll_interval)
            if stop.is_set():
                break
    click.echo(f"Worker stopped after finishing {finished} task(s).")


def init_app(app: Flask) -> None:
    """Register `flask scheduler run` and `flask agents work`."""
    app.cli.add_command(scheduler_cli)
    agents_cli.add_command(work)
