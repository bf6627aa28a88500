"""SQL constructs the lookups compile per backend.

Every construct here keeps all state that changes its SQL where SQLAlchemy's cache key
sees it: the variant is the class (``Contains`` / ``StartsWith`` / ``EndsWith``), and the
operands are clauses. A subclass declares ``inherit_cache = True`` only when it adds no
SQL-changing attribute — SQLAlchemy's own rule (``sqlalchemy.ext.compiler``). A construct
that carried such an attribute without declaring it in ``_traverse_internals`` would let
the compiled-statement cache serve one query's SQL for another.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Date, Float, Integer, String, case, extract, func, literal_column
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import operators
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnClause, ColumnElement, UnaryExpression
from sqlalchemy.sql.expression import FunctionElement
from sqlalchemy.sql.functions import FunctionFilter  # type: ignore[attr-defined]

__all__ = [
    "AtUTC",
    "Averaged",
    "Contains",
    "DateOf",
    "EndsWith",
    "IRegex",
    "JsonBool",
    "JsonFloat",
    "JsonInteger",
    "JsonNumber",
    "JsonText",
    "JsonValue",
    "Regex",
    "StartsWith",
    "TextMatch",
    "WeekDay",
    "WholeSeconds",
]


class TextMatch(FunctionElement[bool]):
    """A case-sensitive text match of ``column`` against ``value`` on every backend (no LIKE,
    so ``%`` and ``_`` are plain characters). Use one of the subclasses."""

    inherit_cache = True
    type = Boolean()

    def __init__(self, column: ColumnElement[Any], value: ColumnElement[Any]) -> None:
        super().__init__(column, value)


class Contains(TextMatch):
    """``value`` occurs in ``column``."""

    inherit_cache = True
    name = "orm_kit_contains"


class StartsWith(TextMatch):
    """``column`` starts with ``value``."""

    inherit_cache = True
    name = "orm_kit_startswith"


class EndsWith(TextMatch):
    """``column`` ends with ``value``."""

    inherit_cache = True
    name = "orm_kit_endswith"


def _operands(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> list[str]:
    return [compiler.process(c, **kw) for c in element.clauses]


# The SQL of each text match per dialect ("" is the default), with {col} and {val}.
_TEXT_MATCH_SQL: dict[type[TextMatch], dict[str, str]] = {
    Contains: {
        "": "(strpos({col}, {val}) > 0)",
        # NOTE(sqlite): LIKE ignores ASCII case, so instr / substr, which do not.
        "sqlite": "(instr({col}, {val}) > 0)",
        # NOTE(mysql): BINARY makes the comparison case-sensitive under any collation.
        "mysql": "(instr(binary {col}, {val}) > 0)",
    },
    StartsWith: {
        "": "(left({col}, length({val})) = {val})",
        "sqlite": "(substr({col}, 1, length({val})) = {val})",
        # NOTE(mysql): left() / right() of the text count characters as char_length() does;
        # BINARY then compares the bytes (left() of a BINARY string would count bytes).
        "mysql": "(binary left({col}, char_length({val})) = binary {val})",
    },
    EndsWith: {
        "": "(right({col}, length({val})) = {val})",
        # NOTE(sqlite): substr(x, -0) is not the empty tail, hence the case of an empty
        # value; a NULL column stays NULL.
        "sqlite": (
            "((length({val}) = 0 AND {col} IS NOT NULL) OR substr({col}, -length({val})) = {val})"
        ),
        "mysql": "(binary right({col}, char_length({val})) = binary {val})",
    },
}


def _compile_text_match(template: str) -> Any:
    def compile_(element: TextMatch, compiler: SQLCompiler, **kw: Any) -> str:
        col, val = _operands(element, compiler, **kw)
        return template.format(col=col, val=val)

    return compile_


for _construct, _variants in _TEXT_MATCH_SQL.items():
    for _dialect, _template in _variants.items():
        compiles(_construct, *((_dialect,) if _dialect else ()))(_compile_text_match(_template))


class IRegex(FunctionElement[bool]):
    """A case-insensitive regular-expression match of ``column`` against ``pattern``."""

    inherit_cache = True
    name = "orm_kit_iregex"
    type = Boolean()


@compiles(IRegex)
def _iregex_default(element: IRegex, compiler: SQLCompiler, **kw: Any) -> str:
    col, val = _operands(element, compiler, **kw)
    return f"({col} ~* {val})"


@compiles(IRegex, "sqlite")
def _iregex_sqlite(element: IRegex, compiler: SQLCompiler, **kw: Any) -> str:
    # NOTE(sqlite): SQLAlchemy registers a Python `regexp` function; (?i) makes it ignore case.
    col, val = _operands(element, compiler, **kw)
    return f"({col} REGEXP ('(?i)' || {val}))"


@compiles(IRegex, "mysql")
def _iregex_mysql(element: IRegex, compiler: SQLCompiler, **kw: Any) -> str:
    # NOTE(mysql): MariaDB has no REGEXP_LIKE; both servers' REGEXP (PCRE on MariaDB, ICU on
    # MySQL) take the pattern's own (?i) / (?-i), which win over the column's collation.
    col, val = _operands(element, compiler, **kw)
    return f"({col} REGEXP concat('(?i)', {val}))"


class Regex(FunctionElement[bool]):
    """A case-sensitive regular-expression match of ``column`` against ``pattern``."""

    inherit_cache = True
    name = "orm_kit_regex"
    type = Boolean()


@compiles(Regex)
def _regex_default(element: Regex, compiler: SQLCompiler, **kw: Any) -> str:
    col, val = element.clauses
    return f"({compiler.process(col.regexp_match(val), **kw)})"


@compiles(Regex, "mysql")
def _regex_mysql(element: Regex, compiler: SQLCompiler, **kw: Any) -> str:
    # NOTE(mysql): REGEXP follows the column's collation, which may ignore case; (?-i) makes
    # the match case-sensitive whatever it is.
    col, val = _operands(element, compiler, **kw)
    return f"({col} REGEXP concat('(?-i)', {val}))"


class WeekDay(FunctionElement[Any]):
    """The day of the week, 0 = Sunday ... 6 = Saturday (PostgreSQL's ``dow``)."""

    inherit_cache = True
    name = "orm_kit_week_day"
    type = Integer()


@compiles(WeekDay)
def _week_day_default(element: WeekDay, compiler: SQLCompiler, **kw: Any) -> str:
    (col,) = element.clauses
    return str(compiler.process(extract("dow", col), **kw))


@compiles(WeekDay, "mysql")
def _week_day_mysql(element: WeekDay, compiler: SQLCompiler, **kw: Any) -> str:
    # NOTE(mysql): EXTRACT has no dow unit; DAYOFWEEK() counts 1 = Sunday ... 7 = Saturday.
    (col,) = _operands(element, compiler, **kw)
    return f"(dayofweek({col}) - 1)"


class AtUTC(FunctionElement[Any]):
    """A timestamp seen in UTC, so date parts are evaluated in UTC (as Django does).

    Its type is its operand's, which is part of the operand's own cache key.
    """

    inherit_cache = True
    name = "orm_kit_at_utc"

    def __init__(self, expr: ColumnElement[Any]) -> None:
        super().__init__(expr)
        self.type = expr.type


class Averaged(FunctionElement[Any]):
    """The argument of ``Avg``: averaged as a float (its type is its operand's)."""

    inherit_cache = True
    name = "orm_kit_averaged"

    def __init__(self, expr: ColumnElement[Any]) -> None:
        super().__init__(expr)
        self.type = expr.type


@compiles(Averaged)
def _averaged_default(element: Averaged, compiler: SQLCompiler, **kw: Any) -> str:
    (col,) = _operands(element, compiler, **kw)
    return col


@compiles(Averaged, "mysql")
def _averaged_mysql(element: Averaged, compiler: SQLCompiler, **kw: Any) -> str:
    # NOTE(mysql): AVG() of integers or decimals is a DECIMAL with only four more decimal
    # places (div_precision_increment): 7.2923 for 7.292307...; AVG() of a DOUBLE is exact.
    (col,) = _operands(element, compiler, **kw)
    return f"({col} + 0e0)"


class WholeSeconds(FunctionElement[Any]):
    """A timestamp without time zone, as date parts should see it."""

    inherit_cache = True
    name = "orm_kit_whole_seconds"

    def __init__(self, expr: ColumnElement[Any]) -> None:
        super().__init__(expr)
        self.type = expr.type


@compiles(AtUTC)
@compiles(WholeSeconds)
def _timestamp_default(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
    (col,) = _operands(element, compiler, **kw)
    return col


@compiles(AtUTC, "postgresql")
def _at_utc_pg(element: AtUTC, compiler: SQLCompiler, **kw: Any) -> str:
    (col,) = _operands(element, compiler, **kw)
    return f"({col} AT TIME ZONE 'UTC')"


@compiles(AtUTC, "sqlite")
@compiles(WholeSeconds, "sqlite")
def _timestamp_sqlite(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
    # NOTE(sqlite): its date functions keep milliseconds and round the rest, so
    # '2024-12-31 23:59:59.999999' would be a Wednesday in 2025. The stored text (UTC for
    # aware columns) cut to whole seconds gives every date part exactly.
    (col,) = _operands(element, compiler, **kw)
    return f"substr({col}, 1, 19)"


class DateOf(FunctionElement[Any]):
    """The calendar date of a timestamp."""

    inherit_cache = True
    name = "orm_kit_date_of"
    type = Date()


@compiles(DateOf)
def _date_of_default(element: DateOf, compiler: SQLCompiler, **kw: Any) -> str:
    (col,) = _operands(element, compiler, **kw)
    return f"CAST({col} AS DATE)"


@compiles(DateOf, "sqlite")
def _date_of_sqlite(element: DateOf, compiler: SQLCompiler, **kw: Any) -> str:
    (col,) = _operands(element, compiler, **kw)
    return f"date({col})"


class JsonValue(FunctionElement[Any]):
    """The value under a key of a JSON column when it is of one JSON kind, else NULL: a
    number key compared with a number, a string with a string, a boolean with a boolean.

    ``data__n=1`` then never matches ``{"n": "1"}`` or ``{"n": true}``, ``data__k="1"``
    never matches ``{"k": 1}``, and no backend fails on a row whose key holds another kind
    (a CAST of ``"abc"`` to a number would). Operands: the JSON element (``col[key]``), the
    column and the path parameter. Use one of the subclasses: the kind is the class.
    """

    inherit_cache = True

    def __init__(self, element: Any) -> None:
        super().__init__(element, element.left, element.right)


class JsonNumber(JsonValue):
    """A JSON number (integer or not), compared as a number; use a subclass, whose type
    checks the value compared with (an ``int`` or a ``float``)."""

    inherit_cache = True
    name = "orm_kit_json_number"


class JsonInteger(JsonNumber):
    """A JSON number compared with an integer."""

    inherit_cache = True
    name = "orm_kit_json_integer"
    type = Integer()


class JsonFloat(JsonNumber):
    """A JSON number compared with a float."""

    inherit_cache = True
    name = "orm_kit_json_float"
    type = Float()


class JsonText(JsonValue):
    """A JSON string, compared as text."""

    inherit_cache = True
    name = "orm_kit_json_text"
    type = String()


class JsonBool(JsonValue):
    """A JSON ``true`` / ``false``, compared as a boolean."""

    inherit_cache = True
    name = "orm_kit_json_bool"
    type = Boolean()


# Per kind: the json_typeof() name(s) on PostgreSQL, the json_type() names on SQLite, the
# JSON_TYPE() names on MySQL, and the SQL type the PostgreSQL text is cast to.
def _kind(element: JsonValue) -> tuple[str, str, str, str | None]:
    return next(v for k, v in _JSON_KINDS.items() if isinstance(element, k))


_JSON_KINDS: dict[type[JsonValue], tuple[str, str, str, str | None]] = {
    JsonNumber: ("'number'", "'integer', 'real'", "'INTEGER', 'DOUBLE', 'DECIMAL'", "NUMERIC"),
    JsonText: ("'string'", "'text'", "'STRING'", None),
    JsonBool: ("'boolean'", "'true', 'false'", "'BOOLEAN'", "BOOLEAN"),
}


@compiles(JsonValue)
def _json_value_default(element: JsonValue, compiler: SQLCompiler, **kw: Any) -> str:
    # PostgreSQL's json and jsonb both: json_typeof of the element seen as json, and ->>
    # for its text (SQLAlchemy renders -> / #> and ->> / #>> for one key or a path).
    pg_kind, _, _, cast_to = _kind(element)
    node = next(iter(element.clauses))
    elem = compiler.process(node, **kw)
    text_ = compiler.process(node.as_string(), **kw)
    value = text_ if cast_to is None else f"CAST({text_} AS {cast_to})"
    return f"(CASE WHEN json_typeof(CAST({elem} AS JSON)) = {pg_kind} THEN {value} END)"


@compiles(JsonValue, "sqlite")
def _json_value_sqlite(element: JsonValue, compiler: SQLCompiler, **kw: Any) -> str:
    # NOTE(sqlite): json_type(col, path) tells true / false from 1 / 0 (json_extract does
    # not); json_extract gives a number as a number, a string as text, true / false as 1 / 0.
    _, sqlite_kinds, _, _ = _kind(element)
    _, col, path = _operands(element, compiler, **kw)
    return (
        f"(CASE WHEN json_type({col}, {path}) IN ({sqlite_kinds}) "
        f"THEN json_extract({col}, {path}) END)"
    )


@compiles(JsonValue, "mysql")
def _json_value_mysql(element: JsonValue, compiler: SQLCompiler, **kw: Any) -> str:
    # NOTE(mysql): not run by the suite until MariaDB / MySQL joins as a backend.
    _, _, mysql_kinds, _ = _kind(element)
    node = next(iter(element.clauses))
    elem = compiler.process(node, **kw)
    text_ = compiler.process(node.as_string(), **kw)
    value = f"({text_} = 'true')" if isinstance(element, JsonBool) else text_
    return f"(CASE WHEN JSON_TYPE({elem}) IN ({mysql_kinds}) THEN {value} END)"


@compiles(FunctionFilter, "mysql")
def _aggregate_filter_mysql(element: FunctionFilter[Any], compiler: SQLCompiler, **kw: Any) -> str:
    # NOTE(mysql): no FILTER (WHERE ...) clause; an aggregate over CASE WHEN ... THEN x END
    # is the same, as aggregates skip the NULLs of the rows the condition leaves out.
    # count(*) counts the rows where the condition holds: count(CASE WHEN ... THEN 1 END).
    fn: Any = element.func
    where: Any = element.criterion
    args: list[Any] = []
    for arg in fn.clauses:
        if isinstance(arg, UnaryExpression) and arg.operator is operators.distinct_op:
            args.append(case((where, arg.element)).distinct())
        elif isinstance(arg, ColumnClause) and arg.name == "*":
            args.append(case((where, literal_column("1"))))
        else:
            args.append(case((where, arg)))
    rewritten = getattr(func, fn.name)(*args, type_=fn.type)
    return str(compiler.process(rewritten, **kw))
