"""Creating, resetting and dropping ``bench_row`` (and nothing else) between runs."""

from __future__ import annotations

from typing import Any

import asyncpg
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from benchmarks.data import Plan
from benchmarks.impl_asyncpg import asyncpg_dsn
from benchmarks.schema import COLUMNS, TABLE, BenchRow

__all__ = ["Admin"]


class Admin:
    """Owns the table's lifecycle; ``reset()`` restores the starting data in one step."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.dialect = url.split(":", 1)[0].split("+", 1)[0]
        self._engine: AsyncEngine = create_async_engine(url, poolclass=NullPool)
        self._pg: asyncpg.Connection[Any] | None = None

    async def open(self) -> None:
        """Create the table afresh (a leftover one from a crashed run is dropped)."""
        table = BenchRow.__table__
        async with self._engine.begin() as conn:
            await conn.run_sync(table.drop, checkfirst=True)  # type: ignore[attr-defined]
            await conn.run_sync(table.create)  # type: ignore[attr-defined]
        if self.dialect == "postgresql":
            self._pg = await asyncpg.connect(asyncpg_dsn(self.url))

    async def reset(self, plan: Plan, *, seed: bool) -> None:
        """Empty the table, restart its identity and (``seed``) load the starting rows."""
        if self._pg is not None:
            await self._pg.execute(f"TRUNCATE {TABLE} RESTART IDENTITY")
            if seed:
                await self._pg.copy_records_to_table(
                    TABLE, records=plan.seed_tuples, columns=COLUMNS
                )
            await self._pg.execute(f"ANALYZE {TABLE}")
            return
        async with self._engine.begin() as conn:
            await conn.execute(text(f"DELETE FROM {TABLE}"))  # rowids restart at 1
            if seed:
                await conn.execute(insert(BenchRow.__table__), plan.seed_rows)
            await conn.execute(text(f"ANALYZE {TABLE}"))

    async def close(self) -> None:
        """Drop the table and close the admin connections."""
        if self._pg is not None:
            await self._pg.close()
            self._pg = None
        async with self._engine.begin() as conn:
            await conn.run_sync(BenchRow.__table__.drop, checkfirst=True)  # type: ignore[attr-defined]
        await self._engine.dispose()
