"""The cached-statement path: ``filter(column=value, ...)`` straight off a plain manager
runs one statement per filter shape, built once, with the values as parameters.

A plain manager's base state is registered here; filtering it with plain equalities on
table columns records those pairs in ``QueryState.exact``. The statement is keyed by
``statement_shape`` — every state field except the
per-call ones — so two states that differ in anything that changes the SQL never share a
statement.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import JSON, bindparam

from orm_kit.query.clauses import resolve_lookup
from orm_kit.query.lookups.registry import UNBOUND, is_plain_exact
from orm_kit.query.lookups.resolver import ResolvedLookup
from orm_kit.query.meta import get_model_info
from orm_kit.query.state import QueryState
from orm_kit.query.values import comparison_type

__all__ = [
    "exact_pairs",
    "exact_params",
    "exact_statement",
    "is_plain_base",
    "register_plain_base",
]

# The states of plain managers' base QuerySets (no filters, nothing changed), by id.
_PLAIN_BASES: dict[int, QueryState] = {}
_WHERE_PARAM = "orm_kit_w_"


def register_plain_base(state: QueryState) -> None:
    """Note ``state`` (a manager's long-lived base state) if it is the default one."""
    if state == QueryState(state.model):
        _PLAIN_BASES[id(state)] = state


def is_plain_base(state: QueryState) -> bool:
    """Whether ``state`` is a registered plain manager's base state."""
    return _PLAIN_BASES.get(id(state)) is state


def exact_pairs(
    model: type[Any], keys: Sequence[str], resolved: Sequence[ResolvedLookup]
) -> tuple[tuple[str, Any], ...] | None:
    """``keys`` as (column, checked value) pairs when the resolver bound each one as a
    plain value in a built-in equality on a table column (not JSON); else ``None``."""
    if len(resolved) != len(keys):
        return None
    columns = get_model_info(model).table_columns
    pairs = []
    for key, res in zip(keys, resolved, strict=True):
        column = columns.get(key)
        if (
            column is None
            or res.lookup != "exact"
            or res.bound is UNBOUND
            or isinstance(column.type, JSON)
            or not is_plain_exact(column.type)
        ):
            return None
        pairs.append((key, res.bound))
    return tuple(pairs)


def exact_params(state: QueryState) -> dict[str, Any] | None:
    """The parameters of ``state``'s filters when it can run a cached statement, else
    ``None`` (callers use this path only outside a session)."""
    exact = state.exact
    if exact is None or get_model_info(state.model).eager_relationships:
        return None
    return {f"{_WHERE_PARAM}{key}": value for key, value in exact}


def exact_statement(state: QueryState, kind: Any, build: Callable[[QueryState], Any]) -> Any:
    """The cached statement ``build(state)`` makes for this filter shape and ``kind``,
    with each filter value a named parameter (see ``exact_params``)."""
    assert state.exact is not None
    info = get_model_info(state.model)
    cache_key = (kind, state.statement_shape())
    stmt = info.statements.get(cache_key)
    if stmt is None:
        where = tuple(
            resolve_lookup(
                state.model,
                key,
                bindparam(
                    f"{_WHERE_PARAM}{key}", type_=comparison_type(info.table_columns[key].type)
                ),
            ).clause
            for key, _ in state.exact
        )
        stmt = info.statements[cache_key] = build(dataclasses.replace(state, where=where))
    return stmt
