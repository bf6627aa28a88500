"""Pagination: numbered pages with paginate(page=, size=) and keyset pages with after=."""

import asyncio

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from orm_kit import Database, Model


# --8<-- [start:model]
class LogEntry(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    level: Mapped[str] = mapped_column(String(10))
    message: Mapped[str] = mapped_column(String(200))


# --8<-- [end:model]


async def main() -> None:
    async with Database() as db:
        await db.reset()
        levels = ["info", "warning", "error"]
        await LogEntry.objects.create_many(
            {"level": levels[i % 3], "message": f"event {i:02d}"} for i in range(1, 24)
        )

        # --8<-- [start:offset]
        qs = LogEntry.objects.filter(level__in=["info", "error"]).order_by("id")
        page = await qs.paginate(page=2, size=5)
        print(
            f"offset: page {page.page} of {page.pages}, {page.size} per page, "
            f"{page.total} in all, has_next={page.has_next}"
        )
        print(f"        items {[e.message for e in page.items]}")
        last = await qs.paginate(page=page.pages, size=5)
        print(f"        last page {last.page}: {len(last.items)} items, has_next={last.has_next}")
        # --8<-- [end:offset]

        # --8<-- [start:keyset]
        cursor = None
        number = 0
        while True:
            page = await LogEntry.objects.order_by("level", "-id").paginate(after=cursor, size=8)
            number += 1
            first, final = page.items[0], page.items[-1]
            print(
                f"keyset: page {number}: {len(page.items)} items from "
                f"({first.level}, {first.id}) to ({final.level}, {final.id}), "
                f"next_cursor={'<str>' if page.next_cursor else None}"
            )
            if page.next_cursor is None:
                break
            cursor = page.next_cursor  # an opaque string: hand it back for the next page
        # --8<-- [end:keyset]


if __name__ == "__main__":
    asyncio.run(main())
