"""The mixins' rules that every write path calls: the acting user, read-only checks.

Kept apart from ``orm_kit.mixins`` (which defines model classes) so the query layer can
import it without importing models. Per-task state lives in ContextVars.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from orm_kit.exceptions import ReadOnlyError

__all__ = ["acting_as", "allow_writes", "check_writable", "current_actor", "writes_allowed"]

_actor: ContextVar[str | None] = ContextVar("orm_kit_actor", default=None)
_writable: ContextVar[frozenset[type[Any]]] = ContextVar("orm_kit_writable", default=frozenset())


@contextmanager
def acting_as(actor: object) -> Iterator[str | None]:
    """Record ``actor`` (a user id, name ...) as the author of writes inside the block.

    ``AuditMixin`` fills ``created_by`` / ``updated_by`` with ``str(actor)``. Task-local:
    concurrent tasks each see their own actor.
    """
    token = _actor.set(None if actor is None else str(actor))
    try:
        yield _actor.get()
    finally:
        _actor.reset(token)


def current_actor() -> str | None:
    """The actor set by the innermost ``acting_as()``, or ``None``."""
    return _actor.get()


@contextmanager
def allow_writes(*models: type[Any]) -> Iterator[None]:
    """Let the block write to these read-only models (seeding, migrations). Task-local."""
    token = _writable.set(_writable.get() | frozenset(models))
    try:
        yield
    finally:
        _writable.reset(token)


def writes_allowed(model: type[Any]) -> bool:
    """Whether ``allow_writes()`` currently covers ``model`` (or one of its bases)."""
    allowed = _writable.get()
    return any(klass in allowed for klass in model.__mro__)


def check_writable(model: type[Any], operation: str) -> None:
    """Raise ``ReadOnlyError`` if ``model`` is read-only and not covered by allow_writes()."""
    if getattr(model, "__orm_kit_read_only__", False) and not writes_allowed(model):
        raise ReadOnlyError(
            f"{model.__name__} is read-only: {operation} was refused before any SQL was sent. "
            f"Wrap seeding code in `with allow_writes({model.__name__}):` if this is intended."
        )
