"""Results: what a QueryState's rows come back as, and fetching them.

A result shape is a strategy object (as Django's ``ModelIterable`` / ``ValuesIterable``):
it builds the statement for its state and turns the statement's result into values —
instances built straight from rows on the direct path, ORM instances on a session,
dicts, tuples, single values or named rows. ``values()`` needs no QuerySet subclass.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, cast

from sqlalchemy.engine import CursorResult

from orm_kit.exceptions import ValidationError
from orm_kit.query import compiler, prepared
from orm_kit.query.executor import Target, resolve_target, run, stream
from orm_kit.query.meta import get_model_info
from orm_kit.query.state import QueryState

__all__ = [
    "InstancesFromRows",
    "InstancesFromSession",
    "ResultShape",
    "Values",
    "fetch_all",
    "iterate",
    "shape_for",
    "statement_of",
    "target_for",
]


class ResultShape:
    """Builds the statement of a state and turns its result into a list of values."""

    def __init__(self, state: QueryState) -> None:
        self.state = state

    def statement(self) -> Any:
        """The statement whose result ``consume`` reads."""
        raise NotImplementedError

    def consume(self, result: Any) -> list[Any]:
        """The values of ``result`` (a Result, or a partition of one while streaming)."""
        raise NotImplementedError


class Values(ResultShape):
    """``values()`` dicts, ``values_list()`` tuples, ``flat=True`` values, ``named=True`` rows."""

    def statement(self) -> Any:
        return compiler.compile_values(self.state)

    def consume(self, result: Any) -> list[Any]:
        shape = self.state.shape
        if shape == "named":
            return list(result)
        rows = plain_rows(result, sequences=shape != "values_list") if FAST_ROWS else None
        if rows is None:
            return _consume_plain(shape, result)
        if shape == "values":
            return dicts_of(tuple(result.keys()))(rows)
        if shape == "flat":
            return [value for (value,) in rows]
        return rows


FAST_ROWS = True
"""Whether ``values()`` / ``values_list()`` read a cursor result's rows as plain tuples
(``plain_rows``); tests set it ``False`` to compare with the plain path, row objects."""


def plain_rows(result: Any, *, sequences: bool = False) -> list[Any] | None:
    """All the rows of a cursor ``result`` as plain tuples, each column's result
    processing applied (SQLite's text datetimes parsed, type decorators'
    ``process_result_value`` run ...), or ``None`` when ``result`` is not a plain cursor
    result (a session's ORM result, row logging on, a uniquing filter ...).

    This is SQLAlchemy's own tuple form of its rows (what its ORM loading reads): the
    values a ``Row`` would hold, without a ``Row`` made and fetched one at a time. With
    ``sequences``, when no column of the result needs processing the driver's rows come
    back as they are (asyncpg's ``Record`` is a sequence, not a tuple).
    """
    if (
        type(result) is not CursorResult
        or result._unique_filter_state is not None
        or result._post_creational_filter is not None
        or result._row_logging_fn is not None
        or result._source_supports_scalars
    ):
        return None
    if sequences:
        metadata = result._metadata
        if metadata._tuplefilter is None and metadata._effective_processors is None:
            raw: list[Any] = result._fetchall_impl()
            return raw
    return cast("list[tuple[Any, ...]]", result._raw_all_tuples())  # a list


@functools.lru_cache(maxsize=512)
def dicts_of(keys: tuple[str, ...]) -> Callable[[list[tuple[Any, ...]]], list[dict[str, Any]]]:
    """``rows -> [dict(zip(keys, row)) for row in rows]``, as a function made for ``keys``.

    Its body is a comprehension with a dict display (``{"id": _0, "name": _1}``), built
    from the unpacked row without a ``zip`` per row: about twice as fast. Only the keys'
    ``repr`` reaches the generated source (the variables are ``_0``, ``_1`` ...), so no
    name can inject code; a later duplicate key wins, as with ``dict(zip())``.
    """
    if not keys or len(keys) > _MAX_GENERATED:
        return lambda rows: [dict(zip(keys, row, strict=True)) for row in rows]
    names = [f"_{i}" for i in range(len(keys))]
    display = ", ".join(f"{key!r}: {name}" for key, name in zip(keys, names, strict=True))
    source = f"def dicts(rows):\n    return [{{{display}}} for {', '.join(names)}, in rows]\n"
    namespace: dict[str, Any] = {}
    exec(compile(source, f"<orm_kit values {len(keys)} keys>", "exec"), namespace)
    made: Callable[[list[tuple[Any, ...]]], list[dict[str, Any]]] = namespace["dicts"]
    return made


_MAX_GENERATED = 200


def _consume_plain(shape: str, result: Any) -> list[Any]:
    """``consume`` through SQLAlchemy's row objects (a session's ORM result, a stream)."""
    if shape == "values":
        keys = tuple(result.keys())
        return [dict(zip(keys, row, strict=True)) for row in result]
    if shape == "flat":
        return list(result.scalars())
    return [tuple(row) for row in result]


class InstancesFromRows(ResultShape):
    """Model instances built straight from column rows (the direct path: no session, no
    identity map), annotations set as attributes."""

    def __init__(self, state: QueryState) -> None:
        super().__init__(state)
        self.info = get_model_info(state.model)
        self.stmt, self.keys = compiler.compile_rows(state)
        self.annotations = tuple(name for name, _ in state.annotations)

    def statement(self) -> Any:
        return self.stmt

    def consume(self, result: Any) -> list[Any]:
        info, keys = self.info, self.keys
        if not self.annotations:
            return info.build_all(keys, result)
        width = len(keys)
        out = []
        for row in result:
            obj = info.build(keys, row)
            for i, name in enumerate(self.annotations):
                setattr(obj, name, row[width + i])
            out.append(obj)
        return out


class InstancesFromSession(ResultShape):
    """ORM instances of a session (identity map, loaders), annotations as attributes."""

    def statement(self) -> Any:
        return compiler.compile_select_models(self.state)

    def consume(self, result: Any) -> list[Any]:
        annotations = tuple(name for name, _ in self.state.annotations)
        if not annotations:
            return list(result.scalars())
        out = []
        for row in result:
            obj = row[0]
            for i, name in enumerate(annotations):
                setattr(obj, name, row[i + 1])
            out.append(obj)
        return out


def shape_for(state: QueryState, target: Target) -> ResultShape:
    """The result shape of ``state`` when it runs on ``target``."""
    if state.shape != "models":
        return Values(state)
    if target.session is None:
        return InstancesFromRows(state)
    return InstancesFromSession(state)


def target_for(state: QueryState) -> Target:
    """Where ``state`` runs (``select_for_update()`` needs a session)."""
    target = resolve_target(state.using)
    if state.for_update is not None and target.session is None:
        raise ValidationError(
            "select_for_update() needs a transaction; run it inside "
            "`async with transaction():` or `db.session()`."
        )
    return target


def _needs_loaders(state: QueryState) -> bool:
    return state.shape == "models" and bool(
        state.select_related
        or state.prefetch_related
        or get_model_info(state.model).eager_relationships
    )


async def fetch_all(state: QueryState) -> list[Any]:
    """All the values of ``state``."""
    if state.empty:
        return []
    target = target_for(state)
    if target.session is None and _needs_loaders(state):
        # Related objects are built by the ORM's loaders, which need a session: a
        # short autocommit read session; the instances come back detached and loaded.
        assert target.database is not None
        async with target.database.read_session() as session:
            return await _fetch(state, Target(session, target.database))
    return await _fetch(state, target)


async def _fetch(state: QueryState, target: Target) -> list[Any]:
    model, filters = state.model, state.filter_names
    params = prepared.exact_params(state) if target.session is None else None
    if params is not None:
        info = get_model_info(model)
        stmt, keys = prepared.exact_statement(state, "rows", compiler.compile_rows)
        found: list[Any] = await run(
            target,
            stmt,
            lambda result: info.build_all(keys, result),
            params,
            model=model,
            operation="select",
            filters=filters,
        )
        return found
    shape = shape_for(state, target)
    rows: list[Any] = await run(
        target, shape.statement(), shape.consume, model=model, operation="select", filters=filters
    )
    return rows


async def iterate(state: QueryState, chunk_size: int) -> AsyncIterator[Any]:
    """Stream the values of ``state`` in chunks of ``chunk_size`` rows."""
    if state.empty:
        return
    if (
        state.select_related
        or state.prefetch_related
        or get_model_info(state.model).eager_relationships
    ):
        # Eager loaders need the whole result; stream from the loaded list.
        for item in await fetch_all(state):
            yield item
        return
    target = target_for(state)
    shape = shape_for(state, target)
    async for partition, result in stream(target, shape.statement(), chunk_size, model=state.model):
        for item in shape.consume(_Rows(partition, result)):
            yield item


def statement_of(state: QueryState) -> Any:
    """The statement ``state`` runs on the direct path (``QuerySet.sql()``)."""
    return shape_for(state, Target(None, None)).statement()


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
