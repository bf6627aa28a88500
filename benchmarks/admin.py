"""Creating, resetting and dropping ``bench_row`` (and nothing else) between runs; on
MariaDB / MySQL also creating the benchmark's database when it does not exist yet
(``prepare_mysql_database``)."""

from __future__ import annotations

from typing import Any

import asyncpg
from sqlalchemy import insert, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from benchmarks.data import Plan
from benchmarks.impl_asyncpg import asyncpg_dsn
from benchmarks.schema import COLUMNS, TABLE, BenchRow

__all__ = ["Admin", "prepare_mysql_database"]


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
        mysql = self.dialect == "mysql"
        async with self._engine.begin() as conn:
            if mysql:
                # DELETE keeps InnoDB's AUTO_INCREMENT counter; TRUNCATE restarts it at 1.
                await conn.execute(text(f"TRUNCATE TABLE {TABLE}"))
            else:
                await conn.execute(text(f"DELETE FROM {TABLE}"))  # rowids restart at 1
            if seed:
                await conn.execute(insert(BenchRow.__table__), plan.seed_rows)
            await conn.execute(text(f"ANALYZE {'TABLE ' if mysql else ''}{TABLE}"))

    async def close(self) -> None:
        """Drop the table and close the admin connections."""
        if self._pg is not None:
            await self._pg.close()
            self._pg = None
        async with self._engine.begin() as conn:
            await conn.run_sync(BenchRow.__table__.drop, checkfirst=True)  # type: ignore[attr-defined]
        await self._engine.dispose()


async def prepare_mysql_database(url: str) -> tuple[str, int]:
    """Connect to the MariaDB / MySQL server of ``url`` without a database, create the
    URL's database (utf8mb4) if it does not exist, and return the server's name and
    version (``"MariaDB 10.11.19"``) and its ``innodb_flush_log_at_trx_commit`` (1: every
    commit waits for the log to reach the disk). Raises SQLAlchemy's ``OperationalError``
    when the server cannot be reached or refuses the login."""
    parsed = make_url(url)
    name = parsed.database
    if not name:
        raise ValueError(f"the MariaDB URL names no database: {url!r}")
    # URL.set(database=None) would keep the database: None there means "unchanged".
    server = URL.create(
        parsed.drivername,
        username=parsed.username,
        password=parsed.password,
        host=parsed.host,
        port=parsed.port,
        query=parsed.query,
    )
    engine = create_async_engine(server, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            info = "SELECT VERSION(), @@innodb_flush_log_at_trx_commit"
            version, flush = (await conn.execute(text(info))).one()
            query = "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = :name"
            if (await conn.execute(text(query), {"name": name})).first() is None:
                quoted = conn.dialect.identifier_preparer.quote_identifier(name)
                await conn.execute(text(f"CREATE DATABASE {quoted} CHARACTER SET utf8mb4"))
            await conn.commit()
    finally:
        await engine.dispose()
    number = str(version).split("-", 1)[0]
    server = f"MariaDB {number}" if "mariadb" in str(version).lower() else f"MySQL {number}"
    return server, int(flush)
