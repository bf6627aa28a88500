"""A server that ends every connection and refuses new ones, as a stopped one does: every call
is a DatabaseUnavailableError (not a DatabaseError), and calls succeed again once it is back."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from orm_kit import Database, DatabaseUnavailableError
from orm_kit.contrib.fastapi import make_lifespan
from tests.backends import create_database_sql, drop_database_sql
from tests.integration.fastapi_app.app import build_app
from tests.models import User


@pytest.fixture
async def scratch(backend_url: str) -> AsyncIterator[tuple[Database, AsyncEngine, str]]:
    """A connected Database on a database of its own, and an admin engine on the server."""
    url = make_url(backend_url)
    name = f"{url.database or 'postgres'}_gone_{os.getpid()}"
    admin = create_async_engine(url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(drop_database_sql(url.get_backend_name(), name)))
        await conn.execute(text(create_database_sql(url.get_backend_name(), name)))
    db = Database(url.set(database=name), name=f"gone_{os.getpid()}")
    await db.connect()
    await db.create_all()
    try:
        yield db, admin, name
    finally:
        await db.disconnect()
        async with admin.connect() as conn:
            if url.get_backend_name() == "postgresql":
                await conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
            await conn.execute(text(drop_database_sql(url.get_backend_name(), name)))
        await admin.dispose()


@pytest.mark.requires("refused_connections")
async def test_a_server_refusing_connections_is_unavailable(
    db: Database, scratch: tuple[Database, AsyncEngine, str]
) -> None:
    gone, admin, name = scratch
    users = User.objects.using(gone)
    assert await users.count() == 0
    async with admin.connect() as conn:
        await conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
        await conn.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
            {"n": name},
        )
    # The pooled connection was ended (the first call), then new ones are refused.
    for _ in range(3):
        with pytest.raises(DatabaseUnavailableError, match="could not be reached"):
            await users.count()
    with pytest.raises(DatabaseUnavailableError):
        async with gone.session():
            await User.objects.create(email="a@x.io")
    health = await gone.health()
    assert health.healthy is False
    async with admin.connect() as conn:
        await conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
    assert await users.count() == 0  # back: the next call succeeds


@pytest.mark.requires("refused_connections")
async def test_the_fastapi_app_answers_503_while_the_server_is_gone(
    db: Database, scratch: tuple[Database, AsyncEngine, str]
) -> None:
    gone, admin, name = scratch
    await gone.create_all()  # the app's own tables too
    async with (
        LifespanManager(build_app(make_lifespan(gone))) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://test"
        ) as client,
    ):
        created = await client.post("/users", json={"email": "ann@x.io", "name": "Ann"})
        assert created.status_code == 201
        async with admin.connect() as conn:
            await conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            await conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )
        for path in (f"/users/{created.json()['id']}", "/health/database"):
            response = await client.get(path)
            assert response.status_code == 503, (path, response.text)
        posted = await client.post("/users", json={"email": "bob@x.io", "name": "Bob"})
        assert posted.status_code == 503
        assert posted.json()["error"] == "DatabaseUnavailableError"
        async with admin.connect() as conn:
            await conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        assert (await client.get(f"/users/{created.json()['id']}")).status_code == 200
