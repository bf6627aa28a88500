"""Mixins: UUIDv7 keys, UTC timestamps, audit fields, read-only models and soft delete."""

from __future__ import annotations

import asyncio
from datetime import UTC

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from orm_kit import ConflictError, Database, Model, ReadOnlyError

# --8<-- [start:imports]
from orm_kit.mixins import (
    AuditedModel,
    AuditMixin,
    ReadOnlyMixin,
    SoftDeleteMixin,
    TimestampMixin,
    UUIDPrimaryKeyMixin,
    acting_as,
    allow_writes,
    unique_among_live,
)

# --8<-- [end:imports]


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


# --8<-- [start:bases]
class Memo(AuditedModel):  # UUIDv7 id, timestamps, soft delete, created_by / updated_by
    __table_args__ = (unique_among_live("subject"),)  # unique among rows not deleted

    subject: Mapped[str] = mapped_column(String(100))


# --8<-- [end:bases]


async def main() -> None:
    async with Database() as db:
        await db.reset()

        # --8<-- [start:uuid_timestamps_audit]
        with acting_as("user-42"):
            bill = await Bill.objects.create(number="2026-001")
        print(f"id:            a UUID version {bill.id.version}, made in Python")
        print(f"created:       by {bill.created_by}, in UTC: {bill.created_at.tzinfo == UTC}")
        before = bill.updated_at
        with acting_as("user-7"):
            await Bill.objects.filter(number__startswith="2026").update(paid=True)
        bill = await Bill.objects.get(number="2026-001")
        print(f"updated:       by {bill.updated_by}, later than before: {bill.updated_at > before}")
        # --8<-- [end:uuid_timestamps_audit]

        # --8<-- [start:read_only]
        with allow_writes(Region):  # seeding is allowed inside the block, for this task
            await Region.objects.bulk_create([Region(code="eu"), Region(code="us")])
        print(f"seeded:        {await Region.objects.count()} regions")
        try:
            await Region.objects.filter(code="eu").update(code="EU")
        except ReadOnlyError as exc:
            print(f"read-only:     {exc}")
        # --8<-- [end:read_only]

        # --8<-- [start:soft_delete]
        await Bill.objects.create(number="2026-002")
        await bill.delete()  # sets deleted_at; the row stays
        in_utc = bill.deleted_at.tzinfo == UTC
        print(f"soft delete:   is_deleted={bill.is_deleted}, deleted_at in UTC: {in_utc}")
        print(f"default:       {await Bill.objects.count()} visible")
        print(f"with_deleted:  {await Bill.objects.with_deleted().count()} in the table")
        in_bin = await Bill.objects.only_deleted().values_list("number", flat=True)
        print(f"only_deleted:  {in_bin}")
        print(f"all_objects:   {await Bill.all_objects.count()} in the table")
        await bill.restore()
        print(f"restored:      {await Bill.objects.count()} visible")
        removed = await Bill.objects.filter(number="2026-002").hard_delete()  # a real DELETE
        print(f"hard delete:   {removed} row gone, {await Bill.all_objects.count()} in the table")
        # --8<-- [end:soft_delete]

        # --8<-- [start:soft_relations]
        corner = await Store.objects.create(name="corner")
        await Purchase.objects.create(store_id=corner.id)
        await corner.delete()
        purchases = await Purchase.objects.select_related("store")
        print(f"select_related: {len(purchases)} purchase, its store is {purchases[0].store}")
        at_corner = await Purchase.objects.filter(store__name="corner").count()
        print(f"lookup:        {at_corner} purchases at a live store named 'corner'")
        # --8<-- [end:soft_relations]

        # --8<-- [start:unique_live]
        with acting_as("user-42"):
            memo = await Memo.objects.create(subject="Q3 plan")
            try:
                await Memo.objects.create(subject="Q3 plan")
            except ConflictError as exc:
                print(f"unique:        conflict on {exc.constraint}")
            await memo.delete()
            again = await Memo.objects.create(subject="Q3 plan")  # the deleted row is out
            rows = await Memo.all_objects.count()
            print(f"reused:        new id {again.id != memo.id}, {rows} rows")
        # --8<-- [end:unique_live]


if __name__ == "__main__":
    asyncio.run(main())
