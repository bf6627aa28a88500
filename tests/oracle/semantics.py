"""The oracle: a pure-Python model of the documented query semantics (Django's).

These are decisions; orm_kit is checked against them.

* Two-valued logic. A lookup is TRUE or FALSE for a row. A comparison involving NULL — the
  column NULL, an ``F()`` operand NULL, arithmetic with NULL, a missing JSON key, no related
  row for a to-one lookup — is FALSE. ``filter(X)`` keeps the rows where X is TRUE;
  ``exclude(X)`` and ``~Q(X)`` keep exactly the rows where X is FALSE: exclude is always the
  complement of filter (Django: a negated comparison with a NULL operand keeps the row,
  ``exclude()`` keeps NULL rows). So ``exclude(i=F("ni"))`` keeps every row where ``ni`` is
  NULL, ``exclude(ns__iexact=None)`` drops the NULL rows, ``exclude(ni__in=[None])`` keeps
  every row.
* ``exact=None`` / ``iexact=None`` mean IS NULL. ``None`` inside an ``in`` list matches
  nothing; ``in=[]`` matches nothing.
* ``contains`` / ``startswith`` / ``endswith`` are case-sensitive, ``%`` ``_`` ``\\`` are
  literal; the ``i``-variants compare ``str.lower()`` of both sides (the data holds
  non-ASCII letters in one case only, so every backend's ``lower()`` agrees).
* ``regex`` / ``iregex``: Python ``re.search`` (``iregex`` with IGNORECASE); the patterns
  generated mean the same in PostgreSQL.
* Text order is code-point order (the ``C`` collation; other collations skip the text
  ordering checks, see :mod:`tests.oracle.runner`).
* Date parts are taken in UTC; ``week_day`` is 1 = Sunday ... 7 = Saturday; ``date``
  compares a ``datetime.date``.
* NULLs in ``order_by``: PostgreSQL puts them last ascending and first descending, SQLite
  first ascending and last descending; the oracle follows the backend under test.
* To-many lookups in one unit (one ``filter()`` kwargs group or one ``Q(...)``) must match
  the same related row (EXISTS); each chained ``filter()`` is its own EXISTS; a to-many
  filter never repeats a row. ``children__isnull=True`` means no children. ``JSON key
  __isnull=True`` means the key is missing.
* A JSON key compared with a value counts only when it holds that JSON kind: a number for
  an ``int`` / ``float``, a string for a ``str``, ``true`` / ``false`` for a ``bool``;
  otherwise it is NULL (so ``data__n=1`` never matches ``"1"`` or ``true``, and ``1.0``
  equals ``1``).
* ``values()`` keys are the field names (all columns by default); ``values_list(flat=True)``
  gives scalars; ``distinct()`` applies before slicing; ``count()`` on a slice counts the
  slice; ``exists()`` on an empty slice is False; unordered ``first()`` / ``last()`` order by
  primary key; ``last()`` of a slice is the slice's last row (or an ORMKitError, as Django
  refuses it); ``aggregate()`` returns a dict, Sum/Min/Max/Avg over no rows are None and
  Count is 0, Avg is a float; a to-many aggregate counts the joined child rows.
* ``update()`` evaluates every new value from the row before the update and returns the
  number of matched rows; ``delete()`` returns the rows deleted from the table (children go
  with them, ON DELETE CASCADE).

Where this differs from what Django's SQL does (the rules above are the project's decision):

* Django guards a bare ``F("ni")`` operand of a negated lookup (``ni IS NOT NULL``) but not
  arithmetic (``exclude(i__gt=F("ni") + 1)`` drops the NULL rows there); here every NULL
  operand makes the comparison FALSE, so exclude keeps those rows.
* Django adds no guard for a JSON key of a NOT NULL JSON column, so its
  ``exclude(data__k="x")`` drops the rows without the key; here they are kept. Django
  compares a key with a value of another JSON kind by the backend's rules (jsonb order on
  PostgreSQL, SQLite's type order), so ``data__n__lt=1`` matches ``"abc"`` there; here it
  does not.
* Django documents that ``exclude()`` over several to-many lookups does not mean "no single
  related row matches them all"; here it does (the complement of the same-row filter).
* Not generated, because the two readings disagree: NULL tests through a to-one relation
  (``parent__rank__isnull=True``, ``parent__name=None``) are TRUE for rows without a parent
  in Django (LEFT JOIN) and FALSE in orm_kit (EXISTS).
"""

from __future__ import annotations

import copy
import operator
import re
from collections.abc import Callable, Iterable
from datetime import UTC
from typing import Any

from tests.backends import supports
from tests.oracle.data import Dataset
from tests.oracle.describe import (
    AggSpec,
    And,
    FOp,
    FRef,
    Leaf,
    Lookups,
    Node,
    Not,
    Or,
    Query,
    Step,
    SubIn,
)
from tests.oracle.models import ROW_COLUMNS

__all__ = ["Oracle"]

LOOKUP_NAMES = frozenset(
    [
        "exact",
        "iexact",
        "contains",
        "icontains",
        "startswith",
        "istartswith",
        "endswith",
        "iendswith",
        "in",
        "gt",
        "gte",
        "lt",
        "lte",
        "range",
        "isnull",
        "regex",
        "iregex",
    ]
)
TRANSFORM_NAMES = frozenset(("date", "year", "month", "day", "hour", "minute", "week_day"))
_ARITHMETIC: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "%": operator.mod,  # generated with positive operands only
}
_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}
_ABSENT = object()  # a literal None value (IS NULL), told apart from an F() that gives NULL


def _transform(value: Any, name: str) -> Any:
    moment = value.astimezone(UTC)
    if name == "date":
        return moment.date()
    if name == "week_day":
        return moment.isoweekday() % 7 + 1
    return getattr(moment, name)


def _json_kind(value: Any) -> str | None:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return None


def _same_kind(stored: Any, rhs: Any) -> Any:
    """A JSON key's value as a comparison with ``rhs`` sees it: ``None`` (SQL NULL) when it
    holds another JSON kind than the value's (``"3"`` or ``true`` for a number, ``3`` for
    a string), as orm_kit's JSON key lookups do."""
    if rhs is _ABSENT:
        return stored
    sample = rhs
    if isinstance(rhs, list | tuple):
        sample = next((v for v in rhs if v is not None), None)
    if sample is None or _json_kind(stored) == _json_kind(sample):
        return stored
    return None


def compare(lhs: Any, lookup: str, rhs: Any) -> bool:
    """The two-valued result of ``lhs <lookup> rhs``; ``rhs`` is already evaluated
    (``_ABSENT`` stands for a literal ``None``)."""
    if lookup == "isnull":
        return (lhs is None) == bool(rhs)
    if rhs is _ABSENT:
        return lookup in ("exact", "iexact") and lhs is None
    if lookup == "in":
        return lhs is not None and any(v is not None and lhs == v for v in rhs)
    if lookup == "range":
        low, high = rhs
        return lhs is not None and None not in (low, high) and low <= lhs <= high
    if lhs is None or rhs is None:
        return False
    if lookup == "exact":
        return bool(lhs == rhs)
    if lookup in ("gt", "gte", "lt", "lte"):
        return _COMPARISONS[lookup](lhs, rhs)
    if lookup == "regex":
        return re.search(rhs, lhs) is not None
    if lookup == "iregex":
        return re.search(rhs, lhs, re.IGNORECASE) is not None
    if lookup.startswith("i"):
        lhs, rhs, lookup = lhs.lower(), rhs.lower(), lookup[1:]
    if lookup == "exact":
        return bool(lhs == rhs)
    if lookup == "contains":
        return rhs in lhs
    if lookup == "startswith":
        return bool(lhs.startswith(rhs))
    if lookup == "endswith":
        return bool(lhs.endswith(rhs))
    raise AssertionError(f"unknown lookup {lookup}")


class Oracle:
    """The rows as Python dicts, and every query operation evaluated over them."""

    def __init__(self, dataset: Dataset, backend: str) -> None:
        self.dataset = dataset
        self.backend = backend
        self.parents = {p["id"]: p for p in dataset.parents}
        self.rows: list[dict[str, Any]] = []
        self.children: list[dict[str, Any]] = []
        self.reset()

    # --- state ----------------------------------------------------------------------

    def reset(self) -> None:
        """Back to the dataset's rows."""
        self.rows = copy.deepcopy(list(self.dataset.rows))
        self.children = copy.deepcopy(list(self.dataset.children))

    def snapshot(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        return copy.deepcopy(self.rows), copy.deepcopy(self.children)

    def restore(self, snap: tuple[list[dict[str, Any]], list[dict[str, Any]]]) -> None:
        self.rows, self.children = copy.deepcopy(snap[0]), copy.deepcopy(snap[1])

    def kids(self, row: dict[str, Any]) -> list[dict[str, Any]]:
        return [c for c in self.children if c["row_id"] == row["id"]]

    def parent(self, row: dict[str, Any]) -> dict[str, Any] | None:
        pid = row["parent_id"]
        return None if pid is None else self.parents[pid]

    # --- values -----------------------------------------------------------------------

    def value(self, row: dict[str, Any], value: Any) -> Any:
        """Evaluate an F() expression or a subquery against ``row``; plain values as is."""
        if isinstance(value, FRef):
            return row[value.name]
        if isinstance(value, FOp):
            lhs, rhs = self.value(row, value.lhs), self.value(row, value.rhs)
            if lhs is None or rhs is None:
                return None
            return _ARITHMETIC[value.op](lhs, rhs)
        if isinstance(value, SubIn):
            return [r["id"] for r in self.rows if self.leaf(r, value.lookups)]
        if isinstance(value, tuple):
            return tuple(self.value(row, v) for v in value)
        if value is None:
            return _ABSENT
        return value

    def field(self, row: dict[str, Any], name: str) -> Any:
        """A ``values()`` / ``order_by()`` field: a column or ``parent__<column>``."""
        if name.startswith("parent__"):
            parent = self.parent(row)
            return None if parent is None else parent[name.removeprefix("parent__")]
        return row[name]

    # --- lookups ------------------------------------------------------------------------

    def lookup(self, row: dict[str, Any], key: str, value: Any) -> bool:
        """``key=value`` for one row (``children__`` keys are handled by :meth:`leaf`)."""
        head, *rest = key.split("__")
        if head == "children":
            return self._children(row, [("__".join(rest), value)])
        if head == "parent":
            if rest == ["isnull"]:
                return (row["parent_id"] is None) == bool(value)
            if not rest or rest[0] in LOOKUP_NAMES:
                if row["parent_id"] is None:  # compares the related primary key
                    return False
                return compare(row["parent_id"], rest[0] if rest else "exact", value)
            parent = self.parent(row)
            if parent is None:
                return False
            return compare(parent[rest[0]], rest[1] if len(rest) > 1 else "exact", value)
        if head == "data":
            json_key, *rest = rest
            name = rest[0] if rest else "exact"
            if name == "isnull":
                return (json_key not in row["data"]) == bool(value)
            rhs = self.value(row, value)
            return compare(_same_kind(row["data"].get(json_key), rhs), name, rhs)
        lhs = row[head]
        if rest and rest[0] in TRANSFORM_NAMES:
            lhs = _transform(lhs, rest[0])
            rest = rest[1:]
        return compare(lhs, rest[0] if rest else "exact", self.value(row, value))

    def _children(self, row: dict[str, Any], items: Iterable[tuple[str, Any]]) -> bool:
        kids = self.kids(row)
        matchers = []
        for key, value in items:
            if key == "isnull":
                if (not kids) != value:
                    return False
                continue
            column, *rest = key.split("__")
            matchers.append((column, rest[0] if rest else "exact", value))
        if not matchers:
            return True
        return any(
            all(compare(kid[col], name, self.value(kid, v)) for col, name, v in matchers)
            for kid in kids
        )

    def leaf(self, row: dict[str, Any], lookups: Lookups) -> bool:
        """All lookups of one unit; its ``children__`` lookups match one child row."""
        to_many = [
            (k.removeprefix("children__"), v) for k, v in lookups if k.startswith("children__")
        ]
        if to_many and not self._children(row, to_many):
            return False
        return all(self.lookup(row, k, v) for k, v in lookups if not k.startswith("children__"))

    def node(self, row: dict[str, Any], node: Node) -> bool:
        if isinstance(node, Leaf):
            return self.leaf(row, node.lookups)
        if isinstance(node, Not):
            return not self.node(row, node.child)
        if isinstance(node, And):
            return self.node(row, node.left) and self.node(row, node.right)
        assert isinstance(node, Or)
        return self.node(row, node.left) or self.node(row, node.right)

    def step(self, row: dict[str, Any], step: Step) -> bool:
        matched = all(self.node(row, a) for a in step.args) and self.leaf(row, step.kwargs)
        return not matched if step.negate else matched

    def matching(self, steps: Iterable[Step]) -> list[dict[str, Any]]:
        """The rows every step keeps, in primary-key order."""
        chain = tuple(steps)
        rows = sorted(self.rows, key=lambda r: r["id"])
        return [r for r in rows if all(self.step(r, s) for s in chain)]

    # --- reading ----------------------------------------------------------------------

    def null_key(self, value: Any) -> tuple[Any, ...]:
        """A sort key for ``value`` ascending, with NULLs where the backend puts them."""
        nulls_first = supports(self.backend, "nulls_first")
        if value is None:
            return (not nulls_first,)
        return (nulls_first, value)

    def ordered(self, rows: list[dict[str, Any]], order: tuple[str, ...]) -> list[dict[str, Any]]:
        out = list(rows)
        for term in reversed(order):
            name = term.lstrip("-")
            out.sort(key=lambda r: self.null_key(self.field(r, name)), reverse=term.startswith("-"))
        return out

    def order_key(self, order: tuple[str, ...]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
        """The projection of a row on the ordering terms (to check a partial order)."""
        return lambda r: tuple(self.field(r, t.lstrip("-")) for t in order)

    def project(self, query: Query, row: dict[str, Any]) -> Any:
        if query.shape == "models":
            return row
        names = query.fields or ROW_COLUMNS
        if query.shape == "values":
            return {n: self.field(row, n) for n in names}
        values = tuple(self.field(row, n) for n in names)
        return values[0] if query.shape == "flat" else values

    def select(self, query: Query) -> list[Any]:
        """The result of ``await query`` (models as row dicts), in the query's order
        (primary-key order when unordered, which the caller compares as a multiset)."""
        rows = self.ordered(self.matching(query.steps), query.order)
        items = [self.project(query, r) for r in rows]
        if query.distinct:
            seen: list[Any] = []
            for item in items:
                if item not in seen:
                    seen.append(item)
            items = seen
        for start, stop in query.slices:
            items = items[start:stop]
        return items

    def aggregate(self, query: Query, aggs: tuple[AggSpec, ...]) -> dict[str, Any]:
        rows = self.matching(query.steps)
        out: dict[str, Any] = {}
        for n, agg in enumerate(aggs):
            kept = [r for r in rows if agg.filter is None or self.leaf(r, agg.filter.lookups)]
            if agg.field.startswith("children"):
                column = agg.field.removeprefix("children").removeprefix("__") or "id"
                values = [kid[column] for r in kept for kid in self.kids(r)]
            elif agg.field == "parent":
                values = [r["parent_id"] for r in kept]
            else:
                values = [self.field(r, agg.field) for r in kept]
            values = [v for v in values if v is not None]
            if agg.distinct:
                values = list(dict.fromkeys(values))
            out[f"a{n}"] = _aggregate(agg.func, values)
        return out

    # --- writing ----------------------------------------------------------------------

    def update(self, query: Query, values: Lookups) -> int:
        rows = self.matching(query.steps)
        for row in rows:
            new = {name: self.value(row, v) for name, v in values}
            row.update({k: (None if v is _ABSENT else v) for k, v in new.items()})
        return len(rows)

    def delete(self, query: Query) -> int:
        gone = {r["id"] for r in self.matching(query.steps)}
        self.rows = [r for r in self.rows if r["id"] not in gone]
        self.children = [c for c in self.children if c["row_id"] not in gone]
        return len(gone)


def _aggregate(func: str, values: list[Any]) -> Any:
    if func == "Count":
        return len(values)
    if not values:
        return None
    if func == "Sum":
        return sum(values)
    if func == "Avg":
        return float(sum(values)) / len(values)
    return min(values) if func == "Min" else max(values)
