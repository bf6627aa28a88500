"""The read terminals of a QuerySet: ``get``, ``first`` / ``last``, ``latest`` /
``earliest``, ``count``, ``exists``, ``aggregate``, ``in_bulk`` and ``paginate``.

A base class of ``QuerySet``: each method starts from the
QuerySet's ``_base()`` (a manager's ``get_queryset()``), narrows it with the QuerySet's
own chaining methods, and runs the state through the results, the compiler and the
executor.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Generic

from sqlalchemy.engine import Result

from orm_kit.exceptions import MultipleObjectsReturned, NotFoundError, ValidationError
from orm_kit.query import chaining, compiler, prepared, results
from orm_kit.query.executor import run
from orm_kit.query.expressions import Aggregate, Q
from orm_kit.query.meta import get_model_info
from orm_kit.query.pagination import Page, keyset_page, offset_page
from orm_kit.query.state import replaced
from orm_kit.query.writing import ModelT, RowT

if TYPE_CHECKING:
    from sqlalchemy.sql.elements import ColumnElement

    from orm_kit.query.queryset import QuerySet

__all__ = ["ReadMethods"]

_UNSET: Any = object()


def _found(result: Any) -> bool:
    return result.first() is not None


def _scalar_one(result: Result[Any]) -> Any:
    rows = results.plain_rows(result, sequences=True) if results.FAST_ROWS else None
    if rows is None:
        return result.scalar_one()
    ((value,),) = rows  # one row of one column (a count)
    return value


class ReadMethods(Generic[ModelT, RowT]):
    """The read terminals of ``QuerySet``."""

    model: type[ModelT]

    if TYPE_CHECKING:

        def _base(self) -> QuerySet[ModelT, RowT]: ...

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
            qs = type(qs)(self.model, replaced(qs._state, limit=2))
        rows: list[RowT] = await results.fetch_all(qs._state)
        if not rows:
            raise qs._no_match(
                getattr(self.model, "DoesNotExist", NotFoundError), "matching query does not exist"
            )
        if len(rows) > 1:
            raise qs._no_match(
                getattr(self.model, "MultipleObjectsReturned", MultipleObjectsReturned),
                "get() returned more than one row",
            )
        return rows[0]

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
            reverse = tuple((e, not d, n) for e, d, n in qs._state.order_by)
            qs = qs._clone(order_by=reverse, exact=qs._state.exact)
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
        qs = self._base()
        rows = await qs[:1]
        if not rows:
            raise qs._no_match(
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
        params = prepared.exact_params(qs._state)
        stmt = (
            compiler.compile_exists(qs._state)
            if params is None
            else prepared.exact_statement(qs._state, "exists", compiler.compile_exists)
        )
        found: bool = await run(
            qs._target(),
            stmt,
            _found,
            params,
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
            chaining.check_alias(name, "aggregate")
        if qs._state.is_sliced or qs._state.distinct:
            raise ValidationError(
                "aggregate() over a sliced or distinct QuerySet is not supported."
            )
        stmt = compiler.compile_aggregate(qs._state, named)
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

        ``paginate(page=2, size=20)`` gives a ``Page`` with ``items``, ``total``,
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
