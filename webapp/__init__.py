"""The scheduling service: create_app builds the Flask application."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from flask import Flask
from flask_migrate import upgrade

from . import config, errors, ops, security
from .api import calendars as api_calendars
from .api import openapi
from .api import schedules as api
from .api import tasks as api_tasks
from .api import webhooks as api_webhooks
from .cli import commands as cli
from .cli import database as cli_database
from .cli import worker
from .dashboard import views as dashboard
from .events import outbox
from .extensions import configure_engine, csrf, db, login_manager, migrate
from .scheduling import timer


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app: settings, extensions, blueprints, CLI and the dispatcher."""
    root = Path(__file__).resolve().parent.parent
    app = Flask(
        __name__,
        instance_path=str(root / "instance"),
        template_folder=str(root / "templates"),
        static_folder=str(root / "static"),
    )
    app.config.from_mapping(config.from_environment(app.instance_path))
    if test_config:
        app.config.from_mapping(test_config)
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = config.engine_options(app.config)
    os.makedirs(app.instance_path, exist_ok=True)

    security.init_app(app)  # first: refuse insecure production settings before touching anything
    db.init_app(app)
    migrate.init_app(app, db, directory=str(root / "migrations"))
    csrf.init_app(app)
    login_manager.init_app(app)
    with app.app_context():
        for engine in db.engines.values():
            configure_engine(engine, app.config["DATABASE_LOCK_TIMEOUT"])
    errors.init_app(app)
    cli.init_app(app)
    cli_database.init_app(app)  # after migrate.init_app: it replaces the db group's upgrade
    worker.init_app(app)
    for blueprint in (api.bp, api_tasks.bp, api_calendars.bp, api_webhooks.bp):
        app.register_blueprint(blueprint)
        # The JSON API authenticates with bearer keys, not cookies, so CSRF does not apply.
        csrf.exempt(blueprint)
    openapi.init_app(app)
    ops.init_app(app)
    outbox.listen_for_commits()
    dashboard.init_app(app)

    if app.config["AUTO_UPGRADE"] and not app.config.get("TESTING"):
        upgrade_database(app)
    # Last: the dispatcher timer may start, and it needs the schema in place.
    timer.init_app(app)
    return app


def upgrade_database(app: Flask) -> None:
    """Bring the schema up to date, one process at a time."""
    lock_path = Path(app.instance_path) / ".migrate.lock"
    with open(lock_path, "w") as lock, app.app_context():
        # Several gunicorn workers start at once; the lock lets one migrate while the rest wait.
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            app.extensions[cli_database.REVISION_AT_START] = cli_database.current_revision()
            upgrade()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
