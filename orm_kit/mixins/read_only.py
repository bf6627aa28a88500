"""``ReadOnlyMixin``: models whose rows orm_kit refuses to write.

Checked before any SQL is sent on every orm_kit write path — ``create``,
``bulk_create``, ``bulk_update``, ``QuerySet.update()`` / ``delete()``, ``save()``,
``obj.related(...)`` writes (refused when either side's model is read-only) — and,
through session events, on flushes and ORM-enabled ``insert()`` / ``update()`` /
``delete()`` statements run on an orm_kit session. Plain Core statements on
a raw connection are outside orm_kit's reach. ``with allow_writes(Model):`` lifts the
rule for the current task (seeding).
"""

from __future__ import annotations

from typing import ClassVar

from orm_kit.rules import check_writable

__all__ = ["ReadOnlyMixin", "check_writable"]


class ReadOnlyMixin:
    """Marks a model read-only."""

    __orm_kit_read_only__: ClassVar[bool] = True
