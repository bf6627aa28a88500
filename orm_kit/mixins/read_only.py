"""``ReadOnlyMixin``: models whose rows orm_kit refuses to write.

Its rule answers the hook point's write check (``orm_kit.rules.check_write``), which
every orm_kit write path asks before any SQL is sent — ``create``, ``bulk_create``,
``bulk_update``, ``QuerySet.update()`` / ``delete()``, ``save()``, ``obj.related(...)``
writes (refused when either side's model is read-only) — and, through session events, on
flushes and ORM-enabled ``insert()`` / ``update()`` / ``delete()`` statements run on any
session, orm_kit's or not. Plain Core statements on a raw connection are outside orm_kit's reach.
``with allow_writes(Model):`` lifts the rule for the current task (seeding).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, ClassVar

from orm_kit.exceptions import ReadOnlyError
from orm_kit.rules import Rule, check_write, register_rule

__all__ = ["ReadOnlyMixin", "allow_writes", "check_writable", "writes_allowed"]

_writable: ContextVar[frozenset[type[Any]]] = ContextVar("orm_kit_writable", default=frozenset())


class ReadOnlyMixin:
    """Marks a model read-only."""

    __orm_kit_read_only__: ClassVar[bool] = True


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


class _ReadOnlyRule(Rule):
    def applies(self, model: type[Any]) -> bool:
        return bool(getattr(model, "__orm_kit_read_only__", False))

    def check_write(self, model: type[Any], operation: str) -> None:
        if not writes_allowed(model):
            raise ReadOnlyError(
                f"{model.__name__} is read-only: {operation} was refused before any SQL was "
                f"sent. Wrap seeding code in `with allow_writes({model.__name__}):` if this "
                "is intended."
            )


register_rule(_ReadOnlyRule())


def check_writable(model: type[Any], operation: str) -> None:
    """Raise ``ReadOnlyError`` if a rule refuses ``operation`` on ``model`` (a read-only
    model not covered by ``allow_writes()``)."""
    check_write(model, operation)
