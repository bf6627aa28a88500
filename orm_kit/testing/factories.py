"""Model factories: polyfactory's ``SQLAlchemyFactory``, persisting through orm_kit (the
``testing`` extra)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, TypeVar

from polyfactory.factories.sqlalchemy_factory import SQLAlchemyFactory
from polyfactory.persistence import AsyncPersistenceProtocol
from sqlalchemy import Column, DateTime
from sqlalchemy.types import TypeEngine

from orm_kit.database import Database, get_database
from orm_kit.model import Model

__all__ = ["ModelFactory"]

ModelT = TypeVar("ModelT", bound=Model)


class _AwareDateTime(datetime):
    """Stands for the type of a timestamp column with a time zone (never instantiated)."""


def _is_aware(column_type: TypeEngine[Any]) -> bool:
    impl = getattr(column_type, "impl", column_type)  # a TypeDecorator's own column type
    return isinstance(impl, DateTime) and bool(impl.timezone)


class _OrmKitPersistence(AsyncPersistenceProtocol[ModelT], Generic[ModelT]):
    """Saves built instances the way orm_kit saves them: in the ambient session of the
    database when there is one (in a SAVEPOINT; the session's block commits), else in a
    unit of work of its own; the mixins' rules (read-only, audit fields, value checks)
    apply as usual."""

    def __init__(self, using: Database | str | None) -> None:
        self.using = using

    async def save(self, data: ModelT) -> ModelT:
        return (await self.save_many([data]))[0]

    async def save_many(self, data: list[ModelT]) -> list[ModelT]:
        db = self.using if isinstance(self.using, Database) else get_database(self.using)
        # A SAVEPOINT of the ambient session of ``db`` if there is one, else a unit of
        # work of its own; either way driver errors come out as orm_kit errors.
        async with db.transaction() as session:
            session.add_all(data)
        return data


class ModelFactory(SQLAlchemyFactory[ModelT]):
    """A polyfactory factory for an orm_kit model whose ``create_async()`` /
    ``create_batch_async()`` save through orm_kit.

    Columns of orm_kit's mixins (ids, timestamps, ``deleted_at``, audit fields), columns
    with a default or server default, computed columns and autoincrement keys are left to
    orm_kit and the database; every other column gets a random value of its type and length
    (timestamps aware where the column has a time zone). Foreign keys and relationships
    are not invented: pass them (``PostFactory.create_async(author=user)``). Set
    ``__database__`` to a ``Database`` or its name to save elsewhere than the default one.

    Example:
        ```python
        class UserFactory(ModelFactory[User]):
            pass

        user = await UserFactory.create_async(email="a@example.com")
        users = await UserFactory.create_batch_async(3)
        ```
    """

    __is_base_factory__ = True
    __set_foreign_keys__ = False
    __set_relationships__ = False
    __set_association_proxy__ = False
    __database__: ClassVar[Database | str | None] = None

    @classmethod
    def should_column_be_set(cls, column: Any) -> bool:
        if not super().should_column_be_set(column):
            return False
        assert isinstance(column, Column)
        generated = column.table.autoincrement_column is column
        return not (
            generated
            or cls._declared_by_orm_kit(column.key)
            or column.default is not None
            or column.server_default is not None
            or column.computed is not None
            or column.identity is not None
        )

    @classmethod
    def _declared_by_orm_kit(cls, key: str) -> bool:
        # A mixin's column (deleted_at is one) may have no default to tell it by.
        return any(
            key in vars(klass) and klass.__module__.startswith("orm_kit.")
            for klass in cls.__model__.__mro__
        )

    @classmethod
    def get_type_from_column(cls, column: Column[Any]) -> Any:
        annotation = super().get_type_from_column(column)
        if column.computed is None and _is_aware(column.type):
            # orm_kit refuses naive values for a column with a time zone (UTCDateTime), and
            # a datetime of the column's Python type would be naive.
            return _AwareDateTime | None if column.nullable else _AwareDateTime
        return annotation

    @classmethod
    def get_provider_map(cls) -> dict[Any, Any]:
        providers = super().get_provider_map()
        providers[_AwareDateTime] = lambda: cls.__faker__.date_time(tzinfo=UTC)
        return providers

    @classmethod
    def _get_async_persistence(cls) -> AsyncPersistenceProtocol[ModelT]:
        return _OrmKitPersistence(cls.__database__)
