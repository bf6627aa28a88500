"""Column types orm_kit's mixins use, the column order they follow, how JSON columns are
declared on SQLite, how timestamps keep their microseconds on MariaDB / MySQL, and how a
``DateTime(timezone=True)`` column keeps its instant where the database has no time zones."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    TIMESTAMP,
    DateTime,
    Float,
    PrimaryKeyConstraint,
    String,
    Text,
    Time,
    Unicode,
    UnicodeText,
)
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.dialects.sqlite.base import ischema_names as sqlite_type_names
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.processors import str_to_datetime
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import DDLCompiler, SQLCompiler, TypeCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator

__all__ = [
    "MIXIN_SORT_ORDER",
    "MYSQL_COLLATIONS",
    "PRIMARY_KEY_SORT_ORDER",
    "SQLITE_JSON_TYPE",
    "UTCDateTime",
    "is_float_column",
    "returned",
    "store_aware_datetimes_in_utc",
    "utcnow",
]

# ``mapped_column(sort_order=...)`` values: the table (and so ``repr()``, ``to_dict()`` and
# ``values()``) lists the primary key first, then the model's own columns (SQLAlchemy's
# default, 0), then the columns mixins add.
PRIMARY_KEY_SORT_ORDER = -100
"""The ``sort_order`` of primary-key columns: before every other column."""
MIXIN_SORT_ORDER = 100
"""The ``sort_order`` of the columns a mixin adds: after the model's own columns."""


SQLITE_JSON_TYPE = "JSON_TEXT"
"""The declared type of JSON columns in SQLite tables orm_kit creates (and migrations add).

SQLAlchemy declares them ``JSON``, which gives the column NUMERIC affinity: a JSON document
that is a bare number is then stored as a number, so ``0.0`` reads back as ``0`` and an
integer beyond 2**53 loses digits. A declared type containing ``TEXT`` has TEXT affinity, so
the JSON text is kept as written (Django declares its SQLite JSON columns ``text`` for the
same reason). Reflection reads ``JSON_TEXT`` back as JSON, so migrations see no change.
Tables created as ``JSON`` before keep NUMERIC affinity until rebuilt.
"""


@compiles(JSON, "sqlite")
def _sqlite_json_declared_type(type_: JSON, compiler: TypeCompiler, **kw: Any) -> str:
    return SQLITE_JSON_TYPE


sqlite_type_names.setdefault(SQLITE_JSON_TYPE, JSON)


# NOTE(mysql): DATETIME, TIMESTAMP and TIME keep whole seconds unless given a fractional
# precision, so a stored timestamp would come back changed (and a value written twice in one
# second could not be told apart). orm_kit declares them with microseconds, as PostgreSQL and
# SQLite keep them. A column of the dialect's own DATETIME(fsp=...) keeps its precision.
@compiles(DateTime, "mysql")
def _mysql_datetime(type_: DateTime, compiler: TypeCompiler, **kw: Any) -> str:
    return "DATETIME(6)"


@compiles(Time, "mysql")
def _mysql_time(type_: Time, compiler: TypeCompiler, **kw: Any) -> str:
    return "TIME(6)"


@compiles(TIMESTAMP, "mysql")
def _mysql_timestamp(type_: TIMESTAMP, compiler: TypeCompiler, **kw: Any) -> str:
    if getattr(type_, "fsp", None) is not None:  # the dialect's own TIMESTAMP(fsp=...)
        return str(compiler.visit_TIMESTAMP(type_, **kw))  # type: ignore[attr-defined]
    return "TIMESTAMP(6)"


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp stored in UTC on every backend.

    PostgreSQL stores ``timestamptz``. SQLite has no time zones, so the value is converted
    to UTC before it is stored and comes back with ``tzinfo=UTC``. orm_kit refuses a naive
    value with a ``ValidationError`` before any SQL (see ``orm_kit.query.values``); the
    type itself, given one by raw SQLAlchemy code, takes it to be UTC already.

    On the engines orm_kit builds a plain ``DateTime(timezone=True)`` behaves the same
    (``store_aware_datetimes_in_utc``); this type also does so on engines made elsewhere.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        # NOTE(sqlite): stored as naive UTC text; the offset would otherwise be dropped.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _in_utc(value: Any) -> Any:
    """An aware datetime as naive UTC; a naive one (taken to be UTC) and others unchanged."""
    if isinstance(value, datetime):
        offset = value.utcoffset()
        if offset is not None:
            return (value - offset).replace(tzinfo=None)
        if value.tzinfo is not None:  # a tzinfo that gives no offset: naive, as Python has it
            return value.replace(tzinfo=None)
    return value


def _as_utc(value: Any) -> Any:
    """A datetime read from a column without time zones, as the aware UTC value it holds."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value


_fromisoformat = datetime.fromisoformat


def iso_text_as_utc(value: Any) -> Any:
    """``_as_utc(str_to_datetime(value))`` (SQLite's DATETIME text read as UTC), in one
    parse for text without an offset, the text orm_kit stores: ``replace(tzinfo=)`` after
    the parse would cost more than the parse itself."""
    if value is None:
        return None
    try:
        parsed = _fromisoformat(value + "+00:00")
    except (TypeError, ValueError):  # an offset of its own, or not text: the long way
        return _as_utc(str_to_datetime(value))
    # (A date alone ignores the offset after it: "2026-03-01+00:00" parses naive.)
    return parsed if parsed.tzinfo is not None else _as_utc(str_to_datetime(value))


_SQLITE_DATETIME_TEXT = sqlite.DATETIME._storage_format
"""SQLAlchemy's default text of a SQLite DATETIME: ``2026-03-01 07:00:00.000000``."""


def _iso_text_in_utc(inner: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``inner(_in_utc(value))`` for SQLite's default DATETIME text (``inner``), a datetime
    written as ``isoformat()`` gives it (a four-digit year, always six fractional digits)
    in one step: the text without the offset, of the value moved to UTC."""

    def process(value: Any) -> Any:
        if type(value) is not datetime:  # None, a date, a subclass: the long way
            return inner(_in_utc(value))
        offset = value.utcoffset()
        if offset:
            value = value - offset
        return value.isoformat(" ", "microseconds")[:26]

    return process


class _StoredInUTC:
    """A dialect's own timestamp type whose ``timezone=True`` columns are stored in UTC.

    Mixed in before the dialect's DATETIME / TIMESTAMP class, it wraps that class's
    processors: a value bound is converted to naive UTC before the dialect's own processing
    (a naive one, which only code that bypasses orm_kit's value checks can bind, is taken
    to be UTC, as ``UTCDateTime`` takes it), and a value read comes back with
    ``tzinfo=UTC``. ``timezone=False`` columns keep the dialect's processing unchanged.
    """

    timezone: bool

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        inner: Callable[[Any], Any] | None = super().bind_processor(dialect)  # type: ignore[misc]
        if not self.timezone:
            return inner
        if inner is None:
            return _in_utc
        if getattr(self, "_storage_format", None) == _SQLITE_DATETIME_TEXT:
            return _iso_text_in_utc(inner)

        def process(value: Any) -> Any:
            return inner(_in_utc(value))

        return process

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], Any] | None:
        inner: Callable[[Any], Any] | None = super().result_processor(  # type: ignore[misc]
            dialect, coltype
        )
        if not self.timezone:
            return inner
        if inner is None:
            return _as_utc
        if inner is str_to_datetime:  # SQLite's ISO text
            return iso_text_as_utc

        def process(value: Any) -> Any:
            return _as_utc(inner(value))

        return process


_UTC_TYPES: dict[type[Any], type[Any]] = {}  # one class per dialect type, for every engine


def _stored_in_utc(base: type[Any]) -> type[Any]:
    made = _UTC_TYPES.get(base)
    if made is None:
        name = f"UTC{base.__name__}"
        made = _UTC_TYPES[base] = type(name, (_StoredInUTC, base), {"__module__": __name__})
    return made


def store_aware_datetimes_in_utc(dialect: Dialect) -> None:
    """Make ``DateTime(timezone=True)`` columns keep their instant on ``dialect``.

    NOTE(sqlite), NOTE(mysql): their column types have no time zone, and SQLAlchemy's
    DATETIME / TIMESTAMP processing keeps an aware value's wall time and drops its offset:
    12:00+05:00 would be stored as 12:00 and read back naive, while PostgreSQL's
    ``timestamptz`` returns 07:00+00:00. Here the dialect's types for ``DateTime`` and
    ``TIMESTAMP`` (and so their subclasses) get ``_StoredInUTC`` mixed in: a column with
    ``timezone=True`` stores naive UTC and reads back ``tzinfo=UTC``, so equality,
    ordering, lookups and date parts compare instants. Only the processing changes: the
    DDL (SQLite ``DATETIME``, MariaDB ``DATETIME(6)``) and so migrations stay as they were.
    Every statement on the engine gets it (ORM, Core on ``Model.__table__``, orm_kit's raw
    path, whose processors come from the dialect). Other dialects are left as they are
    (PostgreSQL has ``timestamptz``).

    NOTE(mysql): SQLAlchemy's mysql dialect has no type of its own for ``DateTime`` (the
    driver converts); here it gets ``DATETIME`` / ``TIMESTAMP``, which process a column
    without a time zone exactly as before.
    """
    colspecs = dialect.colspecs
    bases: dict[type[Any], type[Any]]
    if dialect.name == "sqlite":
        bases = {
            DateTime: colspecs[DateTime],
            # pysqlite's own TIMESTAMP (aiosqlite's too) where the dialect has one.
            TIMESTAMP: colspecs.get(TIMESTAMP, colspecs[DateTime]),
        }
    elif dialect.name == "mysql":
        bases = {DateTime: mysql.DATETIME, TIMESTAMP: mysql.TIMESTAMP}
    else:
        return
    if issubclass(bases[DateTime], _StoredInUTC):
        return  # done already
    dialect.colspecs = {**colspecs, **{key: _stored_in_utc(base) for key, base in bases.items()}}


@compiles(Float, "mysql")
def _mysql_float(type_: Float[Any], compiler: TypeCompiler, **kw: Any) -> str:
    # NOTE(mysql): FLOAT is single precision there (0.1 reads back as 0.100000001); a
    # Python float is a double, as PostgreSQL's float and SQLite's REAL are.
    if type_.precision is None:
        return "DOUBLE"
    mysql_compiler: Any = compiler
    return str(mysql_compiler.visit_float(type_, **kw))


@compiles(PrimaryKeyConstraint, "mysql")
def _mysql_primary_key(constraint: PrimaryKeyConstraint, compiler: DDLCompiler, **kw: Any) -> str:
    # NOTE(mysql): a primary key is always named PRIMARY; the server ignores (and warns
    # about) the naming convention's pk_<table>, so it is not sent. A violation still
    # reports pk_<table> (orm_kit.exceptions derives it from the model).
    sql: str = compiler.visit_primary_key_constraint(constraint, **kw)
    return re.sub(r"^CONSTRAINT \S+ ", "", sql)


MYSQL_COLLATIONS = {"mariadb": "utf8mb4_nopad_bin", "mysql": "utf8mb4_0900_bin", "": "utf8mb4_bin"}
"""The collation of the text columns orm_kit creates on MariaDB / MySQL (one that declares
``collation=`` keeps it); SQL rendered offline (``orm-kit sql``), for a server not known
yet, gets ``utf8mb4_bin``, which both have (it ignores trailing spaces in comparisons).

NOTE(mysql): under the servers' default collations ``=``, ``IN``, unique keys and ``ORDER
BY`` ignore case and accents, and ``'a' = 'a '``. A binary collation without padding makes
them compare and sort code points, as SQLite does and PostgreSQL under the C collation:
``filter(email="A@x.io")`` does not find ``a@x.io``, and both can be stored under one unique
key. ``iexact`` and the other ``i``-lookups fold case themselves. Tables made some other way
keep their collation; orm_kit's ``contains`` / ``startswith`` / ``endswith`` / ``regex`` are
case-sensitive there too, ``exact`` and ``in`` follow that collation."""


def _mysql_text(type_: String, compiler: TypeCompiler, **kw: Any) -> str:
    sql = str(getattr(compiler, f"visit_{type_.__visit_name__}")(type_, **kw))
    if type_.collation is not None:
        return sql
    dialect = compiler.dialect
    if dialect.server_version_info is None:
        server = ""  # SQL rendered offline, for a server not known yet
    else:
        server = "mariadb" if getattr(dialect, "is_mariadb", False) else "mysql"
    return f"{sql} CHARACTER SET utf8mb4 COLLATE {MYSQL_COLLATIONS[server]}"


for _text_type in (String, Text, Unicode, UnicodeText):
    compiles(_text_type, "mysql")(_mysql_text)


class _ReturnedReal(FunctionElement[Any]):
    """A REAL column in a RETURNING clause (see ``returned``)."""

    inherit_cache = True
    name = "orm_kit_returned_real"

    def __init__(self, column: Any) -> None:
        super().__init__(column)
        self.type = column.type


@compiles(_ReturnedReal)
def _returned_real(element: _ReturnedReal, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(_ReturnedReal, "sqlite")
def _returned_real_sqlite(element: _ReturnedReal, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST({compiler.process(element.clauses, **kw)} AS REAL)"


def returned(column: Any) -> Any:
    """``column`` as a RETURNING clause should name it.

    NOTE(sqlite): SQLite stores a REAL that has no fractional part as an integer and
    converts it back when a SELECT reads it, but INSERT / UPDATE ... RETURNING skips that
    step (3.40: ``INSERT ... VALUES (2.0) RETURNING r`` gives ``2``), so ``create(ratio=2.0)``
    handed back an ``int``. A float column (``Float``, ``Double``, a ``TypeDecorator`` over
    one) is returned as ``CAST(column AS REAL)`` there, labelled with its name; other
    columns, and every column on other databases, are returned as they are. (The unit of
    work's own RETURNING of server-filled columns is mended after the flush instead:
    ``orm_kit.model``.)
    """
    if is_float_column(column):
        return _ReturnedReal(column).label(column.name)
    return column


def is_float_column(column: Any) -> bool:
    """Whether ``column`` holds Python floats: ``Float`` / ``Double`` (not ``asdecimal``),
    or a ``TypeDecorator`` over one (see ``returned``)."""
    kind = column.type
    impl = kind.impl_instance if isinstance(kind, TypeDecorator) else kind
    return isinstance(impl, Float) and not impl.asdecimal
