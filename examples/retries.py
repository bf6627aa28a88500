"""Transactions that retry: transaction(retries=N) on serialization failures and deadlocks."""

import asyncio

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from orm_kit import Database, Model, ValidationError, on_commit, transaction


class Seat(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int]
    holder: Mapped[str | None] = mapped_column(String(50))


tickets: list[str] = []


# --8<-- [start:decorator]
@transaction(retries=5, isolation_level="SERIALIZABLE")
async def book_first_free_seat(holder: str) -> int:
    # Two bookings at once both see the same free seat; under SERIALIZABLE on PostgreSQL
    # the second one to write fails with a serialization failure, and the decorator runs
    # the function again, in a new transaction that sees the first booking.
    seat = await Seat.objects.filter(holder__isnull=True).order_by("number").first()
    if seat is None:
        raise LookupError("sold out")
    await Seat.objects.filter(id=seat.id).update(holder=holder)
    # Sent once, after the attempt that committed: never for an attempt that failed.
    on_commit(lambda: tickets.append(f"{holder}: seat {seat.number}"))
    return seat.number


# --8<-- [end:decorator]


async def main() -> None:
    async with Database() as db:
        await db.reset()
        await Seat.objects.bulk_create([Seat(number=n) for n in range(1, 6)])

        # --8<-- [start:concurrent]
        numbers = await asyncio.gather(*(book_first_free_seat(h) for h in ("ann", "bob", "cy")))
        print(f"booked seats:   {sorted(numbers)}")
        print(f"tickets sent:   {len(tickets)}")
        holders = await Seat.objects.exclude(holder=None).values_list("holder", flat=True)
        print(f"one per holder: {sorted(holders)}")
        # --8<-- [end:concurrent]

        # --8<-- [start:attempts]
        async for attempt in db.transaction(retries=3):
            async with attempt:
                await Seat.objects.filter(number=5).update(holder="dan")
        print(f"attempt loop:   committed on attempt {attempt.number}")
        # --8<-- [end:attempts]

        # --8<-- [start:refused]
        try:
            async with transaction(retries=3):
                pass
        except ValidationError as exc:
            print(f"async with:     {str(exc).split(': ')[0]}")
        # --8<-- [end:refused]


if __name__ == "__main__":
    asyncio.run(main())
