"""Per-task state in ContextVars: the ambient session of the current unit of work, and the
acting user recorded by audit fields."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy.ext.asyncio import AsyncSession

_current_session: ContextVar[AsyncSession | None] = ContextVar(
    "orm_kit_current_session", default=None
)


_OWNER = "orm_kit_owner_task"
_actor: ContextVar[str | None] = ContextVar("orm_kit_actor", default=None)


def current_session() -> AsyncSession | None:
    """Return the session of the enclosing ``db.session()`` / ``transaction()``, if any."""
    return _current_session.get()


def is_foreign(session: AsyncSession) -> bool:
    """Whether ``session`` was made ambient by another asyncio task than the running one.

    Tasks created inside ``db.session()`` inherit the context, and with it the session;
    an ``AsyncSession`` must not be used by two tasks at once, so orm_kit refuses that.
    """
    owner = session.info.get(_OWNER)
    if owner is None:
        return False
    try:
        return owner is not asyncio.current_task()
    except RuntimeError:  # pragma: no cover - no running loop
        return False


@contextmanager
def bind_session(session: AsyncSession) -> Iterator[AsyncSession]:
    """Make ``session`` the ambient session inside the block (reset in ``finally``)."""
    previous = session.info.get(_OWNER)
    session.info[_OWNER] = asyncio.current_task()
    token = _current_session.set(session)
    try:
        yield session
    finally:
        _current_session.reset(token)
        session.info[_OWNER] = previous


@contextmanager
def acting_as(actor: object) -> Iterator[str | None]:
    """Record ``actor`` (a user id, name ...) as the author of writes inside the block.

    ``AuditMixin`` fills ``created_by`` / ``updated_by`` with ``str(actor)``, and the
    audit log records it. Task-local: concurrent tasks each see their own actor.
    """
    token = _actor.set(None if actor is None else str(actor))
    try:
        yield _actor.get()
    finally:
        _actor.reset(token)


def current_actor() -> str | None:
    """The actor set by the innermost ``acting_as()``, or ``None``."""
    return _actor.get()
