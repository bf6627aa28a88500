"""The blocking facade inside a running event loop, as in a Jupyter cell."""

import asyncio

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from orm_kit import Avg, Model, sync


class Reading(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    sensor: Mapped[str] = mapped_column(String(20))
    value: Mapped[float]


# --8<-- [start:cell]
async def cell() -> None:
    # A notebook cell runs inside the kernel's event loop: asyncio.run() is refused here,
    # but the facade runs its work on a loop of its own and blocks until it is done.
    db = sync.connect()
    sync.run(db.reset())
    with sync.session(db):
        sync.run(Reading.objects.create(sensor="t1", value=20.5))
        sync.run(Reading.objects.create(sensor="t1", value=21.5))
    print(f"readings:  {sync.run(Reading.objects.count())}")
    print(f"average:   {sync.run(Reading.objects.aggregate(avg=Avg('value')))}")
    sync.close()


# --8<-- [end:cell]

if __name__ == "__main__":
    asyncio.run(cell())  # stands in for the notebook's running loop
