"""(b) Hand-written SQLAlchemy Core: ``async with engine.begin() as conn`` per operation."""

from __future__ import annotations

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from benchmarks.data import Plan
from benchmarks.schema import core_table as t
from benchmarks.workloads import WorkloadFn, standard_workloads

__all__ = ["CoreImpl"]


class CoreImpl:
    """Idiomatic Core code, one transaction per operation."""

    name = "core"
    title = "SA Core"

    def __init__(self) -> None:
        self._engine: AsyncEngine | None = None

    @property
    def engine(self) -> AsyncEngine:
        assert self._engine is not None, "open() first"
        return self._engine

    async def open(self, url: str) -> None:
        self._engine = create_async_engine(url)

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    def workloads(self) -> dict[str, WorkloadFn]:
        return standard_workloads(self)

    async def w1(self, plan: Plan) -> int:
        for row in plan.new_rows:
            async with self.engine.begin() as conn:
                await conn.execute(insert(t).values(row))
        return len(plan.new_rows)

    async def w2(self, plan: Plan) -> int:
        async with self.engine.begin() as conn:
            await conn.execute(insert(t), plan.insert_rows)
        return len(plan.insert_rows)

    async def w3(self, plan: Plan) -> int:
        found = 0
        for pk in plan.get_ids:
            async with self.engine.begin() as conn:
                row = (await conn.execute(select(t).where(t.c.id == pk))).one()
            found += row.id == pk
        return found

    async def w4(self, plan: Plan) -> int:
        for level in plan.filter_levels:
            async with self.engine.begin() as conn:
                (await conn.execute(select(t).where(t.c.level == level))).all()
        return len(plan.filter_levels)

    async def w5(self, plan: Plan) -> int:
        rows = 0
        for _ in range(plan.many_reps):
            async with self.engine.begin() as conn:
                result = await conn.execute(select(t).where(t.c.level < plan.many_level_lt))
                rows += len(result.all())
        return rows

    async def w6(self, plan: Plan) -> int:
        rows = 0
        for _ in range(plan.values_reps):
            async with self.engine.begin() as conn:
                rows += len((await conn.execute(select(t))).mappings().all())
        return rows

    async def w7(self, plan: Plan) -> int:
        done = 0
        for i, pk in enumerate(plan.update_ids):
            async with self.engine.begin() as conn:
                result = await conn.execute(update(t).where(t.c.id == pk).values(counter=i))
                done += result.rowcount
        return done

    async def w8(self, plan: Plan) -> int:
        done = 0
        for rep in range(plan.bulk_reps):
            stmt = update(t).where(t.c.level < plan.bulk_level_lt).values(counter=rep)
            async with self.engine.begin() as conn:
                done += (await conn.execute(stmt)).rowcount
        return done

    async def w9(self, plan: Plan) -> int:
        total = 0
        for level in plan.count_levels:
            stmt = select(func.count()).select_from(t).where(t.c.level == level)
            async with self.engine.begin() as conn:
                total += (await conn.execute(stmt)).scalar_one() >= 0
        return total

    async def w10(self, plan: Plan) -> int:
        done = 0
        for pk in plan.delete_ids:
            async with self.engine.begin() as conn:
                done += (await conn.execute(delete(t).where(t.c.id == pk))).rowcount
        return done
