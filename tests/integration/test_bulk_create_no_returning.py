"""bulk_create on a server without INSERT ... RETURNING (MySQL 8; MariaDB has it from 10.5):
each object still gets its own key and server-filled values. The dialect is told it has no
RETURNING, on every backend, and the results are compared with the RETURNING path."""

from __future__ import annotations

from typing import Any

import pytest

from orm_kit import Database
from orm_kit.testing import count_queries
from tests.integration.test_bulk_create_batched import (
    BatchedItem,
    PlainItem,
    attrs,
    check_own_rows,
    spec,
)


@pytest.fixture
def no_returning(db: Database, monkeypatch: pytest.MonkeyPatch) -> Database:
    monkeypatch.setattr(db.engine.dialect, "insert_returning", False)
    return db


async def test_keys_and_server_values_come_back_without_returning(no_returning: Database) -> None:
    rows = spec(120, "n")
    objs = [BatchedItem(**r) for r in rows]
    with count_queries() as counted:
        await BatchedItem.objects.bulk_create(objs, batch_size=50)
    # An INSERT and a SELECT of its row, each row (PostgreSQL also draws each key first).
    inserts = [s for s in counted.statements if s.startswith("INSERT")]
    selects = [s for s in counted.statements if s.startswith("SELECT batched_item.id")]
    assert len(inserts) == len(selects) == len(objs)
    await check_own_rows(BatchedItem, objs)
    for obj, row in zip(objs, rows, strict=True):
        if "id" in row:
            assert obj.id == row["id"]
        assert obj.stamp == row.get("stamp", "srv") and obj.serial == 42
    generated = [o.id for o, r in zip(objs, rows, strict=True) if "id" not in r]
    assert generated == sorted(generated) and len(set(generated)) == len(generated)


async def test_the_same_rows_as_with_returning(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = spec(60, "d")
    with_returning = [PlainItem(**r) for r in rows]
    await PlainItem.objects.bulk_create(with_returning)
    monkeypatch.setattr(db.engine.dialect, "insert_returning", False)
    without = [BatchedItem(**r) for r in rows]
    await BatchedItem.objects.bulk_create(without)
    for a, b in zip(with_returning, without, strict=True):
        assert attrs(a)[1:] == attrs(b)[1:]


async def test_upserts_find_the_row_they_updated(no_returning: Database) -> None:
    first = await BatchedItem.objects.create(code="u-1", qty=1)
    objs: list[Any] = [BatchedItem(code="u-0", qty=5), BatchedItem(code="u-1", qty=9)]
    await BatchedItem.objects.bulk_create(
        objs, update_conflicts=True, unique_fields=["code"], update_fields=["qty"]
    )
    assert objs[1].id == first.id and objs[1].qty == 9
    assert objs[0].id != first.id and objs[0].stamp == "srv"
    await check_own_rows(BatchedItem, objs)
