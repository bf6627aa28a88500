"""Runs query descriptions through orm_kit and through the oracle, and compares.

One :class:`Harness` per backend serves every hypothesis example of the test, on the one
connected engine, so compiled-statement caches and the manager's cached statements stay
warm across examples. Writes are compared on the whole table (read with plain SQLAlchemy
Core), then the rows are put back (delete + insert) before the next action.
"""

from __future__ import annotations

import operator
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy import Table, delete, insert, select, text

from orm_kit import Avg, Count, Database, F, Max, Min, Model, ORMKitError, Q, QuerySet, Sum
from tests.backends import supports
from tests.oracle.compare import canon, diff, ids, needs_text_order, row_dict, same_number, short
from tests.oracle.data import Dataset
from tests.oracle.describe import (
    Action,
    AggSpec,
    And,
    Block,
    Direct,
    FOp,
    FRef,
    Leaf,
    Lookups,
    Node,
    Not,
    Op,
    Query,
    Step,
    SubIn,
)
from tests.oracle.models import OracleChild, OracleParent, OracleRow
from tests.oracle.reduce import variants
from tests.oracle.semantics import Oracle

__all__ = ["BackendStats", "Harness", "Mismatch"]

ROWS: Table = Model.metadata.tables[OracleRow.__tablename__]
PARENTS: Table = Model.metadata.tables[OracleParent.__tablename__]
CHILDREN: Table = Model.metadata.tables[OracleChild.__tablename__]
MAX_REDUCTIONS = 200  # failing actions reduced per test
REDUCTION_BUDGET = 150  # variants tried per reduction
C_COLLATIONS = ("C", "POSIX", "C.UTF-8", "C.utf8")
_AGGREGATES: dict[str, Any] = {"Count": Count, "Sum": Sum, "Avg": Avg, "Min": Min, "Max": Max}
_ARITHMETIC: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "%": operator.mod,
}


@dataclass
class Mismatch:
    """orm_kit and the oracle disagree on one call."""

    category: str
    code: str
    expected: str
    got: str
    context: tuple[str, ...] = ()  # the actions before it in the same example
    minimal: Mismatch | None = None  # the same disagreement on the smallest variant found

    @property
    def signature(self) -> str:
        """The kind of disagreement: its category, and the exception class if one."""
        if "exception" in self.category or "error" in self.category:
            return f"{self.category}: {self.got.split(':', 1)[0]}"
        return self.category

    def report(self) -> str:
        shown = self.minimal or self
        lines = [f"[{shown.category}] {shown.code}", f"    expected: {shown.expected}"]
        lines.append(f"    got:      {shown.got}")
        if shown is not self:
            lines.append(f"    found as: {self.code}")
        if self.context:
            lines.append("    after:    " + "\n              ".join(self.context))
        return "\n".join(lines)


@dataclass
class BackendStats:
    """What one backend's run did (printed in the terminal summary)."""

    backend: str
    examples: int = 0
    actions: int = 0
    queries: int = 0
    reduction_queries: int = 0  # spent reducing failing actions (not in ``queries``)
    reduction_seconds: float = 0.0
    writes: int = 0
    skipped: int = 0
    seconds: float = 0.0
    collation: str = ""
    text_order: bool = True
    mismatches: list[Mismatch] = field(default_factory=list)


class _RollbackError(Exception):
    """Raised at the end of a block to roll it back."""


class _AbortError(Exception):
    """An unexpected error inside a block: leave it (rolling back)."""


# --- descriptions → orm_kit -------------------------------------------------------------


def orm_value(value: Any) -> Any:
    if isinstance(value, FRef):
        return F(value.name)
    if isinstance(value, FOp):
        return _ARITHMETIC[value.op](orm_value(value.lhs), orm_value(value.rhs))
    if isinstance(value, SubIn):
        return OracleRow.objects.filter(**orm_kwargs(value.lookups)).values_list("id", flat=True)
    if isinstance(value, tuple):
        return tuple(orm_value(v) for v in value)
    return value


def orm_kwargs(lookups: Lookups) -> dict[str, Any]:
    return {k: orm_value(v) for k, v in lookups}


def orm_q(node: Node) -> Q:
    if isinstance(node, Leaf):
        return Q(**orm_kwargs(node.lookups))
    if isinstance(node, Not):
        return ~orm_q(node.child)
    if isinstance(node, And):
        return orm_q(node.left) & orm_q(node.right)
    return orm_q(node.left) | orm_q(node.right)


def build(query: Query) -> QuerySet[Any, Any]:
    """The orm_kit QuerySet a description stands for."""
    qs: QuerySet[Any, Any] = OracleRow.objects
    for step in query.steps:
        method = qs.exclude if step.negate else qs.filter
        qs = method(*(orm_q(a) for a in step.args), **orm_kwargs(step.kwargs))
    if query.related == "parent":
        qs = qs.select_related("parent")
    elif query.related == "children":
        qs = qs.prefetch_related("children")
    if query.order:
        if query.order_f:
            terms: list[Any] = [
                F(o[1:]).desc() if o.startswith("-") else F(o).asc() for o in query.order
            ]
        else:
            terms = list(query.order)
        qs = qs.order_by(*terms)
    if query.distinct:
        qs = qs.distinct()
    if query.shape == "values":
        qs = qs.values(*query.fields)
    elif query.shape == "values_list":
        qs = qs.values_list(*query.fields)
    elif query.shape == "flat":
        qs = qs.values_list(*query.fields, flat=True)
    for start, stop in query.slices:
        qs = qs[start:stop]
    return qs


def aggregates(aggs: tuple[AggSpec, ...]) -> dict[str, Any]:
    out = {}
    for n, agg in enumerate(aggs):
        flt = None if agg.filter is None else orm_q(agg.filter)
        out[f"a{n}"] = _AGGREGATES[agg.func](agg.field, distinct=agg.distinct, filter=flt)
    return out


# --- the harness ------------------------------------------------------------------------


class Harness:
    """Runs actions on one backend and records mismatches in ``stats``."""

    def __init__(self, db: Database, backend: str, dataset: Dataset, stats: BackendStats):
        self.db, self.backend, self.dataset, self.stats = db, backend, dataset, stats
        self.oracle = Oracle(dataset, backend)
        self.ready = False
        self.dirty = False
        self.context: list[str] = []
        self.found: list[Mismatch] = []
        self.reductions = 0
        self.base_rows = [canon(r) for r in sorted(dataset.rows, key=lambda r: r["id"])]
        self.base_children = [canon(c) for c in sorted(dataset.children, key=lambda c: c["id"])]

    async def setup(self) -> None:
        """Load the rows (once per test) and look up the text collation."""
        async with self.db.engine.begin() as conn:
            for table in (CHILDREN, ROWS, PARENTS):
                await conn.execute(delete(table))
            await conn.execute(insert(PARENTS), list(self.dataset.parents))
            collated = supports(self.backend, "database_collation")
            if collated:  # NOTE(postgresql): the database's collation decides text order
                query = "select datcollate from pg_database where datname = current_database()"
                collation = str((await conn.execute(text(query))).scalar_one())
            else:
                collation = "BINARY"
        self.stats.collation = collation
        self.stats.text_order = not collated or collation in C_COLLATIONS
        await self.restore()
        self.ready = True

    async def restore(self) -> None:
        async with self.db.engine.begin() as conn:
            await conn.execute(delete(CHILDREN))
            await conn.execute(delete(ROWS))
            await conn.execute(insert(ROWS), list(self.dataset.rows))
            await conn.execute(insert(CHILDREN), list(self.dataset.children))
        self.oracle.reset()
        self.dirty = False

    async def table(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        async with self.db.engine.connect() as conn:
            rows = await conn.execute(select(ROWS).order_by(ROWS.c.id))
            kids = await conn.execute(select(CHILDREN).order_by(CHILDREN.c.id))
            return [dict(r) for r in rows.mappings()], [dict(r) for r in kids.mappings()]

    # --- one example ------------------------------------------------------------------

    async def example(self, actions: list[Action]) -> list[Mismatch]:
        """Run one hypothesis example; return its mismatches."""
        if not self.ready:
            await self.setup()
        if self.dirty:
            await self.restore()
        self.stats.examples += 1
        self.context, self.found = [], []
        for action in actions:
            if not self.stats.text_order and needs_text_order(action):
                self.stats.skipped += 1
                continue
            self.stats.actions += 1
            before = len(self.found)
            await self.action(action)
            if len(self.found) > before and self.reductions < MAX_REDUCTIONS:
                self.reductions += 1
                first = self.found[before]
                first.minimal = await self.reduce(action, first.signature)
            self.context.append(action.code())
        self.stats.mismatches.extend(self.found)
        return self.found

    async def reduce(self, action: Action, signature: str) -> Mismatch | None:
        """The mismatch of the smallest variant of ``action`` that still disagrees the
        same way (see :mod:`tests.oracle.reduce`), or None if no variant does."""
        found, queries, start = self.found, self.stats.queries, time.perf_counter()
        current, smallest, budget, improved = action, None, REDUCTION_BUDGET, True
        while improved and budget > 0:
            improved = False
            for candidate in variants(current):
                budget -= 1
                if budget < 0:
                    break
                self.found = []
                if self.dirty:
                    await self.restore()
                await self.action(candidate)
                same = [m for m in self.found if m.signature == signature]
                if same:
                    current, smallest, improved = candidate, same[0], True
                    break
        self.found = found
        self.stats.reduction_queries += self.stats.queries - queries
        self.stats.queries = queries
        self.stats.reduction_seconds += time.perf_counter() - start
        return smallest

    def mismatch(self, category: str, code: str, expected: Any, got: Any) -> None:
        exp = expected if isinstance(expected, str) else short(expected)
        self.found.append(
            Mismatch(
                category,
                code,
                exp,
                got if isinstance(got, str) else short(got),
                tuple(self.context[-3:]),
            )
        )

    async def action(self, action: Action) -> None:
        if isinstance(action, Block):
            await self.block(action)
        else:
            if action.writes:
                self.dirty = True
            await self.single(action)
        if action.writes:
            if await self.check_table(action.code()):
                self.oracle.reset()  # nothing was written: no need to put rows back
                self.dirty = False
            else:
                await self.restore()

    async def block(self, block: Block) -> None:
        snap = self.oracle.snapshot()
        if block.writes:
            self.dirty = True
        rolled_back = block.rollback
        try:
            context = self.db.session() if block.kind == "session" else self.db.transaction()
            async with context:
                for op in block.ops:
                    if not await self.single(op):
                        raise _AbortError
                if block.rollback:
                    raise _RollbackError
        except (_RollbackError, _AbortError) as exc:
            rolled_back = True
            if isinstance(exc, _AbortError) and not block.writes:
                return
        except Exception as exc:  # the block's commit failed
            self.mismatch(
                "block", block.code(), "the block commits", f"{type(exc).__name__}: {exc}"
            )
            rolled_back = True
        if rolled_back:
            self.oracle.restore(snap)

    async def call(self, fn: Callable[[], Awaitable[Any]]) -> tuple[bool, Any]:
        """Run one orm_kit call: (True, result) or (False, the exception)."""
        self.stats.queries += 1
        try:
            return True, await fn()
        except Exception as exc:
            return False, exc

    def unexpected(self, code: str, exc: BaseException) -> bool:
        kind = "raw exception" if not isinstance(exc, ORMKitError) else "orm_kit error"
        self.mismatch(kind, code, "a result", f"{type(exc).__module__}.{type(exc).__name__}: {exc}")
        return False

    async def check_table(self, code: str) -> bool:
        """Compare the tables with the oracle's rows; return whether they still hold the
        dataset unchanged."""
        rows, kids = await self.table()
        want_rows = sorted(self.oracle.rows, key=lambda r: r["id"])
        want_kids = sorted(self.oracle.children, key=lambda c: c["id"])
        if [canon(r) for r in rows] != [canon(r) for r in want_rows]:
            by_id = {r["id"]: r for r in rows}
            bad = [
                (
                    r["id"],
                    {
                        k: v
                        for k, v in r.items()
                        if canon(by_id.get(r["id"], {}).get(k)) != canon(v)
                    },
                )
                for r in want_rows
                if canon(by_id.get(r["id"])) != canon(r)
            ]
            extra = sorted(set(by_id) - {r["id"] for r in want_rows})
            got = [(i, {k: by_id[i][k] for k in d} if i in by_id else "missing") for i, d in bad]
            self.mismatch(
                "table after write",
                code,
                f"rows (id, expected values) {short(bad, 400)}",
                f"{short(got, 400)}; extra ids {extra}",
            )
        elif [canon(c) for c in kids] != [canon(c) for c in want_kids]:
            self.mismatch(
                "children after write", code, f"{len(want_kids)} children", f"{len(kids)} children"
            )
        return [canon(r) for r in rows] == self.base_rows and [canon(c) for c in kids] == (
            self.base_children
        )

    # --- single operations --------------------------------------------------------------

    async def single(self, op: Op | Direct) -> bool:
        """Run one operation; False when it raised unexpectedly (the block is left)."""
        if isinstance(op, Direct):
            return await self.direct(op)
        if op.writes:
            self.stats.writes += 1
        return await SINGLE[op.kind](self, op)

    async def fetch(self, op: Op) -> bool:
        q = op.query
        ok, got = await self.call(lambda: build(q))
        if not ok:
            return self.unexpected(op.code(), got)
        expected = self.oracle.select(q)
        if q.shape == "models":
            got = [row_dict(o, q.related) for o in got]
            expected = [self.with_related(r, q.related) for r in expected]
        self.compare_items(op.code(), q, expected, list(got))
        return True

    def with_related(self, row: dict[str, Any], related: str | None) -> dict[str, Any]:
        if related is None:
            return row
        out = dict(row)
        if related == "parent":
            p = self.oracle.parent(row)
            out["parent"] = None if p is None else (p["id"], p["name"], p["rank"])
        else:
            out["children"] = sorted((c["id"], c["v"], c["t"]) for c in self.oracle.kids(row))
        return out

    def compare_items(self, code: str, q: Query, expected: list[Any], got: list[Any]) -> None:
        if q.total:
            if [canon(v) for v in got] != [canon(v) for v in expected]:
                if Counter(repr(canon(v)) for v in got) == Counter(
                    repr(canon(v)) for v in expected
                ):
                    self.mismatch("order", code, ids(expected), ids(got))
                else:
                    self.mismatch("rows", code, *diff(expected, got))
            return
        if Counter(repr(canon(v)) for v in got) != Counter(repr(canon(v)) for v in expected):
            self.mismatch("rows", code, *diff(expected, got))
            return
        if q.order and q.shape == "models":
            key = self.oracle.order_key(q.order)
            if [canon(key(r)) for r in got] != [canon(key(r)) for r in expected]:
                self.mismatch("order", code, [key(r) for r in expected], [key(r) for r in got])

    async def count(self, op: Op) -> bool:
        ok, got = await self.call(lambda: build(op.query).count())
        if not ok:
            return self.unexpected(op.code(), got)
        expected = len(self.oracle.select(op.query))
        if canon(got) != canon(expected):
            self.mismatch("count", op.code(), expected, got)
        return True

    async def exists(self, op: Op) -> bool:
        ok, got = await self.call(lambda: build(op.query).exists())
        if not ok:
            return self.unexpected(op.code(), got)
        expected = bool(self.oracle.select(op.query))
        if got is not expected:
            self.mismatch("exists", op.code(), expected, got)
        return True

    async def first_last(self, op: Op) -> bool:
        q = op.query
        ok, got = await self.call(
            lambda: build(q).first() if op.kind == "first" else build(q).last()
        )
        items = self.oracle.select(q)
        expected = (items[0] if op.kind == "first" else items[-1]) if items else None
        if not ok:
            if op.kind == "last" and q.slices and isinstance(got, ORMKitError):
                return True  # Django refuses last() on a slice; an orm_kit error is fine
            return self.unexpected(op.code(), got)
        if q.shape == "models" and got is not None:
            got = row_dict(got, q.related)
            expected = None if expected is None else self.with_related(expected, q.related)
        if canon(got) != canon(expected):
            self.mismatch(op.kind, op.code(), ids([expected]), ids([got]))
        return True

    async def index(self, op: Op) -> bool:
        q = op.query
        n = op.arg
        ok, got = await self.call(lambda: build(q)[n])
        items = self.oracle.select(q)
        if not ok:
            if isinstance(got, IndexError) and n >= len(items):
                return True
            return self.unexpected(op.code(), got)
        if n >= len(items):
            self.mismatch("index", op.code(), "IndexError", ids([got]))
            return True
        expected = items[n]
        if q.shape == "models":
            got, expected = row_dict(got, q.related), self.with_related(expected, q.related)
        if canon(got) != canon(expected):
            self.mismatch("index", op.code(), ids([expected]), ids([got]))
        return True

    async def get(self, op: Op) -> bool:
        ok, got = await self.call(lambda: build(op.query).get())
        return self.check_get(op.code(), self.oracle.select(op.query), ok, got, op.query.related)

    def check_get(
        self, code: str, items: list[Any], ok: bool, got: Any, related: str | None = None
    ) -> bool:
        if len(items) == 1:
            if not ok:
                return self.unexpected(code, got)
            if canon(row_dict(got, related)) != canon(self.with_related(items[0], related)):
                self.mismatch("get", code, ids(items), ids([row_dict(got, None)]))
            return True
        want = OracleRow.DoesNotExist if not items else OracleRow.MultipleObjectsReturned
        if ok or not isinstance(got, want):
            shown = ids([row_dict(got, None)]) if ok else f"{type(got).__name__}: {got}"
            self.mismatch("get", code, f"{want.__name__} ({len(items)} rows match)", shown)
            return ok or isinstance(got, ORMKitError)
        return True

    async def aggregate(self, op: Op) -> bool:
        ok, got = await self.call(lambda: build(op.query).aggregate(**aggregates(op.arg)))
        if not ok:
            return self.unexpected(op.code(), got)
        expected = self.oracle.aggregate(op.query, op.arg)
        if not isinstance(got, dict) or set(got) != set(expected):
            self.mismatch("aggregate", op.code(), expected, got)
            return True
        for n, agg in enumerate(op.arg):
            key = f"a{n}"
            want, have = expected[key], got[key]
            fine = same_number(want, have)
            if agg.func == "Avg" and have is not None and not isinstance(have, float):
                fine = False
            if not fine:
                self.mismatch("aggregate", op.code(), {key: want}, {key: have})
        return True

    async def update(self, op: Op) -> bool:
        values = orm_kwargs(op.arg)
        ok, got = await self.call(lambda: build(op.query).update(**values))
        if not ok:
            return self.unexpected(op.code(), got)
        expected = self.oracle.update(op.query, op.arg)
        if canon(got) != canon(expected):
            self.mismatch("update count", op.code(), expected, got)
        return True

    async def delete(self, op: Op) -> bool:
        ok, got = await self.call(lambda: build(op.query).delete())
        if not ok:
            return self.unexpected(op.code(), got)
        expected = self.oracle.delete(op.query)
        if canon(got) != canon(expected):
            self.mismatch("delete count", op.code(), expected, got)
        return True

    async def direct(self, op: Direct) -> bool:
        """Each value set straight off the manager (the cached-statement fast path)."""
        if op.writes:
            self.stats.writes += 1
        for lookups in op.value_sets:
            code = Direct(op.action, (lookups,), op.values).code()
            kwargs = orm_kwargs(lookups)
            query = Query((Step(False, (), lookups),))
            if op.action == "get":
                ok, got = await self.call(partial(OracleRow.objects.get, **kwargs))
                if not self.check_get(code, self.oracle.select(query), ok, got):
                    return False
                continue
            single = Op(op.action, query, op.values, label=code)
            if not await SINGLE[op.action](self, single):
                return False
        return True


SINGLE: dict[str, Callable[[Harness, Op], Awaitable[bool]]] = {
    "fetch": Harness.fetch,
    "count": Harness.count,
    "exists": Harness.exists,
    "first": Harness.first_last,
    "last": Harness.first_last,
    "index": Harness.index,
    "get": Harness.get,
    "aggregate": Harness.aggregate,
    "update": Harness.update,
    "delete": Harness.delete,
}
