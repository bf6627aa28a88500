"""The write face of a QuerySet: the terminal methods that change rows (``create``,
``bulk_create``, ``update``, ``delete`` ...) and the repository-style methods the manager
shares with ``Repository`` (``get_by``, ``get_all``,
``create_many`` ...).

A base class of ``QuerySet``: each method starts from the
QuerySet's ``_base()`` (a manager's ``get_queryset()``) and hands its frozen state to the
write functions (``orm_kit.query.writes``, ``orm_kit.query.bulk``,
``orm_kit.query.get_or_create``), which never see the QuerySet itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Generic, cast

from typing_extensions import TypeVar

from orm_kit import rules
from orm_kit.exceptions import NotFoundError, ValidationError
from orm_kit.query import bulk, get_or_create, writes

if TYPE_CHECKING:
    from orm_kit.query.queryset import QuerySet

__all__ = ["ModelT", "RowT", "WriteMethods"]

ModelT = TypeVar("ModelT")
RowT = TypeVar("RowT", default=ModelT)


class WriteMethods(Generic[ModelT, RowT]):
    """The writes and repository-style methods of ``QuerySet``."""

    model: type[ModelT]

    if TYPE_CHECKING:

        def _base(self) -> QuerySet[ModelT, RowT]: ...

    async def create(self, **values: Any) -> ModelT:
        """Insert one row and return the instance (server defaults filled in).

        Raises:
            ValidationError: A name is not a field of the model.
            ConflictError: A unique, foreign-key, not-null or check constraint failed.
        """
        return cast(ModelT, await writes.create(self._base()._state, values))

    async def bulk_create(
        self,
        objs: Iterable[ModelT],
        *,
        batch_size: int | None = None,
        ignore_conflicts: bool = False,
        update_conflicts: bool = False,
        unique_fields: Sequence[str] | None = None,
        update_fields: Sequence[str] | None = None,
    ) -> list[ModelT]:
        """Insert many instances in as few statements as possible; primary keys are set.

        With ``ignore_conflicts`` conflicting rows are skipped (and keys are not set);
        with ``update_conflicts`` they are updated (``update_fields``) on ``unique_fields``.
        All or nothing: when a batch fails, the earlier ones are rolled back too and every
        instance is left unsaved (no primary key), ready to be passed again.
        """
        return await bulk.bulk_create(
            self._base()._state,
            list(objs),
            batch_size=batch_size,
            ignore_conflicts=ignore_conflicts,
            update_conflicts=update_conflicts,
            unique_fields=unique_fields,
            update_fields=update_fields,
        )

    async def bulk_update(
        self, objs: Iterable[ModelT], fields: Sequence[str], *, batch_size: int | None = None
    ) -> int:
        """Write ``fields`` of each instance by primary key; return the rows matched."""
        return await bulk.bulk_update(
            self._base()._state, list(objs), fields, batch_size=batch_size
        )

    async def update(self, **values: Any) -> int:
        """Update the matching rows in one statement; return the row count.

        Values may be ``F`` expressions: ``update(views=F("views") + 1)``.
        """
        return await writes.update(self._base()._state, values)

    async def delete(self) -> int:
        """Delete the matching rows in one statement; return the row count.

        On a ``SoftDeleteMixin`` model this sets ``deleted_at`` instead (an UPDATE that
        also bumps ``updated_at`` / ``updated_by``); ``hard_delete()`` removes rows.
        """
        qs = self._base()
        values = rules.delete_values(self.model)  # a rule may make it an update
        if values is not None:
            return await writes.update(qs._state, values)
        return await writes.delete(qs._state)

    async def hard_delete(self) -> int:
        """Delete the matching rows for good, soft-delete models included."""
        return await writes.delete(self._base()._state)

    async def restore(self) -> int:
        """Undo the soft delete of the matching rows; return the row count.

        Raises:
            ValidationError: The model has no soft delete (nothing to restore).
        """
        qs = self._base()
        values = rules.restore_values(self.model)
        if values is None:
            raise ValidationError(
                f"{self.model.__name__} has no soft delete, so there is nothing to restore(); "
                "add SoftDeleteMixin to the model."
            )
        if qs._state.deleted == "hide":
            qs = qs._clone(deleted="only")
        return await writes.update(qs._state, values)

    async def get_or_create(
        self, defaults: dict[str, Any] | None = None, **lookups: Any
    ) -> tuple[ModelT, bool]:
        """Return ``(obj, created)``: the matching row, or a new one made from the lookups
        and ``defaults``. A concurrent insert of the same unique values is resolved by
        re-reading the row."""
        return await get_or_create.get_or_create(self._base(), defaults, lookups)

    async def update_or_create(
        self,
        defaults: dict[str, Any] | None = None,
        create_defaults: dict[str, Any] | None = None,
        **lookups: Any,
    ) -> tuple[ModelT, bool]:
        """Return ``(obj, created)``: update the matching row with ``defaults``, or create
        one from the lookups and ``create_defaults`` (else ``defaults``)."""
        return await get_or_create.update_or_create(
            self._base(), defaults, create_defaults, lookups
        )

    # --- repository-style methods (shared with Repository) ------------------------------

    async def get_by(self, **lookups: Any) -> ModelT | None:
        """Return the first row matching the lookups (by primary key), or ``None``."""
        row: ModelT | None = await self._base().filter(**lookups).first()  # type: ignore[assignment]
        return row

    async def get_by_or_raise(self, **lookups: Any) -> ModelT:
        """Return the first row matching the lookups, or raise ``Model.DoesNotExist``."""
        qs = self._base().filter(**lookups)
        obj = await qs.first()
        if obj is None:
            raise qs._no_match(
                getattr(self.model, "DoesNotExist", NotFoundError), "matching query does not exist"
            )
        return cast(ModelT, obj)

    async def get_or_raise(self, id: Any) -> ModelT:
        """Return the row with primary key ``id``, or raise ``Model.DoesNotExist``."""
        return await self.get_by_or_raise(pk=id)

    async def get_all(self, *, skip: int = 0, limit: int | None = 100) -> list[ModelT]:
        """Return a page of rows in primary-key order."""
        qs = self._base()._pk_ordered(False)
        rows: list[ModelT] = await qs[skip : None if limit is None else skip + limit]  # type: ignore[assignment]
        return rows

    async def create_many(self, items: Iterable[dict[str, Any]]) -> list[ModelT]:
        """Create one row per dict (one statement per batch) and return the instances."""
        objs = [writes.construct(self.model, dict(item)) for item in items]
        return await self.bulk_create(objs)

    async def update_many(self, filters: dict[str, Any] | None = None, **values: Any) -> int:
        """Update the rows matching ``filters`` with ``values``; return the row count."""
        return await self._base().filter(**(filters or {})).update(**values)

    async def delete_many(self, **lookups: Any) -> int:
        """Delete the rows matching the lookups; return the row count."""
        return await self._base().filter(**lookups).delete()
