"""Smaller variants of a failing action, to report a minimal reproduction.

Hypothesis does not shrink across examples here (caches stay warm, so a replay can differ),
so the harness reduces the one failing action instead: it tries each variant this module
proposes and keeps the first that still disagrees with the oracle, until none does.
Every variant is a valid description (slices keep a total ordering, distinct keeps its
ordering within its fields, to-many lookups stay in one unit per call).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import TypeVar

from tests.oracle.describe import (
    Action,
    And,
    Block,
    Direct,
    Leaf,
    Lookups,
    Node,
    Not,
    Or,
    Query,
    Step,
    SubIn,
)

__all__ = ["variants"]


ItemT = TypeVar("ItemT")


def _drop_each(items: tuple[ItemT, ...]) -> Iterator[tuple[ItemT, ...]]:
    for n in range(len(items)):
        yield items[:n] + items[n + 1 :]


def _lookups(lookups: Lookups, keep_one: bool) -> Iterator[Lookups]:
    if len(lookups) > 1 or not keep_one:
        yield from _drop_each(lookups)
    for n, (key, value) in enumerate(lookups):
        if isinstance(value, SubIn):
            for inner in _lookups(value.lookups, keep_one=True):
                yield (*lookups[:n], (key, SubIn(inner)), *lookups[n + 1 :])


def _nodes(node: Node) -> Iterator[Node]:
    if isinstance(node, Leaf):
        for smaller in _lookups(node.lookups, keep_one=True):
            yield Leaf(smaller)
    elif isinstance(node, Not):
        yield node.child
        for child in _nodes(node.child):
            yield Not(child)
    else:
        assert isinstance(node, And | Or)
        yield node.left
        yield node.right
        for left in _nodes(node.left):
            yield type(node)(left, node.right)
        for right in _nodes(node.right):
            yield type(node)(node.left, right)


def _steps(step: Step) -> Iterator[Step]:
    if len(step.args) == 1 and isinstance(step.args[0], Leaf) and not step.kwargs:
        yield replace(step, args=(), kwargs=step.args[0].lookups)
    if step.negate:
        yield replace(step, negate=False)
    for args in _drop_each(step.args):
        if args or step.kwargs:
            yield replace(step, args=args)
    if step.args and step.kwargs:
        yield replace(step, kwargs=())
    for kwargs in _lookups(step.kwargs, keep_one=not step.args):
        yield replace(step, kwargs=kwargs)
    for n, arg in enumerate(step.args):
        for smaller in _nodes(arg):
            yield replace(step, args=(*step.args[:n], smaller, *step.args[n + 1 :]))


def _valid(q: Query) -> bool:
    if q.slices and not q.total:
        return False
    names = {o.lstrip("-") for o in q.order}
    if q.distinct and not names <= set(q.fields):
        return False
    return not (q.shape in ("values_list", "flat") and not q.fields)


def _queries(q: Query, kind: str) -> Iterator[Query]:
    for steps in _drop_each(q.steps):
        yield replace(q, steps=steps)
    for n, step in enumerate(q.steps):
        for smaller in _steps(step):
            yield replace(q, steps=(*q.steps[:n], smaller, *q.steps[n + 1 :]))
    if q.slices:
        yield replace(q, slices=())
        if len(q.slices) > 1:
            for slices in _drop_each(q.slices):
                yield replace(q, slices=slices)
    if kind not in ("first", "last", "index") or not q.slices:
        for order in _drop_each(q.order):
            yield replace(q, order=order, order_f=q.order_f and bool(order))
    if q.order_f:
        yield replace(q, order_f=False)
    if q.distinct:
        yield replace(q, distinct=False)
    if q.related is not None:
        yield replace(q, related=None)
    if q.shape != "models" and kind not in ("first", "last"):
        yield replace(q, shape="models", fields=(), distinct=False)
    for fields in _drop_each(q.fields):
        yield replace(q, fields=fields)


def variants(action: Action) -> Iterator[Action]:
    """Smaller valid versions of ``action``, most promising first."""
    if isinstance(action, Block):
        for op in action.ops:
            yield replace(action, ops=(op,), rollback=False)
            yield op
        for ops in _drop_each(action.ops):
            if ops:
                yield replace(action, ops=ops)
        if action.rollback:
            yield replace(action, rollback=False)
        return
    if isinstance(action, Direct):
        if len(action.value_sets) > 1:
            for n in range(len(action.value_sets)):
                yield replace(action, value_sets=action.value_sets[n : n + 1])
                yield replace(action, value_sets=action.value_sets[n:])
        keys = len(action.value_sets[0])
        for n in range(keys if keys > 1 else 0):
            smaller = tuple(vs[:n] + vs[n + 1 :] for vs in action.value_sets)
            yield replace(action, value_sets=smaller)
        if len(action.values) > 1:
            for values in _drop_each(action.values):
                yield replace(action, values=values)
        return
    for q in _queries(action.query, action.kind):
        if _valid(q):
            yield replace(action, query=q, label=None)
    if action.kind == "aggregate":
        for n, agg in enumerate(action.arg):
            if len(action.arg) > 1:
                yield replace(action, arg=action.arg[:n] + action.arg[n + 1 :])
            if agg.filter is not None:
                smaller = (*action.arg[:n], replace(agg, filter=None), *action.arg[n + 1 :])
                yield replace(action, arg=smaller)
    if action.kind == "update" and len(action.arg) > 1:
        for values in _drop_each(action.arg):
            yield replace(action, arg=values)
    if action.kind in ("first", "last", "index", "get") and action.query.shape != "models":
        yield replace(
            action, query=replace(action.query, shape="models", fields=(), distinct=False)
        )
