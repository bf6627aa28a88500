"""Lookups: the registry, the built-in lookups and transforms, and the ``field__lookup`` resolver.

A lookup is ``fn(expression, value) -> clause``; a transform is ``fn(expression) ->
expression`` (``year``, ``date`` ...) and may be followed by a lookup
(``created_at__year__gte=2020``). Values are always bound parameters; names are checked
against the model and the registry, so no user string ever reaches SQL text.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, Date, Integer, Select, String, cast, func, literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.expression import FunctionElement
from sqlalchemy.types import TypeEngine

from orm_kit.exceptions import InvalidLookupError, ValidationError
from orm_kit.query.expressions import Resolvable
from orm_kit.query.meta import get_model_info

__all__ = [
    "LookupFn",
    "LookupRegistry",
    "TransformFn",
    "lookups",
    "register_lookup",
    "register_transform",
]

LookupFn = Callable[[ColumnElement[Any], Any], ColumnElement[bool]]
TransformFn = Callable[[ColumnElement[Any]], ColumnElement[Any]]


# --- backend-specific constructs ------------------------------------------------------


class _TextMatch(FunctionElement[bool]):
    """Case-sensitive contains / startswith / endswith on every backend (no LIKE)."""

    inherit_cache = True
    name = "orm_kit_text_match"

    def __init__(self, kind: str, column: ColumnElement[Any], value: ColumnElement[Any]):
        self.kind = kind
        super().__init__(column, value)


@compiles(_TextMatch, "sqlite")
def _text_match_sqlite(element: _TextMatch, compiler: SQLCompiler, **kw: Any) -> str:
    # NOTE(sqlite): LIKE ignores ASCII case, so use instr/substr, which do not.
    col, val = (compiler.process(c, **kw) for c in element.clauses)
    if element.kind == "contains":
        return f"(instr({col}, {val}) > 0)"
    if element.kind == "startswith":
        return f"(substr({col}, 1, length({val})) = {val})"
    return f"(length({val}) = 0 OR substr({col}, -length({val})) = {val})"


@compiles(_TextMatch)
def _text_match_default(element: _TextMatch, compiler: SQLCompiler, **kw: Any) -> str:
    col, val = (compiler.process(c, **kw) for c in element.clauses)
    if element.kind == "contains":
        return f"(strpos({col}, {val}) > 0)"
    if element.kind == "startswith":
        return f"(left({col}, length({val})) = {val})"
    return f"(right({col}, length({val})) = {val})"


@compiles(_TextMatch, "mysql")
def _text_match_mysql(element: _TextMatch, compiler: SQLCompiler, **kw: Any) -> str:
    col, val = (compiler.process(c, **kw) for c in element.clauses)
    if element.kind == "contains":
        return f"(instr(binary {col}, {val}) > 0)"
    if element.kind == "startswith":
        return f"(left(binary {col}, char_length({val})) = binary {val})"
    return f"(right(binary {col}, char_length({val})) = binary {val})"


class _IRegex(FunctionElement[bool]):
    inherit_cache = True
    name = "orm_kit_iregex"


@compiles(_IRegex)
def _iregex_default(element: _IRegex, compiler: SQLCompiler, **kw: Any) -> str:
    col, val = (compiler.process(c, **kw) for c in element.clauses)
    return f"({col} ~* {val})"


@compiles(_IRegex, "sqlite")
def _iregex_sqlite(element: _IRegex, compiler: SQLCompiler, **kw: Any) -> str:
    # NOTE(sqlite): SQLAlchemy registers a Python `regexp` function; (?i) makes it ignore case.
    col, val = (compiler.process(c, **kw) for c in element.clauses)
    return f"({col} REGEXP ('(?i)' || {val}))"


@compiles(_IRegex, "mysql")
def _iregex_mysql(element: _IRegex, compiler: SQLCompiler, **kw: Any) -> str:
    col, val = (compiler.process(c, **kw) for c in element.clauses)
    return f"REGEXP_LIKE({col}, {val}, 'i')"


class _AtUTC(FunctionElement[Any]):
    """A timestamp seen in UTC, so date parts are evaluated in UTC (as Django does)."""

    inherit_cache = True
    name = "orm_kit_at_utc"

    def __init__(self, expr: ColumnElement[Any]) -> None:
        super().__init__(expr)
        self.type = expr.type


@compiles(_AtUTC)
def _at_utc_default(element: _AtUTC, compiler: SQLCompiler, **kw: Any) -> str:
    (col,) = element.clauses
    return compiler.process(col, **kw)


@compiles(_AtUTC, "postgresql")
def _at_utc_pg(element: _AtUTC, compiler: SQLCompiler, **kw: Any) -> str:
    (col,) = element.clauses
    return f"({compiler.process(col, **kw)} AT TIME ZONE 'UTC')"


class _DateOf(FunctionElement[Any]):
    inherit_cache = True
    name = "orm_kit_date_of"
    type = Date()


@compiles(_DateOf)
def _date_of_default(element: _DateOf, compiler: SQLCompiler, **kw: Any) -> str:
    (col,) = element.clauses
    return f"CAST({compiler.process(col, **kw)} AS DATE)"


@compiles(_DateOf, "sqlite")
def _date_of_sqlite(element: _DateOf, compiler: SQLCompiler, **kw: Any) -> str:
    (col,) = element.clauses
    return f"date({compiler.process(col, **kw)})"


def _utc(expr: ColumnElement[Any]) -> ColumnElement[Any]:
    if getattr(expr.type, "timezone", False):
        return _AtUTC(expr)
    return expr


# --- built-ins ------------------------------------------------------------------------


def _bind(expr: ColumnElement[Any], value: Any) -> ColumnElement[Any]:
    return value if isinstance(value, ColumnElement) else literal(value, type_=expr.type)


def _exact(expr: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
    return expr.is_(None) if value is None else expr == value


def _iexact(expr: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
    if value is None:
        return expr.is_(None)
    return func.lower(expr) == func.lower(_bind(expr, value))


def _text(kind: str) -> LookupFn:
    def lookup(expr: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
        return _TextMatch(kind, expr, literal(value, type_=String()))

    lookup.__name__ = kind
    return lookup


def _in(expr: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
    if isinstance(value, Select | ColumnElement) or hasattr(value, "__clause_element__"):
        return expr.in_(value)
    if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
        raise ValidationError(
            f"The 'in' lookup needs a list, tuple or set of values, not {type(value).__name__}."
        )
    return expr.in_(list(value))


def _range(expr: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
    try:
        low, high = value
    except (TypeError, ValueError):
        raise ValidationError(
            "The 'range' lookup needs a pair (low, high), for example "
            "created_at__range=(start, end)."
        ) from None
    return expr.between(low, high)


def _isnull(expr: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
    if not isinstance(value, bool):
        raise ValidationError("The 'isnull' lookup takes True or False.")
    return expr.is_(None) if value else expr.is_not(None)


def _regex(expr: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
    return expr.regexp_match(value)


def _iregex(expr: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
    return _IRegex(expr, literal(value, type_=String()))


def _extract(part: str) -> TransformFn:
    def transform(expr: ColumnElement[Any]) -> ColumnElement[Any]:
        return cast(func.extract(part, _utc(expr)), Integer)

    transform.__name__ = part
    return transform


def _week_day(expr: ColumnElement[Any]) -> ColumnElement[Any]:
    # Django's numbering: 1 = Sunday ... 7 = Saturday (extract(dow) gives 0 = Sunday).
    return cast(func.extract("dow", _utc(expr)), Integer) + 1


def _date(expr: ColumnElement[Any]) -> ColumnElement[Any]:
    return _DateOf(_utc(expr))


_BUILTIN_LOOKUPS: dict[str, LookupFn] = {
    "exact": _exact,
    "iexact": _iexact,
    "contains": _text("contains"),
    "icontains": lambda e, v: e.icontains(v, autoescape=True),
    "startswith": _text("startswith"),
    "istartswith": lambda e, v: e.istartswith(v, autoescape=True),
    "endswith": _text("endswith"),
    "iendswith": lambda e, v: e.iendswith(v, autoescape=True),
    "in": _in,
    "gt": lambda e, v: e > v,
    "gte": lambda e, v: e >= v,
    "lt": lambda e, v: e < v,
    "lte": lambda e, v: e <= v,
    "range": _range,
    "isnull": _isnull,
    "regex": _regex,
    "iregex": _iregex,
}

_BUILTIN_TRANSFORMS: dict[str, TransformFn] = {
    "date": _date,
    "year": _extract("year"),
    "month": _extract("month"),
    "day": _extract("day"),
    "hour": _extract("hour"),
    "minute": _extract("minute"),
    "week_day": _week_day,
}

# Lookups whose value may be None without meaning "IS NULL".
_NONE_OK = frozenset({"exact", "iexact", "isnull"})


@dataclass(frozen=True, slots=True)
class _Entry:
    fn: Any
    for_type: type[TypeEngine[Any]] | None


class LookupRegistry:
    """Lookups and transforms by name, global or for one column type.

    Entries registered for a column type win over global ones for columns of that type.
    """

    def __init__(self) -> None:
        self._lookups: dict[str, list[_Entry]] = {}
        self._transforms: dict[str, list[_Entry]] = {}
        for name, fn in _BUILTIN_LOOKUPS.items():
            self.register(name, fn)
        for name, tfn in _BUILTIN_TRANSFORMS.items():
            self.register_transform(name, tfn)

    @staticmethod
    def _add(table: dict[str, list[_Entry]], name: str, entry: _Entry) -> None:
        if not name.isidentifier() or "__" in name:
            raise ValueError(f"Lookup names must be identifiers without '__', not {name!r}.")
        entries = [e for e in table.get(name, []) if e.for_type is not entry.for_type]
        entries.insert(0, entry)
        table[name] = entries

    def register(
        self, name: str, fn: LookupFn, *, for_type: type[TypeEngine[Any]] | None = None
    ) -> None:
        """Register lookup ``name``: ``fn(column, value)`` returns a SQLAlchemy clause."""
        self._add(self._lookups, name, _Entry(fn, for_type))

    def register_transform(
        self, name: str, fn: TransformFn, *, for_type: type[TypeEngine[Any]] | None = None
    ) -> None:
        """Register transform ``name``: ``fn(column)`` returns a SQLAlchemy expression."""
        self._add(self._transforms, name, _Entry(fn, for_type))

    @staticmethod
    def _find(table: dict[str, list[_Entry]], name: str, type_: TypeEngine[Any]) -> Any:
        fallback = None
        for entry in table.get(name, ()):
            if entry.for_type is None:
                fallback = entry.fn
            elif isinstance(type_, entry.for_type):
                return entry.fn
        return fallback

    def lookup(self, name: str, type_: TypeEngine[Any]) -> LookupFn | None:
        """Return the lookup ``name`` for a column of ``type_``, or ``None``."""
        fn: LookupFn | None = self._find(self._lookups, name, type_)
        return fn

    def transform(self, name: str, type_: TypeEngine[Any]) -> TransformFn | None:
        """Return the transform ``name`` for a column of ``type_``, or ``None``."""
        fn: TransformFn | None = self._find(self._transforms, name, type_)
        return fn

    def names(self, type_: TypeEngine[Any]) -> list[str]:
        """Every lookup and transform name usable on a column of ``type_``."""
        out = []
        for table in (self._lookups, self._transforms):
            for name in table:
                if self._find(table, name, type_) is not None:
                    out.append(name)
        return sorted(out)

    @contextmanager
    def scoped(self) -> Iterator[LookupRegistry]:
        """Undo every registration made inside the block (for tests)."""
        saved = (
            {k: list(v) for k, v in self._lookups.items()},
            {k: list(v) for k, v in self._transforms.items()},
        )
        try:
            yield self
        finally:
            self._lookups, self._transforms = saved


lookups = LookupRegistry()
"""The registry every QuerySet resolves lookups against."""


def is_plain_exact(type_: TypeEngine[Any]) -> bool:
    """Whether ``exact`` on a column of ``type_`` is the built-in ``column == value``
    (not replaced by a ``register_lookup("exact", ..., for_type=...)``)."""
    return lookups.lookup("exact", type_) is _exact


def register_lookup(
    name: str, fn: LookupFn, *, for_type: type[TypeEngine[Any]] | None = None
) -> None:
    """Add lookup ``name`` for all columns, or for columns of type ``for_type``.

    Example:
        ```python
        register_lookup("ne", lambda column, value: column != value)
        await User.objects.filter(name__ne="ann")
        ```
    """
    lookups.register(name, fn, for_type=for_type)


def register_transform(
    name: str, fn: TransformFn, *, for_type: type[TypeEngine[Any]] | None = None
) -> None:
    """Add transform ``name`` (``fn(column) -> expression``), usable before any lookup."""
    lookups.register_transform(name, fn, for_type=for_type)


# --- the resolver ---------------------------------------------------------------------


def _suggest(bad: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(bad, choices, n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def field_column(model: type[Any], name: str) -> ColumnElement[Any]:
    """Return the column expression of field ``name`` (``pk`` is the primary key).

    Raises:
        InvalidLookupError: ``name`` is not a column of ``model``.
    """
    info = get_model_info(model)
    if name == "pk":
        name = info.pk_key
    col = info.columns.get(name)
    if col is not None:
        return col
    if name in info.relationship_keys:
        raise InvalidLookupError(
            f"{model.__name__}.{name} is a relationship, not a column: filter through it "
            f"({name}__<field>=...) or name one of its columns."
        )
    choices = sorted(info.columns)
    relations = sorted(info.relationship_keys)
    listed = f" Relationships: {', '.join(relations)}." if relations else ""
    raise InvalidLookupError(
        f"{model.__name__} has no field {name!r}.{_suggest(name, choices + relations)} "
        f"Valid fields: {', '.join(choices)}.{listed}"
    )


@dataclass(frozen=True, slots=True)
class ResolvedLookup:
    """A resolved ``field__lookup=value``: the clause and the column it tests."""

    clause: ColumnElement[bool]
    column: ColumnElement[Any]
    nullable_guard: bool


def _json_path(
    model: type[Any], col: ColumnElement[Any], parts: list[str], value: Any
) -> tuple[ColumnElement[Any], list[str]]:
    # data__owner__name="x": keys up to the last part that is not a lookup name.
    keys = list(parts)
    rest: list[str] = []
    if keys and lookups.lookup(keys[-1], String()) is not None:
        rest = [keys.pop()]
    if not keys:
        return col, rest
    element = col[tuple(keys)] if len(keys) > 1 else col[keys[0]]
    if isinstance(value, bool):
        return element.as_boolean(), rest
    if isinstance(value, int):
        return element.as_integer(), rest
    if isinstance(value, float):
        return element.as_float(), rest
    return element.as_string(), rest


def resolve_lookup(model: type[Any], key: str, value: Any) -> ResolvedLookup:
    """Turn ``field__transform__lookup=value`` into a SQLAlchemy clause.

    Raises:
        InvalidLookupError: Unknown field, transform or lookup (the message lists the
            valid choices and suggests the closest one).
        ValidationError: ``None`` given to a lookup other than exact / iexact / isnull.
    """
    field, *parts = key.split("__")
    if field in get_model_info(model).relationship_keys:
        from orm_kit.query.relations import resolve_relation, split_relation_key

        rel, rest = split_relation_key(model, key)  # type: ignore[misc]
        clause = resolve_relation(model, rel, [(rest, value)])
        return ResolvedLookup(clause, clause, False)
    column = field_column(model, field)
    expr: ColumnElement[Any] = column
    if isinstance(column.type, JSON) and parts:
        expr, parts = _json_path(model, column, parts, value)
    clause, lookup_name, value = expression_lookup(
        model, f"{model.__name__}.{field}", expr, parts, value, key
    )
    guard = lookup_name != "isnull" and not (lookup_name == "exact" and value is None)
    table_column = get_model_info(model).table_columns.get(field)
    nullable = table_column is None or bool(table_column.nullable)
    return ResolvedLookup(clause, column, guard and nullable)


def expression_lookup(
    model: type[Any], label: str, expr: ColumnElement[Any], parts: list[str], value: Any, key: str
) -> tuple[ColumnElement[bool], str, Any]:
    """Apply transforms and the lookup named by ``parts`` to ``expr`` (a column or an
    annotation); return the clause, the lookup name and the bound value."""
    field = key.split("__", 1)[0]
    lookup_name = "exact"
    for i, part in enumerate(parts):
        transform = lookups.transform(part, expr.type)
        if transform is not None:
            expr = transform(expr)
            continue
        if i == len(parts) - 1 and lookups.lookup(part, expr.type) is not None:
            lookup_name = part
            break
        choices = lookups.names(expr.type)
        raise InvalidLookupError(
            f"Unsupported lookup {part!r} on {label} in {key!r}."
            f"{_suggest(part, choices)} Valid lookups: {', '.join(choices)}."
        )
    fn = lookups.lookup(lookup_name, expr.type)
    assert fn is not None
    if isinstance(value, Resolvable):
        value = value.resolve(model)
    elif value is None and lookup_name not in _NONE_OK:
        raise ValidationError(
            f"None is not a valid value for {model.__name__} lookup {key!r}; "
            f"use {field}__isnull=True."
        )
    else:
        value = _adapt_queryset(value)
    return fn(expr, value), lookup_name, value


def _adapt_queryset(value: Any) -> Any:
    # A QuerySet given to `in` becomes a subquery.
    to_subquery = getattr(value, "_as_subquery", None)
    return to_subquery() if callable(to_subquery) else value
