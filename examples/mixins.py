"""Mixins: UUIDv7 keys, UTC timestamps, audit fields, read-only models and soft delete."""

from __future__ import annotations

import asyncio

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from orm_kit import Database, Model, ReadOnlyError
from orm_kit.mixins import (
    AuditMixin,
    ReadOnlyMixin,
    SoftDeleteMixin,
    TimestampMixin,
    UUIDPrimaryKeyMixin,
    acting_as,
    allow_writes,
)


# --8<-- [start:models]
class Bill(Model, UUIDPrimaryKeyMixin, TimestampMixin, SoftDeleteMixin, AuditMixin):
    number: Mapped[str] = mapped_column(String(32), unique=True)
    paid: Mapped[bool] = mapped_column(default=False)


class Region(Model, ReadOnlyMixin):  # reference data: seeded once, never written by the app
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(8))


class Store(Model, SoftDeleteMixin):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))


class Purchase(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("store.id"))
    store: Mapped[Store] = relationship()


# --8<-- [end:models]


async def main() -> None:
    async with Database() as db:
        await db.reset()

        # --8<-- [start:uuid_timestamps_audit]
        with acting_as("user-42"):
            bill = await Bill.objects.create(number="2026-001")
        print(f"id:            a version-{bill.id.version} UUID, made in Python")
        print(f"created:       by {bill.created_by}, at {bill.created_at.tzinfo} time")
        first_update = bill.updated_at
        with acting_as("user-7"):
            await Bill.objects.filter(number__startswith="2026").update(paid=True)
        bill = await Bill.objects.get(number="2026-001")
        print(f"updated:       by {bill.updated_by}, later: {bill.updated_at > first_update}")
        # --8<-- [end:uuid_timestamps_audit]

        # --8<-- [start:read_only]
        with allow_writes(Region):  # seeding is allowed inside the block, for this task
            await Region.objects.bulk_create([Region(code="eu"), Region(code="us")])
        try:
            await Region.objects.filter(code="eu").update(code="EU")
        except ReadOnlyError as exc:
            print(f"read-only:     {exc}")
        # --8<-- [end:read_only]

        # --8<-- [start:soft_delete]
        await bill.delete()  # sets deleted_at; the row stays
        print(f"soft delete:   is_deleted={bill.is_deleted}")
        print(f"default:       {await Bill.objects.count()} visible")
        print(f"with_deleted:  {await Bill.objects.with_deleted().count()} in the table")
        await bill.restore()
        print(f"restored:      {await Bill.objects.count()} visible")
        await bill.hard_delete()
        print(f"hard delete:   {await Bill.all_objects.count()} left")
        # --8<-- [end:soft_delete]

        # --8<-- [start:soft_relations]
        shop = await Store.objects.create(name="corner")
        await Purchase.objects.create(store_id=shop.id)
        await shop.delete()
        purchases = await Purchase.objects.select_related("store")
        print(f"select_related: purchase kept, store is {purchases[0].store}")
        print(f"lookup:        {await Purchase.objects.filter(store__name='corner').count()}")
        # --8<-- [end:soft_relations]


if __name__ == "__main__":
    asyncio.run(main())
