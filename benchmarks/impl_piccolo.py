"""(f) Piccolo ORM, a peer async ORM (optional: ``.[bench]``).

Idiomatic Piccolo code, each operation its own awaited query (Piccolo runs single
statements in autocommit). On PostgreSQL the engine is ``PostgresEngine`` with its asyncpg
connection pool started, as a web app runs it; on SQLite ``SQLiteEngine``, which opens an
aiosqlite connection per query (it has no pool). The table is the harness's ``bench_row``.

Notes on fairness, reported under the table:
- Piccolo's ``update()`` / ``delete()`` report no row count without ``returning()``, so
  W7 and W10 count the operations sent, not the rows hit.
- On SQLite Piccolo converts values by the column's declared type; the harness's table
  declares ``created_at`` as ``DATETIME`` (SQLAlchemy's DDL), for which Piccolo has no
  converter, so Piccolo returns it as text there (the other ORMs parse it).
- Importing Piccolo registers process-wide ``sqlite3`` adapters (datetime, list, ...).
  The raw aiosqlite column formats its datetimes itself; SQLAlchemy and Tortoise convert
  values before the driver sees them.
- A multi-row INSERT must stay under the driver's parameter limit (asyncpg 32,767,
  SQLite 32,766), so W2 sends chunks of 1,000 rows in one transaction.
"""

from __future__ import annotations

from typing import Any

from piccolo.columns import Boolean, DoublePrecision, Integer, Serial, Text, Timestamptz, Varchar
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine
from piccolo.table import Table
from sqlalchemy.engine import make_url

from benchmarks.data import Plan
from benchmarks.schema import TABLE
from benchmarks.workloads import WorkloadFn, standard_workloads

__all__ = ["PiccoloImpl"]

W2_CHUNK = 1_000


class PiccoloBenchRow(Table, tablename=TABLE):
    """The same eight columns as ``benchmarks.schema.BenchRow``."""

    id = Serial(primary_key=True)
    created_at = Timestamptz()
    level = Integer(index=True)
    name = Varchar(length=100)
    active = Boolean()
    note = Text(null=True)
    score = DoublePrecision()
    counter = Integer()


M = PiccoloBenchRow


def piccolo_engine(url: str) -> Engine[Any]:
    """The Piccolo engine for a SQLAlchemy URL."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        assert parsed.database, "a SQLite file URL"
        return SQLiteEngine(path=parsed.database)
    dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    return PostgresEngine(config={"dsn": dsn})


class PiccoloImpl:
    """Piccolo's own query API, one awaited query per operation."""

    name = "piccolo"
    title = "Piccolo"

    def __init__(self) -> None:
        self._engine: Engine[Any] | None = None
        self._bulk_counts: dict[int, int] = {}

    async def open(self, url: str) -> None:
        self._engine = piccolo_engine(url)
        M._meta.db = self._engine
        if isinstance(self._engine, PostgresEngine):
            await self._engine.start_connection_pool(min_size=1, max_size=5)

    async def close(self) -> None:
        if isinstance(self._engine, PostgresEngine):
            await self._engine.close_connection_pool()
        self._engine = None

    def workloads(self) -> dict[str, WorkloadFn]:
        return standard_workloads(self)

    async def load_objects(self, plan: Plan) -> list[Any]:
        """W5's query once, for the memory measurement."""
        return list(await M.objects().where(M.level < plan.many_level_lt))

    async def w1(self, plan: Plan) -> int:
        for row in plan.new_rows:
            await M.objects().create(**row)
        return len(plan.new_rows)

    async def w2(self, plan: Plan) -> int:
        objs = [M(**r) for r in plan.insert_rows]
        assert self._engine is not None
        async with self._engine.transaction():
            for start in range(0, len(objs), W2_CHUNK):
                await M.insert(*objs[start : start + W2_CHUNK])
        return len(objs)

    async def w3(self, plan: Plan) -> int:
        found = 0
        for pk in plan.get_ids:
            obj = await M.objects().get(M.id == pk)
            found += obj is not None and obj.id == pk
        return found

    async def w4(self, plan: Plan) -> int:
        for level in plan.filter_levels:
            await M.objects().where(M.level == level)
        return len(plan.filter_levels)

    async def w5(self, plan: Plan) -> int:
        rows = 0
        for _ in range(plan.many_reps):
            rows += len(await M.objects().where(M.level < plan.many_level_lt))
        return rows

    async def w6(self, plan: Plan) -> int:
        rows = 0
        for _ in range(plan.values_reps):
            rows += len(await M.select())  # a list of dicts
        return rows

    async def w7(self, plan: Plan) -> int:
        for i, pk in enumerate(plan.update_ids):
            await M.update({M.counter: i}).where(M.id == pk)
        return len(plan.update_ids)  # no row count without returning()

    async def w8(self, plan: Plan) -> int:
        done = 0
        for rep in range(plan.bulk_reps):
            # No row count here either: the rows matched are counted once, during the
            # warm-up (same filter), so no extra query is timed.
            await M.update({M.counter: rep}).where(M.level < plan.bulk_level_lt)
            done += 1
        return done * await self._bulk_rows(plan)

    async def _bulk_rows(self, plan: Plan) -> int:
        key = plan.bulk_level_lt
        if key not in self._bulk_counts:
            self._bulk_counts[key] = await M.count().where(M.level < key)
        return self._bulk_counts[key]

    async def w9(self, plan: Plan) -> int:
        total = 0
        for level in plan.count_levels:
            total += await M.count().where(M.level == level) >= 0
        return total

    async def w10(self, plan: Plan) -> int:
        for pk in plan.delete_ids:
            await M.delete().where(M.id == pk)
        return len(plan.delete_ids)  # no row count without returning()
