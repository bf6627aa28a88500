"""The SQL of every built-in lookup and transform on SQLite, PostgreSQL and MySQL (no database).

The parametrization walks the lookup registry for each column of ``LookupSqlItem`` (one per
column type), so a lookup or transform added later fails here until its SQL is written down.
Each expectation is the exact WHERE clause each dialect compiles, and its parameters.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import JSON, Numeric, String
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column

from orm_kit import F, InvalidLookupError, Model, Q, QuerySet, ValidationError

# The package internals this module builds statements with. orm_kit.query is being
# restructured: these two imports are the only ones to fix.
from orm_kit.query.compiler import compile_select_models as compile_select
from orm_kit.query.lookups import lookups as registry
from orm_kit.types import UTCDateTime


def where_sql(qs: QuerySet[Any], dialect: Dialect) -> tuple[str, dict[str, Any]]:
    """The WHERE clause of ``qs``'s select compiled for ``dialect``, and its parameters."""
    stmt = compile_select(qs.query_state)
    compiled = stmt.whereclause.compile(  # type: ignore[union-attr]
        dialect=dialect, compile_kwargs={"render_postcompile": True}
    )
    return str(compiled), dict(compiled.params)


# ---------------------------------------------------------------------------------------


class LookupSqlItem(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(50))
    note: Mapped[str | None] = mapped_column(String(50))  # nullable, for negations
    num: Mapped[int]
    ratio: Mapped[float | None]
    amount: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    flag: Mapped[bool]
    day: Mapped[date]
    at: Mapped[datetime]  # naive
    stamp: Mapped[datetime] = mapped_column(UTCDateTime)  # timezone-aware, stored in UTC
    clock: Mapped[time]
    token: Mapped[uuid.UUID]
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class LookupSqlSpan(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    span: Mapped[timedelta]


# One column per column type; the registry decides which lookups each one gets.
LOOKUP_FIELDS = ["text", "num", "ratio", "amount", "flag", "day", "at", "stamp"]
LOOKUP_FIELDS += ["clock", "token", "data"]
DIALECTS: dict[str, Dialect] = {
    "sqlite": sqlite.dialect(),
    "postgresql": postgresql.dialect(),
    "mysql": mysql.dialect(),
}
T = "lookup_sql_item"


@dataclass(frozen=True)
class Sql:
    """The expected WHERE clause per dialect and the parameters."""

    sqlite: str
    postgresql: str
    mysql: str
    params: dict[str, Any] = field(default_factory=dict)

    def on(self, dialect: str) -> str:
        text: str = getattr(self, dialect)
        return text


@dataclass(frozen=True)
class Refused:
    """Building the filter raises ``error`` with a message matching ``match``."""

    error: type[Exception]
    match: str


Expected = Sql | Refused


# --- comparisons ----------------------------------------------------------------------------


def compared(name: str, pg_cast: str, low: Any, high: Any) -> dict[str, tuple[Any, Expected]]:
    """The lookups every column but JSON has. The SQL is the same for each of them up to
    the column name and PostgreSQL's parameter cast (``pg_cast``)."""
    col = f"{T}.{name}"

    def pg(n: str) -> str:
        return f"%({name}_{n})s{pg_cast}"

    def op(sign: str) -> tuple[Any, Expected]:
        sqls = (f"{col} {sign} ?", f"{col} {sign} {pg('1')}", f"{col} {sign} %s")
        return low, Sql(*sqls, params={f"{name}_1": low})

    return {
        "exact": op("="),
        "gt": op(">"),
        "gte": op(">="),
        "lt": op("<"),
        "lte": op("<="),
        "in": (
            [low, high],
            Sql(
                f"{col} IN (?, ?)",
                f"{col} IN ({pg('1_1')}, {pg('1_2')})",
                f"{col} IN (%s, %s)",
                {f"{name}_1_1": low, f"{name}_1_2": high},
            ),
        ),
        "range": (
            (low, high),
            Sql(
                f"{col} BETWEEN ? AND ?",
                f"{col} BETWEEN {pg('1')} AND {pg('2')}",
                f"{col} BETWEEN %s AND %s",
                {f"{name}_1": low, f"{name}_2": high},
            ),
        ),
        "isnull": (False, Sql(f"{col} IS NOT NULL", f"{col} IS NOT NULL", f"{col} IS NOT NULL")),
        # As in Django, a regex on a non-text column matches the column's text form.
        "regex": (
            "1",
            Sql(
                f"(CAST({col} AS VARCHAR) REGEXP ?) = 1",
                f"(CAST({col} AS VARCHAR) ~ %(param_1)s::VARCHAR)",
                f"(CAST({col} AS CHAR) REGEXP concat('(?-i)', %s)) = 1",
                {"param_1": "1"},
            ),
        ),
        "iregex": (
            "1",
            Sql(
                f"(CAST({col} AS VARCHAR) REGEXP ('(?i)' || ?)) = 1",
                f"(CAST({col} AS VARCHAR) ~* %(param_1)s::VARCHAR)",
                f"(CAST({col} AS CHAR) REGEXP concat('(?i)', %s)) = 1",
                {"param_1": "1"},
            ),
        ),
    }


# --- text ---------------------------------------------------------------------------------

c = f"{T}.text"
TEXT = compared("text", "::VARCHAR", "Ann", "Bob") | {
    "iexact": (
        "ANN",
        Sql(
            f"lower({c}) = lower(?)",
            f"lower({c}) = lower(%(param_1)s::VARCHAR)",
            f"lower({c}) = lower(%s)",
            {"param_1": "ANN"},
        ),
    ),
    # No LIKE anywhere: % and _ are plain characters, sent as they are.
    "contains": (
        "a%_",
        Sql(
            f"(instr({c}, ?) > 0) = 1",
            f"(strpos({c}, %(param_1)s::VARCHAR) > 0)",
            f"(instr(binary {c}, %s) > 0) = 1",
            {"param_1": "a%_"},
        ),
    ),
    "icontains": (
        "N%",
        Sql(
            f"(instr(lower({c}), lower(?)) > 0) = 1",
            f"(strpos(lower({c}), lower(%(param_1)s::VARCHAR)) > 0)",
            f"(instr(binary lower({c}), lower(%s)) > 0) = 1",
            {"param_1": "N%"},
        ),
    ),
    "startswith": (
        "A_",
        Sql(
            f"(substr({c}, 1, length(?)) = ?) = 1",
            f"(left({c}, length(%(param_1)s::VARCHAR)) = %(param_1)s::VARCHAR)",
            # left() of the text counts characters, as char_length() does.
            f"(binary left({c}, char_length(%s)) = binary %s) = 1",
            {"param_1": "A_"},
        ),
    ),
    "istartswith": (
        "an",
        Sql(
            f"(substr(lower({c}), 1, length(lower(?))) = lower(?)) = 1",
            f"(left(lower({c}), length(lower(%(param_1)s::VARCHAR))) = "
            "lower(%(param_1)s::VARCHAR))",
            f"(binary left(lower({c}), char_length(lower(%s))) = binary lower(%s)) = 1",
            {"param_1": "an"},
        ),
    ),
    "endswith": (
        "%n",
        Sql(
            # NOTE(sqlite): substr(x, -0) is not the empty tail, hence the first branch.
            f"((length(?) = 0 AND {c} IS NOT NULL) OR substr({c}, -length(?)) = ?) = 1",
            f"(right({c}, length(%(param_1)s::VARCHAR)) = %(param_1)s::VARCHAR)",
            f"(binary right({c}, char_length(%s)) = binary %s) = 1",
            {"param_1": "%n"},
        ),
    ),
    "iendswith": (
        "NN",
        Sql(
            f"((length(lower(?)) = 0 AND lower({c}) IS NOT NULL) OR "
            f"substr(lower({c}), -length(lower(?))) = lower(?)) = 1",
            f"(right(lower({c}), length(lower(%(param_1)s::VARCHAR))) = "
            "lower(%(param_1)s::VARCHAR))",
            f"(binary right(lower({c}), char_length(lower(%s))) = binary lower(%s)) = 1",
            {"param_1": "NN"},
        ),
    ),
    "regex": (
        "^A.n$",
        Sql(
            f"({c} REGEXP ?) = 1",
            f"({c} ~ %(param_1)s::VARCHAR)",
            # NOTE(mysql): REGEXP follows the collation; (?-i) makes it case-sensitive.
            f"({c} REGEXP concat('(?-i)', %s)) = 1",
            {"param_1": "^A.n$"},
        ),
    ),
    "iregex": (
        "^a",
        Sql(
            f"({c} REGEXP ('(?i)' || ?)) = 1",
            f"({c} ~* %(param_1)s::VARCHAR)",
            f"({c} REGEXP concat('(?i)', %s)) = 1",
            {"param_1": "^a"},
        ),
    ),
}


JAN = datetime(2024, 1, 1, 12, 30)
JAN_UTC = datetime(2024, 1, 1, 12, 30, tzinfo=UTC)
UUID1, UUID2 = uuid.UUID(int=1), uuid.UUID(int=2)

f = f"{T}.flag"
FLAG = compared("flag", "", False, True) | {
    # True / False alone are SQL constants; in an order comparison a bound parameter.
    "exact": (True, Sql(f"{f} = 1", f"{f} = true", f"{f} = true")),
    "gt": (False, Sql(f"{f} > ?", f"{f} > %(param_1)s", f"{f} > %s", {"param_1": False})),
    "gte": (True, Sql(f"{f} >= ?", f"{f} >= %(param_1)s", f"{f} >= %s", {"param_1": True})),
    "lt": (True, Sql(f"{f} < ?", f"{f} < %(param_1)s", f"{f} < %s", {"param_1": True})),
    "lte": (False, Sql(f"{f} <= ?", f"{f} <= %(param_1)s", f"{f} <= %s", {"param_1": False})),
}


# --- date parts ---------------------------------------------------------------------------

SQLITE_PART = {"year": "%Y", "month": "%m", "day": "%d", "hour": "%H", "minute": "%M"}
PART_VALUE = {"year": 2024, "month": 12, "day": 31, "hour": 23, "minute": 59}


def date_parts(name: str, seen: Sql) -> dict[str, tuple[Any, Expected]]:
    """The transforms of a date or timestamp column, each followed by ``exact``. ``seen``
    is the column as every dialect reads its parts: in UTC when it has a time zone, cut to
    whole seconds on SQLite (whose date functions round the fraction)."""
    sq, pg, my = seen.sqlite, seen.postgresql, seen.mysql
    parts = ["year", "month", "day"] + (["hour", "minute"] if name != "day" else [])
    out: dict[str, tuple[Any, Expected]] = {
        part: (
            PART_VALUE[part],
            Sql(
                f"CAST(CAST(STRFTIME('{SQLITE_PART[part]}', {sq}) AS INTEGER) AS INTEGER) = ?",
                f"CAST(EXTRACT({part} FROM {pg}) AS INTEGER) = %(param_1)s::INTEGER",
                f"CAST(EXTRACT({part} FROM {my}) AS SIGNED INTEGER) = %s",
                {"param_1": PART_VALUE[part]},
            ),
        )
        for part in parts
    }
    # Django's numbering, 1 = Sunday ... 7 = Saturday: both backends count 0 = Sunday.
    out["week_day"] = (
        7,
        Sql(
            f"CAST(CAST(STRFTIME('%w', {sq}) AS INTEGER) AS INTEGER) + ? = ?",
            f"CAST(EXTRACT(dow FROM {pg}) AS INTEGER) + %(param_1)s::INTEGER = "
            "%(param_2)s::INTEGER",
            # NOTE(mysql): EXTRACT has no dow unit; DAYOFWEEK() counts from 1 = Sunday.
            f"CAST((dayofweek({my}) - 1) AS SIGNED INTEGER) + %s = %s",
            {"param_1": 1, "param_2": 7},
        ),
    )
    if name != "day":
        out["date"] = (
            date(2024, 1, 1),
            Sql(
                f"date({sq}) = ?",
                f"CAST({pg} AS DATE) = %(param_1)s::DATE",
                f"CAST({my} AS DATE) = %s",
                {"param_1": date(2024, 1, 1)},
            ),
        )
    return out


def seen(name: str, sqlite: str, postgresql: str) -> Sql:
    return Sql(
        sqlite.format(col=f"{T}.{name}"), postgresql.format(col=f"{T}.{name}"), f"{T}.{name}"
    )


WHOLE_SECONDS = "substr({col}, 1, 19)"
DAY_PARTS = date_parts("day", seen("day", "{col}", "{col}"))
AT_PARTS = date_parts("at", seen("at", WHOLE_SECONDS, "{col}"))
STAMP_PARTS = date_parts("stamp", seen("stamp", WHOLE_SECONDS, "({col} AT TIME ZONE 'UTC')"))


# --- JSON: the whole column takes isnull and =None only ---------------------------------

d = f"{T}.data"
WHOLE_JSON = Refused(InvalidLookupError, "LookupSqlItem.data is a JSON column")
JSON_COLUMN: dict[str, tuple[Any, Expected]] = {
    "exact": (None, Sql(f"{d} IS NULL", f"{d} IS NULL", f"{d} IS NULL")),
    "isnull": (True, Sql(f"{d} IS NULL", f"{d} IS NULL", f"{d} IS NULL")),
    "in": ([1], WHOLE_JSON),
    "range": ((1, 2), WHOLE_JSON),
}
JSON_COLUMN |= {
    name: ({"a": 1}, WHOLE_JSON) for name in ("gt", "gte", "lt", "lte", "regex", "iregex")
}


EXPECTED: dict[str, dict[str, tuple[Any, Expected]]] = {
    "text": TEXT,
    "num": compared("num", "::INTEGER", 3, 5),
    "ratio": compared("ratio", "", 1.5, 2.5),
    "amount": compared("amount", "", Decimal("1.50"), Decimal("2.00")),
    "flag": FLAG,
    "day": compared("day", "::DATE", date(2024, 1, 1), date(2024, 2, 1)) | DAY_PARTS,
    "at": compared("at", "::TIMESTAMP WITHOUT TIME ZONE", JAN, JAN.replace(month=2)) | AT_PARTS,
    "stamp": compared("stamp", "::TIMESTAMP WITH TIME ZONE", JAN_UTC, JAN_UTC.replace(month=2))
    | STAMP_PARTS,
    "clock": compared("clock", "::TIME WITHOUT TIME ZONE", time(8), time(17, 30)),
    "token": compared("token", "::UUID", UUID1, UUID2),
    "data": JSON_COLUMN,
}


def registered() -> list[tuple[str, str]]:
    """Every (field, lookup or transform) the registry offers on the columns above."""
    columns = LookupSqlItem.__table__.columns
    return [
        (name, lookup) for name in LOOKUP_FIELDS for lookup in registry.names(columns[name].type)
    ]


def ids(pairs: Sequence[tuple[str, ...]]) -> list[Any]:
    return [pytest.param(*pair, id="-".join(pair)) for pair in pairs]


def check(qs_of: Callable[[], QuerySet[Any]], expected: Expected) -> None:
    """Build the QuerySet and compare its WHERE clause with ``expected`` on every dialect."""
    if isinstance(expected, Refused):
        with pytest.raises(expected.error, match=expected.match):
            qs_of()
        return
    qs = qs_of()
    for name, dialect in DIALECTS.items():
        want = expected.on(name)
        sql, params = where_sql(qs, dialect)
        assert sql == want, f"{name}:\n got {sql}\nwant {want}"
        assert params == expected.params, name


@pytest.mark.parametrize(("name", "lookup"), ids(registered()))
def test_lookup_sql(name: str, lookup: str) -> None:
    assert lookup in EXPECTED[name], (
        f"no expected SQL for {name}__{lookup}: add it to EXPECTED[{name!r}] in this module"
    )
    value, expected = EXPECTED[name][lookup]
    check(lambda: LookupSqlItem.objects.filter(**{f"{name}__{lookup}": value}), expected)


def test_every_expectation_is_a_registered_lookup() -> None:
    """No stale expectations: each one names a lookup the registry still has."""
    pinned = {(name, lookup) for name, cases in EXPECTED.items() for lookup in cases}
    assert pinned == set(registered())
    assert set(EXPECTED) == set(LOOKUP_FIELDS)


# --- JSON keys, negations and F() ---------------------------------------------------------

i = f"{T}.num"
n = f"{T}.note"
PG_KEY = f"({d} ->> %(data_1)s::TEXT)"
MY_KEY = f"JSON_EXTRACT({d}, %s)"


def my_key(then: str) -> str:
    return f"CASE {MY_KEY} WHEN 'null' THEN NULL ELSE {then} END"


# A JSON key compared with a value: its value when it holds that JSON kind, else NULL.
def sqlite_kind(kinds: str) -> str:
    return f"(CASE WHEN json_type({d}, ?) IN ({kinds}) THEN json_extract({d}, ?) END)"


def pg_kind(kind: str, value: str) -> str:
    arrow = f"({d} -> %(data_1)s::TEXT)"
    return f"(CASE WHEN json_typeof(CAST({arrow} AS JSON)) = {kind} THEN {value} END)"


def my_kind(kinds: str, value: str) -> str:
    return f"(CASE WHEN JSON_TYPE({MY_KEY}) IN ({kinds}) THEN {value} END)"


SQLITE_NUMBER = "'integer', 'real'"
PG_NUMBER = f"CAST(CAST({PG_KEY} AS VARCHAR) AS NUMERIC)"
MY_NUMBER = "'INTEGER', 'DOUBLE', 'DECIMAL'"
MY_TEXT = my_key(f"JSON_UNQUOTE({MY_KEY})")


QUERIES: dict[str, tuple[Callable[[], QuerySet[Any]], Expected]] = {
    # JSON keys: the value's Python type picks the comparison.
    "json-str": (
        lambda: LookupSqlItem.objects.filter(data__owner="ann"),
        Sql(
            sqlite_kind("'text'") + " = ?",
            pg_kind("'string'", f"CAST({PG_KEY} AS VARCHAR)") + " = %(param_1)s::VARCHAR",
            my_kind("'STRING'", MY_TEXT) + " = %s",
            {"data_1": "owner", "param_1": "ann"},
        ),
    ),
    "json-int-gt": (
        lambda: LookupSqlItem.objects.filter(data__n__gt=1),
        Sql(
            sqlite_kind(SQLITE_NUMBER) + " > ?",
            pg_kind("'number'", PG_NUMBER) + " > %(param_1)s::INTEGER",
            my_kind(MY_NUMBER, MY_TEXT) + " > %s",
            {"data_1": "n", "param_1": 1},
        ),
    ),
    "json-float": (
        lambda: LookupSqlItem.objects.filter(data__r=1.5),
        Sql(
            sqlite_kind(SQLITE_NUMBER) + " = ?",
            pg_kind("'number'", PG_NUMBER) + " = %(param_1)s",
            my_kind(MY_NUMBER, MY_TEXT) + " = %s",
            {"data_1": "r", "param_1": 1.5},
        ),
    ),
    "json-bool": (
        lambda: LookupSqlItem.objects.filter(data__ok=True),
        Sql(
            sqlite_kind("'true', 'false'") + " = 1",
            pg_kind("'boolean'", f"CAST(CAST({PG_KEY} AS VARCHAR) AS BOOLEAN)") + " = true",
            my_kind("'BOOLEAN'", f"({MY_TEXT} = 'true')") + " = true",
            {"data_1": "ok"},
        ),
    ),
    "json-path-isnull": (
        lambda: LookupSqlItem.objects.filter(data__a__b__isnull=True),
        Sql(
            f"CAST(JSON_EXTRACT({d}, ?) AS VARCHAR) IS NULL",
            f"CAST(({d} #>> %(data_1)s) AS VARCHAR) IS NULL",
            my_key(f"JSON_UNQUOTE({MY_KEY})") + " IS NULL",
            {"data_1": ("a", "b")},
        ),
    ),
    # A transform, then a lookup other than exact.
    "transform-then-gte": (
        lambda: LookupSqlItem.objects.filter(stamp__year__gte=2024),
        Sql(
            "CAST(CAST(STRFTIME('%Y', substr(lookup_sql_item.stamp, 1, 19)) AS INTEGER) AS "
            "INTEGER) >= ?",
            "CAST(EXTRACT(year FROM (lookup_sql_item.stamp AT TIME ZONE 'UTC')) AS INTEGER) >= "
            "%(param_1)s::INTEGER",
            "CAST(EXTRACT(year FROM lookup_sql_item.stamp) AS SIGNED INTEGER) >= %s",
            {"param_1": 2024},
        ),
    ),
    "date-range": (
        lambda: LookupSqlItem.objects.filter(at__date__range=(date(2024, 1, 1), date(2024, 1, 31))),
        Sql(
            "date(substr(lookup_sql_item.at, 1, 19)) BETWEEN ? AND ?",
            "CAST(lookup_sql_item.at AS DATE) BETWEEN %(param_1)s::DATE AND %(param_2)s::DATE",
            "CAST(lookup_sql_item.at AS DATE) BETWEEN %s AND %s",
            {"param_1": date(2024, 1, 1), "param_2": date(2024, 1, 31)},
        ),
    ),
    # exclude() is filter()'s complement: a clause that can be NULL becomes IS NOT TRUE.
    "exclude-not-null-column": (
        lambda: LookupSqlItem.objects.exclude(text="Ann"),
        Sql(f"{c} != ?", f"{c} != %(text_1)s::VARCHAR", f"{c} != %s", {"text_1": "Ann"}),
    ),
    "exclude-nullable-column": (
        lambda: LookupSqlItem.objects.exclude(note="Ann"),
        Sql(
            f"({n} = ?) IS NOT 1",
            f"({n} = %(note_1)s::VARCHAR) IS NOT true",
            f"({n} = %s) IS NOT true",
            {"note_1": "Ann"},
        ),
    ),
    "exclude-none": (
        lambda: LookupSqlItem.objects.exclude(note=None),
        Sql(f"{n} IS NOT NULL", f"{n} IS NOT NULL", f"{n} IS NOT NULL"),
    ),
    "exclude-icontains-nullable": (
        lambda: LookupSqlItem.objects.exclude(note__icontains="a"),
        Sql(
            f"(instr(lower({n}), lower(?)) > 0) IS NOT 1",
            f"(strpos(lower({n}), lower(%(param_1)s::VARCHAR)) > 0) IS NOT true",
            f"(instr(binary lower({n}), lower(%s)) > 0) IS NOT true",
            {"param_1": "a"},
        ),
    ),
    "exclude-in": (
        lambda: LookupSqlItem.objects.exclude(num__in=[1, 2]),
        Sql(
            f"({i} NOT IN (?, ?))",
            f"({i} NOT IN (%(num_1_1)s::INTEGER, %(num_1_2)s::INTEGER))",
            f"({i} NOT IN (%s, %s))",
            {"num_1_1": 1, "num_1_2": 2},
        ),
    ),
    "exclude-empty-in": (
        lambda: LookupSqlItem.objects.exclude(num__in=[]),
        Sql("1 = 1", "true", "true = 1"),
    ),
    "exclude-two-lookups": (
        lambda: LookupSqlItem.objects.exclude(text="Ann", num=1),
        Sql(
            f"NOT ({i} = ? AND {c} = ?)",
            f"NOT ({i} = %(num_1)s::INTEGER AND {c} = %(text_1)s::VARCHAR)",
            f"NOT ({i} = %s AND {c} = %s)",
            {"num_1": 1, "text_1": "Ann"},
        ),
    ),
    "exclude-q-or": (
        lambda: LookupSqlItem.objects.exclude(Q(num=1) | Q(note="x")),
        Sql(
            f"NOT ({i} = ? OR ({n} = ?) IS 1)",
            f"NOT ({i} = %(num_1)s::INTEGER OR ({n} = %(note_1)s::VARCHAR) IS true)",
            f"NOT ({i} = %s OR ({n} = %s) IS true)",
            {"num_1": 1, "note_1": "x"},
        ),
    ),
    "exclude-f-nullable": (
        lambda: LookupSqlItem.objects.exclude(num__gt=F("ratio")),
        Sql(
            f"({i} > {T}.ratio) IS NOT 1",
            f"({i} > {T}.ratio) IS NOT true",
            f"({i} > {T}.ratio) IS NOT true",
        ),
    ),
    # F(): another column, or arithmetic on one, in place of a value.
    "f-column": (
        lambda: LookupSqlItem.objects.filter(text=F("note")),
        Sql(f"{c} = {n}", f"{c} = {n}", f"{c} = {n}"),
    ),
    "f-arithmetic": (
        lambda: LookupSqlItem.objects.filter(num__lt=F("num") + 1),
        Sql(
            f"{i} < {i} + ?",
            f"{i} < {i} + %(num_1)s::INTEGER",
            f"{i} < {i} + %s",
            {"num_1": 1},
        ),
    ),
    "f-icontains": (
        lambda: LookupSqlItem.objects.filter(text__icontains=F("note")),
        Sql(
            f"(instr(lower({c}), lower({n})) > 0) = 1",
            f"(strpos(lower({c}), lower({n})) > 0)",
            f"(instr(binary lower({c}), lower({n})) > 0) = 1",
        ),
    ),
    "f-other-kind": (
        lambda: LookupSqlItem.objects.filter(day__lt=F("at")),
        Refused(ValidationError, "compares date with datetime"),
    ),
}


@pytest.mark.parametrize("case", list(QUERIES))
def test_query_sql(case: str) -> None:
    check(*QUERIES[case])


# Interval's SQLAlchemy implementation type is DateTime (an emulation where the database has
# no interval type); the date transforms used to apply: PostgreSQL refused CAST(interval AS
# DATE), SQLite read the interval as a timestamp from 1970.
@pytest.mark.parametrize(("transform", "value"), [("date", date(2024, 1, 1)), ("year", 1)])
def test_date_transforms_do_not_apply_to_intervals(transform: str, value: Any) -> None:
    with pytest.raises(InvalidLookupError, match="Unsupported lookup"):
        LookupSqlSpan.objects.filter(**{f"span__{transform}": value})
