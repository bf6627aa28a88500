"""``TimestampMixin``: ``created_at`` / ``updated_at``, timezone-aware, in UTC.

Both are column defaults (``default=`` / ``onupdate=``), so SQLAlchemy applies them on
every write path: unit-of-work flushes, ``create`` and ``bulk_create`` inserts, and
``QuerySet.update()`` / ``bulk_update()`` statements, direct or in a session.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Mapped, mapped_column

from orm_kit.types import MIXIN_SORT_ORDER, UTCDateTime, utcnow

__all__ = ["TimestampMixin"]


class TimestampMixin:
    """``created_at`` set on insert; ``updated_at`` set on insert and on every update."""

    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, sort_order=MIXIN_SORT_ORDER
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, sort_order=MIXIN_SORT_ORDER
    )
