"""The tests' database is built by the project's migrations, and every test is rolled back.

orm_kit's pytest plugin gives ``orm_session`` (everything a test writes, commits included,
is rolled back at its end); ``orm_database`` is replaced here so that the tables come from
``orm-kit migrate`` rather than from the models, which proves the migrations are complete.
Run with ``pytest`` (a SQLite file) or ``pytest --orm-kit-db postgresql://...``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from orm_kit import Database
from orm_kit.migrations import current_revision, rollback_migration, run_migrations
from orm_kit.testing.fixtures import MEMORY_URL, test_url

from app.main import app

PROJECT = Path(__file__).resolve().parent.parent
MIGRATIONS = PROJECT / "migrations"


# --8<-- [start:database]
@pytest.fixture(scope="session")
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """``--orm-kit-db`` / ``ORM_KIT_TEST_DATABASE_URL``, else a SQLite file (the migrations
    and ``orm-kit check`` open connections of their own: ``:memory:`` would be empty)."""
    url = test_url(request.config)
    if url == MEMORY_URL:
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'blog.db'}"
    return url


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def orm_database(database_url: str) -> AsyncIterator[Database]:
    """The plugin's fixture, replaced: migrate the (empty) database to the latest revision."""
    was_empty = not await current_revision(url=database_url, migrations_dir=MIGRATIONS)
    await run_migrations(url=database_url, migrations_dir=MIGRATIONS)
    db = Database(database_url)
    await db.connect()
    try:
        yield db
    finally:
        await db.disconnect()
        if was_empty:  # leave the database as it was found
            await rollback_migration("base", url=database_url, migrations_dir=MIGRATIONS)


@pytest.fixture
async def client(orm_session: object) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app, in-process; the requests' writes are rolled back after the test."""
    transport = httpx.ASGITransport(app=app)  # runs no lifespan: orm_database is the default
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


# --8<-- [end:database]
