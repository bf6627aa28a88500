"""200 concurrent tasks doing mixed creates, updates and reads through managers and sessions on
a pool of 5 + 10 overflow: exact final counts, nothing left checked out or locked, and the
throughput printed for the record (not asserted)."""

from __future__ import annotations

import asyncio
import time

from orm_kit import F
from tests.integration.faults_support import FaultRow, Scratch, checked_out, scratch

__all__ = ["scratch"]  # the fixture, imported for the tests below

TASKS = 200
COUNTER = 0  # the unit of the one counter row; task units start at 1000
KINDS = 5


async def test_two_hundred_concurrent_tasks(scratch: Scratch) -> None:
    db = await scratch.database(pool_size=5, max_overflow=10)
    rows = FaultRow.objects.using(db)
    counter = await rows.create(unit=COUNTER, seq=0)
    ops = 0

    async def task(i: int) -> None:
        nonlocal ops
        unit = 1000 + i
        kind = i % KINDS
        if kind == 0:  # autocommit create, then read it back
            await rows.create(unit=unit, seq=0)
            assert await rows.filter(unit=unit).count() == 1
            ops += 2
        elif kind == 1:  # a unit of work: three rows and an increment, atomically
            async with db.session():
                for k in range(3):
                    await FaultRow.objects.create(unit=unit, seq=k)
                await FaultRow.objects.filter(unit=COUNTER).update(seq=F("seq") + 1)
            ops += 4
        elif kind == 2:  # autocommit increment
            assert await rows.filter(unit=COUNTER).update(seq=F("seq") + 1) == 1
            ops += 1
        elif kind == 3:  # bulk_create, then update the rows it made
            made = await rows.bulk_create([FaultRow(unit=unit, seq=k) for k in range(5)])
            assert await rows.filter(unit=unit).update(seq=F("seq") + 10) == len(made)
            ops += 2
        else:  # reads: a get, a filtered list, a stream
            assert (await rows.get(id=counter.id)).unit == COUNTER
            assert all(r.unit >= 1000 for r in await rows.filter(unit__gte=1000)[:20])
            assert [r.id async for r in rows.filter(unit=COUNTER)] == [counter.id]
            ops += 3

    started = time.perf_counter()
    await asyncio.gather(*(task(i) for i in range(TASKS)))
    elapsed = time.perf_counter() - started
    print(
        f"faults concurrency [{scratch.backend}]: {TASKS} tasks, {ops} operations in "
        f"{elapsed:.2f} s: {ops / elapsed:.0f} ops/s (pool 5 + 10 overflow)"
    )

    per_kind = TASKS // KINDS
    counts = await scratch.unit_counts()
    assert counts.pop(COUNTER) == 1
    assert sorted(counts.values()) == sorted([1] * per_kind + [3] * per_kind + [5] * per_kind)
    assert set(counts) == {1000 + i for i in range(TASKS) if i % KINDS in (0, 1, 3)}
    assert (await rows.get(id=counter.id)).seq == 2 * per_kind  # every increment landed
    bulk_units = [1000 + i for i in range(TASKS) if i % KINDS == 3]
    assert await rows.filter(unit__in=bulk_units, seq__lt=10).count() == 0  # all updated
    assert await scratch.leftovers() == []
    assert await checked_out(db) == 0
