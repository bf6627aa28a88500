"""(e) Tortoise ORM, the async ORM orm_kit is measured against (optional: ``.[bench]``).

Idiomatic Tortoise code, each operation on its own (autocommit, as Tortoise runs single
statements). The table is the harness's ``bench_row``; Tortoise does not create it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import make_url
from tortoise import Tortoise, fields
from tortoise.backends.base import executor as tortoise_executor
from tortoise.models import Model

from benchmarks.data import Plan
from benchmarks.schema import TABLE
from benchmarks.workloads import WorkloadFn, standard_workloads

__all__ = ["TortoiseImpl", "tortoise_url"]


class TortoiseBenchRow(Model):
    """The same eight columns as ``benchmarks.schema.BenchRow``."""

    id = fields.IntField(primary_key=True)
    created_at = fields.DatetimeField()
    level = fields.IntField(db_index=True)
    name = fields.CharField(max_length=100)
    active = fields.BooleanField()
    note = fields.TextField(null=True)
    score = fields.FloatField()
    counter = fields.IntField()

    class Meta:
        table = TABLE
        app = "bench"


M = TortoiseBenchRow
_VALUE_FIELDS = ("id", "created_at", "level", "name", "active", "note", "score", "counter")


def tortoise_url(url: str) -> str:
    """Turn a SQLAlchemy URL into Tortoise's ``postgres://`` / ``sqlite://`` / ``mysql://``
    form (Tortoise's MySQL backend runs on asyncmy too)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"sqlite://{parsed.database}"
    if parsed.get_backend_name() in ("mysql", "mariadb"):
        return parsed.set(drivername="mysql").render_as_string(hide_password=False)
    return parsed.set(drivername="postgres").render_as_string(hide_password=False)


class TortoiseImpl:
    """Tortoise ORM's own API, one awaited call per operation."""

    name = "tortoise"
    title = "Tortoise"

    async def open(self, url: str) -> None:
        await Tortoise.init(
            db_url=tortoise_url(url),
            modules={"bench": [__name__]},
            use_tz=True,
            timezone="UTC",
        )

    async def close(self) -> None:
        await Tortoise.close_connections()
        # The next leg may be another backend: Tortoise caches each table's INSERT / UPDATE
        # SQL by connection name and table, not by backend, so the SQLite leg ran
        # PostgreSQL's "$1" SQL (which SQLite happens to take) and the MariaDB leg failed
        # on SQLite's "?". Each leg builds its own.
        tortoise_executor.EXECUTOR_CACHE.clear()

    def workloads(self) -> dict[str, WorkloadFn]:
        return standard_workloads(self)

    async def load_objects(self, plan: Plan) -> list[M]:
        """W5's query once, for the memory measurement."""
        return list(await M.filter(level__lt=plan.many_level_lt))

    async def w1(self, plan: Plan) -> int:
        for row in plan.new_rows:
            await M.create(**row)
        return len(plan.new_rows)

    async def w2(self, plan: Plan) -> int:
        await M.bulk_create([M(**r) for r in plan.insert_rows])
        return len(plan.insert_rows)

    async def w3(self, plan: Plan) -> int:
        found = 0
        for pk in plan.get_ids:
            obj = await M.get(id=pk)
            found += obj.id == pk
        return found

    async def w4(self, plan: Plan) -> int:
        for level in plan.filter_levels:
            await M.filter(level=level)
        return len(plan.filter_levels)

    async def w5(self, plan: Plan) -> int:
        rows = 0
        for _ in range(plan.many_reps):
            rows += len(await M.filter(level__lt=plan.many_level_lt))
        return rows

    async def w6(self, plan: Plan) -> int:
        rows = 0
        for _ in range(plan.values_reps):
            result: list[dict[str, Any]] = await M.all().values(*_VALUE_FIELDS)
            rows += len(result)
        return rows

    async def w7(self, plan: Plan) -> int:
        done = 0
        for i, pk in enumerate(plan.update_ids):
            done += await M.filter(id=pk).update(counter=i)
        return done

    async def w8(self, plan: Plan) -> int:
        done = 0
        for rep in range(plan.bulk_reps):
            done += await M.filter(level__lt=plan.bulk_level_lt).update(counter=rep)
        return done

    async def w9(self, plan: Plan) -> int:
        total = 0
        for level in plan.count_levels:
            total += await M.filter(level=level).count() >= 0
        return total

    async def w10(self, plan: Plan) -> int:
        done = 0
        for pk in plan.delete_ids:
            done += await M.filter(id=pk).delete()
        return done
