"""The mixins on every write path, checked against the rows read back with plain SQL."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import String, text, update
from sqlalchemy.orm import Mapped, mapped_column

from orm_kit import ConflictError, Count, Database, Model, ReadOnlyError, Repository
from orm_kit.mixins import (
    SoftDeleteMixin,
    acting_as,
    allow_writes,
    current_actor,
    unique_among_live,
)
from tests.models import Country, Invoice, Order, Shop


class Subscriber(Model, SoftDeleteMixin):
    """Unique among live rows (not named Member: examples/repository.py has that table)."""

    __table_args__ = (unique_among_live("email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(255))


async def raw(db: Database, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    async with db.engine.connect() as conn:
        return [tuple(row) for row in await conn.execute(text(sql), params)]


def aware(value: Any) -> datetime:
    """A timestamp read with plain SQL, as an aware UTC datetime (SQLite returns text)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# --- UUIDv7 ------------------------------------------------------------------------------


async def test_uuid7_primary_keys_are_time_ordered(db: Database) -> None:
    first = await Invoice.objects.create(number="A-1")
    await asyncio.sleep(0.003)
    second = await Invoice.objects.create(number="A-2")
    assert isinstance(first.id, uuid.UUID)
    assert first.id.version == 7
    assert first.id < second.id
    many = await Invoice.objects.bulk_create([Invoice(number=f"B-{i}") for i in range(3)])
    assert all(inv.id.version == 7 for inv in many)
    assert (await Invoice.objects.get(id=first.id)).number == "A-1"


# --- timestamps and audit on every write path ----------------------------------------------


async def test_timestamps_and_actor_on_insert_paths(db: Database) -> None:
    before = datetime.now(UTC)
    with acting_as("user-42"):
        created = await Invoice.objects.create(number="2026-001")
        bulk = await Invoice.objects.bulk_create([Invoice(number="2026-002")])
        async with db.session():
            saved = await Invoice(number="2026-003").save()
    for inv in (created, bulk[0], saved):
        assert inv.created_at.tzinfo is not None
        assert inv.created_at >= before
    rows = await raw(
        db, "SELECT number, created_by, updated_by, created_at FROM invoice ORDER BY number"
    )
    assert [r[:3] for r in rows] == [
        ("2026-001", "user-42", "user-42"),
        ("2026-002", "user-42", "user-42"),
        ("2026-003", "user-42", "user-42"),
    ]
    assert all(aware(r[3]) >= before for r in rows)


async def test_timestamps_and_actor_on_update_paths(db: Database) -> None:
    with acting_as("creator"):
        inv = await Invoice.objects.create(number="2026-001")
        other = await Invoice.objects.create(number="2026-002")
    stamp = inv.updated_at
    await asyncio.sleep(0.01)
    with acting_as("updater"):
        assert await Invoice.objects.filter(number__startswith="2026").update(paid=True) == 2
    rows = await raw(db, "SELECT created_by, updated_by, updated_at FROM invoice ORDER BY number")
    assert [r[:2] for r in rows] == [("creator", "updater"), ("creator", "updater")]
    assert all(aware(r[2]) > stamp for r in rows)

    await asyncio.sleep(0.01)
    with acting_as("saver"):
        inv.amount = 5
        await inv.save()
        other.amount = 7
        await Invoice.objects.bulk_update([other], ["amount"])
        async with db.session() as session:  # an ORM-enabled statement on an orm_kit session
            await session.execute(
                update(Invoice).where(Invoice.number == "2026-001").values(amount=6)
            )
    rows = await raw(db, "SELECT number, amount, updated_by FROM invoice ORDER BY number")
    assert rows == [("2026-001", 6, "saver"), ("2026-002", 7, "saver")]


async def test_concurrent_actors_never_mix(db: Database) -> None:
    async def write(i: int) -> None:
        with acting_as(f"actor-{i}"):
            await asyncio.sleep(0.001 * (i % 5))
            await Invoice.objects.create(number=f"C-{i:02d}")
            assert current_actor() == f"actor-{i}"

    await asyncio.gather(*(write(i) for i in range(50)))
    rows = await raw(db, "SELECT number, created_by FROM invoice")
    assert len(rows) == 50
    assert all(by == f"actor-{number[2:].lstrip('0') or '0'}" for number, by in rows)


# --- read-only -------------------------------------------------------------------------------


async def test_read_only_refuses_every_write_path(db: Database) -> None:
    with allow_writes(Country):
        seeded = await Country.objects.create(code="NO")
        await Country.objects.bulk_create([Country(code="SE")])
    snapshot = await raw(db, "SELECT id, code FROM country ORDER BY id")
    attempts = [
        lambda: Country.objects.create(code="DK"),
        lambda: Country.objects.bulk_create([Country(code="DK")]),
        lambda: Country.objects.filter(code="NO").update(code="XX"),
        lambda: Country.objects.filter(code="NO").delete(),
        lambda: Country.objects.bulk_update([seeded], ["code"]),
        lambda: seeded.delete(),
    ]
    for attempt in attempts:
        with pytest.raises(ReadOnlyError, match="Country is read-only"):
            await attempt()
    seeded.code = "ZZ"
    with pytest.raises(ReadOnlyError):
        await seeded.save()
    with pytest.raises(ReadOnlyError):
        async with db.session() as session:
            await session.execute(update(Country).values(code="QQ"))
    assert await raw(db, "SELECT id, code FROM country ORDER BY id") == snapshot


async def test_allow_writes_is_task_local(db: Database) -> None:
    started = asyncio.Event()
    outcome: list[str] = []

    async def other_task() -> None:
        await started.wait()
        try:
            await Country.objects.create(code="FI")
            outcome.append("wrote")
        except ReadOnlyError:
            outcome.append("refused")

    task = asyncio.create_task(other_task())  # created outside the allow_writes block
    with allow_writes(Country):
        started.set()
        await task
        await Country.objects.create(code="IS")
    assert outcome == ["refused"]
    assert await raw(db, "SELECT code FROM country") == [("IS",)]


# --- soft delete -----------------------------------------------------------------------------


async def test_soft_delete_hides_rows_from_default_queries(db: Database) -> None:
    inv = await Invoice.objects.create(number="2026-001", amount=10)
    await Invoice.objects.create(number="2026-002", amount=5)
    assert await inv.delete() == 1
    assert inv.is_deleted
    assert await raw(db, "SELECT count(*) FROM invoice WHERE deleted_at IS NOT NULL") == [(1,)]
    assert await Invoice.objects.filter(number="2026-001").count() == 0
    assert not await Invoice.objects.filter(number="2026-001").exists()
    with pytest.raises(Invoice.DoesNotExist):
        await Invoice.objects.get(number="2026-001")
    assert await Invoice.objects.values_list("number", flat=True) == ["2026-002"]
    assert (await Invoice.objects.aggregate(n=Count("id")))["n"] == 1
    assert await Invoice.objects.with_deleted().filter(number="2026-001").count() == 1
    assert await Invoice.objects.only_deleted().values_list("number", flat=True) == ["2026-001"]
    assert await Invoice.all_objects.count() == 2
    # QuerySet.update() leaves deleted rows alone.
    assert await Invoice.objects.update(paid=True) == 1
    await inv.restore()
    assert not inv.is_deleted
    assert await Invoice.objects.count() == 2
    assert await Invoice.objects.filter(amount__gt=0).delete() == 2
    assert await Invoice.objects.only_deleted().restore() == 2
    assert await inv.hard_delete() == 1
    assert await raw(db, "SELECT number FROM invoice") == [("2026-002",)]


async def test_soft_delete_in_relations_and_loading(db: Database) -> None:
    open_shop = await Shop.objects.create(name="open")
    closed = await Shop.objects.create(name="closed")
    live = await Order.objects.create(shop_id=open_shop.id, total=5)
    gone = await Order.objects.create(shop_id=open_shop.id, total=9)
    orphan = await Order.objects.create(shop_id=closed.id, total=3)
    await gone.delete()
    await closed.delete()
    # Lookups across relations skip deleted rows on both sides.
    assert await Order.objects.filter(shop__name="closed").count() == 0
    assert await Shop.objects.filter(orders__total=9).count() == 0
    assert [s.name for s in await Shop.objects.filter(orders__total=5)] == ["open"]
    # select_related: a deleted many-to-one target comes back as None; the row stays.
    with_shop = await Order.objects.select_related("shop").order_by("id")
    assert [(o.id, o.shop.name if o.shop else None) for o in with_shop] == [
        (live.id, "open"),
        (orphan.id, None),
    ]
    # prefetch_related / fetch_related / annotate skip deleted children.
    shops = await Shop.objects.prefetch_related("orders")
    assert [[o.total for o in s.orders] for s in shops] == [[5]]
    await open_shop.fetch_related("orders")
    assert [o.total for o in open_shop.orders] == [5]
    counted = await Shop.objects.annotate(n=Count("orders"))
    assert [s.n for s in counted] == [1]  # type: ignore[attr-defined]
    async with db.session():
        in_session = await Shop.objects.prefetch_related("orders").get(name="open")
        assert [o.total for o in in_session.orders] == [5]


async def test_unique_among_live_rows_lets_deleted_values_be_reused(db: Database) -> None:
    first = await Subscriber.objects.create(email="ann@x.io")
    with pytest.raises(ConflictError) as info:
        await Subscriber.objects.create(email="ann@x.io")
    assert info.value.constraint == "uq_subscriber_email"
    await first.delete()
    again = await Subscriber.objects.create(email="ann@x.io")  # the deleted row no longer counts
    assert again.id != first.id
    assert await Subscriber.all_objects.filter(email="ann@x.io").count() == 2
    with pytest.raises(ConflictError) as restored:
        await first.restore()  # two live rows would share the email
    assert restored.value.constraint == "uq_subscriber_email"
    # Deleted rows may share a value among themselves too; and upserts see the same rule.
    await again.delete()
    assert await Subscriber.all_objects.filter(email="ann@x.io").count() == 2
    assert await Subscriber.objects.count() == 0
    kept = await Subscriber.objects.bulk_create(
        [Subscriber(email="ann@x.io")], ignore_conflicts=True
    )
    assert len(kept) == 1 and await Subscriber.objects.count() == 1
    await Subscriber.objects.bulk_create([Subscriber(email="ann@x.io")], ignore_conflicts=True)
    assert await Subscriber.objects.count() == 1  # the live row's value: skipped
    # No column the model does not declare shows (MariaDB / MySQL's hidden one is INVISIBLE).
    rows = await raw(db, "SELECT * FROM subscriber")
    assert {len(row) for row in rows} == {len(Subscriber.__table__.columns)}


async def test_repository_methods_honour_the_mixins(db: Database) -> None:
    invoices = Repository(Invoice)
    with acting_as("repo-user"):
        created = await invoices.create(number="R-1")
        many = await invoices.create_many([{"number": "R-2"}, {"number": "R-3"}])
    with acting_as("repo-editor"):
        await invoices.update(created.id, paid=True)
        assert await invoices.update_many(filters={"number": "R-2"}, amount=3) == 1
        assert await invoices.delete(many[1].id) is True  # soft
    rows = await raw(
        db, "SELECT number, created_by, updated_by, deleted_at IS NULL FROM invoice ORDER BY number"
    )
    assert rows == [
        ("R-1", "repo-user", "repo-editor", True),
        ("R-2", "repo-user", "repo-editor", True),
        ("R-3", "repo-user", "repo-editor", False),
    ]
    assert await invoices.count() == 2  # the soft-deleted one is hidden
    with pytest.raises(ReadOnlyError):
        await Repository(Country).create(code="XX")
    assert await raw(db, "SELECT count(*) FROM country") == [(0,)]


async def test_seed_style_soft_delete_and_restore_in_a_session(db: Database) -> None:
    await Invoice.objects.create(number="S-1")
    async with db.session():
        inv = await Invoice.objects.get(number="S-1")
        inv.soft_delete()  # marks it; the session's commit writes it
        assert inv.is_deleted
    assert await raw(db, "SELECT count(*) FROM invoice WHERE deleted_at IS NOT NULL") == [(1,)]
    async with db.session():
        again = await Invoice.all_objects.get(number="S-1")
        again.restore()
    assert await Invoice.objects.filter(number="S-1").exists()
    await inv.soft_delete()  # awaited: written at once, outside any session
    assert not await Invoice.objects.filter(number="S-1").exists()
