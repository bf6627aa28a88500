"""Lookups: the registry, the built-in lookups and transforms, and the ``field__lookup`` resolver.

A lookup is ``fn(expression, value) -> clause``; a transform is ``fn(expression) ->
expression`` (``year``, ``date`` ...) and may be followed by a lookup
(``created_at__year__gte=2020``). Names are checked against the model and the registry, so
no user string ever reaches SQL text; values are checked against the column's type
(:mod:`orm_kit.query.values`) and always bound as parameters.

The resolver is the one place that decides what a lookup's value *is*: a plain value
(checked, then bound), an expression (``F``, SQLAlchemy clauses), a subquery (a QuerySet or
``select()``), ``None`` (``IS NULL``) or a collection (``in`` / ``range``). What it returns
says so, and the cached-statement path relies on that instead of guessing.
"""

from __future__ import annotations

import difflib
import uuid
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import JSON, Boolean, Date, DateTime, Integer, Select, String, cast, func, literal
from sqlalchemy import false as sql_false
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import NullType, TypeDecorator, TypeEngine

from orm_kit.exceptions import InvalidLookupError, ORMKitError, ValidationError
from orm_kit.query.constructs import (
    AtUTC,
    Contains,
    DateOf,
    EndsWith,
    IRegex,
    StartsWith,
    WholeSeconds,
)
from orm_kit.query.meta import get_model_info
from orm_kit.query.resolvable import Resolvable
from orm_kit.query.values import (
    Checker,
    Rejected,
    check_comparable,
    checker_for,
    reject,
    text_value,
)

__all__ = [
    "UNBOUND",
    "LookupFn",
    "LookupRegistry",
    "ResolvedLookup",
    "TransformFn",
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


def _range(expr: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
    low, high = value
    return expr.between(low, high)


def _isnull(expr: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
    return expr.is_(None) if value else expr.is_not(None)


def _as_text(expr: ColumnElement[Any]) -> ColumnElement[Any]:
    # Like Django, a regex on a non-text column matches the column's text form.
    return expr if _is_text(expr.type) else cast(expr, String())


def _regex(expr: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
    return _as_text(expr).regexp_match(_text_value(expr, value))


def _iregex(expr: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
    return IRegex(_as_text(expr), _text_value(expr, value))


def _utc(expr: ColumnElement[Any]) -> ColumnElement[Any]:
    """``expr`` as date parts see it: in UTC when it has a time zone, in whole seconds."""
    impl = _impl(expr.type)
    if not isinstance(impl, DateTime):
        return expr  # a Date
    return AtUTC(expr) if impl.timezone else WholeSeconds(expr)


def _extract(part: str) -> TransformFn:
    def transform(expr: ColumnElement[Any]) -> ColumnElement[Any]:
        return cast(func.extract(part, _utc(expr)), Integer)

    transform.__name__ = part
    return transform


def _week_day(expr: ColumnElement[Any]) -> ColumnElement[Any]:
    # Django's numbering: 1 = Sunday ... 7 = Saturday (extract(dow) gives 0 = Sunday).
    return cast(func.extract("dow", _utc(expr)), Integer) + 1


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
        ("gt", lambda e, v: e > _bound(e, v), None, "same"),
        ("gte", lambda e, v: e >= _bound(e, v), None, "same"),
        ("lt", lambda e, v: e < _bound(e, v), None, "same"),
        ("lte", lambda e, v: e <= _bound(e, v), None, "same"),
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
_NONE_OK = frozenset({"exact", "iexact"})


def _impl(type_: TypeEngine[Any]) -> TypeEngine[Any]:
    """The type that decides which lookups apply: a TypeDecorator's implementation."""
    return type_.impl_instance if isinstance(type_, TypeDecorator) else type_


def _is_text(type_: TypeEngine[Any]) -> bool:
    return isinstance(_impl(type_), String)


@dataclass(frozen=True, slots=True)
class _Entry:
    fn: Any
    for_type: type[TypeEngine[Any]] | None
    value: ValueKind = "any"


class LookupRegistry:
    """Lookups and transforms by name, global or for one column type.

    Entries registered for a column type win over global ones for columns of that type;
    a ``TypeDecorator`` column counts as its implementation type.
    """

    def __init__(self) -> None:
        self._lookups: dict[str, list[_Entry]] = {}
        self._transforms: dict[str, list[_Entry]] = {}
        for name, fn, for_type, kind in _builtin_lookups():
            self._add(self._lookups, name, _Entry(fn, for_type, kind))
        for name, tfn, for_type in _builtin_transforms():
            self._add(self._transforms, name, _Entry(tfn, for_type))

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
    def _find(table: dict[str, list[_Entry]], name: str, type_: TypeEngine[Any]) -> _Entry | None:
        fallback = None
        impl = _impl(type_)
        for entry in table.get(name, ()):
            if entry.for_type is None:
                fallback = entry
            elif isinstance(type_, entry.for_type) or isinstance(impl, entry.for_type):
                return entry
        return fallback

    def entry(self, name: str, type_: TypeEngine[Any]) -> _Entry | None:
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


def is_plain_exact(type_: TypeEngine[Any]) -> bool:
    """Whether ``exact`` on a column of ``type_`` is the built-in ``column == value``
    (not replaced by a ``register_lookup("exact", ..., for_type=...)``)."""
    return lookups.lookup("exact", type_) is _exact


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
    if not isinstance(name, str):
        raise InvalidLookupError(
            f"Field names of {model.__name__} are strings, not {type(name).__name__}."
        )
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
    shown = name if len(name) <= 60 else f"{name[:60]}..."
    raise InvalidLookupError(
        f"{model.__name__} has no field {shown!r}.{_suggest(name, choices + relations)} "
        f"Valid fields: {', '.join(choices)}.{listed}"
    )


def empty_part_error(model: type[Any], key: str) -> InvalidLookupError:
    """The error for a lookup key with an empty part (``author__``, ``__name``)."""
    shown = key if len(key) <= 60 else f"{key[:60]}..."
    return InvalidLookupError(
        f"{model.__name__} lookup {shown!r} has an empty part; lookups are "
        "field__transform__lookup names joined by double underscores."
    )


@dataclass(frozen=True, slots=True)
class ResolvedLookup:
    """A resolved ``field__lookup=value``.

    Attributes:
        clause: The boolean SQL clause.
        lookup: The lookup name (``"exact"``, ``"in"`` ...; ``"relation"`` through one).
        bound: The checked plain value bound as the clause's one parameter, or
            :data:`UNBOUND` (an expression, a subquery, ``None``, a collection).
        maybe_null: Whether the clause can be SQL NULL for some row (a nullable column, an
            expression operand, a JSON key); a negation must then treat NULL as false.
    """

    clause: ColumnElement[bool]
    lookup: str
    bound: Any
    maybe_null: bool


def _json_path(
    col: ColumnElement[Any], parts: list[str], value: Any
) -> tuple[ColumnElement[Any], list[str]]:
    # data__owner__name="x": keys up to the last part that is a lookup name.
    keys = list(parts)
    rest: list[str] = []
    if keys and lookups.lookup(keys[-1], String()) is not None:
        rest = [keys.pop()]
    if not keys:
        return col, rest
    element = col[tuple(keys)] if len(keys) > 1 else col[keys[0]]
    sample = value
    if rest == ["isnull"]:
        sample = None
    elif isinstance(value, list | tuple) and value:  # in / range: the items' type
        sample = next((v for v in value if v is not None), None)
    if isinstance(sample, bool):
        return element.as_boolean(), rest
    if isinstance(sample, int):
        return element.as_integer(), rest
    if isinstance(sample, float):
        return element.as_float(), rest
    return element.as_string(), rest


def resolve_field_lookup(model: type[Any], key: str, value: Any) -> ResolvedLookup:
    """Turn ``field__transform__lookup=value`` on a column of ``model`` into a SQLAlchemy
    clause (lookups through relationships: :func:`orm_kit.query.clauses.resolve_lookup`).

    Raises:
        InvalidLookupError: Unknown field, transform or lookup, or a lookup that does not
            apply to the column's type (the message lists the valid choices).
        ValidationError: A value the lookup cannot take (wrong type for the column,
            ``None`` where only ``isnull`` means NULL, ...).
    """
    if not isinstance(key, str):
        raise InvalidLookupError(f"Lookup names are strings, not {type(key).__name__}.")
    field, *parts = key.split("__")
    info = get_model_info(model)
    if not field or "" in parts:
        raise empty_part_error(model, key)
    column = field_column(model, field)
    expr: ColumnElement[Any] = column
    json_key = isinstance(column.type, JSON) and bool(parts)
    if json_key:
        expr, parts = _json_path(column, parts, value)
    table_column = info.table_columns.get(info.pk_key if field == "pk" else field)
    nullable = json_key or table_column is None or bool(table_column.nullable)
    return expression_lookup(model, f"{model.__name__}.{field}", expr, parts, value, key, nullable)


def expression_lookup(
    model: type[Any],
    label: str,
    expr: ColumnElement[Any],
    parts: list[str],
    value: Any,
    key: str,
    nullable: bool = True,
) -> ResolvedLookup:
    """Apply the transforms and the lookup named by ``parts`` to ``expr`` (a column or an
    annotation) with ``value``; see :func:`resolve_lookup`."""
    lookup_name = "exact"
    for i, part in enumerate(parts):
        transform = lookups.transform(part, expr.type)
        if transform is not None:
            expr = transform(expr)
            continue
        if i == len(parts) - 1 and lookups.entry(part, expr.type) is not None:
            lookup_name = part
            break
        choices = lookups.names(expr.type)
        raise InvalidLookupError(
            f"Unsupported lookup {part!r} on {label} ({type(_impl(expr.type)).__name__}) "
            f"in {key!r}.{_suggest(part, choices)} Valid lookups: {', '.join(choices)}."
        )
    entry = lookups.entry(lookup_name, expr.type)
    assert entry is not None
    if isinstance(_impl(expr.type), JSON) and not (
        lookup_name == "isnull" or (lookup_name == "exact" and value is None)
    ):
        raise InvalidLookupError(
            f"{label} is a JSON column: compare one of its keys ({key.split('__')[0]}__<key>"
            f"=...), or test {key.split('__')[0]}__isnull."
        )
    where = label if len(parts) < 2 else f"{label}__{'__'.join(parts[:-1])}"
    if parts and parts[-1] != lookup_name:  # the last part was a transform
        where = f"{where}__{parts[-1]}"
    operand, bound, plain = _operand(model, where, entry, lookup_name, expr, value, key)
    try:
        clause = entry.fn(expr, operand)
    except ORMKitError:
        raise
    except Exception as exc:  # a lookup of the user's, or SQLAlchemy refusing the operand
        raise ValidationError(
            f"The {lookup_name!r} lookup on {where} cannot take a {type(value).__name__}: "
            f"{type(exc).__name__}."
        ) from exc
    maybe_null = lookup_name != "isnull" and value is not None and (nullable or not plain)
    return ResolvedLookup(clause, lookup_name, bound, maybe_null)


def _is_expression(value: Any) -> bool:
    return isinstance(value, ColumnElement | Select) or hasattr(value, "__clause_element__")


def _operand(
    model: type[Any],
    where: str,
    entry: _Entry,
    lookup: str,
    expr: ColumnElement[Any],
    value: Any,
    key: str,
) -> tuple[Any, Any, bool]:
    """The value handed to the lookup function, the checked bound value (or UNBOUND), and
    whether the operand is plain values only (so NULL can only come from the column)."""
    kind = entry.value
    if kind == "same" and type(value) in _PLAIN:  # the common case, first
        checked = _check(model, where, expr.type, value)
        return checked, checked, True
    if kind == "any":  # a lookup of the user's: the value as given (expressions resolved)
        if isinstance(value, Resolvable) or _is_queryset(value):
            value = _expression(model, where, lookup, value)
        return value, UNBOUND, False
    if value is None:
        if lookup in _NONE_OK:
            return None, UNBOUND, True
        field = key.split("__", 1)[0]
        raise ValidationError(
            f"None is not a valid value for {model.__name__} lookup {key!r}; "
            f"use {field}__isnull=True."
        )
    if kind == "flag":
        if not isinstance(value, bool):
            raise ValidationError(f"The 'isnull' lookup on {where} takes True or False.")
        return value, UNBOUND, True
    if kind == "many":
        return _many(model, where, expr, value)
    if kind == "pair":
        return _pair(model, where, expr, value)
    if isinstance(value, Resolvable) or _is_expression(value) or _is_queryset(value):
        operand = _expression(model, where, lookup, value)
        if kind in ("text", "pattern"):
            if not (_is_text(operand.type) or isinstance(operand.type, NullType)):
                raise ValidationError(
                    f"The {lookup!r} lookup on {where} compares text; its value is a "
                    f"{type(_impl(operand.type)).__name__} expression. Compare with a text "
                    "column or a str."
                )
        else:
            check_comparable(expr, operand, f"{where} ({lookup})")
        return operand, UNBOUND, False
    if kind in ("text", "pattern"):
        try:
            return text_value(value), value, True
        except Rejected as exc:
            raise reject(where, exc.expected, value) from None
    checked = _check(model, where, expr.type, value)  # "same"
    return checked, checked, True


# Python types that are always plain values (never expressions or collections).
_PLAIN = frozenset({int, str, float, bool, Decimal, datetime, date, time, timedelta, uuid.UUID})
# The read checker per type object (column types live as long as their columns).
_READ_CHECKS: weakref.WeakKeyDictionary[TypeEngine[Any], Checker | None] = (
    weakref.WeakKeyDictionary()
)


def _check(model: type[Any], where: str, type_: TypeEngine[Any], value: Any) -> Any:
    try:
        checker = _READ_CHECKS[type_]
    except KeyError:
        checker = _READ_CHECKS[type_] = checker_for(type_, write=False)
    if checker is None:
        return value
    try:
        return checker(value)
    except Rejected as exc:
        raise reject(where, exc.expected, value) from None


def _expression(model: type[Any], where: str, lookup: str, value: Any) -> ColumnElement[Any]:
    if isinstance(value, Resolvable):
        return value.resolve(model)
    if _is_queryset(value):
        subquery: ColumnElement[Any] = _subquery_of(value, lookup, where)
        return subquery
    if isinstance(value, Select):
        return value.scalar_subquery()
    return value  # type: ignore[no-any-return]


def _is_queryset(value: Any) -> bool:
    return callable(getattr(value, "_as_subquery", None))


def _subquery_of(value: Any, lookup: str, where: str) -> Any:
    """A QuerySet as a subquery: a list of values for ``in``, one value otherwise."""
    select: Select[Any] = value._as_subquery()
    if lookup == "in":
        return select
    if value.query_state.limit != 1:
        raise ValidationError(
            f"The QuerySet value of the {lookup!r} lookup on {where} must be limited to one "
            "row by slicing, e.g. qs[:1], or use the 'in' lookup."
        )
    return select.scalar_subquery()


def _many(
    model: type[Any], where: str, expr: ColumnElement[Any], value: Any
) -> tuple[Any, Any, bool]:
    if _is_queryset(value) or isinstance(value, Select):
        select = _subquery_of(value, "in", where) if _is_queryset(value) else value
        columns = list(select.selected_columns)
        if len(columns) == 1:  # a model QuerySet selects its primary key
            check_comparable(expr, columns[0], f"{where} (in)")
        return select, UNBOUND, False
    if (
        isinstance(value, str | bytes | bytearray | Mapping | Resolvable)
        or _is_expression(value)
        or not hasattr(value, "__iter__")
    ):
        raise ValidationError(
            f"The 'in' lookup on {where} needs a list, tuple or set of values or a QuerySet, "
            f"not {type(value).__name__}."
        )
    items = []
    for item in value:
        if item is None:  # as in Django: None in an `in` list matches nothing
            continue
        if isinstance(item, Resolvable) or _is_expression(item):
            raise ValidationError(
                f"The 'in' lookup on {where} takes plain values; compare with an expression "
                "through Q(field=F(...)) | Q(...)."
            )
        items.append(_check(model, where, expr.type, item))
    return items, UNBOUND, True


def _pair(
    model: type[Any], where: str, expr: ColumnElement[Any], value: Any
) -> tuple[Any, Any, bool]:
    if (
        isinstance(value, str | bytes | Mapping)
        or not isinstance(value, list | tuple)
        or len(value) != 2
    ):
        raise ValidationError(
            f"The 'range' lookup on {where} needs a pair (low, high), for example "
            "created_at__range=(start, end)."
        )
    bounds = []
    plain = True
    for item in value:
        if item is None:
            raise ValidationError(f"The 'range' lookup on {where} needs two bounds, not None.")
        if isinstance(item, Resolvable) or _is_expression(item):
            operand = _expression(model, where, "range", item)
            check_comparable(expr, operand, f"{where} (range)")
            bounds.append(operand)
            plain = False
        else:
            bounds.append(_check(model, where, expr.type, item))
    return tuple(bounds), UNBOUND, plain
