"""The lookup registry and the built-in lookups and transforms.

A lookup is ``fn(expression, value) -> clause``; a transform is ``fn(expression) ->
expression`` (``year``, ``date`` ...) and may be followed by a lookup
(``created_at__year__gte=2020``). Entries are global or for one column type.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Boolean, Date, DateTime, Integer, Interval, String, cast, func, literal
from sqlalchemy import false as sql_false
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeDecorator, TypeEngine

from orm_kit.query.lookups.constructs import (
    AtUTC,
    Contains,
    DateOf,
    EndsWith,
    IRegex,
    Regex,
    StartsWith,
    WeekDay,
    WholeSeconds,
)

__all__ = [
    "UNBOUND",
    "LookupFn",
    "LookupRegistry",
    "TransformFn",
    "is_plain_comparison",
    "lookups",
    "register_lookup",
    "register_transform",
]

LookupFn = Callable[[ColumnElement[Any], Any], ColumnElement[bool]]
TransformFn = Callable[[ColumnElement[Any]], ColumnElement[Any]]

ValueKind = Literal["same", "text", "pattern", "many", "pair", "flag", "any"]
"""What a lookup takes: a value of the column's type, text, a regex pattern, a collection
(``in``), a pair (``range``), a bool (``isnull``), or anything (lookups you register)."""

UNBOUND: Any = object()
"""``ResolvedLookup.bound`` when the value is not one plain bound parameter."""


# --- built-ins ------------------------------------------------------------------------


def _text_value(expr: ColumnElement[Any], value: Any) -> ColumnElement[Any]:
    return value if isinstance(value, ColumnElement) else literal(value, type_=String())


def _bound(expr: ColumnElement[Any], value: Any) -> Any:
    # A parameter of the column's type: SQLAlchemy would turn True / False into the SQL
    # constants, which it allows only with = and !=, so bool__lt=True failed.
    return literal(value, type_=Boolean()) if isinstance(value, bool) else value


def _exact(expr: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
    return expr.is_(None) if value is None else expr == value


def _iexact(expr: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
    if value is None:
        return expr.is_(None)
    return func.lower(expr) == func.lower(_text_value(expr, value))


def _text(construct: Any, *, fold: bool) -> LookupFn:
    # The i-variants compare lower-cased text with the same constructs (no LIKE, so no
    # wildcards to escape, and an F() value works like a literal one).
    def lookup(expr: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
        operand = _text_value(expr, value)
        if fold:
            return construct(func.lower(expr), func.lower(operand))  # type: ignore[no-any-return]
        return construct(expr, operand)  # type: ignore[no-any-return]

    return lookup


def _in(expr: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
    if isinstance(value, list) and not value:
        return sql_false()
    return expr.in_(value)


def _gt(expr: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
    return expr > _bound(expr, value)  # type: ignore[no-any-return]


def _gte(expr: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
    return expr >= _bound(expr, value)  # type: ignore[no-any-return]


def _lt(expr: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
    return expr < _bound(expr, value)  # type: ignore[no-any-return]


def _lte(expr: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
    return expr <= _bound(expr, value)  # type: ignore[no-any-return]


def _range(expr: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
    low, high = value
    return expr.between(low, high)


def _isnull(expr: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
    return expr.is_(None) if value else expr.is_not(None)


def _as_text(expr: ColumnElement[Any]) -> ColumnElement[Any]:
    # Like Django, a regex on a non-text column matches the column's text form.
    return expr if is_text(expr.type) else cast(expr, String())


def _regex(expr: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
    return Regex(_as_text(expr), _text_value(expr, value))


def _iregex(expr: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
    return IRegex(_as_text(expr), _text_value(expr, value))


def _utc(expr: ColumnElement[Any]) -> ColumnElement[Any]:
    """``expr`` as date parts see it: in UTC when it has a time zone, in whole seconds."""
    impl = impl_type(expr.type)
    if not isinstance(impl, DateTime):
        return expr  # a Date
    return AtUTC(expr) if impl.timezone else WholeSeconds(expr)


def _extract(part: str) -> TransformFn:
    def transform(expr: ColumnElement[Any]) -> ColumnElement[Any]:
        return cast(func.extract(part, _utc(expr)), Integer)

    transform.__name__ = part
    return transform


def _week_day(expr: ColumnElement[Any]) -> ColumnElement[Any]:
    # Django's numbering: 1 = Sunday ... 7 = Saturday (WeekDay gives 0 = Sunday).
    return cast(WeekDay(_utc(expr)), Integer) + 1


def _date(expr: ColumnElement[Any]) -> ColumnElement[Any]:
    return DateOf(_utc(expr))


def _builtin_lookups() -> list[tuple[str, LookupFn, Any, ValueKind]]:
    text = String
    return [
        ("exact", _exact, None, "same"),
        ("iexact", _iexact, text, "text"),
        ("contains", _text(Contains, fold=False), text, "text"),
        ("icontains", _text(Contains, fold=True), text, "text"),
        ("startswith", _text(StartsWith, fold=False), text, "text"),
        ("istartswith", _text(StartsWith, fold=True), text, "text"),
        ("endswith", _text(EndsWith, fold=False), text, "text"),
        ("iendswith", _text(EndsWith, fold=True), text, "text"),
        ("in", _in, None, "many"),
        ("gt", _gt, None, "same"),
        ("gte", _gte, None, "same"),
        ("lt", _lt, None, "same"),
        ("lte", _lte, None, "same"),
        ("range", _range, None, "pair"),
        ("isnull", _isnull, None, "flag"),
        ("regex", _regex, None, "pattern"),
        ("iregex", _iregex, None, "pattern"),
    ]


def _builtin_transforms() -> list[tuple[str, TransformFn, Any]]:
    parts: list[tuple[str, TransformFn, Any]] = [("date", _date, DateTime)]
    for types, names in (
        ((Date, DateTime), ("year", "month", "day")),
        ((DateTime,), ("hour", "minute")),
    ):
        for name in names:
            parts.extend((name, _extract(name), t) for t in types)
    parts.extend(("week_day", _week_day, t) for t in (Date, DateTime))
    return parts


# Lookups whose value may be None without meaning "IS NULL".
NONE_OK = frozenset({"exact", "iexact"})


def impl_type(type_: TypeEngine[Any]) -> TypeEngine[Any]:
    """The type that decides which lookups apply: a TypeDecorator's implementation.

    Not for ``Interval``: SQLAlchemy emulates it on a DateTime where the database has no
    interval type, but a duration has no date parts (PostgreSQL refuses a cast to DATE,
    SQLite would read the duration as a timestamp in 1970), so only the generic lookups
    apply to it.
    """
    if isinstance(type_, Interval):
        return type_
    return type_.impl_instance if isinstance(type_, TypeDecorator) else type_


def is_text(type_: TypeEngine[Any]) -> bool:
    return isinstance(impl_type(type_), String)


@dataclass(frozen=True, slots=True)
class Entry:
    fn: Any
    for_type: type[TypeEngine[Any]] | None
    value: ValueKind = "any"


class LookupRegistry:
    """Lookups and transforms by name, global or for one column type.

    Entries registered for a column type win over global ones for columns of that type;
    a ``TypeDecorator`` column counts as its implementation type.
    """

    def __init__(self) -> None:
        self._lookups: dict[str, list[Entry]] = {}
        self._transforms: dict[str, list[Entry]] = {}
        for name, fn, for_type, kind in _builtin_lookups():
            self._add(self._lookups, name, Entry(fn, for_type, kind))
        for name, tfn, for_type in _builtin_transforms():
            self._add(self._transforms, name, Entry(tfn, for_type))

    @staticmethod
    def _add(table: dict[str, list[Entry]], name: str, entry: Entry) -> None:
        if not name.isidentifier() or "__" in name:
            raise ValueError(f"Lookup names must be identifiers without '__', not {name!r}.")
        entries = [e for e in table.get(name, []) if e.for_type is not entry.for_type]
        entries.insert(0, entry)
        table[name] = entries

    def register(
        self, name: str, fn: LookupFn, *, for_type: type[TypeEngine[Any]] | None = None
    ) -> None:
        """Register lookup ``name``: ``fn(column, value)`` returns a SQLAlchemy clause."""
        self._add(self._lookups, name, Entry(fn, for_type))

    def register_transform(
        self, name: str, fn: TransformFn, *, for_type: type[TypeEngine[Any]] | None = None
    ) -> None:
        """Register transform ``name``: ``fn(column)`` returns a SQLAlchemy expression."""
        self._add(self._transforms, name, Entry(fn, for_type))

    @staticmethod
    def _find(table: dict[str, list[Entry]], name: str, type_: TypeEngine[Any]) -> Entry | None:
        fallback = None
        impl = impl_type(type_)
        for entry in table.get(name, ()):
            if entry.for_type is None:
                fallback = entry
            elif isinstance(type_, entry.for_type) or isinstance(impl, entry.for_type):
                return entry
        return fallback

    def entry(self, name: str, type_: TypeEngine[Any]) -> Entry | None:
        """The lookup entry ``name`` for a column of ``type_`` (function and value kind)."""
        return self._find(self._lookups, name, type_)

    def lookup(self, name: str, type_: TypeEngine[Any]) -> LookupFn | None:
        """Return the lookup ``name`` for a column of ``type_``, or ``None``."""
        found = self._find(self._lookups, name, type_)
        return None if found is None else found.fn

    def transform(self, name: str, type_: TypeEngine[Any]) -> TransformFn | None:
        """Return the transform ``name`` for a column of ``type_``, or ``None``."""
        found = self._find(self._transforms, name, type_)
        return None if found is None else found.fn

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


_COMPARISONS: dict[str, LookupFn] = {
    "exact": _exact,
    "gt": _gt,
    "gte": _gte,
    "lt": _lt,
    "lte": _lte,
}


def is_plain_comparison(name: str, type_: TypeEngine[Any]) -> bool:
    """Whether lookup ``name`` on a column of ``type_`` is one of the built-in comparisons
    (``exact``, ``gt``, ``gte``, ``lt``, ``lte``: ``column <op> value``), not replaced by
    a lookup of the user's."""
    builtin = _COMPARISONS.get(name)
    return builtin is not None and lookups.lookup(name, type_) is builtin


def register_lookup(
    name: str, fn: LookupFn, *, for_type: type[TypeEngine[Any]] | None = None
) -> None:
    """Add lookup ``name`` for all columns, or for columns of type ``for_type``.

    ``fn(column, value)`` gets the value as given (orm_kit checks values only for its
    built-in lookups) and must return a SQLAlchemy clause that binds it as a parameter.
    A SQL construct of your own must keep everything that changes its SQL where
    SQLAlchemy's statement cache sees it: in ``_traverse_internals``, or one class per
    variant (``inherit_cache = True`` only on a subclass that adds no such state).
    Otherwise the cache can serve one query's SQL for another.

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
