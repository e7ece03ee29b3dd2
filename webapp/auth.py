"""API keys for agents and password logins for operators."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from flask import g, request
from werkzeug.security import check_password_hash, generate_password_hash

from .api.limits import ID_MAX
from .api.validation import check_query
from .errors import ServiceError, invalid
from .extensions import db, write_transaction
from .models import Agent, Operator

KEY_PREFIX = "sk_"


@dataclass(frozen=True)
class Caller:
    """Who is asking: an agent id (None for an operator), whether it is an admin, and the operator's login."""

    agent_id: str | None
    is_admin: bool
    operator: str | None = None

    def may_see(self, client_id: str) -> bool:
        """Tell whether this caller may see what the client owns."""
        return self.is_admin or self.agent_id == client_id


OPERATOR = Caller(agent_id=None, is_admin=True)


def hash_key(key: str) -> str:
    """Return the stored form of an API key (keys carry 256 random bits, so SHA-256 suffices)."""
    return hashlib.sha256(key.encode()).hexdigest()


def _new_key() -> str:
    """Return a fresh API key."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def create_agent(
    agent_id: str, name: str | None = None, capabilities: list[str] | None = None, admin: bool = False
) -> str:
    """Register an agent and return its new API key (the only time it is shown)."""
    agent_id = (agent_id or "").strip()
    if not agent_id or len(agent_id) > ID_MAX or any(c.isspace() for c in agent_id):
        raise invalid(f"Agent id must be 1-{ID_MAX} characters without spaces", "agent_id")
    caps = [c.strip() for c in capabilities or [] if c.strip()]
    key = _new_key()
    with write_transaction() as session:
        if session.get(Agent, agent_id) is not None:
            raise ServiceError("conflict", f"Agent {agent_id} already exists", "agent_id")
        session.add(
            Agent(
                agent_id=agent_id, name=name or agent_id, capabilities=caps, is_admin=admin, api_key_hash=hash_key(key)
            )
        )
    return key


def rotate_key(agent_id: str) -> str:
    """Give an agent a new API key, revoking the old one; return the new key."""
    key = _new_key()
    with write_transaction() as session:
        agent = session.get(Agent, agent_id)
        if agent is None:
            raise ServiceError("not_found", f"Agent {agent_id} not found", "agent_id")
        agent.api_key_hash = hash_key(key)
    return key


def revoke_key(agent_id: str) -> None:
    """Revoke an agent's API key: every call with it answers 401 from now on."""
    with write_transaction() as session:
        agent = session.get(Agent, agent_id)
        if agent is None:
            raise ServiceError("not_found", f"Agent {agent_id} not found", "agent_id")
        agent.api_key_hash = None


def agent_for_key(key: str) -> Agent | None:
    """Return the agent holding this key, or None."""
    if not key:
        return None
    digest = hash_key(key)
    agent = db.session.scalar(sa.select(Agent).where(Agent.api_key_hash == digest))
    # The lookup is by digest; the comparison below keeps the final check constant-time.
    if agent is None or not hmac.compare_digest(agent.api_key_hash or "", digest):
        return None
    return agent


def current_caller() -> Caller:
    """Return the caller authenticated for this request."""
    return g.caller


def require_agent(view):
    """Refuse a /aitp call without a valid bearer key (401); set g.caller otherwise.

    Then refuse a query parameter the view does not declare with api.validation.takes_query (400),
    so no endpoint silently ignores one.
    """
    allowed = getattr(view, "query_parameters", ())

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        header = request.headers.get("Authorization", "")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise ServiceError("unauthorized", "Missing API key: send Authorization: Bearer <key>")
        agent = agent_for_key(key.strip())
        if agent is None:
            raise ServiceError("unauthorized", "Invalid API key")
        g.caller = Caller(agent_id=agent.agent_id, is_admin=bool(agent.is_admin))
        g.agent_capabilities = list(agent.capabilities or [])
        # End the read transaction so that a writer can start with BEGIN IMMEDIATE.
        db.session.rollback()
        check_query(request.args, allowed)
        return view(*args, **kwargs)

    return wrapper


def create_operator(username: str, password: str) -> None:
    """Create a dashboard login with a hashed password."""
    username = (username or "").strip()
    if not username or len(username) > 80:
        raise invalid("Username must be 1-80 characters", "username")
    if len(password or "") < 8:
        raise invalid("Password must be at least 8 characters", "password")
    with write_transaction() as session:
        if session.get(Operator, username) is not None:
            raise ServiceError("conflict", f"User {username} already exists", "username")
        session.add(Operator(username=username, password_hash=generate_password_hash(password)))


def check_operator(username: str, password: str) -> Operator | None:
    """Return the operator if the password matches, else None."""
    operator = db.session.get(Operator, (username or "").strip())
    if operator is None:
        # Spend the same time as a real check so timing does not reveal usernames.
        check_password_hash(_dummy_hash(), password or "")
        return None
    return operator if check_password_hash(operator.password_hash, password or "") else None


@functools.cache
def _dummy_hash() -> str:
    """Return a hash to check against when the username is unknown."""
    return generate_password_hash(secrets.token_hex(16))
