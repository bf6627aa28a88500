"""Column types orm_kit's mixins use, the column order they follow, how JSON columns are
declared on SQLite, and how timestamps keep their microseconds on MariaDB / MySQL."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    PrimaryKeyConstraint,
    String,
    Text,
    Time,
    Unicode,
    UnicodeText,
)
from sqlalchemy.dialects.sqlite.base import ischema_names as sqlite_type_names
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import DDLCompiler, TypeCompiler
from sqlalchemy.types import TypeDecorator

__all__ = [
    "MIXIN_SORT_ORDER",
    "MYSQL_COLLATIONS",
    "PRIMARY_KEY_SORT_ORDER",
    "SQLITE_JSON_TYPE",
    "UTCDateTime",
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


# NOTE(mysql): DATETIME and TIME keep whole seconds unless given a fractional precision, so
# a stored timestamp would come back changed (and a value written twice in one second could
# not be told apart). orm_kit declares them with microseconds, as PostgreSQL and SQLite keep
# them. A column declared with the dialect's own DATETIME(fsp=...) keeps its precision.
@compiles(DateTime, "mysql")
def _mysql_datetime(type_: DateTime, compiler: TypeCompiler, **kw: Any) -> str:
    return "DATETIME(6)"


@compiles(Time, "mysql")
def _mysql_time(type_: Time, compiler: TypeCompiler, **kw: Any) -> str:
    return "TIME(6)"


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp stored in UTC on every backend.

    PostgreSQL stores ``timestamptz``. SQLite has no time zones, so the value is converted
    to UTC before it is stored and comes back with ``tzinfo=UTC``. orm_kit refuses a naive
    value with a ``ValidationError`` before any SQL (see ``orm_kit.query.values``); the
    type itself, given one by raw SQLAlchemy code, takes it to be UTC already.
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
