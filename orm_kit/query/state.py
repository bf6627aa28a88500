"""The state of a QuerySet: one frozen dataclass, cloned with ``dataclasses.replace``."""

from __future__ import annotations

import operator
from dataclasses import dataclass, fields
from typing import Any, Literal

from sqlalchemy.sql.elements import ColumnElement

__all__ = ["PER_CALL", "ForUpdate", "QueryState", "ResultShape", "replaced"]

ResultShape = Literal["models", "values", "values_list", "flat", "named"]


@dataclass(frozen=True, slots=True)
class ForUpdate:
    """Options of ``select_for_update()``."""

    nowait: bool = False
    skip_locked: bool = False
    of: tuple[str, ...] = ()
    shared: bool = False  # FOR SHARE / LOCK IN SHARE MODE (orm_kit's own use: get_or_create)


@dataclass(frozen=True, slots=True)
class QueryState:
    """Everything a QuerySet knows; the compiler turns it into one SQLAlchemy statement."""

    model: type[Any]
    where: tuple[ColumnElement[bool], ...] = ()
    filter_names: tuple[str, ...] = ()
    # Set only by filter(column=value, ...) on a plain manager's base QuerySet: those
    # pairs, so terminal methods can run a cached statement with the values as parameters.
    # Any further chaining clears it (see QuerySet._clone); ``where`` holds the same filters.
    exact: tuple[tuple[str, Any], ...] | None = None
    # (expression, descending, field name or None) per ordering term
    order_by: tuple[tuple[ColumnElement[Any], bool, str | None], ...] = ()
    limit: int | None = None
    offset: int | None = None
    distinct: bool = False
    only: tuple[str, ...] | None = None
    defer: tuple[str, ...] = ()
    annotations: tuple[tuple[str, ColumnElement[Any]], ...] = ()
    shape: ResultShape = "models"
    fields: tuple[str, ...] = ()
    for_update: ForUpdate | None = None
    joins: tuple[tuple[str, Any, Any], ...] = ()
    # The values() fields a values(...).annotate(...) groups by (kept when values() is
    # called again, as in Django).
    group_by: tuple[str, ...] = ()
    deleted: Literal["hide", "include", "only"] = "hide"
    having: tuple[ColumnElement[bool], ...] = ()
    select_related: tuple[str, ...] = ()
    prefetch_related: tuple[str, ...] = ()
    empty: bool = False
    using: Any = None

    @property
    def is_sliced(self) -> bool:
        """Whether a LIMIT or OFFSET applies."""
        return self.limit is not None or self.offset is not None

    def statement_shape(self) -> tuple[Any, ...]:
        """The key of this state's cached statement (the ``exact`` path).

        On that path the filter values are execution parameters, so the fields in
        ``PER_CALL`` are left out and ``exact`` contributes only its column names.
        Every other field, one added later included, is part of the key: two states that
        differ in anything that changes the SQL never share a statement.
        """
        assert self.exact is not None
        return (tuple(key for key, _ in self.exact), *_shape_of(self))


PER_CALL = frozenset({"where", "filter_names", "exact", "using"})
"""QueryState fields that carry per-call values rather than SQL shape on the cached-statement
path: ``where`` is built from ``exact`` (whose values are bound as parameters),
``filter_names`` are its names, and ``using`` says where the statement runs, not what it is."""

_shape_of = operator.attrgetter(*(f.name for f in fields(QueryState) if f.name not in PER_CALL))


_NAMES = tuple(f.name for f in fields(QueryState))
_INDEX = {name: i for i, name in enumerate(_NAMES)}
_values_of = operator.attrgetter(*_NAMES)


def replaced(state: QueryState, **changes: Any) -> QueryState:
    """``dataclasses.replace(state, **changes)`` in half the time (every chained call and
    terminal makes one or two): QueryState has only plain init fields, so its fields are
    read in one call and passed positionally."""
    values = list(_values_of(state))
    for key, value in changes.items():
        index = _INDEX.get(key)
        if index is None:
            raise TypeError(f"QueryState has no field {key!r}")
        values[index] = value
    return QueryState(*values)
