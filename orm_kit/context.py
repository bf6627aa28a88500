"""The ambient session: a ContextVar holding the session of the current unit of work."""

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
