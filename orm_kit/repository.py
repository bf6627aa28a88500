"""``Repository[ModelT]``: the explicit-session face of the same CRUD core as ``Manager``.

Every method delegates to the QuerySet implementation, so a repository and a manager
behave identically; only the names follow the repository convention of existing
codebases (``get(id)``, ``update(id, **values)``, ``delete(id) -> bool`` ...).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Generic

from sqlalchemy.engine import Result
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable

from orm_kit.query.executor import execute_statement, flush, unit_of_work
from orm_kit.query.queryset import ModelT, QuerySet

__all__ = ["Repository"]


class Repository(Generic[ModelT]):
    """Generic async CRUD for ``model``.

    Args:
        model: The model class.
        session: An ``AsyncSession`` to run on (writes are flushed, never committed);
            ``None`` uses the ambient session, or commits each call on its own.

    Example:
        ```python
        async with get_session() as session:
            users = Repository(User, session)
            user = await users.create(name="Ann", email="ann@example.com")
            await users.update(user.id, name="Anne")
        ```
    """

    def __init__(self, model: type[ModelT], session: AsyncSession | None = None) -> None:
        self.model = model
        self.session = session

    @property
    def query(self) -> QuerySet[ModelT, ModelT]:
        """A QuerySet over the model, bound to this repository's session if it has one."""
        qs: QuerySet[ModelT, ModelT] = QuerySet(self.model)
        return qs.using(self.session) if self.session is not None else qs

    async def get(self, id: Any) -> ModelT | None:
        """Return the row with primary key ``id``, or ``None``."""
        return await self.query.get_by(pk=id)

    async def get_or_raise(self, id: Any) -> ModelT:
        """Return the row with primary key ``id`` or raise ``Model.DoesNotExist``."""
        return await self.query.get_or_raise(id)

    async def get_by(self, **lookups: Any) -> ModelT | None:
        """Return the first row matching the lookups, or ``None``."""
        return await self.query.get_by(**lookups)

    async def get_by_or_raise(self, **lookups: Any) -> ModelT:
        """Return the first row matching the lookups or raise ``Model.DoesNotExist``."""
        return await self.query.get_by_or_raise(**lookups)

    async def get_all(self, *, skip: int = 0, limit: int | None = 100) -> list[ModelT]:
        """Return rows in primary-key order, ``limit`` of them after ``skip``."""
        return await self.query.get_all(skip=skip, limit=limit)

    async def filter(
        self, *, skip: int = 0, limit: int | None = None, **lookups: Any
    ) -> list[ModelT]:
        """Return rows matching the lookups, in primary-key order, paged by skip / limit."""
        qs = self.query.filter(**lookups)._pk_ordered(False)
        return await qs[skip : None if limit is None else skip + limit]

    async def count(self, **lookups: Any) -> int:
        """Count the rows matching the lookups."""
        return await self.query.filter(**lookups).count()

    async def exists(self, **lookups: Any) -> bool:
        """Whether a row matches the lookups."""
        return await self.query.filter(**lookups).exists()

    async def create(self, **values: Any) -> ModelT:
        """Insert a row and return it with its generated values."""
        return await self.query.create(**values)

    async def create_many(self, items: Iterable[dict[str, Any]]) -> list[ModelT]:
        """Insert one row per dict and return the instances."""
        return await self.query.create_many(items)

    async def update(self, id: Any, **values: Any) -> ModelT | None:
        """Set ``values`` on the row with primary key ``id``; return it, or ``None``."""
        async with unit_of_work(self.session) as session:
            obj = await self.query.using(session).get_by(pk=id)
            if obj is None:
                return None
            obj.update(**values)  # type: ignore[attr-defined]
            await flush(session, self.model, "update")
            return obj

    async def update_many(self, filters: dict[str, Any] | None = None, **values: Any) -> int:
        """Update the rows matching ``filters``; return the row count."""
        return await self.query.update_many(filters, **values)

    async def delete(self, id: Any) -> bool:
        """Delete the row with primary key ``id``; return whether one was deleted."""
        return await self.query.filter(pk=id).delete() > 0

    async def delete_many(self, **lookups: Any) -> int:
        """Delete the rows matching the lookups; return the row count."""
        return await self.query.delete_many(**lookups)

    async def execute(self, stmt: Executable) -> Result[Any]:
        """Execute a SQLAlchemy statement on the repository's session and return the Result.

        Outside a session the statement runs in a short unit of work that commits before
        this returns, and the Result stays readable after it: its rows are buffered (ORM
        entities are built before the session closes) and, for a Core-level result
        (``update()``, ``delete()``, ``insert()``, ``text()``), ``rowcount`` holds the
        number of rows the statement changed.

        Example:
            ```python
            result = await Repository(User).execute(update(User).values(is_active=False))
            result.rowcount  # the rows updated, already committed
            ```
        """
        return await execute_statement(self.session, stmt, model=self.model)
