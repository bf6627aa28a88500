"""Batched INSERT ... RETURNING whose rows are matched back to their instances by value:
by primary key on SQLite (``KeyedInsert``), by the conflict target for upserts
(``matched_upsert``), where the database returns the rows in no promised order.

Matching by value is only as safe as the comparison: a key counts only when the value
the database returns is the very value that was sent (``exact_key``: plain integers,
UUIDs, text without a collation), so a match can never pick another row's values; any
other batch goes the plain way, one statement a row.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any, cast

from sqlalchemy import (
    BIGINT,
    INTEGER,
    NVARCHAR,
    SMALLINT,
    TEXT,
    VARCHAR,
    BigInteger,
    Column,
    Identity,
    Integer,
    SmallInteger,
    String,
    Text,
    Unicode,
    UnicodeText,
    Uuid,
    func,
    insert,
    select,
)
from sqlalchemy import column as sql_column
from sqlalchemy import table as sql_table
from sqlalchemy.ext.asyncio import AsyncConnection

from orm_kit.exceptions import DatabaseError
from orm_kit.query.meta import ModelInfo
from orm_kit.types import returned

__all__ = ["MAX_PARAMS", "KeyedInsert", "exact_key", "fill", "matched_upsert", "sqlite_key"]

MAX_PARAMS = 30000  # under SQLite's 32766 and PostgreSQL's 32767 bound parameters
_ROWID_MAX = 2**63 - 1
# A plain INSERT compiled once: its SQL, the key of each parameter, (position, processor)s.
_PlainInsert = tuple[str, list[str], list[tuple[int, Callable[[Any], Any]]]]
# Column types whose stored value reads back as exactly the Python value written
# (no padding as CHAR(n) has, no rounding, no conversion by a TypeDecorator).
# Exact types, not subclasses: PostgreSQL's CITEXT is a TEXT that compares ignoring case.
_INTEGERS = (Integer, BigInteger, SmallInteger, INTEGER, BIGINT, SMALLINT)
_TEXTS = (String, Unicode, Text, UnicodeText, VARCHAR, NVARCHAR, TEXT)


def exact_key(column: Column[Any]) -> Callable[[Any], bool] | None:
    """A test of whether a value of ``column`` reads back exactly as it was written (so a
    returned row can be matched to its instance by it), or None for a column whose values
    may not (a collation may equate different strings, a type may convert them)."""
    kind = type(column.type)
    if kind in _INTEGERS:
        return lambda value: type(value) is int
    if kind is Uuid:
        if column.type.as_uuid:  # type: ignore[attr-defined]
            return lambda value: isinstance(value, uuid.UUID)
        return lambda value: type(value) is str  # canonical: orm_kit's check wrote it
    if kind in _TEXTS and column.type.collation is None:  # type: ignore[attr-defined]
        return lambda value: type(value) is str
    return None


def fill(info: ModelInfo, obj: Any, keys: Sequence[str], row: Any) -> None:
    """Give ``obj`` the values of ``row`` (in ``keys`` order), as a loaded instance."""
    obj.__dict__.update(zip(keys, row, strict=True))
    info.mark_loaded(obj)


def sqlite_key(info: ModelInfo) -> str | None:
    """The key of a single-column primary key on SQLite (see ``KeyedInsert``), or None."""
    if len(info.pk_keys) != 1 or info.table.schema is not None:
        return None
    if exact_key(info.table_columns[info.pk_key]) is None:
        return None
    return info.pk_key


async def matched_upsert(
    conn: AsyncConnection,
    stmt: Any,
    info: ModelInfo,
    batch: list[Any],
    params: list[dict[str, Any]],
    returning: list[str],
    unique_fields: Sequence[str],
) -> bool:
    """Run ``bulk_create(update_conflicts=True)``'s INSERT ... ON CONFLICT DO UPDATE for
    ``batch`` in few statements, each returned row going to the instance whose conflict
    target values it carries (a row that conflicted returns the row it updated, whose key
    is older, so the order of keys tells nothing). False, with nothing run, when the batch
    cannot be matched that way: a target value that may not read back as written, a NULL
    in it (NULLs never conflict), or two instances with the same target (the second must
    update the first's row, which one statement cannot do on PostgreSQL).
    """
    columns = info.table_columns
    checks = [exact_key(columns[f]) for f in unique_fields]
    if not all(checks):
        return False
    targets = [tuple(obj.__dict__.get(f) for f in unique_fields) for obj in batch]
    for target in targets:
        for value, check in zip(target, checks, strict=True):
            if not check(value):  # type: ignore[misc]
                return False
    if len(set(targets)) != len(targets):
        return False
    keys = [*returning, *(f for f in unique_fields if f not in returning)]
    at = [keys.index(f) for f in unique_fields]
    result = await conn.execute(
        stmt.returning(*(returned(columns[k]) for k in keys)),
        params,
        execution_options={"insertmanyvalues_page_size": MAX_PARAMS},
    )
    rows = {tuple(row[i] for i in at): row for row in result.all()}
    if len(rows) != len(batch):
        raise DatabaseError(
            f"bulk_create() on {info.model.__name__}: the upsert returned {len(rows)} rows "
            f"for {len(batch)} objects; nothing was saved."
        )
    for obj, target in zip(batch, targets, strict=True):
        row = rows.get(target)
        if row is None:
            raise DatabaseError(
                f"bulk_create() on {info.model.__name__}: the upsert returned no row for "
                f"{dict(zip(unique_fields, target, strict=True))!r}; nothing was saved."
            )
        fill(info, obj, keys, row)
    return True


class KeyedInsert:
    """Batched INSERT ... RETURNING on SQLite, rows matched to instances by primary key.

    SQLAlchemy returns RETURNING rows in parameter order only through a sentinel column,
    and SQLite has no implicit one (``insertmanyvalues_implicit_sentinel`` NOT_SUPPORTED),
    so ``sort_by_parameter_order=True`` sends one INSERT per row. Here every row carries
    its primary key: the caller's (an integer, a UUID, a text key: see ``exact_key``), or
    for an integer rowid key one assigned as SQLite would (the largest key so far plus
    one, counting ``sqlite_sequence`` for AUTOINCREMENT tables) while this transaction
    holds the write lock, so no other connection can insert meanwhile. A batch is then one
    multi-row INSERT (paged by insertmanyvalues), and each RETURNING row goes to the
    instance whose key it carries, whatever order SQLite returns the rows in.
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
        check = exact_key(info.table_columns[self.pk])
        assert check is not None  # sqlite_key chose this key
        self.exact: Callable[[Any], bool] = check
        self.given = self.pk in keys  # the run's rows carry their keys
        self.assign = not self.given and self._rowid_alias()
        self.stmt = stmt.returning(*(returned(info.table_columns[k]) for k in returning))
        self.sorted = stmt.returning(
            *(returned(info.table_columns[k]) for k in returning), sort_by_parameter_order=True
        )
        self.next_key: int | None = None

    def _rowid_alias(self) -> bool:
        """Whether SQLite fills the key itself: an INTEGER PRIMARY KEY of a rowid table."""
        table = self.info.table
        column = table.columns[self.info.table_columns[self.pk].name]
        if type(column.type) not in _INTEGERS:
            return False
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
            exact = self.exact
            if not all(exact(obj.__dict__[pk]) for obj in batch):
                return False  # a key SQLite may store in another form than it was sent
            await self._run(conn, batch, self.keys)
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
        await self._run(conn, batch, (pk, *self.keys))
        return True

    async def _rest(self, conn: AsyncConnection, batch: list[Any]) -> bool:
        """Insert ``batch`` one row a statement, in list order (the plain path)."""
        for obj in batch:
            if self.keys:
                row = (await conn.execute(self.sorted, self._params([obj], self.keys))).one()
            else:
                row = (await conn.execute(self.sorted)).one()
            fill(self.info, obj, self.returning, row)
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

    async def _run(self, conn: AsyncConnection, batch: list[Any], keys: Sequence[str]) -> None:
        if self.returning == [self.pk]:  # every other column given: nothing to read back
            plan = plain_insert(self.info, conn.dialect, tuple(keys))
            if plan is not None:
                await self._run_many(conn, batch, plan)
                return
        params = self._params(batch, keys)
        result = await conn.execute(
            self.stmt, params, execution_options={"insertmanyvalues_page_size": MAX_PARAMS}
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
            fill(self.info, obj, self.returning, row)

    async def _run_many(self, conn: AsyncConnection, batch: list[Any], plan: _PlainInsert) -> None:
        """Insert ``batch``, every row with its key, through the driver's ``executemany``
        (sqlite3 loops over the rows in C): the INSERT is compiled once and the values go
        through the bind processors SQLAlchemy would apply, column by column. Each row's
        key is the one sent, so the instances need nothing back; the row count proves that
        every row was written."""
        info = self.info
        sql, order, processors = plan
        dicts = [obj.__dict__ for obj in batch]
        columns: list[Any] = [[data[k] for data in dicts] for k in order]
        for i, proc in processors:
            columns[i] = list(map(proc, columns[i]))
        result = await conn.exec_driver_sql(sql, list(zip(*columns, strict=True)))
        if result.rowcount != len(batch):
            raise DatabaseError(
                f"bulk_create() on {info.model.__name__}: the INSERT wrote {result.rowcount} "
                f"rows for {len(batch)} objects; nothing was saved."
            )
        for obj in batch:
            info.mark_loaded(obj)


def plain_insert(info: ModelInfo, dialect: Any, keys: tuple[str, ...]) -> _PlainInsert | None:
    """A plain ``INSERT`` of the columns ``keys`` (attribute keys) of ``info``'s table,
    compiled once per dialect: its SQL with positional parameters, the attribute key of
    each parameter in order, and the bind processor of each position that has one. None
    when the compiled INSERT binds anything else (then the batch goes the RETURNING way)."""
    cache_key = ("plain insert", dialect.name, dialect.paramstyle, keys)
    if cache_key in info.statements:
        return cast("_PlainInsert | None", info.statements[cache_key])
    cols = info.table_columns
    by_bind = {cols[k].key: k for k in keys}
    compiled = insert(info.table).compile(dialect=dialect, column_keys=list(by_bind))
    order = [by_bind.get(name, "") for name in compiled.positiontup or ()]
    found: _PlainInsert | None = None
    if sorted(order) == sorted(keys) and not compiled.literal_execute_params:
        processors: list[tuple[int, Callable[[Any], Any]]] = [
            (i, proc)
            for i, k in enumerate(order)
            if (proc := cols[k].type.dialect_impl(dialect).bind_processor(dialect)) is not None
        ]
        found = (compiled.string, order, processors)
    info.statements[cache_key] = found
    return found


async def _in_transaction(conn: AsyncConnection) -> bool:
    """Whether the SQLite connection is inside a transaction (sqlite3's own flag): after a
    write, it then holds the write lock until that transaction ends."""
    raw = await conn.get_raw_connection()
    return bool(getattr(raw.driver_connection, "in_transaction", False))
