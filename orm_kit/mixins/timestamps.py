"""``TimestampMixin``: ``created_at`` / ``updated_at``, timezone-aware, in UTC.

Both are column defaults (``default=`` / ``onupdate=``), so SQLAlchemy applies them on
every write path: unit-of-work flushes, ``create`` and ``bulk_create`` inserts, and
``QuerySet.update()`` / ``bulk_update()`` statements, direct or in a session.

Both also carry a server default (``DEFAULT CURRENT_TIMESTAMP`` in the DDL, which
migrations create), so a plain ``INSERT`` from another application or a SQL console that
leaves them out still gets the time: UTC on PostgreSQL (``timestamptz``) and on SQLite
(``CURRENT_TIMESTAMP`` is UTC text, whole seconds, which ``UTCDateTime`` reads back as an
aware UTC datetime). orm_kit's own writes never rely on it: the Python default wins and
keeps microseconds. ``updated_at`` is not changed by other applications' UPDATEs (that
would take a trigger).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlalchemy.orm import Mapped, mapped_column

from orm_kit.types import MIXIN_SORT_ORDER, UTCDateTime, utcnow

__all__ = ["TimestampMixin"]


class TimestampMixin:
    """``created_at`` set on insert; ``updated_at`` set on insert and on every update."""

    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, server_default=func.now(), sort_order=MIXIN_SORT_ORDER
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime,
        default=utcnow,
        onupdate=utcnow,
        server_default=func.now(),
        sort_order=MIXIN_SORT_ORDER,
    )
