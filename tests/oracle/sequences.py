"""Sequences of operations: one hypothesis example is a list of these.

Besides single operations and session/transaction blocks, a sequence holds *series*: the
same statement shape run again with sibling lookups and other values, which is where a
compiled-statement cache that keys on too little serves one query's SQL for another.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from typing import Any

from hypothesis import strategies as st

from tests.oracle import data as pool
from tests.oracle.describe import (
    Action,
    AggSpec,
    And,
    Direct,
    FRef,
    Leaf,
    Lookups,
    Node,
    Not,
    Op,
    Or,
    Query,
    Step,
)
from tests.oracle.queries import (
    BOOL,
    COMPARE,
    TEXT_LOOKUPS,
    blocks,
    column_texts,
    directs,
    int_range,
    list_of,
    pick,
    single_ops,
)

__all__ = ["actions", "lookup_series", "mutated", "series"]

TEXT_FAMILY = ("exact", "iexact", *TEXT_LOOKUPS)
FAMILIES = (
    TEXT_FAMILY,
    ("regex", "iregex"),
    ("exact", *COMPARE),
    ("year", "month", "day", "hour", "minute", "week_day"),
)

LOCKED = ("in", "range", "isnull")  # lookups whose value kind no sibling shares


@st.composite
def _mutated_lookup(draw: st.DrawFn, key: str, value: Any) -> tuple[str, Any]:
    """``key=value`` with the lookup swapped for a sibling and/or another value of the
    same kind: the same statement shape, or a shape one compiled-cache key away."""
    parts = key.split("__")
    text_value = isinstance(value, str) or (isinstance(value, FRef) and value.name in ("s", "ns"))
    if value is None or parts[-1] in LOCKED:
        return key, value
    if parts[-1] not in {name for family in FAMILIES for name in family}:
        parts.append("exact")
    change = draw(pick(("name", "value", "both")))
    families = [f for f in FAMILIES if parts[-1] in f]
    if change != "value" and families:
        family = families[0] if text_value or len(families) == 1 else families[-1]
        if len(parts) > 2 and parts[-2] in FAMILIES[3] and draw(BOOL):
            parts[-2] = draw(pick(tuple(t for t in FAMILIES[3] if t != parts[-2])))
        elif family is not TEXT_FAMILY or text_value:
            parts[-1] = draw(pick(tuple(n for n in family if n != parts[-1])))
    if change != "name":
        field = next((f for f in pool.COLUMN_TEXTS if key.startswith(f"{f}__")), None)
        if isinstance(value, str) and parts[-1] not in FAMILIES[1] and field is not None:
            value = draw(column_texts(field))
        elif isinstance(value, int) and not isinstance(value, bool):
            value = draw(int_range(max(value - 3, -(2**31)), min(value + 3, 2**31 - 1)))
    return "__".join(parts), value


def _mutated_lookups(draw: st.DrawFn, lookups: Lookups) -> Lookups:
    out: dict[str, Any] = {}
    for key, value in lookups:
        new_key, new_value = draw(_mutated_lookup(key, value))
        out.setdefault(new_key, new_value)
    return tuple(out.items())


def _mutated_node(draw: st.DrawFn, node: Node) -> Node:
    if isinstance(node, Leaf):
        return Leaf(_mutated_lookups(draw, node.lookups))
    if isinstance(node, Not):
        return Not(_mutated_node(draw, node.child))
    assert isinstance(node, And | Or)
    return type(node)(_mutated_node(draw, node.left), _mutated_node(draw, node.right))


@st.composite
def mutated(draw: st.DrawFn, op: Op) -> Op:
    """``op`` with its lookups' names and values varied, everything else kept."""
    chain = tuple(
        Step(
            step.negate,
            tuple(_mutated_node(draw, a) for a in step.args),
            _mutated_lookups(draw, step.kwargs),
        )
        for step in op.query.steps
    )
    arg = op.arg
    if op.kind == "aggregate":
        arg = tuple(
            replace(agg, filter=Leaf(_mutated_lookups(draw, agg.filter.lookups)))
            if agg.filter is not None
            else agg
            for agg in op.arg
        )
    return replace(op, query=replace(op.query, steps=chain), arg=arg, label=None)


@functools.cache
@st.composite
def series(draw: st.DrawFn) -> list[Action]:
    """One operation, then 1-2 more of the same shape with varied lookups and values."""
    first = draw(single_ops())
    if isinstance(first, Direct):
        return [first, replace(first, action=draw(pick(("fetch", "count", "get"))))]
    return [first, *draw(st.lists(mutated(first), min_size=1, max_size=2))]


@functools.cache
@st.composite
def lookup_series(draw: st.DrawFn) -> list[Action]:
    """The same small query with 2-4 sibling lookups on one field in turn: the statement
    shapes a compiled-statement cache must tell apart."""
    fields = ("s", "ns", "parent__name", "children__t", "data__k", "s", "ns", "dt")
    column = draw(pick(fields))
    family = FAMILIES[3] if column == "dt" else TEXT_FAMILY
    names = draw(list_of(pick(family), 2, 4, unique=True))
    values = column_texts(column) if column != "dt" else int_range(0, 12)
    same_value = draw(BOOL)
    value = draw(values)
    negate = draw(int_range(0, 3)) == 0
    kind = draw(pick(("fetch", "count", "exists", "aggregate", "update", "delete")))
    shape = draw(pick(("models", "flat"))) if kind == "fetch" else "models"
    arg: Any = None
    if kind == "aggregate":
        arg = (AggSpec("Count", "id"),)
    elif kind == "update":
        arg = (("b", True),)
    out: list[Action] = []
    for name in names:
        lookup = ((f"{column}__{name}", value if same_value else draw(values)),)
        query = Query(
            (Step(negate, (), lookup),), shape=shape, fields=("id",) if shape == "flat" else ()
        )
        out.append(Op(kind, query, arg))
    return out


@functools.cache
@st.composite
def _groups(draw: st.DrawFn) -> list[Action]:
    # Drawn by hand: hypothesis's one_of favours some branches heavily here.
    n = draw(int_range(0, 99))
    if n < 35:
        return [draw(single_ops())]
    if n < 45:
        return [draw(directs())]
    if n < 55:
        return [draw(blocks())]
    if n < 70:
        return draw(series())
    return draw(lookup_series())


@functools.cache
@st.composite
def actions(draw: st.DrawFn, max_size: int = 12) -> list[Action]:
    """A random sequence of operations (one hypothesis example)."""
    groups = draw(list_of(_groups(), 3, max_size // 2 + 1))
    return [action for group in groups for action in group][:max_size]
