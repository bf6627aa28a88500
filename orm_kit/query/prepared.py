"""The cached-statement path: ``filter(column=value, column__lt=value, ...)`` straight off
a plain manager runs one statement per filter shape, built once, with the values as
parameters.

A plain manager's base state is registered here; filtering it with plain comparisons on
table columns (the built-in ``exact``, ``gt``, ``gte``, ``lt``, ``lte``, each with one
plain value) records those (filter key, value) pairs in ``QueryState.exact``. The
statement is keyed by ``statement_shape`` — the filter keys (so the lookups) and every
state field except the per-call ones — so two states that differ in anything that
changes the SQL never share a statement.
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
from orm_kit.query.lookups.registry import UNBOUND, is_plain_comparison
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

MAX_STATEMENTS = 1000
"""The most statements cached for one model. Shapes are bounded by the code that makes
them, except slices: ``qs[start:start + 20]`` is a shape for each ``start``. Past this
many, a new shape's statement is built for its call and not kept (still correct, and
SQLAlchemy's compiled cache, which is bounded, still serves its SQL)."""

CACHED = True
"""Whether filters may take the cached-statement path at all; tests set it ``False`` to
compare with statements SQLAlchemy compiles from the general path's clauses."""

# The comparisons the cached statements serve: the operator each builds, and its negation
# (what SQLAlchemy's comparator records for ``~clause``).
_OPERATORS: dict[str, tuple[Any, Any]] = {
    "exact": (operators.eq, operators.ne),
    "gt": (operators.gt, operators.le),
    "gte": (operators.ge, operators.lt),
    "lt": (operators.lt, operators.ge),
    "lte": (operators.le, operators.gt),
}

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


def plain_order(model: type[Any], terms: Sequence[tuple[Any, bool, str | None]]) -> bool:
    """Whether every ``order_by`` term names a column of ``model`` (``"name"``,
    ``"-id"``): the same expression on every call, so a statement keyed by it is found
    again (an expression term is a new object each time)."""
    columns = get_model_info(model).columns
    return all(name is not None and columns.get(name) is expr for expr, _, name in terms)


def split_key(key: str) -> tuple[str, str]:
    """``("level", "lt")`` for the filter key ``level__lt``, ``("level", "exact")`` for
    ``level`` (anything after a second ``__`` stays in the lookup part)."""
    field, _, lookup = key.partition("__")
    return field, lookup or "exact"


def exact_pairs(
    model: type[Any], keys: Sequence[str], resolved: Sequence[ResolvedLookup]
) -> tuple[tuple[str, Any], ...] | None:
    """``keys`` as (filter key, checked value) pairs when the resolver bound each one as a
    plain value in a built-in comparison (``_OPERATORS``) on a table column, with no
    transform (not JSON; only ``exact`` on a Boolean); else ``None``."""
    if not CACHED or len(resolved) != len(keys):
        return None
    columns = get_model_info(model).table_columns
    pairs = []
    for key, res in zip(keys, resolved, strict=True):
        field, lookup = split_key(key)
        column = columns.get(field)
        if (
            column is None
            or lookup != res.lookup  # a transform (``created_at__year``), or none at all
            or res.bound is UNBOUND
            or isinstance(column.type, JSON)
            or not is_plain_comparison(lookup, column.type)
            or (lookup != "exact" and (isinstance(column.type, Boolean) or type(res.bound) is bool))
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
        full = len(info.statements) >= MAX_STATEMENTS
        where = tuple(
            resolve_lookup(
                state.model,
                key,
                bindparam(
                    f"{_WHERE_PARAM}{key}",
                    type_=comparison_type(info.table_columns[split_key(key)[0]].type),
                ),
            ).clause
            for key, _ in state.exact
        )
        stmt = build(dataclasses.replace(state, where=where))
        if full:  # built for this call only, and run as any statement is (see MAX_STATEMENTS)
            return stmt
        stmt = info.statements[cache_key] = _cached(stmt)
    return stmt


def _cached(stmt: Any) -> Any:
    """``stmt`` marked as built once and run many times (the raw path may run it)."""
    if isinstance(stmt, tuple):  # compile_rows: (statement, keys)
        return (stmt[0].execution_options(**{CACHED_OPTION: True}), *stmt[1:])
    return stmt.execution_options(**{CACHED_OPTION: True})


FAST_FILTER = True
"""Whether ``exact_filter`` may build plain-base comparison filters from learned clauses;
tests set it ``False`` to compare with the general lookup path."""


@dataclasses.dataclass(frozen=True, slots=True)
class _Served:
    """A filter key the shortcut serves: its column, lookup, read check, the value type
    seen, and the operator and negation its clause is built with."""

    column: Any
    lookup: str
    check: Checker | None
    kind: type
    op: Any
    negate: Any


# (model, filter key) -> how to build its clause, for the keys the shortcut serves; None for
# the others.
_SERVED: dict[tuple[type[Any], str], _Served | None] = {}


def _compare(column: Any, op: Any, negate: Any, value: Any) -> Any:
    """``column <op> value`` as SQLAlchemy's default comparator builds it for a plain value
    (a fresh, unique bound parameter named after the column), without its operator
    dispatch."""
    bind = column._bind_param(op, value)
    return OperatorExpression._construct_for_op(
        column, bind, op, type_=BOOLEANTYPE, negate=negate, modifiers={}
    )


def exact_filter(
    state: QueryState, kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], tuple[tuple[str, Any], ...]] | None:
    """``filter(column=value, column__lt=value, ...)`` on a plain manager's base state,
    where every key is an integer or text table column (not an Enum, Boolean or JSON one)
    with a built-in comparison (``_OPERATORS``), already seen on the general path with a
    value of the same type, and every value an ``int`` / ``str`` its column's check
    accepts unchanged: the where clauses and exact pairs, without resolving the lookups
    again. ``None`` sends the call down the general path, which also raises every error.
    """
    if not FAST_FILTER or not CACHED or not kwargs or not is_plain_base(state):
        return None
    model = state.model
    clauses = []
    for key, value in kwargs.items():
        served = _SERVED.get((model, key))
        if served is None:
            return None
        column = served.column
        if type(value) is not served.kind or not is_plain_comparison(served.lookup, column.type):
            return None
        check = served.check
        if check is not None:
            try:
                if check(value) is not value:
                    return None
            except Rejected:
                return None  # the general path raises the error
        clauses.append(_compare(column, served.op, served.negate, value))
    return tuple(clauses), tuple(kwargs.items())


def learn_exact(state: QueryState, kwargs: dict[str, Any], clauses: Sequence[Any]) -> None:
    """Note the filter keys whose clause from the general path ``exact_filter`` builds
    alike (checked here: same SQL construct, same cache key, same bound value)."""
    if not is_plain_base(state):
        return
    model = state.model
    columns = get_model_info(model).table_columns
    for (key, value), clause in zip(kwargs.items(), clauses, strict=True):
        if (model, key) in _SERVED:
            continue
        field, lookup = split_key(key)
        column = columns.get(field)
        ops = _OPERATORS.get(lookup)
        servable = (
            column is not None
            and ops is not None
            and type(value) in (int, str)
            and isinstance(column.type, Integer | String)
            and not isinstance(column.type, Boolean | Enum | JSON)
            and comparison_type(column.type) is column.type
            and isinstance(clause, BinaryExpression)
            and clause.left is column
            and isinstance(clause.right, BindParameter)
            and clause.right.value is value
        )
        served = None
        if servable:
            assert ops is not None
            built = _compare(column, *ops, value)
            if (
                built.compare(clause)
                and built._generate_cache_key() == clause._generate_cache_key()
                and built.right.value is value
                and built.negate is clause.negate
            ):
                served = _Served(
                    clause.left,
                    lookup,
                    checker_for(clause.left.type, write=False),
                    type(value),
                    *ops,
                )
        _SERVED[(model, key)] = served
