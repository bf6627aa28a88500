"""``SoftDeleteMixin``: ``delete()`` sets ``deleted_at``; default queries hide those rows.

Hidden everywhere reads happen: the default manager and every QuerySet built from it
(``get``, ``count``, ``exists``, ``values``, aggregates, ``update``), lookups across
relationships, ``select_related`` / ``prefetch_related`` / ``fetch_related``, and
ORM selects run on an orm_kit session (a session event adds the criterion). Use
``with_deleted()`` / ``only_deleted()`` or ``Model.all_objects`` to see them, ``restore()``
to bring them back and ``hard_delete()`` to remove rows for good.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Self

from sqlalchemy import Index, event, text
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.elements import conv

from orm_kit.query.manager import Manager
from orm_kit.query.queryset import QuerySet
from orm_kit.types import UTCDateTime

if TYPE_CHECKING:
    from orm_kit.database import Database

__all__ = ["AllObjectsManager", "SoftDeleteMixin", "unique_among_live"]


class AllObjectsManager(Manager[Any]):
    """A manager that sees soft-deleted rows too (``Model.all_objects``)."""

    def get_queryset(self) -> QuerySet[Any]:
        return super().get_queryset().with_deleted()


class SoftDeleteMixin:
    """Adds ``deleted_at`` (indexed); see the module docstring for where it applies."""

    __orm_kit_soft_delete__: ClassVar[bool] = True

    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None, index=True)

    all_objects: ClassVar[Manager[Any]] = AllObjectsManager()

    @property
    def is_deleted(self) -> bool:
        """Whether this instance is soft-deleted."""
        return self.__dict__.get("deleted_at") is not None

    def _by_pk(self, using: Database | str | None) -> QuerySet[Any]:
        qs: QuerySet[Any] = (
            QuerySet(type(self))
            .with_deleted()
            .filter(
                pk=self._require_pk("change")  # type: ignore[attr-defined]
            )
        )
        return qs.using(using) if using is not None else qs

    async def restore(self, *, using: Database | str | None = None) -> Self:
        """Undo a soft delete of this instance."""
        await self._by_pk(using).restore()
        set_committed_value(self, "deleted_at", None)
        return self

    async def hard_delete(self, *, using: Database | str | None = None) -> int:
        """Delete this instance's row for good; return the row count."""
        from orm_kit.query.executor import delete_instance

        async def operation(target: Any) -> int:
            return await self._by_pk(target).hard_delete()

        return await delete_instance(self, using, operation, soft=False)


def unique_among_live(*columns: str) -> Index:
    """A unique index over ``columns`` that only counts rows not soft-deleted.

    A partial index (``WHERE deleted_at IS NULL``) on PostgreSQL and SQLite, so the value
    of a deleted row can be used again. Put it in ``__table_args__``; it is named
    ``uq_<table>_<columns>`` like the naming convention's unique constraints, so a
    violation's ``ConflictError.constraint`` is that name on both backends.

    Example:
        ```python
        class Member(Model, SoftDeleteMixin):
            __table_args__ = (unique_among_live("email"),)
            email: Mapped[str] = mapped_column(String(255))
        ```
    """
    live = text("deleted_at IS NULL")
    index = Index(None, *columns, unique=True, postgresql_where=live, sqlite_where=live)

    @event.listens_for(index, "after_parent_attach")
    def _name(target: Index, table: Any) -> None:
        target.name = conv(f"uq_{table.name}_{'_'.join(columns)}")

    return index
