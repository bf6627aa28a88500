"""The ambient session: a ContextVar holding the session of the current unit of work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy.ext.asyncio import AsyncSession

_current_session: ContextVar[AsyncSession | None] = ContextVar(
    "orm_kit_current_session", default=None
)


def current_session() -> AsyncSession | None:
    """Return the session of the enclosing ``db.session()`` / ``transaction()``, if any."""
    return _current_session.get()


@contextmanager
def bind_session(session: AsyncSession) -> Iterator[AsyncSession]:
    """Make ``session`` the ambient session inside the block (reset in ``finally``)."""
    token = _current_session.set(session)
    try:
        yield session
    finally:
        _current_session.reset(token)
