"""``QuerySet``: a lazy, immutable query over one model; awaiting it runs it.

Chaining methods return a new QuerySet with a new ``QueryState``;
terminal methods are coroutines. The compiler builds the statement and the executor picks
the session or the direct path.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Generator, Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, Self, overload

from sqlalchemy.engine import Result
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement
from typing_extensions import TypeVar

from orm_kit.exceptions import (
    InvalidLookupError,
    ValidationError,
)
from orm_kit.query import chaining, compiler, results
from orm_kit.query.executor import Target, resolve_target
from orm_kit.query.expressions import (
    Q,
)
from orm_kit.query.meta import get_model_info
from orm_kit.query.reading import ReadMethods
from orm_kit.query.relations import (
    check_paths,
)
from orm_kit.query.state import ForUpdate, QueryState
from orm_kit.query.writing import ModelT, RowT, WriteMethods

if TYPE_CHECKING:
    from sqlalchemy.engine import Row

    from orm_kit.query.manager import Manager

__all__ = ["ModelT", "QuerySet", "QuerySetT", "RowT"]

# What a chaining method returns when it is called on a manager: its get_queryset() type.
QuerySetT = TypeVar("QuerySetT", bound="QuerySet[Any, Any]")
_QuerySetT_co = TypeVar("_QuerySetT_co", bound="QuerySet[Any, Any]", covariant=True)

_UNSET: Any = object()


def _scalar_one(result: Result[Any]) -> Any:
    return result.scalar_one()


class _ManagerOf(Protocol[_QuerySetT_co]):
    """A manager: its operations start from ``get_queryset()``, so its chaining methods
    return that QuerySet type rather than the manager's own (see the overloads below)."""

    def get_queryset(self) -> _QuerySetT_co: ...


class QuerySet(ReadMethods[ModelT, RowT], WriteMethods[ModelT, RowT]):
    """A lazy query over ``model``; ``await qs`` returns a list, ``async for`` streams.

    Chaining methods return ``Self``, so the methods of a ``QuerySet`` subclass survive
    them; called on a ``Manager`` they return the type of its
    ``get_queryset()`` (each is overloaded on the type of ``self`` to say so).

    Args:
        model: The model class queried.
        state: The query state (built by the chaining methods; rarely passed by hand).
    """

    # The Manager class as_manager() builds on. orm_kit.query.manager (the layer above)
    # registers it here, so this module never imports it.
    _manager_class: ClassVar[type[Manager[Any, Any]]]

    def __init__(self, model: type[ModelT], state: QueryState | None = None) -> None:
        self.model = model
        self._state = state if state is not None else QueryState(model)

    # --- plumbing -----------------------------------------------------------------------

    def _base(self) -> QuerySet[ModelT, RowT]:
        """The QuerySet operations start from (a Manager returns ``get_queryset()``)."""
        return self

    def _clone(self, **changes: Any) -> Self:
        return self._with(chaining.changed(self._state, **changes))

    def _with(self, state: QueryState) -> Self:
        return type(self)(self.model, state)

    @property
    def query_state(self) -> QueryState:
        """The frozen state of this QuerySet."""
        return self._base()._state

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.model.__name__}>"

    def _filters(self) -> tuple[str, ...]:
        return self._state.filter_names

    @classmethod
    def as_manager(cls) -> Manager[ModelT, Self]:
        """Return a manager whose QuerySets are of this class, with its methods.

        The same as ``Manager.from_queryset(cls)()`` (Django's spelling); the manager's
        class is made once per QuerySet class.

        Example:
            ```python
            class Article(Model):
                ...
                objects = ArticleQuerySet.as_manager()  # Manager[Article, ArticleQuerySet]

            await Article.objects.published()  # the QuerySet's method, on the manager
            Article.objects.filter(views__gte=10).published()  # and after chaining
            ```
        """
        return cls._manager_class.from_queryset(cls)()

    # --- chaining -------------------------------------------------------------------

    @overload
    def all(self: _ManagerOf[QuerySetT]) -> QuerySetT: ...
    @overload
    def all(self) -> Self: ...
    def all(self) -> QuerySet[ModelT, RowT]:
        """Return a copy of this QuerySet."""
        return self._base()._clone()

    def _add_where(self, negate: bool, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        qs = self._base()
        return qs._with(chaining.add_where(qs._state, negate, args, kwargs))

    @overload
    def filter(
        self: _ManagerOf[QuerySetT], *args: Q | ColumnElement[bool], **lookups: Any
    ) -> QuerySetT: ...
    @overload
    def filter(self, *args: Q | ColumnElement[bool], **lookups: Any) -> Self: ...
    def filter(self, *args: Q | ColumnElement[bool], **lookups: Any) -> QuerySet[ModelT, RowT]:
        """Keep the rows matching every lookup, ``Q`` and SQLAlchemy clause given.

        Raises:
            InvalidLookupError: A field or lookup name is unknown.
        """
        result: QuerySet[ModelT, RowT] = self._add_where(False, args, lookups)
        return result

    @overload
    def exclude(
        self: _ManagerOf[QuerySetT], *args: Q | ColumnElement[bool], **lookups: Any
    ) -> QuerySetT: ...
    @overload
    def exclude(self, *args: Q | ColumnElement[bool], **lookups: Any) -> Self: ...
    def exclude(self, *args: Q | ColumnElement[bool], **lookups: Any) -> QuerySet[ModelT, RowT]:
        """Drop the rows matching all the lookups given (NULL columns are kept, as in Django)."""
        result: QuerySet[ModelT, RowT] = self._add_where(True, args, lookups)
        return result

    def _refuse_sliced(self, what: str, fix: str) -> None:
        chaining.refuse_sliced(self._state, what, fix)

    @overload
    def order_by(self: _ManagerOf[QuerySetT], *fields: str | Any) -> QuerySetT: ...
    @overload
    def order_by(self, *fields: str | Any) -> Self: ...
    def order_by(self, *fields: str | Any) -> QuerySet[ModelT, RowT]:
        """Order by fields (``"-name"`` descending) or expressions; replaces earlier ordering.

        Raises:
            ValidationError: The QuerySet is sliced (order before slicing).
        """
        qs = self._base()
        result: QuerySet[ModelT, RowT] = qs._with(chaining.order_by(qs._state, fields))
        return result

    @overload
    def distinct(self: _ManagerOf[QuerySetT]) -> QuerySetT: ...
    @overload
    def distinct(self) -> Self: ...
    def distinct(self) -> QuerySet[ModelT, RowT]:
        """Return distinct rows (``SELECT DISTINCT``).

        Raises:
            ValidationError: The QuerySet is sliced (call distinct() before slicing).
        """
        qs = self._base()
        qs._refuse_sliced("make a query distinct", "Call distinct() before slicing.")
        return qs._clone(distinct=True)

    def _check_fields(self, names: Iterable[str]) -> tuple[str, ...]:
        return chaining.checked_fields(self.model, names)

    @overload
    def only(self: _ManagerOf[QuerySetT], *fields: str) -> QuerySetT: ...
    @overload
    def only(self, *fields: str) -> Self: ...
    def only(self, *fields: str) -> QuerySet[ModelT, RowT]:
        """Load only these columns (and the primary key); others are left unloaded."""
        return self._base()._clone(only=self._check_fields(fields), defer=())

    @overload
    def defer(self: _ManagerOf[QuerySetT], *fields: str) -> QuerySetT: ...
    @overload
    def defer(self, *fields: str) -> Self: ...
    def defer(self, *fields: str) -> QuerySet[ModelT, RowT]:
        """Do not load these columns."""
        qs = self._base()
        return qs._clone(defer=(*qs._state.defer, *self._check_fields(fields)))

    @overload
    def annotate(self: _ManagerOf[QuerySetT], **expressions: Any) -> QuerySetT: ...
    @overload
    def annotate(self, **expressions: Any) -> Self: ...
    def annotate(self, **expressions: Any) -> QuerySet[ModelT, RowT]:
        """Add computed values (``F`` arithmetic, SQLAlchemy expressions) as attributes."""
        qs = self._base()
        result: QuerySet[ModelT, RowT] = qs._with(chaining.annotate(qs._state, expressions))
        return result

    def _shape(self, shape: str, fields: tuple[str, ...]) -> QuerySet[ModelT, Any]:
        qs = self._base()
        result: QuerySet[ModelT, Any] = qs._with(chaining.shaped(qs._state, shape, fields))
        return result

    def values(self, *fields: str) -> QuerySet[ModelT, dict[str, Any]]:
        """Return dicts of the named fields (all columns by default) instead of instances."""
        return self._shape("values", fields)

    @overload
    def values_list(
        self, *fields: str, flat: Literal[True], named: Literal[False] = ...
    ) -> QuerySet[ModelT, Any]: ...
    @overload
    def values_list(
        self, *fields: str, flat: Literal[False] = ..., named: Literal[True]
    ) -> QuerySet[ModelT, Row[Any]]: ...
    @overload
    def values_list(
        self, *fields: str, flat: Literal[False] = ..., named: Literal[False] = ...
    ) -> QuerySet[ModelT, tuple[Any, ...]]: ...
    def values_list(self, *fields: str, flat: bool = False, named: bool = False) -> Any:
        """Return tuples of the named fields; ``flat=True`` single values, ``named=True`` rows.

        Raises:
            ValidationError: ``flat`` with more than one field, or ``flat`` and ``named``.
        """
        if flat and named:
            raise ValidationError("values_list() takes flat=True or named=True, not both.")
        if flat and len(fields) != 1:
            raise ValidationError("values_list(flat=True) needs exactly one field.")
        return self._shape("flat" if flat else "named" if named else "values_list", fields)

    @overload
    def using(self: _ManagerOf[QuerySetT], target: AsyncSession | Any) -> QuerySetT: ...
    @overload
    def using(self, target: AsyncSession | Any) -> Self: ...
    def using(self, target: AsyncSession | Any) -> QuerySet[ModelT, RowT]:
        """Run on an ``AsyncSession``, a ``Database`` or a database name.

        With a session, writes are flushed but commit / rollback stay with the caller.
        """
        base = self._base()
        # Where a query runs is not part of its statement: the cached one still serves.
        return base._clone(using=target, exact=base._state.exact)

    @overload
    def select_for_update(
        self: _ManagerOf[QuerySetT],
        *,
        nowait: bool = ...,
        skip_locked: bool = ...,
        of: Sequence[str] = ...,
    ) -> QuerySetT: ...
    @overload
    def select_for_update(
        self, *, nowait: bool = ..., skip_locked: bool = ..., of: Sequence[str] = ...
    ) -> Self: ...
    def select_for_update(
        self, *, nowait: bool = False, skip_locked: bool = False, of: Sequence[str] = ()
    ) -> QuerySet[ModelT, RowT]:
        """Lock the selected rows until the transaction ends (``SELECT ... FOR UPDATE``).

        Needs a session or transaction. On SQLite, which locks the whole database for
        writes, it has no effect.
        """
        self._check_fields(of)
        return self._base()._clone(for_update=ForUpdate(nowait, skip_locked, tuple(of)))

    @overload
    def select_related(self: _ManagerOf[QuerySetT], *paths: str) -> QuerySetT: ...
    @overload
    def select_related(self, *paths: str) -> Self: ...
    def select_related(self, *paths: str) -> QuerySet[ModelT, RowT]:
        """Load these to-one relationships in the same query (a JOIN); nest with ``__``.

        Raises:
            InvalidLookupError: A name is not a relationship, or a path is to-many.
        """
        qs = self._base()
        added = check_paths(self.model, paths, to_one_only=True)
        return qs._clone(select_related=(*qs._state.select_related, *added))

    @overload
    def prefetch_related(self: _ManagerOf[QuerySetT], *paths: str) -> QuerySetT: ...
    @overload
    def prefetch_related(self, *paths: str) -> Self: ...
    def prefetch_related(self, *paths: str) -> QuerySet[ModelT, RowT]:
        """Load these relationships with one extra query per level (``"comments__author"``).

        Raises:
            InvalidLookupError: A name is not a relationship.
        """
        qs = self._base()
        added = check_paths(self.model, paths, to_one_only=False)
        return qs._clone(prefetch_related=(*qs._state.prefetch_related, *added))

    @overload
    def with_deleted(self: _ManagerOf[QuerySetT]) -> QuerySetT: ...
    @overload
    def with_deleted(self) -> Self: ...
    def with_deleted(self) -> QuerySet[ModelT, RowT]:
        """Include soft-deleted rows (``SoftDeleteMixin`` models)."""
        return self._base()._clone(deleted="include")

    @overload
    def only_deleted(self: _ManagerOf[QuerySetT]) -> QuerySetT: ...
    @overload
    def only_deleted(self) -> Self: ...
    def only_deleted(self) -> QuerySet[ModelT, RowT]:
        """Only soft-deleted rows (``SoftDeleteMixin`` models)."""
        return self._base()._clone(deleted="only")

    @overload
    def none(self: _ManagerOf[QuerySetT]) -> QuerySetT: ...
    @overload
    def none(self) -> Self: ...
    def none(self) -> QuerySet[ModelT, RowT]:
        """Return a QuerySet that matches nothing and never queries."""
        return self._base()._clone(empty=True)

    @overload
    def __getitem__(self, key: int) -> Awaitable[RowT]: ...
    @overload
    def __getitem__(self: _ManagerOf[QuerySetT], key: slice) -> QuerySetT: ...
    @overload
    def __getitem__(self, key: slice) -> Self: ...
    def __getitem__(self, key: int | slice) -> QuerySet[ModelT, RowT] | Awaitable[RowT]:
        """``qs[10:20]`` sets LIMIT / OFFSET; ``await qs[3]`` fetches one row.

        Raises:
            ValueError: A negative index or bound, or a slice step.
        """
        qs = self._base()
        if isinstance(key, int):
            start, stop = chaining.index_window(key)
            return qs._with(chaining.sliced(qs._state, start, stop))._one_at(key)
        start, stop_or_none = chaining.slice_window(key)
        result: QuerySet[ModelT, RowT] = qs._with(chaining.sliced(qs._state, start, stop_or_none))
        return result

    async def _one_at(self, index: int) -> RowT:
        rows = await self
        if not rows:
            raise IndexError(f"{self.model.__name__} QuerySet index {index} out of range.")
        return rows[0]

    # --- reading ----------------------------------------------------------------------

    def __await__(self) -> Generator[Any, None, list[RowT]]:
        return results.fetch_all(self._base()._state).__await__()

    def _target(self) -> Target:
        return results.target_for(self._state)

    def __aiter__(self) -> AsyncIterator[RowT]:
        return self.iterator()

    async def iterator(self, chunk_size: int = 1000) -> AsyncIterator[RowT]:
        """Stream the results in chunks of ``chunk_size`` rows.

        Uses a server-side cursor where the driver has one (asyncpg); outside a session
        the rows are read inside a short read-only transaction on one connection.
        """
        async for item in results.iterate(self._base()._state, chunk_size):
            yield item

    def _no_match(self, kind: type[Exception], what: str) -> Exception:
        names = ", ".join(self._state.filter_names) or "no filters"
        return kind(f"{self.model.__name__} {what} (filters: {names}).")

    def _pk_ordered(self, descending: bool) -> Self:
        result: Self = self._with(chaining.pk_ordered(self._state, descending))
        return result

    def sql(self) -> str:
        """Return the SQL of this QuerySet (parameters shown as placeholders)."""
        qs = self._base()
        try:
            target = resolve_target(qs._state.using)
            dialect = (
                target.session.get_bind().dialect
                if target.session is not None
                else target.database.engine.dialect  # type: ignore[union-attr]
            )
        except Exception:
            dialect = None
        return str(results.statement_of(qs._state).compile(dialect=dialect))

    def _as_subquery(self) -> Any:
        state = self._state
        if state.shape == "models":
            return compiler.compile_values(
                dataclasses.replace(state, fields=(get_model_info(self.model).pk_key,))
            )
        if len(state.fields) != 1:
            raise InvalidLookupError(
                "A QuerySet used as an `in` value must select exactly one field; "
                "use values_list('field', flat=True)."
            )
        return compiler.compile_values(state)

    @overload
    def clone_with(self: _ManagerOf[QuerySetT], **changes: Any) -> QuerySetT: ...
    @overload
    def clone_with(self, **changes: Any) -> Self: ...
    def clone_with(self, **changes: Any) -> QuerySet[ModelT, RowT]:
        """Return a copy with ``QueryState`` fields replaced.

        For extensions that need a state change no chaining method offers. On a manager
        the copy starts from ``get_queryset()`` and is of its QuerySet class.

        Example:
            ```python
            qs = User.objects.clone_with(limit=5)  # the same as User.objects.all()[:5]
            ```

        Raises:
            ValidationError: A name is not a ``QueryState`` field.
        """
        fields = {f.name for f in dataclasses.fields(QueryState)}
        unknown = sorted(set(changes) - fields)
        if unknown:
            raise ValidationError(
                f"clone_with() on a {self.model.__name__} QuerySet got unknown QueryState "
                f"field(s) {', '.join(map(repr, unknown))}. Valid fields: "
                f"{', '.join(sorted(fields))}."
            )
        # The base QuerySet, not type(self): a Manager is not built from (model, state).
        result: QuerySet[ModelT, RowT] = self._base()._clone(**changes)
        return result
