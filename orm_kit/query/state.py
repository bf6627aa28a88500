"""The state of a QuerySet: one frozen dataclass, cloned with ``dataclasses.replace``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.sql.elements import ColumnElement

__all__ = ["ForUpdate", "QueryState", "ResultShape"]

ResultShape = Literal["models", "values", "values_list", "flat", "named"]


@dataclass(frozen=True, slots=True)
class ForUpdate:
    """Options of ``select_for_update()``."""

    nowait: bool = False
    skip_locked: bool = False
    of: tuple[str, ...] = ()


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
    group_by: bool = False
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
