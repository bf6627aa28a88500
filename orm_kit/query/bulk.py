"""Bulk writes: ``bulk_create`` (multi-row INSERT ... RETURNING, or COPY on PostgreSQL for
large plain batches) and ``bulk_update`` (one UPDATE ... CASE per batch), all or nothing.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Boolean, Identity, Integer, Table, case, func, insert, literal, select
from sqlalchemy import cast as sql_cast
from sqlalchemy import column as sql_column
from sqlalchemy import table as sql_table
from sqlalchemy import update as sql_update
from sqlalchemy.ext.asyncio import AsyncConnection

from orm_kit import rules
from orm_kit.exceptions import DatabaseError, ValidationError
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

__all__ = ["bulk_create", "bulk_update", "insert_for"]

_MAX_PARAMS = 30000  # under SQLite's 32766 and PostgreSQL's 32767 bound parameters


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
    for obj in objs:
        data = obj.__dict__
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
            if key not in info.write_checks:
                continue
            column_values = list(map(operator.itemgetter(key), dicts))
            checked = info.checked_all(key, column_values)
            if checked is not column_values:  # a check converted values (a UUID string)
                for data, value in zip(dicts, checked, strict=True):
                    data[key] = value
    table = info.table
    fetch_back = not ignore_conflicts

    plain = not ignore_conflicts and not update_conflicts

    async def work(conn: AsyncConnection, dialect: str) -> None:
        sqlite_pk = _rowid_key(info) if dialect == "sqlite" and plain else None
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
            keyed = _Keyed(info, stmt, keys, returning, held) if sqlite_pk is not None else None
            if fetch_back and not conn.dialect.insert_returning:
                # NOTE(mysql): MySQL has no INSERT ... RETURNING (MariaDB has, from 10.5).
                await _insert_and_read_back(conn, info, stmt, keys, returning, group, unique_fields)
                continue
            if fetch_back:
                stmt = stmt.returning(
                    *(info.table_columns[k] for k in returning), sort_by_parameter_order=True
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
                            _fill(info, obj, returning, result.one())
                    continue
                if update_conflicts:
                    # NOTE: SQLAlchemy orders a batch's RETURNING rows by the generated key
                    # (PostgreSQL's implicit sentinel), but a row that conflicted returns
                    # the older key of the row it updated, so objects would get their
                    # neighbours' rows; one statement a row returns each object's own.
                    for obj, one in zip(batch, params, strict=True):
                        _fill(info, obj, returning, (await conn.execute(stmt, one)).one())
                    continue
                result = await conn.execute(stmt, params)
                if fetch_back:
                    for obj, row in zip(batch, result.all(), strict=True):
                        _fill(info, obj, returning, row)

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

_ROWID_MAX = 2**63 - 1


def _rowid_key(info: ModelInfo) -> str | None:
    """On SQLite, the key of a single-column integer primary key (see ``_Keyed``), or None."""
    if len(info.pk_keys) != 1 or info.table.schema is not None:
        return None
    column = info.table_columns[info.pk_key]
    if not isinstance(column.type, Integer) or isinstance(column.type, Boolean):
        return None
    return info.pk_key


class _Keyed:
    """Batched INSERT ... RETURNING on SQLite, rows matched to instances by primary key.

    SQLAlchemy returns RETURNING rows in parameter order only through a sentinel column,
    and SQLite has no implicit one (``insertmanyvalues_implicit_sentinel`` NOT_SUPPORTED),
    so ``sort_by_parameter_order=True`` sends one INSERT per row. Here every row carries
    its integer primary key: the caller's, or one assigned as SQLite would (the largest
    key so far plus one, counting ``sqlite_sequence`` for AUTOINCREMENT tables) while this
    transaction holds the write lock, so no other connection can insert meanwhile. A batch
    is then one multi-row INSERT (paged by insertmanyvalues), and each RETURNING row goes
    to the instance whose key it carries, whatever order SQLite returns the rows in.
    """

    def __init__(
        self,
        info: ModelInfo,
        stmt: Any,
        keys: tuple[str, ...],
        returning: list[str],
        held: list[bool],
    ):
        self.info = info
        self.held = held  # [whether this call has written in its transaction], shared
        self.keys = keys
        self.returning = returning
        self.pk = info.pk_key
        self.pk_index = returning.index(self.pk)
        self.given = self.pk in keys  # the run's rows carry their keys
        self.assign = not self.given and self._rowid_alias()
        self.stmt = stmt.returning(*(info.table_columns[k] for k in returning))
        self.sorted = stmt.returning(
            *(info.table_columns[k] for k in returning), sort_by_parameter_order=True
        )
        self.next_key: int | None = None

    def _rowid_alias(self) -> bool:
        """Whether SQLite fills the key itself: an INTEGER PRIMARY KEY of a rowid table."""
        table = self.info.table
        column = table.columns[self.info.table_columns[self.pk].name]
        if column.default is not None or not (
            column.server_default is None or isinstance(column.server_default, Identity)
        ):  # (SQLite has no IDENTITY: an INTEGER key with Identity() is its rowid)
            return False
        options = table.dialect_options["sqlite"]
        if options.get("with_rowid") is False:
            return False
        from sqlalchemy.dialects import sqlite

        return bool(column.type.compile(dialect=sqlite.dialect()).upper() == "INTEGER")

    def _params(self, batch: list[Any], keys: Sequence[str]) -> list[dict[str, Any]]:
        cols = self.info.table_columns
        col_keys = [cols[k].key for k in keys]
        return [
            {ck: obj.__dict__[k] for ck, k in zip(col_keys, keys, strict=True)} for obj in batch
        ]

    async def insert(self, conn: AsyncConnection, batch: list[Any]) -> bool:
        """Insert ``batch`` and fill its instances; False (nothing done) when it cannot."""
        pk = self.pk
        if self.given:
            if any(type(obj.__dict__[pk]) is not int for obj in batch):
                return False  # a key SQLite may store in another form than it was sent
            await self._run(conn, batch, self._params(batch, self.keys))
            self.held[0] = self.held[0] or await _in_transaction(conn)
            return True
        if not self.assign:
            return False
        if self.next_key is None:
            if not self.held[0]:
                # The first row the plain way: its INSERT takes the write lock.
                first, batch = batch[0], batch[1:]
                await self._rest(conn, [first])
                self.held[0] = await _in_transaction(conn)
                if not self.held[0]:  # autocommit: another connection may insert meanwhile
                    self.assign = False
                if not batch or not self.assign:
                    return await self._rest(conn, batch)
            self.next_key = await self._largest_key(conn) + 1
        start = self.next_key
        if start + len(batch) - 1 > _ROWID_MAX:  # SQLite would pick random free keys there
            self.assign = False
            return await self._rest(conn, batch)
        self.next_key = start + len(batch)
        for offset, obj in enumerate(batch):
            obj.__dict__[pk] = start + offset
        await self._run(conn, batch, self._params(batch, (pk, *self.keys)))
        return True

    async def _rest(self, conn: AsyncConnection, batch: list[Any]) -> bool:
        """Insert ``batch`` one row a statement, in list order (the plain path)."""
        for obj in batch:
            if self.keys:
                row = (await conn.execute(self.sorted, self._params([obj], self.keys))).one()
            else:
                row = (await conn.execute(self.sorted)).one()
            _fill(self.info, obj, self.returning, row)
        return True

    async def _largest_key(self, conn: AsyncConnection) -> int:
        table = self.info.table
        column = table.columns[self.info.table_columns[self.pk].name]
        largest: Any = select(func.max(column)).scalar_subquery()
        if table.dialect_options["sqlite"].get("autoincrement"):
            sequence = sql_table("sqlite_sequence", sql_column("name"), sql_column("seq"))
            seq = select(sequence.c.seq).where(sequence.c.name == table.name).scalar_subquery()
            largest = func.max(func.coalesce(largest, 0), func.coalesce(seq, 0))
        found = (await conn.execute(select(func.coalesce(largest, 0)))).scalar_one()
        return int(found)

    async def _run(self, conn: AsyncConnection, batch: list[Any], params: list[Any]) -> None:
        result = await conn.execute(
            self.stmt, params, execution_options={"insertmanyvalues_page_size": _MAX_PARAMS}
        )
        rows = {row[self.pk_index]: row for row in result.all()}
        if len(rows) != len(batch):
            raise DatabaseError(
                f"bulk_create() on {self.info.model.__name__}: the INSERT returned "
                f"{len(rows)} rows for {len(batch)} objects; nothing was saved."
            )
        for obj in batch:
            row = rows.get(obj.__dict__[self.pk])
            if row is None:
                raise DatabaseError(
                    f"bulk_create() on {self.info.model.__name__}: the INSERT returned no row "
                    f"for key {obj.__dict__[self.pk]!r}; nothing was saved."
                )
            _fill(self.info, obj, self.returning, row)


async def _in_transaction(conn: AsyncConnection) -> bool:
    """Whether the SQLite connection is inside a transaction (sqlite3's own flag): after a
    write, it then holds the write lock until that transaction ends."""
    raw = await conn.get_raw_connection()
    return bool(getattr(raw.driver_connection, "in_transaction", False))


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
        _fill(info, obj, returning, (await conn.execute(read_back.where(*where))).one())


def _fill(info: ModelInfo, obj: Any, keys: list[str], row: Any) -> None:
    obj.__dict__.update(zip(keys, row, strict=True))
    info.mark_loaded(obj)


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
    size = batch_size or max(1, _MAX_PARAMS // (2 * len(fields) + 1))
    written = {
        name: info.checked_all(name, [getattr(obj, name) for obj in objs]) for name in fields
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
