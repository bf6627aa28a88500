"""``Resolvable``: the base of orm_kit expressions (``F``, aggregates, ordering terms)
that become SQL once the model is known. Kept apart from ``orm_kit.query.expressions``
so the lookup resolver can recognise them without importing what builds them."""

from __future__ import annotations

from typing import Any

from sqlalchemy.sql.elements import ColumnElement

__all__ = ["Resolvable", "to_expression"]


class Resolvable:
    """Something that becomes a SQLAlchemy expression once the model is known."""

    @property
    def contains_aggregate(self) -> bool:
        """Whether an aggregate (``Count`` ...) is part of it: such an expression belongs
        to ``annotate()`` / ``aggregate()``, never to a row's WHERE clause."""
        return False

    def resolve(self, model: type[Any]) -> ColumnElement[Any]:
        """Return the SQLAlchemy expression for ``model``."""
        raise NotImplementedError


def to_expression(value: Any, model: type[Any]) -> Any:
    """Resolve ``value`` if it is an orm_kit expression; leave plain values as they are."""
    return value.resolve(model) if isinstance(value, Resolvable) else value
