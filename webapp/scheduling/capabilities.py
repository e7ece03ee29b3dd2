"""Which capabilities some worker can serve: the one place that answers "can any agent run this?".

An agent can claim a task when it offers the task's capability and its key is live (a revoked
agent cannot call the API). Admin agents may claim any capability, but offering one is still what
says a worker for it exists, so only offered capabilities count.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from ..extensions import db
from ..models import Agent


def offered_capabilities(session=None) -> set[str]:
    """Return every capability offered by at least one agent whose key is live."""
    session = session or db.session
    found: set[str] = set()
    for caps in session.scalars(sa.select(Agent.capabilities).where(Agent.api_key_hash.is_not(None))):
        found.update(caps or [])
    return found


def unserved(capabilities: Iterable[str], session=None) -> set[str]:
    """Return those of the capabilities that no agent with a live key offers (nobody can run them)."""
    wanted = set(capabilities)
    if not wanted:
        return set()
    return wanted - offered_capabilities(session)


def is_served(capability: str, session=None) -> bool:
    """Tell whether some agent with a live key offers this capability."""
    return not unserved([capability], session)
