"""``QuerySet``: a lazy, immutable query over one model; awaiting it runs it.

Chaining methods return a new QuerySet with a new :class:`~orm_kit.query.state.QueryState`;
terminal methods are coroutines. The compiler builds the statement and the executor picks
the session or the direct path.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Generator, Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, Protocol, Self, cast, overload

from sqlalchemy import not_, select
from sqlalchemy.engine import Result
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement
from typing_extensions import TypeVar

from orm_kit import rules
from orm_kit.exceptions import (
    InvalidLookupError,
    NotFoundError,
    ValidationError,
)
from orm_kit.query import bulk, compiler, get_or_create, prepared, writes
from orm_kit.query.clauses import resolve_grouped, resolve_lookup
from orm_kit.query.executor import Target, resolve_target, run, stream
from orm_kit.query.expressions import (
    Aggregate,
    OrderBy,
    Q,
    true_only,
)
from orm_kit.query.lookups import (
    expression_lookup,
    field_column,
)
from orm_kit.query.meta import get_model_info
from orm_kit.query.pagination import Page, keyset_page, offset_page
from orm_kit.query.relations import (
    apply_joins,
    check_paths,
    correlated_aggregate,
    joined_column_for,
    path_column,
)
from orm_kit.query.resolvable import Resolvable, to_expression
from orm_kit.query.state import ForUpdate, QueryState
from orm_kit.query.values import is_sql

if TYPE_CHECKING:
    from sqlalchemy.engine import Row

    from orm_kit.query.manager import Manager

__all__ = ["ModelT", "QuerySet", "QuerySetT", "RowT"]

ModelT = TypeVar("ModelT")
RowT = TypeVar("RowT", default=ModelT)
# What a chaining method returns when it is called on a manager: its get_queryset() type.
QuerySetT = TypeVar("QuerySetT", bound="QuerySet[Any, Any]")
_QuerySetT_co = TypeVar("_QuerySetT_co", bound="QuerySet[Any, Any]", covariant=True)

_UNSET: Any = object()
_MAX_BOUND = (1 << 63) - 2  # LIMIT / OFFSET are 64-bit on every backend


def _check_alias(name: str, what: str) -> None:
    # Names become SQL labels and result keys: identifiers only (Django refuses quotes,
    # semicolons, whitespace and comments in aliases for the same reason), and without the
    # lookup separator, which filter() would read as a path.
    if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
        shown = repr(name)[:60]
        raise ValidationError(
            f"The {what} name {shown} is not allowed: use a Python identifier that does not "
            "start with an underscore."
        )
    if "__" in name:
        raise ValidationError(
            f"The {what} name {name!r} contains '__', the lookup separator; choose a name "
            "without it."
        )


def _scalar_one(result: Result[Any]) -> Any:
    return result.scalar_one()


class _ManagerOf(Protocol[_QuerySetT_co]):
    """A manager: its operations start from ``get_queryset()``, so its chaining methods
    return that QuerySet type rather than the manager's own (see the overloads below)."""

    def get_queryset(self) -> _QuerySetT_co: ...


class QuerySet(Generic[ModelT, RowT]):
    """A lazy query over ``model``; ``await qs`` returns a list, ``async for`` streams.

    Chaining methods return ``Self``, so the methods of a ``QuerySet`` subclass survive
    them; called on a :class:`~orm_kit.query.manager.Manager` they return the type of its
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
        changes.setdefault("exact", None)  # any chaining leaves the cached-statement path
        return type(self)(self.model, dataclasses.replace(self._state, **changes))

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
        if qs._state.is_sliced:
            raise ValidationError(
                f"Cannot filter a sliced {self.model.__name__} QuerySet; filter before slicing."
            )
        state = qs._state
        if state.annotations:
            kwargs, annotated = self._annotation_filters(state, kwargs, negate)
            if annotated:
                target = "having" if state.group_by else "where"
                qs = qs._clone(**{target: (*getattr(state, target), *annotated)})
                state = qs._state
                if not args and not kwargs:
                    return qs
        if not args and not negate:
            # The common case, keyword lookups ANDed together: no Q tree needed.
            if get_model_info(self.model).relationship_keys:
                resolved = resolve_grouped(self.model, list(kwargs.items()))
            else:
                resolved = [resolve_lookup(self.model, k, v) for k, v in kwargs.items()]
            exact = (
                prepared.exact_pairs(self.model, list(kwargs), resolved)
                if kwargs and prepared.is_plain_base(state)
                else None
            )
            return qs._clone(
                where=(*state.where, *(r.clause for r in resolved)),
                filter_names=(*state.filter_names, *kwargs),
                exact=exact,
            )
        q = Q(*args, **kwargs)
        annotations = dict(state.annotations)
        used: list[str] = []

        def on_annotation(key: str, value: Any) -> ColumnElement[bool] | None:
            head, *parts = key.split("__")
            if head not in annotations:
                return None
            used.append(head)
            return expression_lookup(
                self.model, f"annotation {head!r}", annotations[head], parts, value, key
            ).clause

        resolver = on_annotation if annotations else None
        clause = (~q if negate else q).resolve(self.model, key_resolver=resolver)
        names = (*state.filter_names, *q.lookup_names())
        if used and state.group_by:
            return qs._clone(having=(*state.having, clause), filter_names=names)
        return qs._clone(where=(*state.where, clause), filter_names=names)

    def _annotation_filters(
        self, state: QueryState, kwargs: dict[str, Any], negate: bool
    ) -> tuple[dict[str, Any], list[ColumnElement[bool]]]:
        """Split off lookups on annotations (``n_posts__gte=3``) and resolve them."""
        annotations = dict(state.annotations)
        rest: dict[str, Any] = {}
        clauses: list[ColumnElement[bool]] = []
        for key, value in kwargs.items():
            head, *parts = key.split("__")
            if head not in annotations:
                rest[key] = value
                continue
            clause = expression_lookup(
                self.model, f"annotation {head!r}", annotations[head], parts, value, key
            ).clause
            # An annotation can be NULL; exclude() keeps those rows (the complement).
            clauses.append(not_(true_only(clause)) if negate else clause)
        return rest, clauses

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

    def _order_term(
        self, term: Any, joins: tuple[Any, ...]
    ) -> tuple[tuple[ColumnElement[Any], bool, str | None], tuple[Any, ...]]:
        if isinstance(term, str):
            descending = term.startswith("-")
            name = term.lstrip("-")
            for ann, expr in self._state.annotations:
                if ann == name:
                    return (expr, descending, name), joins
            if "__" in name:
                column, joins = path_column(self.model, joins, name)
                return (column, descending, name), joins
            return (field_column(self.model, name), descending, name), joins
        return self._order_expression(term), joins

    def _order_expression(self, term: Any) -> tuple[ColumnElement[Any], bool, str | None]:
        if isinstance(term, OrderBy):
            return term.expr.resolve(self.model), term.descending, None
        if isinstance(term, Resolvable):
            return term.resolve(self.model), False, None
        if isinstance(term, ColumnElement) or hasattr(term, "__clause_element__"):
            return term, False, None
        raise ValidationError(f"order_by() takes field names or expressions, not {term!r}.")

    def _refuse_sliced(self, what: str, fix: str) -> None:
        """Raise when this QuerySet is sliced: ``what`` would change which rows the window
        holds (Django raises TypeError for the same calls)."""
        if self._state.is_sliced:
            raise ValidationError(
                f"Cannot {what} once a slice has been taken (a sliced "
                f"{self.model.__name__} QuerySet). {fix}"
            )

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
        qs._refuse_sliced("reorder a query", "Call order_by() before slicing.")
        joins = qs._state.joins
        terms = []
        for field in fields:
            term, joins = qs._order_term(field, joins)
            terms.append(term)
        return qs._clone(order_by=tuple(terms), joins=joins)

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
        pk_key = get_model_info(self.model).pk_key
        checked = []
        for name in names:
            field_column(self.model, name)
            checked.append(pk_key if name == "pk" else name)
        return tuple(checked)

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
        state = qs._state
        info = get_model_info(self.model)
        grouped = state.shape != "models" and bool(state.fields)
        joins = state.joins
        added = []
        for name, value in expressions.items():
            _check_alias(name, "annotation")
            # Per row the name becomes an instance attribute, so it must not shadow one;
            # a grouped values() annotation only needs a name no field has.
            if name in info.attribute_keys or (not grouped and hasattr(self.model, name)):
                raise ValidationError(
                    f"The annotation {name!r} conflicts with a field or attribute of "
                    f"{self.model.__name__}; choose another name."
                )
            if not isinstance(value, Resolvable) and not is_sql(value):
                raise ValidationError(
                    f"annotate({name}=...) takes an F() expression, an aggregate or a "
                    f"SQLAlchemy expression, not {type(value).__name__}; wrap a constant "
                    "in sqlalchemy.literal()."
                )
            if isinstance(value, Aggregate) and grouped:
                # values("a").annotate(n=Count(...)): one row per distinct "a" (GROUP BY).
                column_for, box = joined_column_for(self.model, joins)
                added.append((name, value.resolve(self.model, column_for)))
                joins = box[0]
            elif isinstance(value, Aggregate):
                # Per instance: a correlated subquery over the related rows.
                added.append((name, correlated_aggregate(self.model, value)))
            else:
                added.append((name, to_expression(value, self.model)))
        changes: dict[str, Any] = {"annotations": (*state.annotations, *added), "joins": joins}
        if grouped:
            annotated = {n for n, _ in state.annotations}
            changes["group_by"] = state.group_by or tuple(
                f for f in state.fields if f not in annotated
            )
            changes["fields"] = (*state.fields, *(name for name, _ in added))
        return qs._clone(**changes)

    def _shape(self, shape: str, fields: tuple[str, ...]) -> QuerySet[ModelT, Any]:
        qs = self._base()
        info = get_model_info(self.model)
        joins = qs._state.joins
        for name in fields:
            if not isinstance(name, str):
                raise InvalidLookupError(
                    f"Field names of {self.model.__name__} are strings, not {type(name).__name__}."
                )
            if "__" in name and name.split("__", 1)[0] in info.relationship_keys:
                _, joins = path_column(self.model, joins, name)
            else:
                compiler.value_column(qs._state, info, name)
        return qs._clone(shape=shape, fields=fields, joins=joins)

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
        return self._base()._clone(using=target)

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
            if key > _MAX_BOUND:
                raise ValueError(f"A QuerySet index must be at most {_MAX_BOUND}.")
            if key < 0:
                raise ValueError("Negative indexing is not supported; use order_by('-field').")
            return qs._slice(key, key + 1)._one_at(key)
        if not isinstance(key, slice):
            raise TypeError(
                f"QuerySet indices must be integers or slices, not {type(key).__name__}."
            )
        if key.step is not None:
            raise ValueError("Slices with a step are not supported.")
        if (key.start is not None and key.start < 0) or (key.stop is not None and key.stop < 0):
            raise ValueError("Negative slice bounds are not supported; use order_by('-field').")
        for bound in (key.start, key.stop):
            if bound is not None and not isinstance(bound, int):
                raise TypeError(
                    f"QuerySet slice bounds must be integers, not {type(bound).__name__}."
                )
            if bound is not None and bound > _MAX_BOUND:
                raise ValueError(f"A QuerySet slice bound must be at most {_MAX_BOUND}.")
        return qs._slice(key.start or 0, key.stop)

    def _slice(self, start: int, stop: int | None) -> Self:
        state = self._state
        base = state.offset or 0
        new_start = base + start
        new_stop = None if stop is None else base + stop
        if state.limit is not None:
            cap = base + state.limit
            new_stop = cap if new_stop is None else min(new_stop, cap)
        limit = None if new_stop is None else max(new_stop - new_start, 0)
        return self._clone(offset=new_start or None, limit=limit)

    async def _one_at(self, index: int) -> RowT:
        rows = await self
        if not rows:
            raise IndexError(f"{self.model.__name__} QuerySet index {index} out of range.")
        return rows[0]

    # --- reading ----------------------------------------------------------------------

    def __await__(self) -> Generator[Any, None, list[RowT]]:
        return self._base()._fetch_all().__await__()

    def _target(self) -> Target:
        target = resolve_target(self._state.using)
        if self._state.for_update is not None and target.session is None:
            raise ValidationError(
                "select_for_update() needs a transaction; run it inside "
                "`async with transaction():` or `db.session()`."
            )
        return target

    def _consumer(self, target: Target) -> tuple[Any, Any]:
        """Return the statement and the function that turns its result into RowT values."""
        state = self._state
        if state.shape != "models":
            stmt = compiler.compile_values(state)
            shape = state.shape
            if shape == "values":

                def consume(result: Result[Any]) -> list[Any]:
                    keys = tuple(result.keys())
                    return [dict(zip(keys, row, strict=True)) for row in result]
            elif shape == "flat":

                def consume(result: Result[Any]) -> list[Any]:
                    return list(result.scalars())
            elif shape == "named":

                def consume(result: Result[Any]) -> list[Any]:
                    return list(result)
            else:

                def consume(result: Result[Any]) -> list[Any]:
                    return [tuple(row) for row in result]

            return stmt, consume
        annotations = tuple(name for name, _ in state.annotations)
        if target.session is None:
            stmt, keys = compiler.compile_rows(state)
            info = get_model_info(self.model)
            if not annotations:

                def consume(result: Result[Any]) -> list[Any]:
                    return info.build_all(keys, result)
            else:
                width = len(keys)

                def consume(result: Result[Any]) -> list[Any]:
                    out = []
                    for row in result:
                        obj = info.build(keys, row)
                        for i, name in enumerate(annotations):
                            setattr(obj, name, row[width + i])
                        out.append(obj)
                    return out

            return stmt, consume
        stmt = compiler.compile_select_models(state)
        if not annotations:

            def consume(result: Result[Any]) -> list[Any]:
                return list(result.scalars())
        else:

            def consume(result: Result[Any]) -> list[Any]:
                out = []
                for row in result:
                    obj = row[0]
                    for i, name in enumerate(annotations):
                        setattr(obj, name, row[i + 1])
                    out.append(obj)
                return out

        return stmt, consume

    async def _fetch_all(self) -> list[RowT]:
        if self._state.empty:
            return []
        target = self._target()
        state = self._state
        if (
            target.session is None
            and state.shape == "models"
            and (
                state.select_related
                or state.prefetch_related
                or get_model_info(self.model).eager_relationships
            )
        ):
            # Related objects are built by the ORM's loaders, which need a session: a
            # short autocommit read session; the instances come back detached and loaded.
            assert target.database is not None
            async with target.database.read_session() as session:
                return await self._run_fetch(Target(session, target.database))
        return await self._run_fetch(target)

    async def _run_fetch(self, target: Target) -> list[RowT]:
        params = prepared.exact_params(self._state) if target.session is None else None
        if params is not None:
            info = get_model_info(self.model)
            stmt, keys = prepared.exact_statement(self._state, "rows", compiler.compile_rows)
            found: list[RowT] = await run(
                target,
                stmt,
                lambda result: info.build_all(keys, result),
                params,
                model=self.model,
                operation="select",
                filters=self._filters(),
            )
            return found
        stmt, consume = self._consumer(target)
        rows: list[RowT] = await run(
            target, stmt, consume, model=self.model, operation="select", filters=self._filters()
        )
        return rows

    def __aiter__(self) -> AsyncIterator[RowT]:
        return self.iterator()

    async def iterator(self, chunk_size: int = 1000) -> AsyncIterator[RowT]:
        """Stream the results in chunks of ``chunk_size`` rows.

        Uses a server-side cursor where the driver has one (asyncpg); outside a session
        the rows are read inside a short read-only transaction on one connection.
        """
        qs = self._base()
        if qs._state.empty:
            return
        if (
            qs._state.select_related
            or qs._state.prefetch_related
            or get_model_info(self.model).eager_relationships
        ):
            # Eager loaders need the whole result; stream from the loaded list.
            for item in await qs:
                yield item
            return
        target = qs._target()
        stmt, consume = qs._consumer(target)
        async for partition, result in stream(target, stmt, chunk_size, model=self.model):
            for item in consume(_Rows(partition, result)):
                yield item

    def _no_match(self, kind: type[Exception], what: str) -> Exception:
        names = ", ".join(self._state.filter_names) or "no filters"
        return kind(f"{self.model.__name__} {what} (filters: {names}).")

    async def get(self, *args: Q | ColumnElement[bool], **lookups: Any) -> RowT:
        """Return the one row matching the lookups.

        Raises:
            NotFoundError: No row matches (``Model.DoesNotExist``).
            MultipleObjectsReturned: Several rows match (``Model.MultipleObjectsReturned``).
        """
        qs = self._base()
        if args or lookups:
            qs = qs.filter(*args, **lookups)
        if qs._state.limit is None:
            # Two rows are enough to tell "one" from "several".
            qs = type(qs)(self.model, dataclasses.replace(qs._state, limit=2))
        rows = await qs._fetch_all()
        if not rows:
            raise qs._no_match(
                getattr(self.model, "DoesNotExist", NotFoundError), "matching query does not exist"
            )
        if len(rows) > 1:
            from orm_kit.exceptions import MultipleObjectsReturned

            raise qs._no_match(
                getattr(self.model, "MultipleObjectsReturned", MultipleObjectsReturned),
                "get() returned more than one row",
            )
        return rows[0]

    def _pk_ordered(self, descending: bool) -> Self:
        info = get_model_info(self.model)
        terms = tuple((info.columns[k], descending, k) for k in info.pk_keys)
        return self._clone(order_by=terms)

    async def first(self) -> RowT | None:
        """Return the first row (by primary key when unordered), or ``None``.

        On an ordered slice this is the first row of the slice.

        Raises:
            ValidationError: The QuerySet is sliced but unordered (ordering it by primary
                key would change which rows the slice holds).
        """
        qs = self._base()
        if not qs._state.order_by:
            qs._refuse_sliced(
                "order a query by primary key for first()",
                "The slice is unordered: call order_by() before slicing.",
            )
            qs = qs._pk_ordered(False)
        rows = await qs[:1]
        return rows[0] if rows else None

    async def last(self) -> RowT | None:
        """Return the last row (by primary key when unordered), or ``None``.

        Raises:
            ValidationError: The QuerySet is sliced (reversing it would take the last
                row of the whole query, not of the slice).
        """
        qs = self._base()
        qs._refuse_sliced(
            "reverse a query",
            "Call last() before slicing, or slice the reversed order and use first().",
        )
        if qs._state.order_by:
            qs = qs._clone(order_by=tuple((e, not d, n) for e, d, n in qs._state.order_by))
        else:
            qs = qs._pk_ordered(True)
        rows = await qs[:1]
        return rows[0] if rows else None

    async def latest(self, *fields: str) -> RowT:
        """Return the row with the greatest ``fields`` values.

        Raises:
            NotFoundError: The QuerySet is empty (``Model.DoesNotExist``).
            ValidationError: No field given, or the QuerySet is sliced.
        """
        if not fields:
            raise ValidationError(
                "latest() needs at least one field name, e.g. latest('created_at')."
            )
        self._base()._refuse_sliced("reorder a query for latest()", "Call latest() before slicing.")
        flipped = [f[1:] if f.startswith("-") else f"-{f}" for f in fields]
        return await self._base().order_by(*flipped).get_first_or_raise()

    async def earliest(self, *fields: str) -> RowT:
        """Return the row with the smallest ``fields`` values.

        Raises:
            NotFoundError: The QuerySet is empty (``Model.DoesNotExist``).
            ValidationError: No field given, or the QuerySet is sliced.
        """
        if not fields:
            raise ValidationError("earliest() needs at least one field name.")
        self._base()._refuse_sliced(
            "reorder a query for earliest()", "Call earliest() before slicing."
        )
        return await self._base().order_by(*fields).get_first_or_raise()

    async def get_first_or_raise(self) -> RowT:
        """Return the first row in the current order, or raise ``Model.DoesNotExist``."""
        rows = await self._base()[:1]
        if not rows:
            raise self._no_match(
                getattr(self.model, "DoesNotExist", NotFoundError), "matching query does not exist"
            )
        return rows[0]

    async def count(self) -> int:
        """Return the number of matching rows (``SELECT count(*)``)."""
        qs = self._base()
        if qs._state.empty or qs._state.limit == 0:  # none(), or an empty window: qs[5:5]
            return 0
        params = prepared.exact_params(qs._state)
        stmt = (
            compiler.compile_count(qs._state)
            if params is None
            else prepared.exact_statement(qs._state, "count", compiler.compile_count)
        )
        n: int = await run(
            qs._target(),
            stmt,
            _scalar_one,
            params,
            model=self.model,
            operation="count",
            filters=qs._filters(),
        )
        return n

    async def exists(self) -> bool:
        """Return whether any row matches (``SELECT 1 ... LIMIT 1``).

        On a sliced QuerySet: whether the window holds a row, so
        ``qs.order_by("id")[2:4].exists()`` needs a third row and ``qs[5:5]`` is ``False``.
        """
        qs = self._base()
        if qs._state.empty or qs._state.limit == 0:  # none(), or an empty window: qs[5:5]
            return False
        stmt = compiler.compile_exists(qs._state)
        found: bool = await run(
            qs._target(),
            stmt,
            lambda r: r.first() is not None,
            model=self.model,
            operation="exists",
            filters=qs._filters(),
        )
        return found

    async def aggregate(self, *args: Aggregate, **kwargs: Aggregate) -> dict[str, Any]:
        """Return a dict of aggregate values over the matching rows.

        Example:
            ```python
            await Post.objects.filter(published=True).aggregate(n=Count("id"), avg=Avg("views"))
            ```
        """
        if not args and not kwargs:
            return {}  # nothing to compute, no query (as in Django)
        qs = self._base()
        for agg in (*args, *kwargs.values()):
            if not isinstance(agg, Aggregate):
                raise ValidationError(
                    f"aggregate() takes Count, Sum, Avg, Min or Max, not {type(agg).__name__}."
                )
        named = {a.default_alias: a for a in args} | kwargs
        for name in kwargs:
            _check_alias(name, "aggregate")
        if qs._state.is_sliced or qs._state.distinct:
            raise ValidationError(
                "aggregate() over a sliced or distinct QuerySet is not supported."
            )
        table = get_model_info(self.model).table
        column_for, box = joined_column_for(self.model, ())
        columns = [a.resolve(self.model, column_for).label(n) for n, a in named.items()]
        stmt = apply_joins(select(*columns).select_from(table), box[0])
        stmt = compiler._where(stmt, qs._state)
        row: dict[str, Any] = await run(
            qs._target(),
            stmt,
            lambda r: dict(r.mappings().one()),
            model=self.model,
            operation="aggregate",
            filters=qs._filters(),
        )
        return row

    async def in_bulk(
        self, id_list: Iterable[Any] | None = None, *, field_name: str = "pk"
    ) -> dict[Any, RowT]:
        """Return ``{value: row}`` for the rows whose ``field_name`` is in ``id_list``."""
        qs = self._base()
        if id_list is not None:
            ids = list(id_list)
            if not ids:
                return {}
            qs = qs.filter(**{f"{field_name}__in": ids})
        key = get_model_info(self.model).pk_key if field_name == "pk" else field_name
        rows = await qs
        return {getattr(r, key) if not isinstance(r, dict) else r[key]: r for r in rows}

    async def paginate(
        self, *, page: int | None = None, size: int = 20, after: str | None = _UNSET
    ) -> Page[RowT]:
        """Return one page: offset pagination with ``page=``, keyset with ``after=``.

        ``paginate(page=2, size=20)`` gives a :class:`Page` with ``items``, ``total``,
        ``page`` and ``size``. ``paginate(after=None, size=20)`` starts keyset pagination;
        pass the returned ``next_cursor`` as ``after`` for the next page (``None`` on the
        last page). Keyset order follows ``order_by`` (default: primary key).
        """
        qs = self._base()
        if size < 1:
            raise ValidationError("paginate() size must be at least 1.")
        if after is not _UNSET:
            if page is not None:
                raise ValidationError("paginate() takes page= or after=, not both.")
            return await keyset_page(qs, after, size)
        return await offset_page(qs, page or 1, size)

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
        stmt, _ = qs._consumer(Target(None, None))
        return str(stmt.compile(dialect=dialect))

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

    # --- writing ----------------------------------------------------------------------

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

    @overload
    def clone_with(self: _ManagerOf[QuerySetT], **changes: Any) -> QuerySetT: ...
    @overload
    def clone_with(self, **changes: Any) -> Self: ...
    def clone_with(self, **changes: Any) -> QuerySet[ModelT, RowT]:
        """Return a copy with :class:`~orm_kit.query.state.QueryState` fields replaced.

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


class _Rows:
    """A partition of rows that still answers ``keys()`` / ``scalars()`` like a Result."""

    def __init__(self, rows: Sequence[Any], result: Any) -> None:
        self._rows, self._result = rows, result

    def __iter__(self) -> Any:
        return iter(self._rows)

    def keys(self) -> Any:
        return self._result.keys()

    def scalars(self) -> Any:
        return (row[0] for row in self._rows)
