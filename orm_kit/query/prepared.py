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

from sqlalchemy import JSON, Boolean, Enum, Integer, String, bindparam
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import BinaryExpression, BindParameter, OperatorExpression
from sqlalchemy.sql.type_api import BOOLEANTYPE

from orm_kit import rules
from orm_kit.dialects import CACHED_OPTION
from orm_kit.query.clauses import resolve_lookup
from orm_kit.query.lookups.registry import UNBOUND, is_plain_exact
from orm_kit.query.lookups.resolver import ResolvedLookup
from orm_kit.query.meta import get_model_info
from orm_kit.query.state import QueryState
from orm_kit.query.values import Checker, Rejected, checker_for, comparison_type

__all__ = [
    "exact_filter",
    "exact_pairs",
    "exact_params",
    "exact_statement",
    "is_plain_base",
    "learn_exact",
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
    """Whether ``state`` is a registered plain manager's base state, or one that only says
    where to run (``Model.objects.using(db)``: not part of any statement)."""
    if _PLAIN_BASES.get(id(state)) is state:
        return True
    return state.using is not None and dataclasses.replace(state, using=None) == QueryState(
        state.model
    )


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
    # The rules' version too: a rule registered later changes which rows a statement sees.
    cache_key = (kind, rules.version(), state.statement_shape())
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
        stmt = build(dataclasses.replace(state, where=where))
        stmt = info.statements[cache_key] = _cached(stmt)
    return stmt


def _cached(stmt: Any) -> Any:
    """``stmt`` marked as built once and run many times (the raw path may run it)."""
    if isinstance(stmt, tuple):  # compile_rows: (statement, keys)
        return (stmt[0].execution_options(**{CACHED_OPTION: True}), *stmt[1:])
    return stmt.execution_options(**{CACHED_OPTION: True})


FAST_FILTER = True
"""Whether ``exact_filter`` may build plain-base equality filters from cached clauses;
tests set it ``False`` to compare with the general lookup path."""

# (model, column key) -> (the column, its read check, the value type seen), for the columns
# the shortcut serves; None for the others.
_SERVED: dict[tuple[type[Any], str], tuple[Any, Checker | None, type] | None] = {}


def _equals(column: Any, value: Any) -> Any:
    """``column == value`` as SQLAlchemy's default comparator builds it for a plain value
    (a fresh, unique bound parameter named after the column), without its operator
    dispatch."""
    bind = column._bind_param(operators.eq, value)
    return OperatorExpression._construct_for_op(
        column, bind, operators.eq, type_=BOOLEANTYPE, negate=operators.ne, modifiers={}
    )


def exact_filter(
    state: QueryState, kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], tuple[tuple[str, Any], ...]] | None:
    """``filter(column=value, ...)`` on a plain manager's base state, where every key is
    an integer or text table column (not an Enum, Boolean or JSON one) compared with the
    built-in ``exact``, already seen on the general path with a value of the same type,
    and every value an ``int`` / ``str`` its column's check accepts unchanged: the where
    clauses and exact pairs, without resolving the lookups again. ``None`` sends the call
    down the general path, which also raises every error.
    """
    if not FAST_FILTER or not kwargs or not is_plain_base(state):
        return None
    model = state.model
    clauses = []
    for key, value in kwargs.items():
        served = _SERVED.get((model, key))
        if served is None:
            return None
        column, check, kind = served
        if type(value) is not kind or not is_plain_exact(column.type):
            return None
        if check is not None:
            try:
                if check(value) is not value:
                    return None
            except Rejected:
                return None  # the general path raises the error
        clauses.append(_equals(column, value))
    return tuple(clauses), tuple(kwargs.items())


def learn_exact(state: QueryState, kwargs: dict[str, Any], clauses: Sequence[Any]) -> None:
    """Note the columns whose clause from the general path ``exact_filter`` builds alike
    (checked here: same SQL construct, same cache key, same bound value)."""
    if not is_plain_base(state):
        return
    model = state.model
    columns = get_model_info(model).table_columns
    for (key, value), clause in zip(kwargs.items(), clauses, strict=True):
        if (model, key) in _SERVED:
            continue
        column = columns.get(key)
        servable = (
            column is not None
            and type(value) in (int, str)
            and isinstance(column.type, Integer | String)
            and not isinstance(column.type, Boolean | Enum | JSON)
            and comparison_type(column.type) is column.type
            and isinstance(clause, BinaryExpression)
            and clause.left is column
            and isinstance(clause.right, BindParameter)
            and clause.right.value is value
        )
        if servable:
            built = _equals(column, value)
            servable = (
                built.compare(clause)
                and built._generate_cache_key() == clause._generate_cache_key()
                and built.right.value is value
            )
        _SERVED[(model, key)] = (
            (clause.left, checker_for(clause.left.type, write=False), type(value))
            if servable
            else None
        )
