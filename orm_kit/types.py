"""Column types orm_kit's mixins use, and the column order they follow."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

__all__ = ["MIXIN_SORT_ORDER", "PRIMARY_KEY_SORT_ORDER", "UTCDateTime", "utcnow"]

# ``mapped_column(sort_order=...)`` values: the table (and so ``repr()``, ``to_dict()`` and
# ``values()``) lists the primary key first, then the model's own columns (SQLAlchemy's
# default, 0), then the columns mixins add.
PRIMARY_KEY_SORT_ORDER = -100
"""The ``sort_order`` of primary-key columns: before every other column."""
MIXIN_SORT_ORDER = 100
"""The ``sort_order`` of the columns a mixin adds: after the model's own columns."""


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp stored in UTC on every backend.

    PostgreSQL stores ``timestamptz``. SQLite has no time zones, so the value is converted
    to UTC before it is stored and comes back with ``tzinfo=UTC``. orm_kit refuses a naive
    value with a ``ValidationError`` before any SQL (see ``orm_kit.query.values``); the
    type itself, given one by raw SQLAlchemy code, takes it to be UTC already.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        # NOTE(sqlite): stored as naive UTC text; the offset would otherwise be dropped.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
