"""bulk_create in few statements (SQLite: rows matched back by primary key), checked against
the plain path, one create() per object, on data that tells the cases apart."""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from typing import Any

import pytest
from sqlalchemy import String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from orm_kit import ConflictError, Database, Model, transaction
from orm_kit.mixins import AuditLogMixin, SoftDeleteMixin, UUIDPrimaryKeyMixin, acting_as
from orm_kit.testing import count_queries

COLUMNS = ("id", "code", "qty", "note", "stamp", "serial")


class _Columns:
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    qty: Mapped[int] = mapped_column(default=7)
    note: Mapped[str | None] = mapped_column(Text)
    stamp: Mapped[str] = mapped_column(String(20), server_default="srv")
    serial: Mapped[int] = mapped_column(server_default=text("42"))


class BatchedItem(_Columns, Model):
    """Written with bulk_create."""


class PlainItem(_Columns, Model):
    """The same table, written one create() per object."""


class KeptKeyItem(Model):
    """AUTOINCREMENT on SQLite: keys of deleted rows are never given again."""

    __table_args__ = {"sqlite_autoincrement": True}  # noqa: RUF012 - SQLAlchemy's form
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))


class BatchedShop(Model, SoftDeleteMixin):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))


class BatchedLedger(Model, AuditLogMixin):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    balance: Mapped[int] = mapped_column(default=0)


def spec(n: int, tag: str, top: int = 5_000_000) -> list[dict[str, Any]]:
    """Rows whose column sets vary (so runs split), with an explicit key every 97th row."""
    rows: list[dict[str, Any]] = []
    for i in range(n):
        row: dict[str, Any] = {"code": f"{tag}-{i}"}
        if i % 5 == 0:
            row["qty"] = i  # else the client default, 7
        if i % 3 == 0:
            row["note"] = f"note {i}"
        if i % 11 == 0:
            row["stamp"] = f"s{i}"  # else the server default
        if i % 97 == 50:
            row["id"] = top - i  # mixed keys (descending: clear of generated ones)
        if i % 400 == 399:  # a long run sharing one column set
            for j in range(1, 4):
                rows.append({"code": f"{tag}-{i}-{j}"})
        rows.append(row)
    return rows


async def fresh(model: type[Any], pk: int) -> tuple[Any, ...]:
    row = await model.objects.filter(id=pk).values_list(*COLUMNS).get()
    return tuple(row)


def attrs(obj: Any) -> tuple[Any, ...]:
    return tuple(getattr(obj, c) for c in COLUMNS)


async def check_own_rows(model: type[Any], objs: list[Any]) -> None:
    """Every instance holds what a fresh SELECT returns for its own key."""
    rows = {r[0]: tuple(r) for r in await model.objects.values_list(*COLUMNS)}
    assert len({o.id for o in objs}) == len(objs)
    for obj in objs:
        assert attrs(obj) == rows[obj.id]


def generated_offsets(objs: list[Any], rows: list[dict[str, Any]]) -> list[int]:
    generated = [o.id for o, r in zip(objs, rows, strict=True) if "id" not in r]
    return [k - generated[0] for k in generated]


@pytest.mark.parametrize("batch_size", [None, 128])
async def test_bulk_create_matches_one_create_per_object(db: Database, batch_size: Any) -> None:
    for round_ in range(2):  # the second time with warm statement caches
        rows = spec(1500, f"r{round_}", top=5_000_000 - 10_000 * round_)
        batched = [BatchedItem(**r) for r in rows]
        await BatchedItem.objects.bulk_create(batched, batch_size=batch_size)
        plain = [await PlainItem.objects.create(**r) for r in rows]
        await check_own_rows(BatchedItem, batched)
        await check_own_rows(PlainItem, plain)
        for obj, ref, row in zip(batched, plain, rows, strict=True):
            assert attrs(obj)[1:] == attrs(ref)[1:]
            if "id" in row:
                assert obj.id == ref.id == row["id"]
        # Generated keys ascend in list order, the same steps as one INSERT an object.
        offsets = generated_offsets(batched, rows)
        assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets)
        if db.dialect == "sqlite":  # SQLite gives the largest key + 1: the same keys
            assert [o.id for o in batched] == [o.id for o in plain]
        else:
            assert offsets == generated_offsets(plain, rows)
        assert [o.serial for o in batched[:3]] == [42, 42, 42]
        assert [o.stamp for o in batched[:2]] == ["s0", "srv"]


async def test_bulk_create_inside_a_transaction_and_after_other_writes(db: Database) -> None:
    async with transaction():
        first = await BatchedItem.objects.create(code="before")
        rows = spec(700, "t")
        objs = [BatchedItem(**r) for r in rows]
        await BatchedItem.objects.bulk_create(objs, batch_size=300)
        await check_own_rows(BatchedItem, objs)
    # The generated keys come after the key generated before them (an explicit key may be
    # lower: on MariaDB an earlier explicit key can have moved the AUTO_INCREMENT counter).
    generated = [o.id for o, r in zip(objs, rows, strict=True) if "id" not in r]
    assert min(generated) > first.id
    await check_own_rows(BatchedItem, objs)


async def test_a_failing_batch_saves_nothing_and_leaves_instances_unsaved(db: Database) -> None:
    rows = spec(600, "f")
    rows[450]["code"] = rows[10]["code"]  # a duplicate far into the batch
    objs = [BatchedItem(**r) for r in rows]
    with pytest.raises(ConflictError):
        await BatchedItem.objects.bulk_create(objs)
    assert await BatchedItem.objects.count() == 0
    assert all("stamp" not in o.__dict__ or "stamp" in r for o, r in zip(objs, rows, strict=True))
    assert [o.id for o, r in zip(objs, rows, strict=True) if "id" not in r][:3] == [None] * 3
    again = [BatchedItem(**r) for r in spec(600, "f")]
    await BatchedItem.objects.bulk_create(again)
    await check_own_rows(BatchedItem, again)


async def test_ignored_conflicts_in_the_middle_give_the_same_rows(db: Database) -> None:
    for model in (BatchedItem, PlainItem):
        await model.objects.bulk_create([model(code=f"i-{i}", qty=-1) for i in range(0, 900, 7)])
    rows = [{k: v for k, v in r.items() if k != "id"} for r in spec(900, "i")]
    await BatchedItem.objects.bulk_create([BatchedItem(**r) for r in rows], ignore_conflicts=True)
    for r in rows:
        await PlainItem.objects.bulk_create([PlainItem(**r)], ignore_conflicts=True)

    def content(model: type[Any]) -> Any:
        return model.objects.order_by("code").values_list(*COLUMNS[1:])

    assert await content(BatchedItem) == await content(PlainItem)
    assert await BatchedItem.objects.filter(qty=-1).count() == len(range(0, 900, 7))


async def test_autoincrement_keys_are_not_given_again(db: Database) -> None:
    old = await KeptKeyItem.objects.bulk_create([KeptKeyItem(name=f"a{i}") for i in range(50)])
    top = max(o.id for o in old)
    await KeptKeyItem.objects.filter(id__gt=top - 10).delete()
    new = await KeptKeyItem.objects.bulk_create([KeptKeyItem(name=f"b{i}") for i in range(50)])
    assert min(o.id for o in new) > top
    rows = dict(await KeptKeyItem.objects.values_list("id", "name"))
    assert all(rows[o.id] == o.name for o in new)


async def test_twenty_thousand_rows_take_a_handful_of_statements(db: Database) -> None:
    for round_ in range(2):
        objs = [BatchedItem(code=f"n{round_}-{i}", qty=i, note=None) for i in range(20_000)]
        with count_queries() as counted:
            await BatchedItem.objects.bulk_create(objs)
        # SQLite: the first row alone (its INSERT takes the write lock), the largest key,
        # then INSERTs of up to 32,700 parameters (key + 3 columns: 8,175 rows): 1 + 1 + 3.
        # PostgreSQL: insertmanyvalues pages of 1,000 rows (COPY cannot return the server
        # defaults): 20. Either way far from one statement a row.
        assert counted.count <= 25, counted.statements
        if db.dialect == "sqlite":
            assert len(counted.statements) == 5, counted.statements
        sample = objs[::997] + objs[-3:]
        for obj in sample:
            assert attrs(obj) == await fresh(BatchedItem, obj.id)
    await check_own_rows(BatchedItem, objs)


async def test_soft_delete_and_audit_rules_apply_to_each_object(db: Database) -> None:
    shops = await BatchedShop.objects.bulk_create([BatchedShop(name=f"s{i}") for i in range(400)])
    await shops[7].delete()  # soft: hidden from the default manager
    assert await BatchedShop.objects.count() == 399
    assert shops[8].name == (await BatchedShop.objects.get(id=shops[8].id)).name
    with acting_as("loader"):
        ledgers = await BatchedLedger.objects.bulk_create(
            [BatchedLedger(name=f"l{i}", balance=i) for i in range(400)]
        )
    async with db.engine.connect() as conn:
        audit = (
            await conn.execute(
                text("SELECT object_id, changes, actor FROM audit_log WHERE action = 'insert'")
            )
        ).all()
    by_id = {
        oid: json.loads(changes) if isinstance(changes, str) else changes
        for oid, changes, _ in audit
    }
    assert {actor for *_, actor in audit} == {"loader"}
    assert len(by_id) == 400
    for obj in ledgers:
        assert by_id[str(obj.id)]["name"] == [None, obj.name]
        assert by_id[str(obj.id)]["id"] == [None, obj.id]


class BareItem(Model):
    """Every column filled by the database: the INSERT names no column at all."""

    id: Mapped[int] = mapped_column(primary_key=True)
    stamp: Mapped[str] = mapped_column(String(20), server_default="bare")


async def test_rows_with_no_column_given_get_their_own_keys(db: Database) -> None:
    objs = [BareItem() for _ in range(300)]
    with count_queries() as counted:
        await BareItem.objects.bulk_create(objs)
    rows = dict(await BareItem.objects.values_list("id", "stamp"))
    assert sorted(rows) == [o.id for o in objs]
    assert {o.stamp for o in objs} == {"bare"}
    if db.dialect == "sqlite":  # the first row, the largest key, one INSERT of the others
        assert counted.count == 3, counted.statements


async def test_concurrent_writers_never_shift_keys(db: Database) -> None:
    """Bulk loads and single creates at once: the write lock each load takes with its first
    row keeps the keys it assigns free, so every object still holds its own row."""

    async def load(tag: str, top: int) -> list[Any]:
        objs = [BatchedItem(**r) for r in spec(1200, tag, top=top)]
        return await BatchedItem.objects.bulk_create(objs, batch_size=500)

    async def singles(tag: str) -> list[Any]:
        return [await BatchedItem.objects.create(code=f"{tag}-{i}") for i in range(40)]

    done = await asyncio.gather(
        load("c1", -1), singles("s1"), load("c2", -2000), singles("s2"), load("c3", -4000)
    )
    everyone = [obj for objs in done for obj in objs]
    await check_own_rows(BatchedItem, everyone)
    assert await BatchedItem.objects.count() == len(everyone)


class _KeyedColumns:
    code: Mapped[str] = mapped_column(String(40), unique=True)
    qty: Mapped[int] = mapped_column(default=7)
    stamp: Mapped[str] = mapped_column(String(20), server_default="srv")


class UuidBatched(_KeyedColumns, Model, UUIDPrimaryKeyMixin):
    """A client-generated UUID key (UUIDv7)."""


class UuidPlain(_KeyedColumns, Model, UUIDPrimaryKeyMixin):
    """The same, written one create() per object."""


class TextKeyed(Model):
    slug: Mapped[str] = mapped_column(String(40), primary_key=True)
    qty: Mapped[int] = mapped_column(default=7)
    stamp: Mapped[str] = mapped_column(String(20), server_default="srv")


class TextKeyedPlain(Model):
    slug: Mapped[str] = mapped_column(String(40), primary_key=True)
    qty: Mapped[int] = mapped_column(default=7)
    stamp: Mapped[str] = mapped_column(String(20), server_default="srv")


def keyed_rows(n: int, tag: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for i in range(n):
        row: dict[str, Any] = {"code": f"{tag}-{i}"}
        if i % 4 == 0 or i >= n // 2:  # runs of one column set, then varying ones
            row["qty"] = i
        if i % 9 == 0 and i < n // 2:
            row["stamp"] = f"s{i}"
        rows.append(row)
    return rows


def runs_of(rows: list[dict[str, Any]]) -> int:
    """How many runs of consecutive rows ``rows`` has that leave the same columns to the
    database (``stamp``, a server default; client defaults are filled in)."""
    given = ["stamp" in row for row in rows]
    return 1 + sum(a != b for a, b in itertools.pairwise(given))


async def test_client_keys_that_are_not_integers_batch_too(db: Database) -> None:
    """UUID and text primary keys: one statement per run on SQLite too (they were one per
    row there), every instance holding what one create() per object would hold."""
    for round_ in range(2):
        rows = keyed_rows(900, f"k{round_}")
        batched = [UuidBatched(**r) for r in rows]
        given = uuid.UUID(int=round_ + 1)
        batched[5].id = given  # a key of the caller's amid generated ones
        batched[6].id = str(uuid.UUID(int=round_ + 100))  # its string form
        with count_queries() as counted:
            await UuidBatched.objects.bulk_create(batched)
        # One INSERT a run (SQLite sent one a row).
        assert counted.count == runs_of(rows) < 300, counted.statements
        plain = [await UuidPlain.objects.create(**r) for r in rows]
        fresh_rows = {r[0]: r[1:] for r in await UuidBatched.objects.values_list("id", *_K)}
        assert len(fresh_rows) == 900 * (round_ + 1)
        for obj, ref in zip(batched, plain, strict=True):
            assert isinstance(obj.id, uuid.UUID)
            assert tuple(getattr(obj, c) for c in _K) == fresh_rows[obj.id]
            assert tuple(getattr(obj, c) for c in _K) == tuple(getattr(ref, c) for c in _K)
        assert batched[5].id == given and batched[6].id == uuid.UUID(int=round_ + 100)

        slugs = [TextKeyed(slug=f"{round_}-Ab-{i}", **_no_code(r)) for i, r in enumerate(rows)]
        slugs.append(TextKeyed(slug=f"{round_}-ab-0"))  # differs from -Ab-0 in case only
        await TextKeyed.objects.bulk_create(slugs)
        refs = [
            await TextKeyedPlain.objects.create(slug=o.slug, **_no_code(r))
            for o, r in zip(slugs, [*rows, {}], strict=True)
        ]
        stored = dict(await TextKeyed.objects.values_list("slug", "stamp"))
        for obj, ref in zip(slugs, refs, strict=True):
            assert (obj.qty, obj.stamp) == (ref.qty, ref.stamp) == (obj.qty, stored[obj.slug])


_K = ("code", "qty", "stamp")


def _no_code(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "code"}


async def test_upserts_take_few_statements_and_give_every_object_its_row(db: Database) -> None:
    """update_conflicts matched by the conflict target: against one call per object, with
    rows that conflict and rows that do not mixed, and the case that must go row by row
    (the same target twice in one list) still right."""
    for round_ in range(2):
        for model in (BatchedItem, PlainItem):
            await model.objects.bulk_create(
                [model(code=f"v{round_}-{i}", qty=-1, note="old") for i in range(0, 700, 3)]
            )
        rows: list[dict[str, Any]] = [
            {"code": f"v{round_}-{i}", "qty": i, "note": f"n{i}" if i % 2 else None}
            for i in range(700)
        ]
        batched = [BatchedItem(**r) for r in rows]
        with count_queries() as counted:
            await BatchedItem.objects.bulk_create(
                batched, update_conflicts=True, unique_fields=["code"], update_fields=["qty"]
            )
        assert counted.count <= 2, counted.statements  # was 700
        plain = [PlainItem(**r) for r in rows]
        for obj in plain:
            await PlainItem.objects.bulk_create(
                [obj], update_conflicts=True, unique_fields=["code"], update_fields=["qty"]
            )
        await check_own_rows(BatchedItem, batched)
        await check_own_rows(PlainItem, plain)
        assert [attrs(o)[1:] for o in batched] == [attrs(o)[1:] for o in plain]
        assert [o.note for o in batched[:4]] == ["old", "n1", None, "old"]

        # The same target twice: the second must update the row the first wrote.
        twice = [BatchedItem(code=f"w{round_}", qty=1), BatchedItem(code=f"w{round_}", qty=2)]
        await BatchedItem.objects.bulk_create(
            twice, update_conflicts=True, unique_fields=["code"], update_fields=["qty"]
        )
        assert twice[0].id == twice[1].id
        assert (await BatchedItem.objects.get(code=f"w{round_}")).qty == 2


async def test_upserts_matched_by_a_uuid_target(db: Database) -> None:
    old = await UuidBatched.objects.bulk_create(
        [UuidBatched(code=f"x-{i}", qty=-1) for i in range(0, 60, 2)]
    )
    ids = {o.code: o.id for o in old}
    objs = [UuidBatched(code=f"x-{i}", qty=i) for i in range(60)]
    for obj in objs[::2]:
        obj.id = ids[obj.code]  # the others get a new key from the client default
    with count_queries() as counted:
        await UuidBatched.objects.bulk_create(
            objs, update_conflicts=True, unique_fields=["id"], update_fields=["qty"]
        )
    assert counted.count <= 2, counted.statements
    stored = {r[0]: r[1:] for r in await UuidBatched.objects.values_list("id", "code", "qty")}
    assert len(stored) == 60
    for i, obj in enumerate(objs):
        assert stored[obj.id] == (obj.code, obj.qty) == (f"x-{i}", i)
        if i % 2 == 0:
            assert obj.id == ids[f"x-{i}"]


async def test_a_primary_key_set_to_none_is_a_key_not_given(db: Database) -> None:
    """Model(id=None) means "no key yet", as create() and save() take it (and Django's
    bulk_create): the key is generated, by the client default or by the database."""
    made = await UuidBatched.objects.create(id=None, code="made")
    assert isinstance(made.id, uuid.UUID)
    for round_ in range(2):
        objs = [
            UuidBatched(code=f"n{round_}-{i}", **({"id": None} if i % 2 else {})) for i in range(6)
        ]
        await UuidBatched.objects.bulk_create(objs)
        assert all(isinstance(o.id, uuid.UUID) for o in objs)
        assert len({o.id for o in objs}) == 6
        ints = [
            BatchedItem(code=f"i{round_}-{i}", **({"id": None} if i % 2 else {})) for i in range(6)
        ]
        await BatchedItem.objects.bulk_create(ints)
        assert all(type(o.id) is int for o in ints) and len({o.id for o in ints}) == 6
        await check_own_rows(BatchedItem, ints)
    stored = set(await UuidBatched.objects.values_list("id", flat=True))
    assert len(stored) == 13 and {made.id, *(o.id for o in objs)} <= stored
