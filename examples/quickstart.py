"""Quickstart: declare a model, connect, and run the everyday operations.

Run it with ``python quickstart.py``. It uses ``DATABASE_URL`` when set (for example
``postgresql+asyncpg://app@localhost/app``), else the SQLite file ``./orm_kit.db``.
"""

import asyncio

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from orm_kit import Database, F, Model, Q


# --8<-- [start:model]
class Customer(Model):  # the table is "customer", derived from the class name
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(255), unique=True)
    city: Mapped[str | None] = mapped_column(String(100))
    orders: Mapped[int] = mapped_column(default=0)


# --8<-- [end:model]


async def main() -> None:
    # --8<-- [start:connect]
    async with Database() as db:  # reads DATABASE_URL; connects now, disconnects at the end
        await db.reset()  # drop and re-create the tables, so every run starts clean
        # --8<-- [end:connect]
        print(f"Connected to {db.dialect}")

        # --8<-- [start:create]
        ann = await Customer.objects.create(name="Ann", email="ann@example.com", city="Oslo")
        await Customer.objects.create(name="Bob", email="bob@example.com", city="Berlin", orders=3)
        await Customer.objects.create(name="Cleo", email="cleo@example.com", orders=7)
        await Customer.objects.create(name="Dan", email="dan@example.com", city="Oslo")
        print(f"Created {await Customer.objects.count()} customers; Ann has id {ann.id}")
        # --8<-- [end:create]

        # --8<-- [start:get]
        bob = await Customer.objects.get(email="bob@example.com")
        print(f"get:      {bob!r}")
        # --8<-- [end:get]

        # --8<-- [start:filter]
        in_oslo = await Customer.objects.filter(city="Oslo")
        c_names = await Customer.objects.filter(name__istartswith="c", orders__gt=5)
        print(f"filter:   in Oslo {[c.name for c in in_oslo]}, busy C* {[c.name for c in c_names]}")
        # --8<-- [end:filter]

        # --8<-- [start:order]
        top_two = await Customer.objects.order_by("-orders", "name")[:2]
        print(f"top two:  {[(c.name, c.orders) for c in top_two]}")
        # --8<-- [end:order]

        # --8<-- [start:update]
        updated = await Customer.objects.filter(city="Oslo").update(orders=F("orders") + 1)
        print(f"update:   {updated} customers in Oslo got one more order")
        # --8<-- [end:update]

        # --8<-- [start:q]
        busy_or_berlin = Customer.objects.filter(Q(orders__gte=5) | Q(city="Berlin"))
        print(f"Q:        {[c.name for c in await busy_or_berlin.order_by('name')]}")
        # --8<-- [end:q]

        # --8<-- [start:save]
        ann.city = "Bergen"  # instances are plain objects; save() writes the change
        await ann.save()
        # --8<-- [end:save]

        # --8<-- [start:iterate]
        print("All customers:")
        async for customer in Customer.objects.order_by("name"):
            print(f"  {customer.name:<5} city={customer.city or '-':<7} orders={customer.orders}")
        # --8<-- [end:iterate]

        # --8<-- [start:delete]
        deleted = await Customer.objects.filter(city__isnull=True).delete()
        remaining = await Customer.objects.count()
        print(f"delete:   removed {deleted} customer without a city; {remaining} remain")
        # --8<-- [end:delete]


if __name__ == "__main__":
    asyncio.run(main())
