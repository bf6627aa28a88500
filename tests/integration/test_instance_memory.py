"""Rows built into instances keep CPython's key-sharing instance dicts (orm_kit.query.meta:
``_share_instance_keys``): memory only, measured because nothing else would notice it
regress (W5 of the benchmarks: ~950 B an object on PostgreSQL before, ~607 B after)."""

from __future__ import annotations

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
