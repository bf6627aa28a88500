"""``Repository[ModelT, EntityT]``: the explicit-session face of the same CRUD core as
``Manager``.

Every method delegates to the QuerySet implementation, so a repository and a manager
behave identically; only the names follow the repository convention of existing
codebases (``get(id)``, ``update(id, **values)``, ``delete(id) -> bool`` ...). A
repository runs on a session it is given, on a session factory (one new session per
call, committed and closed before the call returns), or on the ambient session /
autocommit; with ``schema=`` it returns pydantic entities instead of ORM instances.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Generic, TypeAlias, cast, overload

import pydantic
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import Result
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable
from typing_extensions import TypeVar

from orm_kit.database import Database
from orm_kit.exceptions import ValidationError
from orm_kit.query.executor import (
    commit,
    execute_statement,
    flush,
    readable,
    refresh,
    rollback,
    unit_of_work,
)
from orm_kit.query.queryset import ModelT, QuerySet

__all__ = ["EntityT", "Payload", "Repository", "SessionFactory"]

EntityT = TypeVar("EntityT", default=ModelT)
"""What the read methods return: the model itself, or the ``schema=`` given."""

SessionFactory: TypeAlias = Callable[[], AsyncSession | AbstractAsyncContextManager[AsyncSession]]
"""A zero-argument callable that opens a session: ``db.sessionmaker``, an
``async_sessionmaker``, or one returning an async context manager that yields a session
(an ``@asynccontextmanager`` function such as ``get_db_session``)."""

Payload: TypeAlias = pydantic.BaseModel | Mapping[str, Any]
"""The values of a row: a pydantic model or a mapping of field names to values."""


def _is_context_manager(candidate: object) -> bool:
    """An async context manager object (``db.session()``), not a factory: callable only
    because contextlib's managers double as decorators."""
    return hasattr(candidate, "__aenter__") and not isinstance(candidate, type)


class Repository(Generic[ModelT, EntityT]):
    """Generic async CRUD for ``model``.

    Args:
        model: The model class.
        session_or_factory: Where the calls run.

            * An ``AsyncSession``: every call runs on it; writes are flushed, never
              committed (the session's owner commits).
            * A session factory (``db.sessionmaker``, an ``async_sessionmaker``, or a
              callable returning an async context manager that yields a session): each
              call opens its own session, runs, flushes, commits and closes it; the
              instances it returns are loaded and detached, usable afterwards whatever
              the factory's ``expire_on_commit``. A failure rolls the call back.
            * ``None``: the ambient session, or each call commits on its own.

            ``session=`` is accepted as a keyword spelling of it (existing repositories
            call ``super().__init__(model=User, session=session_factory)``).
        schema: A pydantic model class; the read and write methods then return its
            instances (``schema.model_validate(obj, from_attributes=True)``) instead of
            ORM instances.

    Example:
        ```python
        users = Repository(User, db.sessionmaker, schema=UserEntity)
        ann = await users.create(UserCreate(name="Ann", email="ann@example.com"))
        ann = await users.update(ann.id, UserUpdate(name="Anne"))   # a UserEntity
        ```
    """

    @overload
    def __init__(
        self: Repository[ModelT, ModelT],
        model: type[ModelT],
        session_or_factory: AsyncSession | SessionFactory | None = None,
        schema: None = None,
        *,
        session: AsyncSession | SessionFactory | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self,
        model: type[ModelT],
        session_or_factory: AsyncSession | SessionFactory | None,
        schema: type[EntityT],
        *,
        session: AsyncSession | SessionFactory | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self,
        model: type[ModelT],
        session_or_factory: AsyncSession | SessionFactory | None = None,
        *,
        schema: type[EntityT],
        session: AsyncSession | SessionFactory | None = None,
    ) -> None: ...

    def __init__(
        self,
        model: type[ModelT],
        session_or_factory: AsyncSession | SessionFactory | None = None,
        schema: type[Any] | None = None,
        *,
        session: AsyncSession | SessionFactory | None = None,
    ) -> None:
        if session is not None:  # the seeds' keyword: Repository(model=User, session=...)
            if session_or_factory is not None:
                raise ValidationError(
                    f"Repository({model.__name__}, ...) got both session_or_factory and "
                    "session; pass one of them."
                )
            session_or_factory = session
        self.model = model
        self.session: AsyncSession | None = None
        self.session_factory: SessionFactory | None = None
        self._using: Any = None
        if isinstance(session_or_factory, AsyncSession):
            self.session = self._using = session_or_factory
        elif isinstance(session_or_factory, Database | str):
            self._using = session_or_factory  # a database or its name, as using() takes
        elif callable(session_or_factory) and not _is_context_manager(session_or_factory):
            self.session_factory = session_or_factory
        elif session_or_factory is not None:
            raise ValidationError(
                f"Repository({model.__name__}, ...) takes an AsyncSession, a session factory "
                "(a callable returning an AsyncSession or an async context manager that "
                "yields one, such as db.sessionmaker) or None, not "
                f"{type(session_or_factory).__name__}. To use an async context manager "
                "object, pass the function that makes it."
            )
        if schema is not None and not (
            isinstance(schema, type) and issubclass(schema, pydantic.BaseModel)
        ):
            raise ValidationError(
                f"Repository({model.__name__}, schema=...) takes a pydantic model class, "
                f"not {schema!r}."
            )
        self.schema: type[Any] | None = schema

    # --- where a call runs ----------------------------------------------------------------

    @property
    def query(self) -> QuerySet[ModelT, ModelT]:
        """A QuerySet over the model, bound to this repository's session if it has one.

        Raises:
            ValidationError: The repository has a session factory: its sessions live for
                one call, so use ``async with repo.transaction() as qs:``.
        """
        if self.session_factory is not None:
            raise ValidationError(
                f"This Repository({self.model.__name__}) opens a session per call from its "
                "factory, so it has no session to bind a QuerySet to; use "
                "`async with repo.transaction() as qs:` to run several queries in one."
            )
        return self._queryset(self._using)

    def _queryset(self, using: Any) -> QuerySet[ModelT, ModelT]:
        qs: QuerySet[ModelT, ModelT] = QuerySet(self.model)
        return qs.using(using) if using is not None else qs

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[QuerySet[ModelT, ModelT]]:
        """Run several queries in one unit of work; yields a QuerySet bound to it.

        With a session factory: a new session, committed at the end of the block (rolled
        back on error) and closed; instances read inside stay usable afterwards. With a
        session: that session (flushed at the end; its owner commits). Otherwise the
        ambient session, or a short unit of work that commits at the end.

        Example:
            ```python
            async with users.transaction() as qs:
                ann = await qs.get(email="ann@example.com")
                await qs.filter(pk=ann.id).update(is_active=False)
            ```
        """
        if self.session_factory is not None:
            async with self._factory_session() as session:
                yield self._queryset(session)
            return
        async with unit_of_work(self._using) as session:
            yield self._queryset(session)
            await flush(session, self.model, "transaction")

    @asynccontextmanager
    async def _call(self) -> AsyncIterator[Any]:
        """Yield what one repository call runs on (``using()``'s argument)."""
        if self.session_factory is None:
            yield self._using
            return
        async with self._factory_session() as session:
            yield session

    @asynccontextmanager
    async def _factory_session(self) -> AsyncIterator[AsyncSession]:
        async with self._open() as session:
            try:
                yield session
                await flush(session, self.model, "flush")
                await self._detach(session)
                await commit(session, self.model)
            except BaseException:
                await rollback(session, self.model)
                raise

    @asynccontextmanager
    async def _open(self) -> AsyncIterator[AsyncSession]:
        """Open a session from the factory (and close it, or leave that to its manager)."""
        factory = self.session_factory
        assert factory is not None
        made: Any = factory()
        if inspect.isawaitable(made):  # an async function returning a session
            made = await made
        if isinstance(made, AsyncSession):
            try:
                yield made
            finally:
                await made.close()
            return
        if not hasattr(made, "__aenter__"):
            raise self._bad_factory(made)
        async with made as session:
            if not isinstance(session, AsyncSession):
                raise self._bad_factory(session)
            yield session

    def _bad_factory(self, made: Any) -> ValidationError:
        return ValidationError(
            f"The session factory of Repository({self.model.__name__}) returned "
            f"{type(made).__name__}; it must return an AsyncSession (like db.sessionmaker) "
            "or an async context manager that yields one."
        )

    async def _detach(self, session: AsyncSession) -> None:
        """Load what the flush expired and detach every instance, before the commit, so a
        factory's ``expire_on_commit=True`` cannot leave unloaded instances behind."""
        for obj in list(session.identity_map.values()):
            expired = sa_inspect(obj).expired_attributes
            if expired:
                await refresh(session, obj, sorted(expired))
        session.expunge_all()

    # --- entities and payloads ------------------------------------------------------------

    def to_entity(self, obj: ModelT) -> EntityT:
        """``obj`` as this repository returns it: an instance of ``schema``, or ``obj``.

        Raises:
            ValidationError: The schema cannot be built from ``obj`` (a field the model
                does not have, or a value of another type).
        """
        if self.schema is None:
            return cast(EntityT, obj)
        try:
            entity = self.schema.model_validate(obj, from_attributes=True)
        except pydantic.ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}"
                for e in exc.errors(include_input=False, include_url=False)
            )
            raise ValidationError(
                f"{self.schema.__name__} could not be built from a {self.model.__name__} "
                f"({problems}). Give the schema only fields the model has, with their types; "
                "a relationship must be loaded (select_related / prefetch_related)."
            ) from exc
        return cast(EntityT, entity)

    def _entities(self, objs: list[ModelT]) -> list[EntityT]:
        if self.schema is None:
            return cast(list[EntityT], objs)
        return [self.to_entity(obj) for obj in objs]

    def _maybe(self, obj: ModelT | None) -> EntityT | None:
        return None if obj is None else self.to_entity(obj)

    def _values(
        self, payload: Payload | None, values: dict[str, Any], *, partial: bool
    ) -> dict[str, Any]:
        """The field values of ``payload`` (all of them, or only those set when
        ``partial``) with ``values`` on top."""
        if payload is None:
            return values
        if isinstance(payload, pydantic.BaseModel):
            if partial:  # only what the client sent, as obj.update_from() does
                data = payload.model_dump(include=set(payload.model_fields_set))
            else:
                data = payload.model_dump()
        elif isinstance(payload, Mapping):
            data = dict(payload)
        else:
            raise ValidationError(
                f"Repository({self.model.__name__}) takes a pydantic model or a mapping of "
                f"field values, not {type(payload).__name__}."
            )
        return {**data, **values}

    # --- reads ------------------------------------------------------------------------------

    async def get(self, id: Any) -> EntityT | None:
        """Return the row with primary key ``id``, or ``None``."""
        async with self._call() as using:
            obj = await self._queryset(using).get_by(pk=id)
        return self._maybe(obj)

    async def get_or_raise(self, id: Any) -> EntityT:
        """Return the row with primary key ``id`` or raise ``Model.DoesNotExist``."""
        async with self._call() as using:
            obj = await self._queryset(using).get_or_raise(id)
        return self.to_entity(obj)

    async def get_by(self, **lookups: Any) -> EntityT | None:
        """Return the first row matching the lookups, or ``None``."""
        async with self._call() as using:
            obj = await self._queryset(using).get_by(**lookups)
        return self._maybe(obj)

    async def get_by_or_raise(self, **lookups: Any) -> EntityT:
        """Return the first row matching the lookups or raise ``Model.DoesNotExist``."""
        async with self._call() as using:
            obj = await self._queryset(using).get_by_or_raise(**lookups)
        return self.to_entity(obj)

    async def get_all(self, *, skip: int = 0, limit: int | None = 100) -> list[EntityT]:
        """Return rows in primary-key order, ``limit`` of them after ``skip``."""
        async with self._call() as using:
            objs = await self._queryset(using).get_all(skip=skip, limit=limit)
        return self._entities(objs)

    async def filter(
        self, *, skip: int = 0, limit: int | None = None, **lookups: Any
    ) -> list[EntityT]:
        """Return rows matching the lookups, in primary-key order, paged by skip / limit."""
        async with self._call() as using:
            qs = self._queryset(using).filter(**lookups)._pk_ordered(False)
            objs = await qs[skip : None if limit is None else skip + limit]
        return self._entities(objs)

    async def count(self, **lookups: Any) -> int:
        """Count the rows matching the lookups."""
        async with self._call() as using:
            return await self._queryset(using).filter(**lookups).count()

    async def exists(self, **lookups: Any) -> bool:
        """Whether a row matches the lookups."""
        async with self._call() as using:
            return await self._queryset(using).filter(**lookups).exists()

    # --- writes -----------------------------------------------------------------------------

    async def create(self, payload: Payload | None = None, /, **values: Any) -> EntityT:
        """Insert a row and return it with its generated values.

        Args:
            payload: The row's values as a pydantic model (``model_dump()``) or a mapping.
            **values: Field values (on top of the payload's).
        """
        data = self._values(payload, values, partial=False)
        async with self._call() as using:
            obj = await self._queryset(using).create(**data)
        return self.to_entity(obj)

    async def create_many(self, items: Iterable[Payload]) -> list[EntityT]:
        """Insert one row per payload (a dict or a pydantic model) and return them."""
        rows = [self._values(item, {}, partial=False) for item in items]
        async with self._call() as using:
            objs = await self._queryset(using).create_many(rows)
        return self._entities(objs)

    async def update(
        self, id: Any, payload: Payload | None = None, /, **values: Any
    ) -> EntityT | None:
        """Set values on the row with primary key ``id``; return it, or ``None``.

        Args:
            id: The primary key.
            payload: A pydantic model (only the fields it has set are applied, as
                ``obj.update_from()`` does) or a mapping of values.
            **values: Field values (on top of the payload's).
        """
        data = self._values(payload, values, partial=True)
        async with self._call() as using, unit_of_work(using) as session:
            obj = await self._queryset(session).get_by(pk=id)
            if obj is None:
                return None
            obj.update(**data)  # type: ignore[attr-defined]
            await flush(session, self.model, "update")
        return self.to_entity(obj)

    async def update_many(self, filters: dict[str, Any] | None = None, **values: Any) -> int:
        """Update the rows matching ``filters``; return the row count."""
        async with self._call() as using:
            return await self._queryset(using).update_many(filters, **values)

    async def delete(self, id: Any) -> bool:
        """Delete the row with primary key ``id``; return whether one was deleted."""
        async with self._call() as using:
            return await self._queryset(using).filter(pk=id).delete() > 0

    async def delete_many(self, **lookups: Any) -> int:
        """Delete the rows matching the lookups; return the row count."""
        async with self._call() as using:
            return await self._queryset(using).delete_many(**lookups)

    async def execute(self, stmt: Executable) -> Result[Any]:
        """Execute a SQLAlchemy statement on the repository's session and return the Result.

        Outside a session the statement runs in a short unit of work that commits before
        this returns (with a session factory: on a session of its own), and the Result
        stays readable after it: its rows are buffered (ORM entities are built before the
        session closes) and, for a Core-level result (``update()``, ``delete()``,
        ``insert()``, ``text()``), ``rowcount`` holds the number of rows the statement
        changed.

        Example:
            ```python
            result = await Repository(User).execute(update(User).values(is_active=False))
            result.rowcount  # the rows updated, already committed
            ```
        """
        if self.session_factory is None:
            return await execute_statement(self._using, stmt, model=self.model)
        async with self._call() as session:
            return readable(await execute_statement(session, stmt, model=self.model))
