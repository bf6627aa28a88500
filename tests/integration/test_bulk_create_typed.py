"""bulk_create of rows that give every column (SQLite: one ``executemany`` of a plain
INSERT a batch, its values bound by orm_kit; PostgreSQL: COPY or a multi-row INSERT)
stores and returns exactly what one create() per object does, for every column type,
NULLs included, with warm caches; and SQL expressions, which bulk writes cannot bind, are
refused with a clear error and nothing written."""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    Float,
    Interval,
    LargeBinary,
    Numeric,
    String,
    Text,
    Time,
    TypeDecorator,
    Uuid,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from orm_kit import ConflictError, Database, Model, ValidationError
from orm_kit.query import bulk_keyed
from orm_kit.testing import count_queries
from tests.integration.typed_values import typed


class BulkMood(enum.Enum):
    CALM = "calm"
    LOUD = "loud"


class Lowered(TypeDecorator[str]):
    """A type of the user's own: stored lower case, read back with a mark."""

    impl = String(40)
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else value.lower()

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else f"<{value}>"


class _Typed:
    id: Mapped[int] = mapped_column(primary_key=True)
    level: Mapped[int] = mapped_column(default=3)
    big: Mapped[int | None] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(Text)
    flag: Mapped[bool | None]
    ratio: Mapped[float | None] = mapped_column(Float)
    amount: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    naive: Mapped[datetime | None] = mapped_column(DateTime)
    aware: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    day: Mapped[date | None] = mapped_column(Date)
    at: Mapped[time | None] = mapped_column(Time)
    span: Mapped[timedelta | None] = mapped_column(Interval)
    blob: Mapped[bytes | None] = mapped_column(LargeBinary)
    key: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    mood: Mapped[BulkMood | None]
    lowered: Mapped[str | None] = mapped_column(Lowered)


class BulkTyped(_Typed, Model):
    """Written with bulk_create."""


class OneTyped(_Typed, Model):
    """The same columns, written one create() per object."""


class FloatDefault(Model):
    """A float column the database fills: the unit of work reads it back with RETURNING."""

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    ratio: Mapped[float] = mapped_column(server_default=text("2.0"))


PLUS_TWO = timezone(timedelta(hours=2))


def row(i: int, tag: str) -> dict[str, Any]:
    if i % 4 == 3:  # every nullable column NULL (explicitly: the same column set)
        nulls = dict.fromkeys(("big", "note", "flag", "ratio", "amount", "naive", "aware"))
        nulls |= dict.fromkeys(("day", "at", "span", "blob", "key", "data", "mood", "lowered"))
        return {"name": f"{tag}{i}", "level": i, **nulls}
    return {
        "level": i % 7,  # 0 and small ints alike
        "big": 2**40 + i,
        "name": f"{tag}{i}",
        "note": f"note ' {i}",
        "flag": i % 2 == 0,
        "ratio": i / 8,
        "amount": Decimal(f"{i}.25"),
        "naive": datetime(2026, 1, 1, 12, 0, i % 60, 123),
        "aware": datetime(2026, 1, 1, 12, i % 60, tzinfo=PLUS_TWO if i % 2 else UTC),
        "day": date(2026, 3, 1 + i % 28),
        "at": time(9, i % 60),
        "span": timedelta(hours=i % 30, seconds=7),
        "blob": bytes([i % 256, 0, 255]),
        "key": uuid.UUID(int=i + 1),
        "data": {"i": i, "tags": ["a", str(i)], "nested": {"ok": i % 3 == 0}},
        "mood": BulkMood.LOUD if i % 2 else BulkMood.CALM,
        "lowered": f"MiXeD{i}",
    }


async def stored(model: type[Any]) -> list[Any]:
    return [typed(r) for r in await model.objects.order_by("id").values()]


@pytest.mark.parametrize("batch_size", [None, 300])
async def test_rows_giving_every_column_store_what_create_stores(
    db: Database, batch_size: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs: list[int] = []
    run_many = bulk_keyed.KeyedInsert._run_many

    async def counted(self: Any, conn: Any, batch: list[Any], plan: Any) -> None:
        runs.append(len(batch))
        await run_many(self, conn, batch, plan)

    monkeypatch.setattr(bulk_keyed.KeyedInsert, "_run_many", counted)
    for round_ in range(2):  # the second with warm caches
        rows = [row(i, f"r{round_}-") for i in range(1200)]  # PostgreSQL: past COPY's 1,000
        batched = await BulkTyped.objects.bulk_create(
            [BulkTyped(**r) for r in rows], batch_size=batch_size
        )
        plain = [await OneTyped.objects.create(**r) for r in rows]
        assert [o.id for o in batched] == [o.id for o in plain]  # empty tables alike
        assert await stored(BulkTyped) == await stored(OneTyped)
        # The instances hold the values given (as Django's bulk_create), with their keys;
        # create() hands back the row as stored (a TypeDecorator's read form, UTC).
        assert [typed(o) for o in batched] == [
            typed({"id": o.id, **r}) for o, r in zip(batched, rows, strict=True)
        ]
        assert [o.lowered for o in plain[:2]] == ["<mixed0>", "<mixed1>"]
        assert (await BulkTyped.objects.get(id=batched[1].id)).lowered == "<mixed1>"
    if db.dialect == "sqlite":
        # All but each call's first row (whose INSERT takes the write lock) went through
        # executemany, in batches of batch_size.
        assert sum(runs) == 2 * 1199
        if batch_size:
            assert max(runs) == batch_size
    else:
        assert runs == []


async def test_explicit_keys_in_one_executemany(db: Database) -> None:
    rows = [{"id": 10_000 - i * 3, **row(i, "k")} for i in range(50)]
    with count_queries() as counted:
        batched = await BulkTyped.objects.bulk_create([BulkTyped(**r) for r in rows])
    for r in rows:
        await OneTyped.objects.create(**r)
    assert [o.id for o in batched] == [r["id"] for r in rows]
    assert await stored(BulkTyped) == await stored(OneTyped)
    if db.dialect == "sqlite":
        inserts = [s for s in counted.statements if s.startswith("INSERT")]
        assert len(inserts) == 1 and "RETURNING" not in inserts[0], counted.statements


async def test_a_failing_executemany_saves_nothing(db: Database) -> None:
    await BulkTyped.objects.create(id=7, **row(0, "taken"))
    objs = [BulkTyped(id=i, **row(i, "f")) for i in (5, 6, 7, 8)]
    with pytest.raises(ConflictError):
        await BulkTyped.objects.bulk_create(objs)
    assert await BulkTyped.objects.values_list("id", flat=True) == [7]
    await BulkTyped.objects.filter(id=7).delete()
    await BulkTyped.objects.bulk_create(objs)  # the same instances, passed again
    assert await stored(BulkTyped) == await stored_as(objs)


async def stored_as(objs: list[Any]) -> list[Any]:
    """What create() stores for the same values."""
    for obj in objs:
        await OneTyped.objects.create(**{k: getattr(obj, k) for k in row(0, "") | {"id": 0}})
    return await stored(OneTyped)


@pytest.mark.parametrize("column", ["name", "note"])  # NOT NULL and nullable
async def test_sql_expressions_are_refused_by_bulk_writes(db: Database, column: str) -> None:
    objs = [BulkTyped(**row(i, "s")) for i in range(3)]
    setattr(objs[1], column, func.upper("x"))
    with pytest.raises(ValidationError, match=rf"bulk_create\(\).*BulkTyped\.{column}.*SQL"):
        await BulkTyped.objects.bulk_create(objs)
    assert await BulkTyped.objects.count() == 0
    saved = await BulkTyped.objects.create(**row(9, "u"))
    setattr(saved, column, func.upper("x"))
    with pytest.raises(ValidationError, match=rf"bulk_update\(\).*BulkTyped\.{column}.*SQL"):
        await BulkTyped.objects.bulk_update([saved], [column])
    assert (await BulkTyped.objects.get(id=saved.id)).name == "u9"


async def test_float_columns_come_back_as_floats(db: Database) -> None:
    # SQLite's INSERT / UPDATE ... RETURNING gave a whole REAL as an int (see
    # orm_kit.types.returned): create(ratio=2.0).ratio was 2, an int. (The hostile fuzzer
    # now checks what create() hands back too: it found create(f=0.0) with seed 1.)
    made = await BulkTyped.objects.create(name="f", ratio=2.0)
    assert typed(made.ratio) == ("float", 2.0)
    [upserted] = await BulkTyped.objects.bulk_create(
        [BulkTyped(id=made.id, name="g", ratio=3.0)],
        update_conflicts=True,
        unique_fields=["id"],
        update_fields=["ratio"],
    )
    assert typed(upserted.ratio) == ("float", 3.0)
    assert typed(await BulkTyped.objects.values_list("ratio", flat=True)) == typed([3.0])


async def test_float_server_defaults_come_back_as_floats_from_every_write(db: Database) -> None:
    made = [await FloatDefault.objects.create(name="create")]
    saved = FloatDefault(name="save")
    await saved.save()
    async with db.session():
        in_session = FloatDefault(name="session")
        await in_session.save()
    got, created = await FloatDefault.objects.get_or_create(name="get_or_create")
    assert created
    made += [saved, in_session, got]
    made += await FloatDefault.objects.bulk_create([FloatDefault(name="bulk")])
    assert [typed(o.ratio) for o in made] == [("float", 2.0)] * 5
    assert typed(await FloatDefault.objects.values_list("ratio", flat=True)) == typed([2.0] * 5)
