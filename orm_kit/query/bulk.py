"""Bulk writes: ``bulk_create`` (multi-row INSERT ... RETURNING, or COPY on PostgreSQL for
large plain batches) and ``bulk_update`` (one UPDATE ... CASE per batch), all or nothing.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, case, insert, literal, select
from sqlalchemy import cast as sql_cast
from sqlalchemy import update as sql_update
from sqlalchemy.ext.asyncio import AsyncConnection

from orm_kit import rules
from orm_kit.exceptions import ValidationError
from orm_kit.query.bulk_keyed import MAX_PARAMS, KeyedInsert, fill, matched_upsert, sqlite_key
from orm_kit.query.copy import COPY_MIN_ROWS, copy_columns, copy_insert
from orm_kit.query.executor import (
    on_connection,
    resolve_target,
)
from orm_kit.query.lookups.resolver import field_column
from orm_kit.query.meta import (
    ModelInfo,
    forget_identity,
    get_model_info,
    has_identity,
)
from orm_kit.query.state import QueryState
from orm_kit.types import returned

__all__ = ["bulk_create", "bulk_update", "insert_for"]


async def _on_connection(
    state: QueryState, work: Any, operation: str, join: list[Any] | None = None
) -> Any:
    """Run ``work(conn, dialect_name)`` where ``state`` says (see ``on_connection``)."""
    target = resolve_target(state.using)
    return await on_connection(target, work, model=state.model, operation=operation, join=join)


def insert_for(dialect: str, table: Table) -> Any:
    """The dialect's own ``insert(table)`` (with its ON CONFLICT / ON DUPLICATE KEY forms)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table)
    if dialect in ("mysql", "mariadb"):
        from sqlalchemy.dialects.mysql import insert as mysql_insert

        return mysql_insert(table)
    return insert(table)


def _conflict_clause(
    stmt: Any,
    dialect: str,
    info: ModelInfo,
    ignore: bool,
    update_conflicts: bool,
    unique_fields: Sequence[str],
    update_fields: Sequence[str],
) -> Any:
    if ignore:
        if dialect in ("mysql", "mariadb"):
            return stmt.prefix_with("IGNORE")
        return stmt.on_conflict_do_nothing()
    if update_conflicts:
        if dialect in ("mysql", "mariadb"):
            return stmt.on_duplicate_key_update(
                {
                    info.table_columns[f].key: stmt.inserted[info.table_columns[f].key]
                    for f in update_fields
                }
            )
        return stmt.on_conflict_do_update(
            index_elements=[info.table_columns[f] for f in unique_fields],
            set_={
                info.table_columns[f].key: stmt.excluded[info.table_columns[f].key]
                for f in update_fields
            },
        )
    return stmt


async def bulk_create(
    state: QueryState,
    objs: list[Any],
    *,
    batch_size: int | None,
    ignore_conflicts: bool,
    update_conflicts: bool,
    unique_fields: Sequence[str] | None,
    update_fields: Sequence[str] | None,
) -> list[Any]:
    model = state.model
    rules.check_write(model, "bulk_create()")
    info = get_model_info(model)
    if not objs:
        return objs
    for obj in objs:
        if not isinstance(obj, model):
            raise ValidationError(
                f"bulk_create() on {model.__name__} got a {type(obj).__name__} instance."
            )
    if ignore_conflicts and update_conflicts:
        raise ValidationError("bulk_create() takes ignore_conflicts or update_conflicts, not both.")
    unique_fields = list(unique_fields or ())
    update_fields = list(update_fields or ())
    if update_conflicts and (not update_fields or not unique_fields):
        raise ValidationError(
            "bulk_create(update_conflicts=True) needs unique_fields= (the conflict target) "
            "and update_fields= (the columns to overwrite)."
        )
    for name in (*unique_fields, *update_fields):
        if name not in info.table_columns:
            field_column(model, name)
            raise ValidationError(f"{model.__name__}.{name} is not a column of its table.")
    if batch_size is not None and batch_size < 1:
        raise ValidationError("bulk_create() batch_size must be at least 1.")
    related = _take_related_keys(info, objs) if info.relationship_keys else False

    # Columns an instance leaves unset are filled with their client-side default (or NULL),
    # so rows share one column set and insertmanyvalues batches stay whole; only columns
    # the database must fill (server defaults, identity keys) split a run. Runs keep the
    # list order, so keys are assigned in that order, as in Django.
    fills = _fillers(info)
    fill_keys = fills.keys()
    column_keys = info.table_columns.keys()
    runs: list[tuple[tuple[str, ...], list[Any]]] = []
    last_set: Any = None
    last_full: Any = None
    stored: list[Any] = []  # instances that already had an identity (a re-insert)
    pk_keys = tuple(info.pk_keys)
    for obj in objs:
        data = obj.__dict__
        for key in pk_keys:
            if key in data and data[key] is None:
                del data[key]  # Model(id=None): no key yet, as create() and save() take it
        if has_identity(obj):
            stored.append(obj)
        if data.keys() == last_full:  # same attributes as the previous, already filled, row
            runs[-1][1].append(obj)
            continue
        for key in fill_keys - data.keys():
            is_callable, value = fills[key]
            data[key] = value(None) if is_callable else value
        key_set = column_keys & data.keys()
        last_full = set(data.keys())
        if key_set == last_set:
            runs[-1][1].append(obj)
        else:
            last_set = key_set
            runs.append((tuple(k for k in column_keys if k in key_set), [obj]))
    for keys, group in runs:
        dicts = list(map(_vars, group))
        for key in keys:
            column_values = list(map(operator.itemgetter(key), dicts))
            checked = info.checked_all(key, column_values, "bulk_create()")
            if checked is not column_values:  # a check converted values (a UUID string)
                for data, value in zip(dicts, checked, strict=True):
                    data[key] = value
    table = info.table
    fetch_back = not ignore_conflicts

    plain = not ignore_conflicts and not update_conflicts

    async def work(conn: AsyncConnection, dialect: str) -> None:
        sqlite_pk = sqlite_key(info) if dialect == "sqlite" and plain else None
        held = [False]
        for keys, group in runs:
            if (
                plain
                and len(group) >= COPY_MIN_ROWS
                and copy_columns(info, conn, keys)
                and await copy_insert(info, conn, keys, group)
            ):
                continue
            returning = [k for k in info.table_columns if k in info.pk_keys or k not in keys]
            if update_conflicts:  # a row that existed keeps what update_fields leave out:
                returning = list(info.table_columns)  # the instance must show its row
            stmt = insert_for(dialect, table)
            stmt = _conflict_clause(
                stmt,
                dialect,
                info,
                ignore_conflicts,
                update_conflicts,
                unique_fields,
                update_fields,
            )
            upsert = stmt  # (RETURNING added where the rows are matched by value)
            keyed = (
                KeyedInsert(info, stmt, keys, returning, held) if sqlite_pk is not None else None
            )
            if fetch_back and not conn.dialect.insert_returning:
                # NOTE(mysql): MySQL has no INSERT ... RETURNING (MariaDB has, from 10.5).
                await _insert_and_read_back(conn, info, stmt, keys, returning, group, unique_fields)
                continue
            if fetch_back:
                stmt = stmt.returning(
                    *(returned(info.table_columns[k]) for k in returning),
                    sort_by_parameter_order=True,
                )
            # insertmanyvalues pages the rows itself within the driver's parameter limit.
            size = batch_size or len(group)
            col_keys = [info.table_columns[k].key for k in keys]
            for start in range(0, len(group), size):
                batch = group[start : start + size]
                if keyed is not None and await keyed.insert(conn, batch):
                    continue
                params = [
                    {ck: obj.__dict__[k] for ck, k in zip(col_keys, keys, strict=True)}
                    for obj in batch
                ]
                if not keys:
                    # Nothing given: let every column take its default, one row at a time.
                    for obj in batch:
                        result = await conn.execute(stmt)
                        if fetch_back:
                            fill(info, obj, returning, result.one())
                    continue
                if update_conflicts:
                    # NOTE: SQLAlchemy orders a batch's RETURNING rows by the generated key
                    # (PostgreSQL's implicit sentinel), but a row that conflicted returns
                    # the older key of the row it updated, so objects would get their
                    # neighbours' rows: rows are matched by their conflict target instead,
                    # or where that cannot be exact, one statement a row.
                    # MariaDB's ON DUPLICATE KEY UPDATE ... RETURNING returns the row as
                    # written too (MySQL has no RETURNING: fetch_back is row by row there).
                    if dialect in ("postgresql", "sqlite", "mysql") and await matched_upsert(
                        conn, upsert, info, batch, params, returning, unique_fields
                    ):
                        continue
                    for obj, one in zip(batch, params, strict=True):
                        fill(info, obj, returning, (await conn.execute(stmt, one)).one())
                    continue
                result = await conn.execute(stmt, params)
                if fetch_back:
                    for obj, row in zip(batch, result.all(), strict=True):
                        fill(info, obj, returning, row)

    async def work_and_record(conn: AsyncConnection, dialect: str) -> None:
        await work(conn, dialect)
        if fetch_back and rules.records(model):  # the rows are known only when fetched back
            event = rules.WriteEvent(model, "insert", objects=objs)
            for follow_up, rows in rules.after_write(event):
                await conn.execute(follow_up, rows)

    try:
        await _on_connection(state, work_and_record, "bulk_create", objs if related else None)
    except BaseException:
        _unsave(info, runs, stored)
        raise
    return objs


_vars = operator.attrgetter("__dict__")


def _take_related_keys(info: ModelInfo, objs: list[Any]) -> bool:
    """Set the foreign keys of ``Item(owner=owner)`` instances from the related objects (an
    INSERT writes columns only); return whether any instance had a related object set."""
    found = False
    relationships = info.mapper.relationships
    for obj in objs:
        data = obj.__dict__
        for key in info.relationship_keys & data.keys():
            rel = relationships[key]
            target = data[key]
            if rel.uselist:
                if target:
                    raise ValidationError(
                        f"bulk_create() writes columns only, not {info.model.__name__}.{key}; "
                        f"add those rows afterwards with obj.related({key!r}).add(...)."
                    )
                continue
            found = True
            if target is None:
                continue
            target_info = get_model_info(type(target))
            for local, remote in rel.local_remote_pairs:
                value = target.__dict__.get(target_info.mapper.get_property_by_column(remote).key)
                if value is None:
                    raise ValidationError(
                        f"bulk_create(): the {type(target).__name__} given as "
                        f"{info.model.__name__}.{key} has no {remote.name} yet; save it first."
                    )
                data[info.mapper.get_property_by_column(local).key] = value
    return found


def _unsave(
    info: ModelInfo, runs: list[tuple[tuple[str, ...], list[Any]]], keep: list[Any]
) -> None:
    """After a failed ``bulk_create``, make the instances it had filled transient again.

    Batches written before the failure were rolled back with it, so their instances must
    not keep the keys and server values they were given.
    """
    kept = {id(obj) for obj in keep}
    for keys, group in runs:
        filled = [k for k in info.table_columns if k not in keys]
        for obj in group:
            if id(obj) in kept:
                continue
            forget_identity(obj)
            data = obj.__dict__
            for key in filled:
                data.pop(key, None)


def _fillers(info: ModelInfo) -> dict[str, tuple[bool, Any]]:
    """Per column the INSERT would fill from Python: (is_callable, value or function).

    Columns the database fills (server defaults, sequences, autoincrement keys) are
    left out.
    """
    fills: dict[str, tuple[bool, Any]] = {}
    for key, column in info.table_columns.items():
        if (
            column.server_default is not None
            or column.autoincrement is True
            or (column.primary_key and column.autoincrement == "auto" and column.default is None)
        ):
            continue
        default = column.default
        if default is None:
            if column.type.should_evaluate_none:
                continue  # e.g. JSON: None would be stored as JSON null, not SQL NULL
            fills[key] = (False, None)
        elif default.is_scalar:
            fills[key] = (False, default.arg)  # type: ignore[attr-defined]
        elif default.is_callable:
            fills[key] = (True, default.arg)  # type: ignore[attr-defined]
    return fills


async def _insert_and_read_back(
    conn: AsyncConnection,
    info: ModelInfo,
    stmt: Any,
    keys: tuple[str, ...],
    returning: list[str],
    group: list[Any],
    unique_fields: Sequence[str],
) -> None:
    """Insert ``group`` one row a statement and read back what RETURNING would have given,
    on a server without INSERT ... RETURNING (MySQL).

    Each row's key is the one it was given, else the one the server generated for it
    (``LAST_INSERT_ID()``, which is per connection, so concurrent writers cannot mix keys
    up); an upsert's row, which may be an older row it updated, is found by its
    ``unique_fields``. A ``SELECT`` by that key reads the server-filled columns. Multi-row
    INSERTs are not used: MySQL 8's default ``innodb_autoinc_lock_mode=2`` does not promise
    one statement's generated keys are consecutive.
    """
    cols = info.table_columns
    col_keys = [cols[k].key for k in keys]
    read_back = select(*(cols[k] for k in returning))
    for obj in group:
        data = obj.__dict__
        result = await conn.execute(
            stmt, {ck: data[k] for ck, k in zip(col_keys, keys, strict=True)} if keys else None
        )
        if unique_fields:
            where = [cols[f] == data[f] for f in unique_fields]
        else:
            generated = result.inserted_primary_key or ()
            where = [
                cols[k] == (data[k] if k in keys else value)
                for k, value in zip(info.pk_keys, generated, strict=False)
            ]
        fill(info, obj, returning, (await conn.execute(read_back.where(*where))).one())


async def bulk_update(
    state: QueryState, objs: list[Any], fields: Sequence[str], *, batch_size: int | None
) -> int:
    model = state.model
    rules.check_write(model, "bulk_update()")
    info = get_model_info(model)
    if not fields:
        raise ValidationError("bulk_update() needs the names of the fields to write.")
    for name in fields:
        field_column(model, name)
        if name in info.pk_keys:
            raise ValidationError("bulk_update() cannot change primary keys.")
        if name not in info.table_columns:
            raise ValidationError(f"{model.__name__}.{name} is not a column of its table.")
    if len(info.pk_keys) != 1:
        raise ValidationError("bulk_update() needs a model with a single-column primary key.")
    if not objs:
        return 0
    pk_key = info.pk_key
    for obj in objs:
        if obj.__dict__.get(pk_key) is None:
            raise ValidationError(
                f"bulk_update() got a {model.__name__} without a primary key; save it first."
            )
    pk_col = info.table_columns[pk_key]
    table = info.table
    size = batch_size or max(1, MAX_PARAMS // (2 * len(fields) + 1))
    written = {
        name: info.checked_all(name, [getattr(obj, name) for obj in objs], "bulk_update()")
        for name in fields
    }
    position = {id(obj): i for i, obj in enumerate(objs)}

    async def work(conn: AsyncConnection, dialect: str) -> int:
        total = 0
        for start in range(0, len(objs), size):
            batch = objs[start : start + size]
            pks = [obj.__dict__[pk_key] for obj in batch]
            values = {}
            for name in fields:
                col = info.table_columns[name]
                whens = [
                    (
                        pk_col == literal(obj.__dict__[pk_key], pk_col.type),
                        literal(written[name][position[id(obj)]], col.type),
                    )
                    for obj in batch
                ]
                chosen = case(*whens, else_=col)
                # NOTE(sqlite): CAST(x AS DATETIME / DATE / JSON) applies NUMERIC affinity
                # there and turns '2024-01-01 10:00' into 2024; the typed parameters need no
                # cast. PostgreSQL needs it to type the CASE. NOTE(mysql): the CASE takes
                # the column's type on assignment, and MariaDB has no CAST(... AS JSON).
                untyped = dialect in ("sqlite", "mysql", "mariadb")
                values[col] = chosen if untyped else sql_cast(chosen, col.type)
            stmt = sql_update(table).where(pk_col.in_(pks)).values(values)
            total += (await conn.execute(stmt)).rowcount
        return total

    count: int = await _on_connection(state, work, "bulk_update")
    return count
