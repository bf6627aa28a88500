"""``dumpdata`` / ``loaddata``: model rows as JSON fixtures, and back, exactly.

The format is Django's: a JSON list of ``{"model": "app.models.Author", "fields": {...}}``
objects, one per row, every column under its name (the primary key too). Values are
encoded by the column's type so they come back equal: aware datetimes keep their offset,
``Decimal`` and ``UUID`` are strings, ``bytes`` base64, enums their member name.
"""

from __future__ import annotations

import asyncio
import base64
import enum
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any, Protocol
from uuid import UUID

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    Integer,
    Interval,
    LargeBinary,
    Numeric,
    String,
    Table,
    Time,
    Uuid,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy import Enum as SAEnum
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import TypeDecorator, TypeEngine

from orm_kit.database import Database
from orm_kit.exceptions import ORMKitError
from orm_kit.model import Model

__all__ = [
    "DumpProgress",
    "FixtureError",
    "dump_data",
    "load_data",
    "model_label",
    "resolve_models",
]

PROGRESS_EVERY = 500


class DumpProgress(Protocol):
    """What ``dump_data`` tells while it writes (``orm-kit dumpdata`` draws a bar from it)."""

    def start(self, label: str, total: int) -> None:
        """A table begins: ``total`` rows, as counted just before it is read."""

    def advance(self, label: str, done: int) -> None:
        """``done`` rows of the table are written (every 500 rows, and at its end)."""


class FixtureError(ORMKitError):
    """A fixture could not be dumped or loaded; the message names the record and why."""


def model_label(model: type[Model]) -> str:
    """The name a fixture gives ``model``: its import path, ``app.models.Author``."""
    return f"{model.__module__}.{model.__qualname__}"


def _mapped_models() -> list[type[Model]]:
    return [mapper.class_ for mapper in Model.registry.mappers]


def resolve_models(names: Sequence[str] = ()) -> list[type[Model]]:
    """The models named (import path, class name or table name), or every mapped model.

    Raises:
        FixtureError: A name matches no model, or more than one.
    """
    models = _mapped_models()
    if not names:
        return models
    chosen: list[type[Model]] = []
    for name in names:
        found = [
            m
            for m in models
            if name in (model_label(m), m.__name__, getattr(m, "__tablename__", None))
        ]
        if len(found) != 1:
            known = ", ".join(sorted(model_label(m) for m in models)) or "none"
            how = "matches no model" if not found else "matches more than one model"
            raise FixtureError(f"{name!r} {how}; the models are: {known}.")
        chosen.append(found[0])
    return chosen


def _table(model: type[Model]) -> Table:
    table = model.__table__
    if not isinstance(table, Table):
        raise FixtureError(f"{model_label(model)} is not mapped to a table.")
    return table


def _in_dependency_order(models: Iterable[type[Model]]) -> list[tuple[type[Model], Table]]:
    by_table = {_table(m): m for m in models}
    return [(by_table[t], t) for t in Model.metadata.sorted_tables if t in by_table]


def _kind(type_: TypeEngine[Any]) -> TypeEngine[Any]:
    return type_.impl_instance if isinstance(type_, TypeDecorator) else type_


def encode(value: Any, type_: TypeEngine[Any]) -> Any:
    """A column value as JSON (see the module docstring for each type)."""
    if value is None or isinstance(_kind(type_), JSON):
        return value
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return [value.days, value.seconds, value.microseconds]
    if isinstance(value, UUID | Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, enum.Enum):
        return value.name
    return value


def decode(value: Any, type_: TypeEngine[Any]) -> Any:
    """The column value a fixture's JSON ``value`` stands for.

    Raises:
        ValueError, TypeError, KeyError: The value does not fit the column's type.
    """
    if value is None:
        return None
    if isinstance(type_, Interval):  # a TypeDecorator over DateTime on most backends
        days, seconds, microseconds = value
        return timedelta(days=days, seconds=seconds, microseconds=microseconds)
    kind = _kind(type_)
    if value is None or isinstance(kind, JSON):
        return value
    if isinstance(kind, SAEnum):
        enum_class = kind.enum_class
        return enum_class[value] if enum_class is not None else str(value)
    if isinstance(kind, DateTime):
        return datetime.fromisoformat(value)
    if isinstance(kind, Date):
        return date.fromisoformat(value)
    if isinstance(kind, Time):
        return time.fromisoformat(value)
    if isinstance(kind, Uuid):
        return UUID(value) if kind.as_uuid else str(value)
    if isinstance(kind, Numeric) and kind.asdecimal:
        try:
            return Decimal(value if isinstance(value, str | int) else str(value))
        except InvalidOperation:
            raise ValueError("not a decimal number") from None
    if isinstance(kind, LargeBinary):
        return base64.b64decode(value, validate=True)
    return _of_json_kind(value, kind)


def _of_json_kind(value: Any, kind: TypeEngine[Any]) -> Any:
    # The same check on every backend: SQLite would store 7 in a VARCHAR column as it is.
    for column_type, python_types, name in _JSON_KINDS:
        if isinstance(kind, column_type):
            if isinstance(value, bool) != (python_types == (bool,)) or not isinstance(
                value, python_types
            ):
                raise TypeError(f"expected {name}, not {type(value).__name__}")
            break
    return value


_JSON_KINDS: tuple[tuple[type[TypeEngine[Any]], tuple[type, ...], str], ...] = (
    (String, (str,), "a string"),
    (Boolean, (bool,), "true or false"),
    (Integer, (int,), "an integer"),
    (Float, (int, float), "a number"),
)


async def dump_data(
    database: Database,
    out: IO[str],
    models: Sequence[type[Model]] | None = None,
    *,
    indent: int | None = None,
    progress: DumpProgress | None = None,
) -> int:
    """Write every row of ``models`` (default: all) to ``out`` as a JSON fixture.

    Tables come in foreign-key dependency order, rows in primary-key order, streamed from
    a server-side cursor so a table larger than memory still dumps, all in one read
    transaction (one snapshot: rows written meanwhile are in no table of the dump). Rows
    are read as they are stored: soft-deleted rows too.

    Args:
        database: A connected database.
        out: Where the JSON goes.
        models: The models to dump.
        indent: Indent each record's JSON by this much (default: one record a line).
        progress: Told each table's row count (one ``COUNT`` per table, only when given)
            and the rows written so far.

    Returns:
        The number of rows written.

    Raises:
        FixtureError: A table cannot be read (it does not exist yet, say); the message
            names it.
    """
    count = 0
    out.write("[")
    async with database.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            # NOTE(postgresql): one snapshot for every table, as pg_dump takes; under READ
            # COMMITTED rows committed meanwhile could reach a later table only (a child
            # without its parent), and the dump would not load. SQLite's BEGIN gives one.
            await conn.execution_options(isolation_level="REPEATABLE READ")
        for model, table in _in_dependency_order(models or _mapped_models()):
            label = model_label(model)
            try:
                count = await _dump_table(conn, model, table, out, count, indent, progress)
            except SQLAlchemyError as exc:
                raise await _read_failed(database, table, label, exc) from exc
    out.write("\n]\n" if count else "]\n")
    return count


async def _dump_table(
    conn: AsyncConnection,
    model: type[Model],
    table: Table,
    out: IO[str],
    count: int,
    indent: int | None,
    progress: DumpProgress | None,
) -> int:
    """Write the rows of ``table`` after ``count`` records; return the new record count."""
    label = model_label(model)
    done = 0
    order = list(table.primary_key.columns) or list(table.columns)
    if progress is not None:
        total = await conn.scalar(select(func.count()).select_from(table))
        progress.start(label, total or 0)
    result = await conn.stream(select(table).order_by(*order))
    try:
        async for row in result.mappings():
            fields = {c.name: encode(row[c.name], c.type) for c in table.columns}
            record = json.dumps({"model": label, "fields": fields}, indent=indent)
            out.write(("\n" if count == 0 else ",\n") + record)
            count += 1
            done += 1
            if progress is not None and done % PROGRESS_EVERY == 0:
                progress.advance(label, done)
    finally:
        # Closed here when the writing stops early (a closed pipe): asyncmy otherwise
        # warns about the unread rest of its unbuffered result when the connection is reused.
        await result.close()
    if progress is not None:
        progress.advance(label, done)
    return count


async def _read_failed(
    database: Database, table: Table, label: str, exc: SQLAlchemyError
) -> FixtureError:
    # A fresh connection: on PostgreSQL the dump's transaction is aborted by the error.
    async with database.engine.connect() as conn:
        exists = await conn.run_sync(
            lambda c: inspect(c).has_table(table.name, schema=table.schema)
        )
    if not exists:
        return FixtureError(
            f"Could not read the table {table.fullname} ({label}): it does not exist in the "
            "database. Run `orm-kit migrate` first."
        )
    first = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    detail = first[0] if first else type(exc).__name__
    return FixtureError(f"Could not read the table {table.fullname} ({label}): {detail}.")


def _records(data: Any, source: str) -> list[dict[str, Any]]:
    if not isinstance(data, list) or not all(
        isinstance(r, dict)
        and isinstance(r.get("model"), str)
        and isinstance(r.get("fields"), dict)
        for r in data
    ):
        raise FixtureError(
            f"{source} is not a fixture: expected a JSON list of "
            '{"model": ..., "fields": {...}} objects.'
        )
    return data


def _decode_record(
    number: int, record: dict[str, Any], labels: dict[str, type[Model]], source: str
) -> tuple[Table, dict[str, Any]]:
    where = f"{source}, record {number} ({record['model']})"
    model = labels.get(record["model"])
    if model is None:
        raise FixtureError(f"{where}: no such model is imported; check the models modules.")
    table = _table(model)
    unknown = sorted(set(record["fields"]) - set(table.columns.keys()))
    if unknown:
        raise FixtureError(
            f"{where}: unknown field(s) {', '.join(unknown)}; "
            f"{model.__name__} has {', '.join(table.columns.keys())}."
        )
    values: dict[str, Any] = {}
    for name, value in record["fields"].items():
        try:
            values[name] = decode(value, table.columns[name].type)
        except (ValueError, TypeError, KeyError) as exc:
            raise FixtureError(
                f"{where}: field {name!r} holds {value!r}, which {_why(exc)}."
            ) from exc
    return table, values


def _why(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return "is not a member of its enum"
    return f"does not fit the column ({exc})"


def _reset_sequences(connection: Connection, tables: Iterable[Table]) -> None:
    # NOTE(postgresql): rows loaded with explicit keys leave the key's sequence behind, so
    # the next create() would collide with them (Django's sqlsequencereset).
    for table in tables:
        keys = list(table.primary_key.columns)
        if len(keys) != 1 or keys[0].autoincrement not in (True, "auto"):
            continue
        key = keys[0]
        if key.type.python_type is not int:
            continue
        sequence = connection.execute(
            text("SELECT pg_get_serial_sequence(:table, :column)"),
            # The name as SQL spells it: pg_get_serial_sequence folds an unquoted one to
            # lower case, so "QuotedNote" must reach it quoted.
            {
                "table": connection.dialect.identifier_preparer.format_table(table),
                "column": key.name,
            },
        ).scalar()
        if sequence is None:
            continue
        highest = connection.execute(select(func.max(key))).scalar()
        connection.execute(
            text("SELECT setval(:sequence, :value, :called)"),
            {"sequence": sequence, "value": highest or 1, "called": highest is not None},
        )


@dataclass(eq=False)
class _Row:
    """One fixture record, decoded, on its way into ``table``."""

    table: Table
    values: dict[str, Any]
    where: str
    # Self-references held back to break a cycle: inserted NULL, set by an UPDATE after.
    later: dict[str, Any] = field(default_factory=dict)


def _self_references(table: Table) -> list[tuple[list[str], list[str]]]:
    """(local columns, referred columns) of each foreign key from ``table`` to itself."""
    return [
        ([e.parent.name for e in fk.elements], [e.column.name for e in fk.elements])
        for fk in table.foreign_key_constraints
        if fk.referred_table is table
    ]


def _parents_first(rows: list[_Row], references: list[tuple[list[str], list[str]]]) -> list[_Row]:
    """The rows of one self-referencing table, each after the rows it points at.

    A depth-first walk (iterative: a chain of parents may be long) that keeps file order
    where it can. A cycle (rows that are each other's ancestors) is broken by holding
    back the reference that closes it: that row goes in with the column NULL and an
    UPDATE sets it once its target is in (Django leans on deferred constraints instead,
    which a non-deferrable PostgreSQL key or SQLite's default do not give).

    Raises:
        FixtureError: A cycle runs through a NOT NULL column, so no order can load it.
    """
    keyed: list[tuple[list[str], dict[tuple[Any, ...], int]]] = []
    for local, referred in references:
        index: dict[tuple[Any, ...], int] = {}
        for i, row in enumerate(rows):
            key = tuple(row.values.get(c) for c in referred)
            if None not in key:
                index.setdefault(key, i)
        keyed.append((local, index))

    def parents(i: int) -> Iterator[tuple[list[str], int]]:
        for local, index in keyed:
            key = tuple(rows[i].values.get(c) for c in local)
            j = index.get(key) if None not in key else None
            if j is not None and j != i:  # a row pointing at itself inserts as it is
                yield local, j

    new, open_, placed = 0, 1, 2
    state = [new] * len(rows)
    order: list[_Row] = []
    for start in range(len(rows)):
        if state[start] != new:
            continue
        state[start] = open_
        stack = [(start, parents(start))]
        while stack:
            i, pending = stack[-1]
            for local, j in pending:
                if state[j] == new:
                    state[j] = open_
                    stack.append((j, parents(j)))
                    break
                if state[j] == open_:  # j waits for i: hold i's reference back
                    at = next(n for n, (k, _) in enumerate(stack) if k == j)
                    _hold_back(rows[i], local, [rows[k] for k, _ in stack[at:]])
            else:
                stack.pop()
                state[i] = placed
                order.append(rows[i])
    return order


def _hold_back(row: _Row, columns: list[str], cycle: list[_Row]) -> None:
    not_null = [c for c in columns if not row.table.columns[c].nullable]
    if not_null:
        records = "; ".join(r.where for r in cycle)
        raise FixtureError(
            f"{records}: these rows reference each other in a cycle through the NOT NULL "
            f"column(s) {', '.join(not_null)}, so no order of inserts can load them; "
            "nothing was loaded. Make the column nullable or break the cycle in the fixture."
        )
    missing = [c.name for c in row.table.primary_key if row.values.get(c.name) is None]
    if missing:
        raise FixtureError(
            f"{row.where}: it is part of a cycle of references, so it is inserted first and "
            f"updated after, which needs its primary key; add {', '.join(missing)}."
        )
    for column in columns:
        row.later[column] = row.values[column]


def _load_order(rows: list[_Row]) -> list[_Row]:
    """Tables in foreign-key dependency order; within a self-referencing table, parents
    before children; otherwise each table's rows in file order."""
    position = {table: i for i, table in enumerate(Model.metadata.sorted_tables)}
    by_table: dict[Table, list[_Row]] = {}
    for row in sorted(rows, key=lambda r: position[r.table]):
        by_table.setdefault(row.table, []).append(row)
    ordered: list[_Row] = []
    for table, table_rows in by_table.items():
        references = _self_references(table)
        ordered += _parents_first(table_rows, references) if references else table_rows
    return ordered


def _failed(row: _Row, exc: SQLAlchemyError) -> FixtureError:
    first = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    detail = first[0] if first else type(exc).__name__
    return FixtureError(f"{row.where} could not be loaded: {detail}. Nothing was loaded.")


async def load_data(database: Database, paths: Sequence[str | Path]) -> int:
    """Load JSON fixtures into the database, all in one transaction.

    Every record is checked (model, fields, each value against its column's type) before
    any row is written; rows go in foreign-key dependency order, as written (no mixin
    rules: a fixture is the rows as they were; a field a record leaves out gets its
    column's ``default``, else its ``server_default``, else NULL). In a table that references
    itself (``parent_id``), each row goes in after the row it points at, whatever the
    order in the file; rows that point at each other in a cycle go in with the reference
    NULL and get it by an UPDATE in the same transaction. On PostgreSQL the key
    sequences move past the loaded keys.

    Returns:
        The number of rows loaded.

    Raises:
        FixtureError: A file is not a fixture or a record does not fit (the message names
            the file, the record's number and the field), or rows form a cycle through a
            NOT NULL column; nothing is loaded.
    """
    labels = {model_label(m): m for m in _mapped_models()}
    rows: list[_Row] = []
    for path in paths:
        source = str(path)
        try:
            data = json.loads(await asyncio.to_thread(Path(path).read_text, encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise FixtureError(f"Could not read {source}: {exc}.") from exc
        for number, record in enumerate(_records(data, source), start=1):
            table, values = _decode_record(number, record, labels, source)
            rows.append(_Row(table, values, f"{source}, record {number} ({record['model']})"))
    ordered = _load_order(rows)

    def work(connection: Connection) -> None:
        for row in ordered:
            try:
                connection.execute(insert(row.table), [{**row.values, **dict.fromkeys(row.later)}])
            except SQLAlchemyError as exc:
                raise _failed(row, exc) from exc
        for row in ordered:
            if not row.later:
                continue
            keys = [row.table.columns[c.name] == row.values[c.name] for c in row.table.primary_key]
            try:
                connection.execute(update(row.table).where(*keys).values(row.later))
            except SQLAlchemyError as exc:
                raise _failed(row, exc) from exc
        if connection.dialect.name == "postgresql":
            _reset_sequences(connection, dict.fromkeys(row.table for row in ordered))

    async with database.engine.connect() as conn, conn.begin():
        await conn.run_sync(work)
    return len(rows)
