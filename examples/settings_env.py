"""Settings from the environment: keywords that override them, a named database's own
prefix, a wrong value, and what info() reports. Run it with DATABASE_URL set (else the
SQLite default)."""

import asyncio
import os

from orm_kit import Database, ValidationError


async def main() -> None:
    # --8<-- [start:named]
    # Shared settings once, and what the "reports" database does differently.
    os.environ["DATABASE_POOL_SIZE"] = "4"
    os.environ["REPORTS_DATABASE_POOL_SIZE"] = "2"
    os.environ["REPORTS_DATABASE_STATEMENT_TIMEOUT"] = "600"

    app_db = Database()  # DATABASE_*
    reports = Database(name="reports")  # REPORTS_DATABASE_*, then DATABASE_*
    # --8<-- [end:named]
    print(f"app pool_size:       {app_db.settings.pool_size}")
    print(f"reports pool_size:   {reports.settings.pool_size}")
    print(f"reports timeout:     {reports.settings.statement_timeout} s")
    print(f"same url:            {reports.url == app_db.url}")  # no REPORTS_DATABASE_URL

    # --8<-- [start:keywords]
    tuned = Database(pool_size=3, connect_timeout=5)  # keywords win over the variables
    # --8<-- [end:keywords]
    print(f"keyword pool_size:   {tuned.settings.pool_size}")

    async with Database(pool_size=3) as db:
        info = await db.info()
        print(f"info keys:           {sorted(info)}")
        print(f"info pool_size:      {info['pool_size']}")

    os.environ["DATABASE_POOL_SIZE"] = "abc"
    try:
        Database()
    except ValidationError as exc:
        print(f"wrong value:         {str(exc).split(':')[1].strip()}")


if __name__ == "__main__":
    asyncio.run(main())
