"""Single-statement writes: ``create``, ``update`` and ``delete`` of a QueryState.

Each takes the state of the QuerySet and runs where its ``using`` says: the direct path
(one statement in autocommit; cached statements for ``filter(column=value)`` shapes)
outside a session, else the session. Every one asks the model rules first
(``orm_kit.rules``): the write check, and whether the write is recorded (then it runs
in a transaction with the rules' follow-up statements).
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import JSON, bindparam, insert
from sqlalchemy.engine import CursorResult, Result

from orm_kit import rules
from orm_kit.dialects import CACHED_OPTION
from orm_kit.exceptions import ValidationError
from orm_kit.query import compiler, prepared
from orm_kit.query.executor import (
    Target,
    resolve_target,
    run,
    save_instance,
    unit_of_work,
)
from orm_kit.query.lookups.resolver import field_column
from orm_kit.query.meta import (
    ModelInfo,
    get_model_info,
    settable_property,
)
from orm_kit.query.resolvable import Resolvable, to_expression
from orm_kit.query.state import QueryState
from orm_kit.query.values import check_comparable, is_sql
from orm_kit.signals import post_save, pre_save
from orm_kit.types import returned

__all__ = ["checked_values", "construct", "create", "delete", "update"]


def construct(model: type[Any], values: dict[str, Any]) -> Any:
    """Instantiate ``model`` from ``values``, turning unknown names into ``ValidationError``."""
    info = get_model_info(model)
    unknown = sorted(
        k
        for k in info.with_pk_key(values)
        if k not in info.attribute_keys and not settable_property(model, k)
    )
    if unknown:
        raise ValidationError(
            f"{model.__name__} has no field(s) {', '.join(unknown)}. "
            f"Valid fields: {', '.join(sorted(info.attribute_keys))}."
        )
    return model(**values)


def checked_values(info: ModelInfo, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with each plain value for a table column checked against its type
    (SQL expressions and relationship values pass as they are)."""
    out = {}
    for key, value in values.items():
        if isinstance(value, Resolvable):
            raise ValidationError(
                f"{info.model.__name__}.{key}: create() takes values, not {value!r}; an F() "
                "expression refers to an existing row — use update() for that."
            )
        if not is_sql(value):
            value = info.checked(key, value)
        out[key] = value
    return out


def _unset_generated_keys(info: ModelInfo, values: dict[str, Any]) -> dict[str, Any]:
    # `id=None` means "not set" (Django), on every backend: SQLite would otherwise number
    # the row and PostgreSQL refuse the NULL.
    for key in info.pk_keys:
        if (
            key in values
            and values[key] is None
            and info.table_columns[key].autoincrement
            in (
                True,
                "auto",
            )
        ):
            values = {k: v for k, v in values.items() if k != key}
    return values


async def create(state: QueryState, values: dict[str, Any]) -> Any:
    model = state.model
    rules.check_write(model, "create()")
    info = get_model_info(model)
    values = checked_values(info, _unset_generated_keys(info, info.with_pk_key(values)))
    obj = construct(model, values)
    target = resolve_target(state.using)
    signals = pre_save.has_receivers(model) or post_save.has_receivers(model)
    columns = info.table_columns
    if (
        signals
        or rules.records(model)
        or target.session is not None
        or not values.keys() <= columns.keys()
    ):
        await save_instance(obj, state.using)
        return obj
    data = obj.__dict__
    params: dict[str, Any] | None = {columns[k].key: data[k] for k in values}
    stmt: Any
    if any(map(is_sql, values.values())):  # rendered into the statement
        stmt = (
            insert(info.table)
            .values(params or {})
            .returning(*map(returned, info.table_columns.values()))
        )
        params = None
    else:
        # One statement object per model; the values travel as execution parameters, so
        # nothing is built per call and SQLAlchemy's compiled cache hits per column set.
        stmt = info.statements.get("insert_returning")
        if stmt is None:
            stmt = insert(info.table).returning(*map(returned, info.table_columns.values()))
            stmt = stmt.execution_options(**{CACHED_OPTION: True})
            info.statements["insert_returning"] = stmt
    row = await run(target, stmt, _one, params, model=model, operation="create")
    for i, key in enumerate(info.table_columns):
        obj.__dict__[key] = row[i]
    info.mark_loaded(obj)
    return obj


_SET_PARAM = "orm_kit_v_"


def _one(result: Result[Any]) -> Any:
    return result.one()


def _rowcount(result: Result[Any]) -> int:
    return cast(CursorResult[Any], result).rowcount


def _check_unsliced(state: QueryState, operation: str) -> None:
    if state.is_sliced or state.distinct:
        raise ValidationError(
            f"Cannot {operation} a sliced or distinct {state.model.__name__} QuerySet; "
            f"filter by primary key instead, e.g. filter(pk__in=...)."
        )


async def update(state: QueryState, values: dict[str, Any]) -> int:
    model = state.model
    rules.check_write(model, "update()")
    if not values:
        raise ValidationError("update() needs at least one field=value.")
    _check_unsliced(state, "update")
    resolved = {}
    info = get_model_info(model)
    for name, value in values.items():
        field_column(model, name)
        key = info.pk_key if name == "pk" else name
        if isinstance(value, Resolvable) and value.contains_aggregate:
            raise ValidationError(
                f"update({name}=...) on {model.__name__} cannot set an aggregate ({value!r}): "
                "an UPDATE sets each row from its own columns. Compute it first, e.g. with "
                "aggregate(), and pass the value."
            )
        if isinstance(value, Resolvable) or is_sql(value):
            resolved[key] = expression = to_expression(value, model)
            check_comparable(
                info.columns[key], expression, f"update({name}=...) on {model.__name__}"
            )
        else:
            resolved[key] = info.checked(key, value)
    if state.empty:
        return 0
    if rules.records(model):
        stmt = compiler.compile_update(state, resolved, orm=True)
        return await _recorded(state, stmt, "bulk_update", values)
    target = resolve_target(state.using)
    params = _exact_update_params(state, target, values, resolved)
    if params is not None:
        columns = get_model_info(model).table_columns
        stmt = prepared.exact_statement(
            state,
            ("update", tuple(resolved)),
            lambda st: compiler.compile_update(
                st,
                {k: bindparam(f"{_SET_PARAM}{k}", type_=columns[k].type) for k in resolved},
                orm=False,
            ),
        )
    else:
        stmt = compiler.compile_update(state, resolved, orm=target.session is not None)
    count: int = await run(
        target,
        stmt,
        _rowcount,
        params,
        model=model,
        operation="update",
        filters=state.filter_names,
    )
    return count


def _exact_update_params(
    state: QueryState, target: Target, values: dict[str, Any], resolved: dict[str, Any]
) -> dict[str, Any] | None:
    """The parameters for the cached UPDATE of ``filter(column=value).update(...)`` outside
    a session, when every value is a plain one (no expression, no JSON column)."""
    if target.session is not None or len(values) != len(resolved):
        return None
    params = prepared.exact_params(state)
    if params is None:
        return None
    info = get_model_info(state.model)
    for name, value in values.items():
        key = info.pk_key if name == "pk" else name
        column = info.table_columns.get(key)
        if (
            column is None
            or isinstance(value, Resolvable)  # an F() or other expression
            or is_sql(value)
            or isinstance(column.type, JSON)
        ):
            return None
        params[f"{_SET_PARAM}{key}"] = resolved[key]
    return params


async def _recorded(state: QueryState, stmt: Any, action: str, values: dict[str, Any]) -> int:
    """Run a set-based write of a model some rule records (the audit log) in one
    transaction with the statements the rules add for it."""
    async with unit_of_work(state.using) as session:
        target = resolve_target(session)
        count: int = await run(
            target, stmt, _rowcount, model=state.model, operation=action, filters=state.filter_names
        )
        event = rules.WriteEvent(state.model, action, state.filter_names, values)
        for follow_up, rows in rules.after_write(event):
            await run(target, follow_up, _rowcount, rows, operation=action)
    return count


async def delete(state: QueryState) -> int:
    model = state.model
    rules.check_write(model, "delete()")
    _check_unsliced(state, "delete")
    if state.empty:
        return 0
    if rules.records(model):
        return await _recorded(state, compiler.compile_delete(state, orm=True), "bulk_delete", {})
    target = resolve_target(state.using)
    params = prepared.exact_params(state) if target.session is None else None
    if params is not None:
        stmt = prepared.exact_statement(
            state, "delete", lambda st: compiler.compile_delete(st, orm=False)
        )
    else:
        stmt = compiler.compile_delete(state, orm=target.session is not None)
    count: int = await run(
        target,
        stmt,
        _rowcount,
        params,
        model=model,
        operation="delete",
        filters=state.filter_names,
    )
    return count
