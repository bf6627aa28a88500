"""Test support: run a test's every write on one connection and roll it all back at its end.

The pytest fixtures (``orm_database``, ``orm_session``) live in ``orm_kit.testing.plugin``,
loaded through the ``pytest11`` entry point; model factories in ``orm_kit.testing.factories``
(the ``testing`` extra). ``rolled_back`` is the machinery under ``orm_session``, for test
set-ups of your own; ``count_queries`` / ``assert_num_queries`` count the statements a
block runs (N+1 checks).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import MetaData, inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from orm_kit.database import Database
from orm_kit.model import Model
from orm_kit.testing.queries import QueryCount, assert_num_queries, count_queries

__all__ = [
    "QueryCount",
    "assert_num_queries",
    "count_queries",
    "create_missing_tables",
    "drop_tables",
    "rolled_back",
]


@asynccontextmanager
async def rolled_back(db: Database) -> AsyncIterator[AsyncSession]:
    """Run everything ``db`` does inside the block on one connection, and roll it back.

    The connection opens a transaction; ``db`` is pinned to it, so manager calls outside a
    session (the direct path), ``db.session()``, ``transaction()`` and ``session.commit()``
    all run on it, each commit releasing a SAVEPOINT instead of committing. At the end the
    transaction rolls back: nothing the block wrote is left, whether it passed or failed.

    Yields:
        An ``AsyncSession`` of ``db`` joined to that transaction, for explicit use
        (``session.add(...)``, ``Repository(User, session)``). It is not made ambient: code
        under test opens its sessions as it does in production.

    Raises:
        ValidationError: ``db`` is already inside ``rolled_back()``.
    """
    async with db.engine.connect() as connection:
        await connection.begin()
        try:
            with db._pinned(connection):
                session = db.new_session()
                try:
                    yield session
                finally:
                    await session.close()
        finally:
            await connection.rollback()


async def create_missing_tables(db: Database, metadata: MetaData | None = None) -> list[str]:
    """Create the tables of ``metadata`` (default: every imported model) that ``db`` lacks.

    Returns:
        The names of the tables created, for ``drop_tables`` at the end; tables that were
        there already are left alone, their rows included.
    """
    meta = metadata if metadata is not None else Model.metadata

    def create(conn: Connection) -> list[str]:
        inspector = inspect(conn)
        missing = [
            t for t in meta.sorted_tables if not inspector.has_table(t.name, schema=t.schema)
        ]
        meta.create_all(conn, tables=missing)
        return [t.key for t in missing]

    async with db.engine.begin() as conn:
        return await conn.run_sync(create)


async def drop_tables(db: Database, names: list[str], metadata: MetaData | None = None) -> None:
    """Drop the tables ``create_missing_tables`` created (by ``Table.key``)."""
    meta = metadata if metadata is not None else Model.metadata
    tables = [meta.tables[name] for name in names if name in meta.tables]
    async with db.engine.begin() as conn:
        await conn.run_sync(lambda c: meta.drop_all(c, tables=tables))
