"""The pytest fixtures ``orm_database`` and ``orm_session`` (registered by
``orm_kit.testing.plugin``); they need pytest-asyncio, part of the ``testing`` extra."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncSession

from orm_kit.database import Database
from orm_kit.testing import create_missing_tables, drop_tables, rolled_back

__all__ = ["MEMORY_URL", "OPTION", "URL_VARIABLE", "orm_database", "orm_session", "test_url"]

OPTION = "--orm-kit-db"
URL_VARIABLE = "ORM_KIT_TEST_DATABASE_URL"
MEMORY_URL = "sqlite+aiosqlite:///:memory:"


def test_url(config: pytest.Config) -> str:
    """The URL of the test database: ``--orm-kit-db``, else ``ORM_KIT_TEST_DATABASE_URL``,
    else in-memory SQLite."""
    option: str | None = config.getoption("orm_kit_db", None)
    return option or os.environ.get(URL_VARIABLE) or MEMORY_URL


test_url.__test__ = False  # type: ignore[attr-defined]  # not a test, whatever its name


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def orm_database(request: pytest.FixtureRequest) -> AsyncIterator[Database]:
    """A connected ``Database`` for the whole test session, its tables created once.

    On ``--orm-kit-db URL``, else ``ORM_KIT_TEST_DATABASE_URL``, else in-memory SQLite. The
    tables of every model imported by then (``Model.metadata``) that the database lacks are
    created at the start and dropped at the end; tables already there are left alone. It is
    the default database unless another one is connected first. Override this fixture in
    your ``conftest.py`` to hand ``orm_session`` a database of your own.
    """
    db = Database(test_url(request.config))
    await db.connect()
    try:
        created = await create_missing_tables(db)
        try:
            yield db
        finally:
            await drop_tables(db, created)
    finally:
        await db.disconnect()


@pytest_asyncio.fixture(loop_scope="session")
async def orm_session(orm_database: Database) -> AsyncIterator[AsyncSession]:
    """Roll back everything the test writes through ``orm_database``, commits included.

    The test runs on one connection inside a transaction (``orm_kit.testing.rolled_back``):
    manager calls outside a session, ``db.session()``, ``transaction()`` and
    ``session.commit()`` behave as in production, each commit releasing a SAVEPOINT, and
    the transaction rolls back when the test ends, passed or failed. Yields a session of
    ``orm_database`` joined to it (not ambient) for explicit use.
    """
    async with rolled_back(orm_database) as session:
        yield session
