"""`flask db upgrade` that says what it did: which revisions it applied, to which database."""

from __future__ import annotations

import copy
import functools

import click
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask, current_app, g
from flask_migrate.cli import db as migrate_group

from ..extensions import db

# Where create_app's own upgrade (the embedded default) leaves the revision it started from.
REVISION_AT_START = "schema_revision_at_start"


def current_revision() -> str | None:
    """Return the schema revision the database is at (None when it has no schema yet)."""
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _applied(before: str | None, after: str | None) -> list[str]:
    """Name the revisions between two, oldest first: "0002 (Keep per-client ... counts ...)"."""
    if after is None or before == after:
        return []
    config = current_app.extensions["migrate"].migrate.get_config(g.get("directory"))
    script = ScriptDirectory.from_config(config)
    steps = reversed(list(script.iterate_revisions(after, before or "base")))
    return [f"{s.revision} ({(s.doc or '').splitlines()[0] if s.doc else 'no description'})" for s in steps]


def report(before: str | None, after: str | None, where: str) -> str:
    """Say in one line what an upgrade did to the database at `where`."""
    if before == after:
        return f"The database is already up to date at revision {after} ({where}); nothing to do."
    applied = "; ".join(_applied(before, after))
    start = "an empty database" if before is None else f"revision {before}"
    return f"Upgraded {where} from {start} to revision {after}, applying {applied}."


def _reporting(command: click.Command) -> click.Command:
    """Return the upgrade command with a closing line that says what it did."""
    reporting = copy.copy(command)
    run = command.callback

    @functools.wraps(run)
    def callback(**options):
        """Run Flask-Migrate's upgrade, then report the revisions before and after it."""
        if options.get("sql"):
            return run(**options)  # offline mode writes SQL to stdout: add nothing to it
        app_extensions = current_app.extensions
        # The embedded default upgrades itself in create_app: report from where it started.
        before = app_extensions[REVISION_AT_START] if REVISION_AT_START in app_extensions else current_revision()
        run(**options)
        where = db.engine.url.render_as_string(hide_password=True)
        click.echo(report(before, current_revision(), where))
        return None

    reporting.callback = callback
    return reporting


def init_app(app: Flask) -> None:
    """Replace Flask-Migrate's db group with one whose upgrade reports what it did."""
    group = copy.copy(migrate_group)
    group.commands = {**migrate_group.commands, "upgrade": _reporting(migrate_group.commands["upgrade"])}
    app.cli.add_command(group, "db")
