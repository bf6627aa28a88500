"""Rows built into instances keep CPython's key-sharing instance dicts (orm_kit.query.meta:
``_share_instance_keys``): memory only, measured because nothing else would notice it
regress (W5 of the benchmarks: ~950 B an object on PostgreSQL before, ~607 B after)."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from orm_kit import Database, Model
from orm_kit.query.meta import get_model_info


class MemoryRow(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime]
    level: Mapped[int]
    name: Mapped[str] = mapped_column(String(40))
    active: Mapped[bool]
    note: Mapped[str | None] = mapped_column(String(40))
    score: Mapped[float]
    counter: Mapped[int]


async def test_instances_built_from_rows_share_their_dict_keys(db: Database) -> None:
    # The model's first instances come from the constructor, in another key order than a
    # row's, and bulk_create then gives them their keys: before the fix, that left every
    # instance built from a row with a dict of its own (~464 B instead of ~144 B).
    when = datetime(2026, 1, 1, 12, 30)
    given = {"created_at": when, "level": 1, "name": "a", "active": True, "note": None}
    await MemoryRow.objects.bulk_create(
        [MemoryRow(**given, score=0.5, counter=i) for i in range(2000)]
    )
    info = get_model_info(MemoryRow)
    rows = await MemoryRow.objects.order_by("id").values_list(*info.column_keys)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        objs = info.build_all(info.column_keys, rows)  # the values exist already
        gc.collect()
        per_object = (tracemalloc.get_traced_memory()[0] - before) / len(objs)
    finally:
        tracemalloc.stop()
    # The instance (~56 B), its key-sharing dict (~144 B) and the list's slot; a dict with
    # a table of its own is ~272 B, one converted while it was filled ~464 B.
    assert per_object < 300, per_object
    assert [o.counter for o in objs[:3]] == [0, 1, 2] and objs[5].created_at == when
    loaded = await MemoryRow.objects.order_by("id")
    assert [(o.id, o.counter, o.name) for o in loaded] == [(o.id, o.counter, o.name) for o in objs]


async def test_an_idle_pooled_connection_keeps_little_of_its_last_large_read(
    db: Database,
) -> None:
    """After a large read the connection back in the pool holds at most a little of it:
    on PostgreSQL asyncpg kept its last two socket reads (up to 512 KiB; now 64 KiB reads,
    orm_kit.dialects.RECEIVE_CHUNK), on MariaDB asyncmy kept the whole last result until
    the next statement (orm_kit.dialects._drop_last_result)."""
    note = "x" * 200
    await MemoryRow.objects.bulk_create(
        [
            MemoryRow(
                created_at=datetime(2026, 1, 1),
                level=i,
                name=f"n{i}",
                active=True,
                note=note[: 20 + i % 20],
                score=i / 7,
                counter=i,
            )
            for i in range(4000)
        ]
    )
    for read in range(2):  # the second with every cache warm
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            rows = await MemoryRow.objects.values_list("note", "name", "score", "created_at")
            assert len(rows) == 4000 and rows[7][1] == "n7"
            del rows
            # (The event loop's callback that resumed this task holds the driver's finished
            # future, raw rows and all, until the task next yields.)
            await asyncio.sleep(0)
            gc.collect()
            left = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        # The rows are ~1 MB as Python objects, ~400 KB on the wire; two 64 KiB reads and
        # caches may stay, and on PostgreSQL asyncpg's free list of Records (up to 2,000 a
        # record size: 88 B each for four columns), which serves every connection.
        free_list = 2000 * 88 if db.dialect == "postgresql" else 0
        assert left < 160_000 + free_list, (read, left)
