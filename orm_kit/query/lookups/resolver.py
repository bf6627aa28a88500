"""The ``field__transform__lookup=value`` resolver for a model's columns.

The one place that decides what a lookup's value *is*: a plain value (checked against the
column's type, ``orm_kit.query.values``, then bound), an expression (``F``, SQLAlchemy
clauses), a subquery (a QuerySet or ``select()``), ``None`` (``IS NULL``) or a collection
(``in`` / ``range``). What it returns says so, and the cached-statement path relies on that
instead of guessing. Names are checked against the model and the registry, so no user
string ever reaches SQL text.
"""

from __future__ import annotations

import difflib
import uuid
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Select, String, bindparam
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import NullType, TypeEngine

from orm_kit.exceptions import InvalidLookupError, ORMKitError, ValidationError
from orm_kit.query.lookups.constructs import JsonBool, JsonFloat, JsonInteger, JsonText
from orm_kit.query.lookups.registry import (
    NONE_OK,
    UNBOUND,
    Entry,
    impl_type,
    is_text,
    lookups,
)
from orm_kit.query.meta import get_model_info
from orm_kit.query.resolvable import Resolvable
from orm_kit.query.values import (
    Checker,
    Rejected,
    check_comparable,
    checker_for,
    comparison_type,
    is_sql,
    reject,
    text_value,
)

__all__ = [
    "ResolvedLookup",
    "empty_part_error",
    "expression_lookup",
    "field_column",
    "resolve_field_lookup",
]


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
            ``UNBOUND`` (an expression, a subquery, ``None``, a collection).
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
    # Compared with a value, the key counts only when it holds that kind of JSON value
    # (a number for a number ...); otherwise it is NULL, as a missing key is.
    if sample is None or isinstance(sample, Resolvable) or is_sql(sample):
        return element.as_string(), rest
    if isinstance(sample, bool):
        return JsonBool(element), rest
    if isinstance(sample, int):
        return JsonInteger(element), rest
    if isinstance(sample, float):
        return JsonFloat(element), rest
    return JsonText(element), rest


def resolve_field_lookup(model: type[Any], key: str, value: Any) -> ResolvedLookup:
    """Turn ``field__transform__lookup=value`` on a column of ``model`` into a SQLAlchemy
    clause (lookups through relationships: ``orm_kit.query.clauses.resolve_lookup``).

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
    annotation) with ``value``; see ``resolve_lookup``."""
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
            f"Unsupported lookup {part!r} on {label} ({type(impl_type(expr.type)).__name__}) "
            f"in {key!r}.{_suggest(part, choices)} Valid lookups: {', '.join(choices)}."
        )
    entry = lookups.entry(lookup_name, expr.type)
    assert entry is not None
    if isinstance(impl_type(expr.type), JSON) and not (
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
    entry: Entry,
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
        return _compared(expr, checked), checked, True
    if kind == "any":  # a lookup of the user's: the value as given (expressions resolved)
        if isinstance(value, Resolvable) or _is_queryset(value):
            value = _expression(model, where, lookup, value)
        return value, UNBOUND, False
    if value is None:
        if lookup in NONE_OK:
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
            if not (is_text(operand.type) or isinstance(operand.type, NullType)):
                raise ValidationError(
                    f"The {lookup!r} lookup on {where} compares text; its value is a "
                    f"{type(impl_type(operand.type)).__name__} expression. Compare with a text "
                    "column or a str."
                )
        else:
            check_comparable(expr, operand, f"{where} ({lookup})")
        return operand, UNBOUND, False
    if kind in ("text", "pattern"):
        try:
            return text_value(value), value, True
        except Rejected as exc:
            raise reject(where, exc, value) from None
    checked = _check(model, where, expr.type, value)  # "same"
    return _compared(expr, checked), checked, True


def _compared(expr: ColumnElement[Any], value: Any) -> Any:
    """``value`` as the operand of a comparison with ``expr`` (see ``comparison_type``)."""
    bind_type = comparison_type(expr.type)
    if bind_type is expr.type:
        return value
    # Named after the column, as SQLAlchemy names the parameter of `column == value`.
    return bindparam(getattr(expr, "key", None) or "param", value, type_=bind_type, unique=True)


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
        raise reject(where, exc, value) from None


def _expression(model: type[Any], where: str, lookup: str, value: Any) -> ColumnElement[Any]:
    if isinstance(value, Resolvable):
        if value.contains_aggregate:
            raise ValidationError(
                f"The {lookup!r} lookup on {where} cannot compare with an aggregate "
                f"({value!r}): rows are filtered before they are aggregated. Annotate it and "
                "filter on the annotation: annotate(n=Count(...)).filter(n__gte=...)."
            )
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
    plain = True
    for item in value:
        if item is None:  # as in Django: None in an `in` list matches nothing
            continue
        # As in Django, an item may be an expression: id__in=[F("parent_id"), 3].
        operand, is_plain = _item(model, where, "in", expr, item)
        items.append(operand)
        plain = plain and is_plain
    if comparison_type(expr.type) is not expr.type and items:
        if plain:  # one expanding parameter, as SQLAlchemy binds a list of values
            key = getattr(expr, "key", None) or "param"
            bound = bindparam(
                key, items, type_=comparison_type(expr.type), expanding=True, unique=True
            )
            return bound, UNBOUND, plain
        items = [i if _is_expression(i) else _compared(expr, i) for i in items]
    return items, UNBOUND, plain


def _item(
    model: type[Any], where: str, lookup: str, expr: ColumnElement[Any], item: Any
) -> tuple[Any, bool]:
    """One item of an ``in`` list or a ``range`` pair: a checked plain value, or an
    expression comparable with ``expr``; and whether it was a plain value."""
    if isinstance(item, Resolvable) or _is_expression(item):
        operand = _expression(model, where, lookup, item)
        check_comparable(expr, operand, f"{where} ({lookup})")
        return operand, False
    return _check(model, where, expr.type, item), True


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
        operand, is_plain = _item(model, where, "range", expr, item)
        bounds.append(_compared(expr, operand) if is_plain else operand)
        plain = plain and is_plain
    return tuple(bounds), UNBOUND, plain
