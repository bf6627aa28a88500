"""(a) orm_kit: manager calls outside any session, each its own unit of work."""

from __future__ import annotations

import time

from benchmarks.data import Plan
from benchmarks.schema import BenchRow
from benchmarks.workloads import WorkloadFn, standard_workloads
from orm_kit import Database

__all__ = ["OrmKitImpl"]


class OrmKitImpl:
    """``BenchRow.objects...`` as a web request would call it (the direct path)."""

    name = "orm_kit"
    title = "orm_kit"

    def __init__(self) -> None:
        self.db: Database | None = None

    async def open(self, url: str) -> None:
        self.db = await Database(url).connect()

    async def close(self) -> None:
        if self.db is not None:
            await self.db.disconnect()
            self.db = None

    def workloads(self) -> dict[str, WorkloadFn]:
        return {
            **standard_workloads(self),
            "W2 bulk_create call only (instances prebuilt)": self.w2_call_only,
        }

    async def load_objects(self, plan: Plan) -> list[BenchRow]:
        """W5's query once, for the memory measurement."""
        return list(await BenchRow.objects.filter(level__lt=plan.many_level_lt))

    async def w1(self, plan: Plan) -> int:
        create = BenchRow.objects.create
        for row in plan.new_rows:
            await create(**row)
        return len(plan.new_rows)

    async def w2(self, plan: Plan) -> int:
        objs = await BenchRow.objects.bulk_create([BenchRow(**r) for r in plan.insert_rows])
        return len(objs)

    async def w2_call_only(self, plan: Plan) -> tuple[int, float]:
        # The same call, timing bulk_create alone: building the instances is excluded.
        start = time.perf_counter()
        objs = [BenchRow(**r) for r in plan.insert_rows]
        built = time.perf_counter() - start
        await BenchRow.objects.bulk_create(objs)
        return len(objs), built

    async def w3(self, plan: Plan) -> int:
        found = 0
        for pk in plan.get_ids:
            obj = await BenchRow.objects.get(id=pk)
            found += obj.id == pk
        return found

    async def w4(self, plan: Plan) -> int:
        for level in plan.filter_levels:
            await BenchRow.objects.filter(level=level)
        return len(plan.filter_levels)

    async def w5(self, plan: Plan) -> int:
        rows = 0
        for _ in range(plan.many_reps):
            rows += len(await BenchRow.objects.filter(level__lt=plan.many_level_lt))
        return rows

    async def w6(self, plan: Plan) -> int:
        rows = 0
        for _ in range(plan.values_reps):
            rows += len(await BenchRow.objects.values())
        return rows

    async def w7(self, plan: Plan) -> int:
        done = 0
        for i, pk in enumerate(plan.update_ids):
            done += await BenchRow.objects.filter(id=pk).update(counter=i)
        return done

    async def w8(self, plan: Plan) -> int:
        done = 0
        for rep in range(plan.bulk_reps):
            qs = BenchRow.objects.filter(level__lt=plan.bulk_level_lt)
            done += await qs.update(counter=rep)
        return done

    async def w9(self, plan: Plan) -> int:
        total = 0
        for level in plan.count_levels:
            total += await BenchRow.objects.filter(level=level).count() >= 0
        return total

    async def w10(self, plan: Plan) -> int:
        done = 0
        for pk in plan.delete_ids:
            done += await BenchRow.objects.filter(id=pk).delete()
        return done
