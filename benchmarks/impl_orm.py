"""(c) Hand-written SQLAlchemy ORM: ``async with Session() as s, s.begin()`` per operation."""

from __future__ import annotations

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from benchmarks.data import Plan
from benchmarks.schema import SaBenchRow as M
from benchmarks.workloads import WorkloadFn, standard_workloads

__all__ = ["OrmImpl"]

_VALUE_COLUMNS = (M.id, M.created_at, M.level, M.name, M.active, M.note, M.score, M.counter)


class OrmImpl:
    """Idiomatic AsyncSession code, one session and transaction per operation."""

    name = "orm"
    title = "SA ORM"

    def __init__(self) -> None:
        self._engine: AsyncEngine | None = None
        self._sessions: async_sessionmaker[AsyncSession] | None = None

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        assert self._sessions is not None, "open() first"
        return self._sessions

    async def open(self, url: str) -> None:
        self._engine = create_async_engine(url)
        self._sessions = async_sessionmaker(self._engine, expire_on_commit=False)

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = self._sessions = None

    def workloads(self) -> dict[str, WorkloadFn]:
        return {
            **standard_workloads(self),
            "W2 insert(Model)+dicts": self.w2_dicts,
        }

    async def load_objects(self, plan: Plan) -> list[M]:
        """W5's query once, for the memory measurement."""
        async with self.sessions() as s, s.begin():
            return list((await s.scalars(select(M).where(M.level < plan.many_level_lt))).all())

    async def w1(self, plan: Plan) -> int:
        for row in plan.new_rows:
            async with self.sessions() as s, s.begin():
                s.add(M(**row))
        return len(plan.new_rows)

    async def w2(self, plan: Plan) -> int:
        async with self.sessions() as s, s.begin():
            s.add_all([M(**r) for r in plan.insert_rows])
        return len(plan.insert_rows)

    async def w2_dicts(self, plan: Plan) -> int:
        # render_nulls keeps rows whose NULL columns differ in one batch (PERFORMANCE.md).
        stmt = insert(M).execution_options(render_nulls=True)
        async with self.sessions() as s, s.begin():
            await s.execute(stmt, plan.insert_rows)
        return len(plan.insert_rows)

    async def w3(self, plan: Plan) -> int:
        found = 0
        for pk in plan.get_ids:
            async with self.sessions() as s, s.begin():
                obj = await s.get(M, pk)
            found += obj is not None and obj.id == pk
        return found

    async def w4(self, plan: Plan) -> int:
        for level in plan.filter_levels:
            async with self.sessions() as s, s.begin():
                (await s.scalars(select(M).where(M.level == level))).all()
        return len(plan.filter_levels)

    async def w5(self, plan: Plan) -> int:
        rows = 0
        for _ in range(plan.many_reps):
            async with self.sessions() as s, s.begin():
                result = await s.scalars(select(M).where(M.level < plan.many_level_lt))
                rows += len(result.all())
        return rows

    async def w6(self, plan: Plan) -> int:
        rows = 0
        for _ in range(plan.values_reps):
            async with self.sessions() as s, s.begin():
                rows += len((await s.execute(select(*_VALUE_COLUMNS))).mappings().all())
        return rows

    async def w7(self, plan: Plan) -> int:
        done = 0
        for i, pk in enumerate(plan.update_ids):
            async with self.sessions() as s, s.begin():
                result = await s.execute(update(M).where(M.id == pk).values(counter=i))
                done += result.rowcount  # type: ignore[attr-defined]
        return done

    async def w8(self, plan: Plan) -> int:
        done = 0
        for rep in range(plan.bulk_reps):
            stmt = update(M).where(M.level < plan.bulk_level_lt).values(counter=rep)
            async with self.sessions() as s, s.begin():
                done += (await s.execute(stmt)).rowcount  # type: ignore[attr-defined]
        return done

    async def w9(self, plan: Plan) -> int:
        total = 0
        for level in plan.count_levels:
            stmt = select(func.count()).select_from(M).where(M.level == level)
            async with self.sessions() as s, s.begin():
                total += (await s.scalar(stmt) or 0) >= 0
        return total

    async def w10(self, plan: Plan) -> int:
        done = 0
        for pk in plan.delete_ids:
            async with self.sessions() as s, s.begin():
                done += (await s.execute(delete(M).where(M.id == pk))).rowcount  # type: ignore[attr-defined]
        return done
