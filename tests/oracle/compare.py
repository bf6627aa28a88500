"""Comparing orm_kit's results with the oracle's: type-strict canonical values, short
diffs, and which actions depend on the text collation."""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, date, datetime
from typing import Any

from tests.oracle.describe import Action, Block, Direct, Leaf, Lookups, Node, Not, SubIn
from tests.oracle.models import ROW_COLUMNS

__all__ = ["canon", "diff", "ids", "needs_text_order", "row_dict", "same_number", "short"]

TEXT_ORDER_COLUMNS = ("s", "ns", "parent__name", "children__t")


def canon(value: Any) -> Any:
    """A hashable, type-strict form (True is not 1, an aware datetime is its UTC instant)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float | str):
        return (type(value).__name__, value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return ("naive-datetime", value)
        return ("datetime", value.astimezone(UTC))
    if isinstance(value, date):
        return ("date", value)
    if isinstance(value, dict):
        return ("dict", tuple(sorted((k, canon(v)) for k, v in value.items())))
    if isinstance(value, tuple | list):
        return (type(value).__name__, tuple(canon(v) for v in value))
    return (type(value).__name__, repr(value))


def short(value: Any, limit: int = 600) -> str:
    out = repr(value)
    return out if len(out) <= limit else out[:limit] + f"... ({len(out)} chars)"


def diff(expected: list[Any], got: list[Any]) -> tuple[str, str]:
    """Describe a multiset difference briefly (what is missing, what is extra)."""
    want, have = Counter(repr(canon(v)) for v in expected), Counter(repr(canon(v)) for v in got)
    missing = [v for v in expected if (want - have)[repr(canon(v))]]
    extra = [v for v in got if (have - want)[repr(canon(v))]]
    return (
        f"{len(expected)} items; missing from result: {short(ids(missing), 300)}",
        f"{len(got)} items; unexpected: {short(ids(extra), 300)}",
    )


def ids(items: list[Any]) -> list[Any]:
    return [i.get("id", i) if isinstance(i, dict) else i for i in items]


def same_number(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return bool(canon(a) == canon(b))


def row_dict(obj: Any, related: str | None) -> dict[str, Any]:
    out = {c: getattr(obj, c) for c in ROW_COLUMNS}
    if related == "parent":
        p = obj.parent
        out["parent"] = None if p is None else (p.id, p.name, p.rank)
    elif related == "children":
        out["children"] = sorted((c.id, c.v, c.t) for c in obj.children)
    return out


def needs_text_order(action: Action) -> bool:
    """Whether the action orders or compares text (skipped under a non-C collation)."""
    if isinstance(action, Block):
        return any(needs_text_order(op) for op in action.ops)
    if isinstance(action, Direct):
        return False
    keys: list[str] = []

    def walk_lookups(lookups: Lookups) -> None:
        for key, value in lookups:
            keys.append(key)
            if isinstance(value, SubIn):
                walk_lookups(value.lookups)

    def walk(node: Node) -> None:
        if isinstance(node, Leaf):
            walk_lookups(node.lookups)
        elif isinstance(node, Not):
            walk(node.child)
        else:
            walk(node.left)
            walk(node.right)

    for step in action.query.steps:
        walk_lookups(step.kwargs)
        for arg in step.args:
            walk(arg)
    if action.kind == "aggregate":
        for agg in action.arg:
            if agg.filter is not None:
                walk_lookups(agg.filter.lookups)
            if agg.func in ("Min", "Max") and agg.field in TEXT_ORDER_COLUMNS:
                return True
    if any(o.lstrip("-") in TEXT_ORDER_COLUMNS for o in action.query.order):
        return True
    for key in keys:
        head, _, tail = key.rpartition("__")
        if tail in ("gt", "gte", "lt", "lte", "range") and head in TEXT_ORDER_COLUMNS:
            return True
    return False
