"""``AuditMixin``: ``created_by`` / ``updated_by`` filled from ``acting_as()``.

Like the timestamps they are column defaults, evaluated when the statement runs in the
task that runs it, so every write path records the actor of that task.
"""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from orm_kit.context import current_actor
from orm_kit.types import MIXIN_SORT_ORDER

__all__ = ["AuditMixin"]


class AuditMixin:
    """``created_by`` and ``updated_by`` (``String(255)``), both set on insert;
    ``updated_by`` again on every update."""

    created_by: Mapped[str | None] = mapped_column(
        String(255), default=current_actor, sort_order=MIXIN_SORT_ORDER
    )
    updated_by: Mapped[str | None] = mapped_column(
        String(255), default=current_actor, onupdate=current_actor, sort_order=MIXIN_SORT_ORDER
    )
