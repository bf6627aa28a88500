"""``store_aware_datetimes_in_utc``: on SQLite and MariaDB / MySQL dialects, a
``DateTime(timezone=True)`` column binds UTC and reads back ``tzinfo=UTC``; columns without
a time zone, and PostgreSQL, keep SQLAlchemy's processing exactly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import TIMESTAMP, DateTime
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.dialects.mysql.asyncmy import MySQLDialect_asyncmy
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.processors import str_to_datetime
from sqlalchemy.types import TypeEngine

from orm_kit.types import _in_utc, iso_text_as_utc, store_aware_datetimes_in_utc

FIVE = timezone(timedelta(hours=5))
AWARE = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=FIVE)  # 07:00:00.123456 UTC
NAIVE_UTC = datetime(2026, 3, 1, 7, 0, 0, 123456)


class NoOffset(tzinfo):
    """A tzinfo that gives no offset: Python treats such a datetime as naive."""

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None

    def tzname(self, dt: datetime | None) -> str | None:
        return None


def dialect(kind: type[Dialect]) -> Dialect:
    made = kind()
    store_aware_datetimes_in_utc(made)
    return made


def bind(type_: TypeEngine[Any], on: Dialect, value: Any) -> Any:
    process = type_.dialect_impl(on).bind_processor(on)
    return value if process is None else process(value)


def result(type_: TypeEngine[Any], on: Dialect, value: Any) -> Any:
    process = type_.dialect_impl(on).result_processor(on, None)
    return value if process is None else process(value)


AWARE_TYPES = [DateTime(timezone=True), TIMESTAMP(timezone=True)]


@pytest.mark.parametrize("type_", AWARE_TYPES, ids=["DateTime", "TIMESTAMP"])
def test_sqlite_stores_utc_text_and_reads_back_aware(type_: TypeEngine[Any]) -> None:
    on = dialect(SQLiteDialect_aiosqlite)
    assert bind(type_, on, AWARE) == "2026-03-01 07:00:00.123456"
    assert bind(type_, on, NAIVE_UTC) == "2026-03-01 07:00:00.123456"  # naive: taken as UTC
    assert bind(type_, on, AWARE.replace(tzinfo=NoOffset())) == "2026-03-01 12:00:00.123456"
    assert bind(type_, on, None) is None
    got = result(type_, on, "2026-03-01 07:00:00.123456")
    assert got == AWARE and got.tzinfo is UTC
    assert result(type_, on, None) is None


@pytest.mark.parametrize("type_", AWARE_TYPES, ids=["DateTime", "TIMESTAMP"])
def test_mysql_binds_naive_utc_and_reads_back_aware(type_: TypeEngine[Any]) -> None:
    on = dialect(MySQLDialect_asyncmy)
    bound = bind(type_, on, AWARE)
    assert bound == NAIVE_UTC and bound.tzinfo is None
    got = result(type_, on, NAIVE_UTC)
    assert got == AWARE and got.tzinfo is UTC


def test_mysql_dialect_types_keep_their_precision() -> None:
    on = dialect(MySQLDialect_asyncmy)
    impl: Any = mysql.DATETIME(timezone=True, fsp=3).dialect_impl(on)
    assert isinstance(impl, mysql.DATETIME) and impl.fsp == 3 and impl.timezone
    impl = mysql.TIMESTAMP(timezone=True, fsp=6).dialect_impl(on)
    assert isinstance(impl, mysql.TIMESTAMP) and impl.fsp == 6


def test_sqlite_storage_format_is_kept() -> None:
    on = dialect(SQLiteDialect_aiosqlite)
    type_ = sqlite.DATETIME(
        timezone=True,
        storage_format="%(year)04d/%(month)02d/%(day)02d %(hour)02d:%(minute)02d",
        regexp=r"(\d+)/(\d+)/(\d+) (\d+):(\d+)",
    )
    assert bind(type_, on, AWARE) == "2026/03/01 07:00"
    assert result(type_, on, "2026/03/01 07:00") == datetime(2026, 3, 1, 7, tzinfo=UTC)


WALL = datetime(2026, 3, 1, 12, 0, 0, 123456)
NAIVE_CASES: list[tuple[type[Dialect], TypeEngine[Any], Any]] = [
    # (dialect, a column type without a time zone, what its driver hands back)
    *[
        (SQLiteDialect_aiosqlite, t, "2026-03-01 12:00:00.123456")
        for t in (DateTime(), TIMESTAMP())
    ],
    (SQLiteDialect_aiosqlite, sqlite.DATETIME(), "2026-03-01 12:00:00.123456"),
    *[(MySQLDialect_asyncmy, t, WALL) for t in (DateTime(), TIMESTAMP(), mysql.DATETIME(fsp=6))],
    *[(PGDialect_asyncpg, t, WALL) for t in (DateTime(), TIMESTAMP(), DateTime(timezone=True))],
]


@pytest.mark.parametrize(("kind", "type_", "raw"), NAIVE_CASES)
def test_columns_without_a_time_zone_are_processed_as_before(
    kind: type[Dialect], type_: TypeEngine[Any], raw: Any
) -> None:
    plain, ours = kind(), dialect(kind)
    for value in (WALL, None):
        assert bind(type_, ours, value) == bind(type_, plain, value)
    for value in (raw, None):
        got, expected = result(type_, ours, value), result(type_, plain, value)
        assert got == expected and getattr(got, "tzinfo", None) is None


def test_postgresql_is_left_alone() -> None:
    plain, ours = PGDialect_asyncpg(), dialect(PGDialect_asyncpg)
    assert ours.colspecs == plain.colspecs
    impl = postgresql.TIMESTAMP(timezone=True).dialect_impl(ours)
    assert type(impl) is type(postgresql.TIMESTAMP(timezone=True).dialect_impl(plain))


def test_installing_twice_wraps_once() -> None:
    on = dialect(SQLiteDialect_aiosqlite)
    before = dict(on.colspecs)
    store_aware_datetimes_in_utc(on)
    assert on.colspecs == before
    # One class per dialect type, shared by every engine.
    assert dialect(SQLiteDialect_aiosqlite).colspecs == before


def _outcome(fn: Any, value: Any) -> Any:
    try:
        result = fn(value)
    except Exception as exc:  # the same error either way
        return ("raised", type(exc))
    return (result, getattr(result, "tzinfo", None))


def _reference(value: Any) -> Any:
    """SQLAlchemy's SQLite processing of the text, then the offset made UTC (the long way)."""
    parsed = str_to_datetime(value)
    if parsed is None:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(
    st.datetimes(timezones=st.none() | st.timezones()),
    st.sampled_from([" ", "T"]),
    st.sampled_from(["auto", "seconds", "milliseconds", "microseconds", "minutes"]),
)
def test_sqlite_one_parse_reads_what_the_long_way_reads(
    moment: datetime, sep: str, timespec: str
) -> None:
    text = moment.isoformat(sep=sep, timespec=timespec)
    assert _outcome(iso_text_as_utc, text) == _outcome(_reference, text)


@pytest.mark.parametrize(
    "value",
    [None, "", "2026-03-01", "2026-03-01 07:00:00Z", "2026-03-01 07:00:00+00:00", "nonsense", 5],
)
def test_sqlite_one_parse_on_odd_values(value: Any) -> None:
    assert _outcome(iso_text_as_utc, value) == _outcome(_reference, value)


def test_sqlite_aware_columns_take_the_one_parse() -> None:
    for dialect in (sqlite.dialect(), SQLiteDialect_aiosqlite()):
        store_aware_datetimes_in_utc(dialect)
        impl = DateTime(timezone=True).dialect_impl(dialect)
        assert impl.result_processor(dialect, None) is iso_text_as_utc


def _sqlite_aware_bind() -> tuple[Any, Any]:
    dialect = sqlite.dialect()
    store_aware_datetimes_in_utc(dialect)
    fast = DateTime(timezone=True).dialect_impl(dialect).bind_processor(dialect)
    inner = sqlite.DATETIME().bind_processor(dialect)
    assert fast is not None and inner is not None
    return fast, lambda value: inner(_in_utc(value))


@settings(max_examples=400, deadline=None, derandomize=True)
@given(st.datetimes(timezones=st.none() | st.timezones()) | st.dates() | st.none())
def test_sqlite_one_step_writes_what_the_long_way_writes(value: Any) -> None:
    fast, long_way = _sqlite_aware_bind()
    assert _outcome(fast, value) == _outcome(long_way, value)


def test_sqlite_one_step_writes_the_default_text() -> None:
    fast, _ = _sqlite_aware_bind()
    assert fast(datetime(2026, 3, 1, 12, tzinfo=timezone(timedelta(hours=5)))) == (
        "2026-03-01 07:00:00.000000"
    )
    assert fast(datetime(999, 1, 1, 0, 0, 0, 5, tzinfo=UTC)) == "0999-01-01 00:00:00.000005"
