"""Backends for the whole suite: every integration test runs on SQLite and PostgreSQL.

PostgreSQL comes from ORM_KIT_TEST_POSTGRES_URL, or else an embedded server started with
the `pgserver` dev dependency (never a skip).
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from orm_kit import Database, Model

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The PostgreSQL URL under test (an embedded server when none is configured)."""
    url = os.environ.get("ORM_KIT_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    data_dir = Path(tempfile.mkdtemp(prefix="orm_kit_pg_"))
    with warnings.catch_warnings():
        # platformdirs (used by pgserver) warns when XDG_RUNTIME_DIR is unset, as on CI.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        import pgserver

        server = pgserver.get_server(data_dir, cleanup_mode="delete")
        socket_dir = server.get_uri().split("host=", 1)[1]
    try:
        yield f"postgresql+asyncpg://postgres@/postgres?host={socket_dir}"
    finally:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
            server.cleanup()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A file database, so the direct path and sessions use separate pooled connections."""
    return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('sqlite') / 'test.db'}"


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The backend name; part of every integration test id."""
    name: str = request.param
    return name


@pytest.fixture(scope="session")
async def connected(backend: str, request: pytest.FixtureRequest) -> AsyncIterator[Database]:
    """The default Database of the backend under test, with every test table created."""
    import tests.models  # noqa: F401 - registers the test models on Model.metadata

    url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "postgres_url")
    db = Database(url)
    await db.connect()
    await db.drop_all()
    await db.create_all()
    try:
        yield db
    finally:
        await db.drop_all()
        await db.disconnect()


@pytest.fixture
async def db(connected: Database) -> AsyncIterator[Database]:
    """The connected default database; every table is emptied after the test."""
    yield connected
    async with connected.engine.begin() as conn:
        for table in reversed(Model.metadata.sorted_tables):
            await conn.execute(table.delete())
