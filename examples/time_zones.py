"""Aware datetimes on every backend: a `DateTime(timezone=True)` column stores the instant
and reads it back in UTC, so filters and `order_by` compare instants, not wall times.

Run it with ``python time_zones.py``; ``DATABASE_URL`` picks the database (SQLite by default).
"""

import asyncio
from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from orm_kit import Database, Model, ValidationError


# --8<-- [start:model]
class Flight(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(10))
    departs_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# --8<-- [end:model]

KARACHI = timezone(timedelta(hours=5))
NEW_YORK = timezone(timedelta(hours=-5))


async def main() -> None:
    async with Database() as db:
        await db.reset()
        # --8<-- [start:write]
        # 12:00 in Karachi is 07:00 UTC; 03:00 in New York is 08:00 UTC: the later wall
        # time is the earlier instant.
        await Flight.objects.create(
            code="PK-1", departs_at=datetime(2026, 3, 1, 12, tzinfo=KARACHI)
        )
        await Flight.objects.create(
            code="NY-1", departs_at=datetime(2026, 3, 1, 3, tzinfo=NEW_YORK)
        )
        for flight in await Flight.objects.order_by("departs_at"):
            print(f"{flight.code}: {flight.departs_at.isoformat()}")
        cutoff = datetime(2026, 3, 1, 7, 30, tzinfo=UTC)
        early = await Flight.objects.filter(departs_at__lt=cutoff).values_list("code", flat=True)
        print(f"before 07:30 UTC: {early}")
        # --8<-- [end:write]
        # --8<-- [start:naive]
        try:
            await Flight.objects.create(code="XX-1", departs_at=datetime(2026, 3, 1, 9))
        except ValidationError as exc:
            print(f"naive value: {type(exc).__name__}")
        # --8<-- [end:naive]
        print(f"backend: {db.dialect}")


if __name__ == "__main__":
    asyncio.run(main())
