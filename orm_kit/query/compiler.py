"""The compiler: QueryState → SQLAlchemy ``Select`` / ``Update`` / ``Delete`` (no I/O)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Delete,
    Select,
    Table,
    Update,
    and_,
    delete,
    false,
    func,
    literal_column,
    select,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import defer, load_only
from sqlalchemy.sql import visitors
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement, ColumnClause, ColumnElement
from sqlalchemy.sql.util import ClauseAdapter
from sqlalchemy.util import immutabledict

from orm_kit import rules
from orm_kit.exceptions import InvalidLookupError
from orm_kit.query.meta import ModelInfo, get_model_info
from orm_kit.query.relations import apply_joins, joined_column_for, loader_options, path_column
from orm_kit.query.state import QueryState, replaced

__all__ = [
    "StandardUpdate",
    "compile_aggregate",
    "compile_count",
    "compile_delete",
    "compile_exists",
    "compile_rows",
    "compile_select_models",
    "compile_update",
    "loaded_keys",
]


def _where(stmt: Any, state: QueryState) -> Any:
    if state.empty:
        return stmt.where(false())
    if state.where:
        stmt = stmt.where(*state.where)
    # The model's rules (soft delete hides deleted rows; with_deleted() lifts it).
    hidden = rules.row_filters(
        state.model, get_model_info(state.model).columns.__getitem__, state.deleted
    )
    return stmt.where(*hidden) if hidden else stmt


def _order(stmt: Any, state: QueryState) -> Any:
    if state.order_by:
        stmt = stmt.order_by(*(expr.desc() if desc else expr for expr, desc, _ in state.order_by))
    return stmt


def _tail(stmt: Select[Any], state: QueryState) -> Select[Any]:
    if state.joins:
        stmt = apply_joins(stmt, state.joins)
    stmt = _order(_where(stmt, state), state)
    if state.distinct:
        stmt = stmt.distinct()
    if state.limit is not None:
        stmt = stmt.limit(state.limit)
    if state.offset is not None:
        stmt = stmt.offset(state.offset)
    if state.for_update is not None:
        fu = state.for_update
        info = get_model_info(state.model)
        of = [info.columns[name] for name in fu.of] if fu.of else None
        stmt = stmt.with_for_update(
            nowait=fu.nowait, skip_locked=fu.skip_locked, of=of, read=fu.shared
        )
    return stmt


def loaded_keys(state: QueryState, info: ModelInfo) -> tuple[str, ...]:
    """The column keys a model query loads, honouring ``only()`` / ``defer()``."""
    if state.only is None and not state.defer:
        return info.column_keys
    wanted = set(state.only) if state.only is not None else set(info.column_keys)
    wanted -= set(state.defer)
    wanted |= set(info.pk_keys)
    return tuple(k for k in info.column_keys if k in wanted)


def compile_rows(state: QueryState) -> tuple[Select[Any], tuple[str, ...]]:
    """A column select for model rows on the direct path; returns the statement and keys."""
    info = get_model_info(state.model)
    keys = loaded_keys(state, info)
    cols: list[ColumnElement[Any]] = [info.columns[k] for k in keys]
    cols.extend(expr.label(name) for name, expr in state.annotations)
    return _tail(select(*cols), state), keys


def compile_select_models(state: QueryState) -> Select[Any]:
    """An ORM select of the model (session path), with annotations as extra columns."""
    info = get_model_info(state.model)
    stmt: Select[Any] = select(state.model).execution_options(orm_kit_deleted=state.deleted)
    if state.only is not None:
        stmt = stmt.options(load_only(*(getattr(state.model, k) for k in loaded_keys(state, info))))
    elif state.defer:
        # The primary key is always loaded (as on the direct path).
        deferred = [k for k in state.defer if k not in info.pk_keys]
        stmt = stmt.options(*(defer(getattr(state.model, k)) for k in deferred))
    if state.select_related or state.prefetch_related:
        stmt = stmt.options(
            *loader_options(state.model, state.select_related, state.prefetch_related)
        )
    if state.annotations:
        stmt = stmt.add_columns(*(expr.label(name) for name, expr in state.annotations))
    return _tail(stmt, state)


def value_column(state: QueryState, info: ModelInfo, name: str) -> ColumnElement[Any]:
    """The expression behind a ``values()`` name: a column or an annotation."""
    for ann_name, expr in state.annotations:
        if ann_name == name:
            return expr
    if "__" in name and name.split("__", 1)[0] in info.relationship_keys:
        return path_column(state.model, state.joins, name)[0]
    from orm_kit.query.lookups.resolver import field_column

    try:
        return field_column(state.model, name)
    except InvalidLookupError:
        if state.annotations:
            names = ", ".join(n for n, _ in state.annotations)
            raise InvalidLookupError(
                f"{state.model.__name__} has no field or annotation {name!r} "
                f"(annotations: {names}; fields: {', '.join(info.column_keys)})."
            ) from None
        raise


def compile_values(state: QueryState) -> Select[Any]:
    """A select of the ``values()`` / ``values_list()`` fields, labelled by name."""
    info = get_model_info(state.model)
    names = state.fields or (info.column_keys + tuple(n for n, _ in state.annotations))
    cols = [value_column(state, info, n).label(n) for n in names]
    # FROM the model's table even when only annotations are selected, so a correlated
    # subquery annotation stays correlated to each row.
    stmt = select(*cols).select_from(info.table)
    if state.group_by:
        # values(...).annotate(...): group by the named fields; the annotations aggregate.
        keys = [value_column(state, info, n) for n in state.group_by]
        stmt = stmt.group_by(*keys)
        if state.having:
            stmt = stmt.having(*state.having)
    return _tail(stmt, state)


def _needs_subquery(state: QueryState) -> bool:
    """Whether counting the table's filtered rows would not count the QuerySet's rows:
    a slice window (LIMIT / OFFSET), DISTINCT, GROUP BY (one row per group), or joins of
    a values() query across to-many relations (one row per related row)."""
    return (
        state.is_sliced
        or state.distinct
        or bool(state.group_by)
        or bool(state.joins and state.shape != "models")
    )


def _rows_subquery(state: QueryState) -> Any:
    # The rows the QuerySet returns, unordered: order decides which rows a window holds,
    # not how many, and PostgreSQL refuses ORDER BY terms missing from a DISTINCT list.
    if state.shape == "models":
        return compile_rows(state)[0].order_by(None).subquery()
    # A field named twice (values("a", "a")) once: the count is the same (DISTINCT too),
    # and MariaDB / MySQL refuse a derived table with two columns of one name.
    once = replaced(state, fields=tuple(dict.fromkeys(state.fields)))
    return compile_values(once).order_by(None).subquery()


def compile_count(state: QueryState) -> Select[Any]:
    """``SELECT count(*)``, over a subquery of the rows when sliced, distinct or grouped."""
    if _needs_subquery(state):
        return select(func.count()).select_from(_rows_subquery(state))
    table = get_model_info(state.model).table
    return _where(select(func.count()).select_from(table), state)  # type: ignore[no-any-return]


def compile_exists(state: QueryState) -> Select[Any]:
    """``SELECT 1 ... LIMIT 1``, over a subquery of the rows when sliced, distinct or
    grouped (a window ``[2:4]`` exists iff the query has a third row)."""
    if _needs_subquery(state):
        return select(literal_column("1")).select_from(_rows_subquery(state)).limit(1)
    table = get_model_info(state.model).table
    stmt = _where(select(literal_column("1")).select_from(table), state)
    return stmt.limit(1)  # type: ignore[no-any-return]


def compile_aggregate(state: QueryState, named: dict[str, Any]) -> Select[Any]:
    """``SELECT agg AS name, ...`` over the filtered rows, joining what the aggregates reach."""
    info = get_model_info(state.model)
    column_for, box = joined_column_for(state.model, ())
    columns = [agg.resolve(state.model, column_for).label(n) for n, agg in named.items()]
    stmt = apply_joins(select(*columns).select_from(info.table), box[0])
    return _where(stmt, state)  # type: ignore[no-any-return]


class StandardUpdate(Update):
    """The ``UPDATE`` of ``QuerySet.update()``: every right side reads the row as it was
    before the statement, as the SQL standard says.

    SQLite and PostgreSQL do that already. MariaDB / MySQL assign the SET clauses left to
    right, each later one seeing the earlier ones' new values, so on the mysql dialect the
    statement is rewritten when it is compiled (``_compile_for_mysql``).
    """

    inherit_cache = True


def compile_update(state: QueryState, values: dict[str, Any], *, orm: bool) -> Update:
    """``UPDATE`` of the filtered rows; ``orm`` makes it ORM-enabled (session path)."""
    info = get_model_info(state.model)
    if orm:
        stmt = StandardUpdate(state.model).values({info.columns[k]: v for k, v in values.items()})
    else:
        table = info.table
        stmt = StandardUpdate(table).values({info.table_columns[k]: v for k, v in values.items()})
    return _where(stmt, state)  # type: ignore[no-any-return]


def _base_table(stmt: Update) -> Table:
    table = stmt.table
    deannotated = table._deannotate() if hasattr(table, "_deannotate") else table
    if not isinstance(deannotated, Table):  # pragma: no cover - orm_kit updates a table
        raise TypeError(f"StandardUpdate of {table!r}, not of a table")
    return deannotated


def _assigned_column(key: Any, table: Table) -> Any:
    """The table column a SET key names (a Column, an ORM attribute or a name)."""
    if isinstance(key, str):
        return table.c[key]
    prop = getattr(key, "property", None)
    if prop is not None and getattr(prop, "columns", None):
        return prop.columns[0]
    return key._deannotate() if hasattr(key, "_deannotate") else key


def _reads(value: Any, table: Table) -> set[Any]:
    """The columns of ``table`` a right side reads."""
    if not isinstance(value, ClauseElement):
        return set()
    return {
        element._deannotate()
        for element in visitors.iterate(value)
        if isinstance(element, ColumnClause)
        and element.table is not None
        and element.table._deannotate() is table
    }


def _assignment_order(assigned: list[Any], reads: list[set[Any]]) -> list[int] | None:
    """An order of the SET clauses in which each one runs before every assignment of a
    column it reads (so it reads the old value), keeping the given order where it may;
    ``None`` when the assignments read each other in a cycle (no order is right)."""
    position = {column: i for i, column in enumerate(assigned)}
    # must_follow[j]: the assignments that read column j, which must come before j.
    waiting = [0] * len(assigned)
    readers: list[list[int]] = [[] for _ in assigned]
    for i, columns in enumerate(reads):
        for column in columns:
            j = position.get(column)
            if j is not None and j != i:
                waiting[j] += 1
                readers[i].append(j)
    order: list[int] = []
    ready = [i for i in range(len(assigned)) if waiting[i] == 0]
    while ready:
        ready.sort()
        i = ready.pop(0)
        order.append(i)
        for j in readers[i]:
            waiting[j] -= 1
            if waiting[j] == 0:
                ready.append(j)
    return order if len(order) == len(assigned) else None


def standard_for_mysql(stmt: Update) -> Update:
    """``stmt`` rewritten so MariaDB / MySQL give every right side the old row.

    When no assignment reads a column another one sets, the statement is unchanged. When
    the reads allow it, the SET clauses are reordered so a column is assigned only after
    every assignment that reads it. When they form a cycle (``a=F("b"), b=F("a")``), the
    right sides read a second copy of the table joined on the primary key instead: in a
    multi-table UPDATE the server reads the joined rows before it writes any.
    """
    values = stmt._values
    if not values:
        return stmt
    table = _base_table(stmt)
    keys = list(values)
    assigned = [_assigned_column(key, table) for key in keys]
    reads = [_reads(values[key], table) for key in keys]
    targets = set(assigned)
    pairs = zip(assigned, reads, strict=True)
    if not any((columns - {column}) & targets for column, columns in pairs):
        return stmt
    order = _assignment_order(assigned, reads)
    rewritten = stmt._clone()
    if order is not None:
        rewritten._values = immutabledict({keys[i]: values[keys[i]] for i in order})
        rewritten._maintain_values_ordering = True
        return rewritten
    old = table.alias("orm_kit_old")
    adapter = ClauseAdapter(old)
    rewritten._values = immutabledict(
        {key: adapter.traverse(value) for key, value in values.items()}
    )
    on_key = and_(*(column == old.c[column.key] for column in table.primary_key.columns))
    rewritten._where_criteria = (*rewritten._where_criteria, on_key)
    return rewritten


@compiles(StandardUpdate, "mysql")
def _compile_for_mysql(element: StandardUpdate, compiler: SQLCompiler, **kw: Any) -> str:
    sql: str = compiler.visit_update(standard_for_mysql(element), **kw)
    return sql


def compile_delete(state: QueryState, *, orm: bool) -> Delete:
    """``DELETE`` of the filtered rows; ``orm`` makes it ORM-enabled (session path)."""
    info = get_model_info(state.model)
    stmt = delete(state.model) if orm else delete(info.table)
    return _where(stmt, state)  # type: ignore[no-any-return]
