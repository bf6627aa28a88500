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
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any
from uuid import UUID

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    Interval,
    LargeBinary,
    Numeric,
    Table,
    Time,
    Uuid,
    func,
    insert,
    select,
    text,
)
from sqlalchemy import Enum as SAEnum
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.types import TypeDecorator, TypeEngine

from orm_kit.database import Database
from orm_kit.exceptions import ORMKitError
from orm_kit.model import Model

__all__ = ["FixtureError", "dump_data", "load_data", "model_label", "resolve_models"]

Progress = Callable[[str, int], None]


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
    return value


async def dump_data(
    database: Database,
    out: IO[str],
    models: Sequence[type[Model]] | None = None,
    *,
    indent: int | None = None,
    progress: Progress | None = None,
) -> int:
    """Write every row of ``models`` (default: all) to ``out`` as a JSON fixture.

    Tables come in foreign-key dependency order, rows in primary-key order, streamed from
    a server-side cursor so a table larger than memory still dumps. Rows are read as they
    are stored: soft-deleted rows too.

    Args:
        database: A connected database.
        out: Where the JSON goes.
        models: The models to dump.
        indent: Indent each record's JSON by this much (default: one record a line).
        progress: Called with (model label, rows so far) every 1000 rows and per table.

    Returns:
        The number of rows written.
    """
    count = 0
    out.write("[")
    async with database.engine.connect() as conn:
        for model, table in _in_dependency_order(models or _mapped_models()):
            label = model_label(model)
            done = 0
            order = list(table.primary_key.columns) or list(table.columns)
            result = await conn.stream(select(table).order_by(*order))
            async for row in result.mappings():
                fields = {c.name: encode(row[c.name], c.type) for c in table.columns}
                record = json.dumps({"model": label, "fields": fields}, indent=indent)
                out.write(("\n" if count == 0 else ",\n") + record)
                count += 1
                done += 1
                if progress is not None and done % 1000 == 0:
                    progress(label, done)
            if progress is not None:
                progress(label, done)
    out.write("\n]\n" if count else "]\n")
    return count


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
            {"table": table.fullname, "column": key.name},
        ).scalar()
        if sequence is None:
            continue
        highest = connection.execute(select(func.max(key))).scalar()
        connection.execute(
            text("SELECT setval(:sequence, :value, :called)"),
            {"sequence": sequence, "value": highest or 1, "called": highest is not None},
        )


async def load_data(database: Database, paths: Sequence[str | Path]) -> int:
    """Load JSON fixtures into the database, all in one transaction.

    Every record is checked (model, fields, each value against its column's type) before
    any row is written; rows go in foreign-key dependency order, as written (no defaults,
    no mixin rules: a fixture is the rows as they were). On PostgreSQL the key sequences
    move past the loaded keys.

    Returns:
        The number of rows loaded.

    Raises:
        FixtureError: A file is not a fixture or a record does not fit (the message names
            the file, the record's number and the field); nothing is loaded.
    """
    labels = {model_label(m): m for m in _mapped_models()}
    rows: list[tuple[Table, dict[str, Any], str]] = []
    for path in paths:
        source = str(path)
        try:
            data = json.loads(await asyncio.to_thread(Path(path).read_text, encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise FixtureError(f"Could not read {source}: {exc}.") from exc
        for number, record in enumerate(_records(data, source), start=1):
            table, values = _decode_record(number, record, labels, source)
            rows.append((table, values, f"{source}, record {number} ({record['model']})"))
    order = {table: i for i, table in enumerate(Model.metadata.sorted_tables)}
    rows.sort(key=lambda item: order[item[0]])  # stable: a table's rows keep file order

    def work(connection: Connection) -> None:
        for table, values, where in rows:
            try:
                connection.execute(insert(table), [values])
            except SQLAlchemyError as exc:
                first = str(getattr(exc, "orig", None) or exc).strip().splitlines()
                detail = first[0] if first else type(exc).__name__
                raise FixtureError(
                    f"{where} could not be loaded: {detail}. Nothing was loaded."
                ) from exc
        if connection.dialect.name == "postgresql":
            _reset_sequences(connection, dict.fromkeys(table for table, _, _ in rows))

    async with database.engine.connect() as conn, conn.begin():
        await conn.run_sync(work)
    return len(rows)
