"""The service as a whole: health, 503, the OpenAPI document, the migrations, and a real
uvicorn server."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn
from asgi_lifespan import LifespanManager
from orm_kit import Database

from app.main import app, create_app
from tests.conftest import MIGRATIONS, PROJECT


async def test_health(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/database")
    assert response.status_code == 200
    assert response.json()["healthy"] is True


async def test_database_gone_is_503(orm_database: Database, database_url: str) -> None:
    own = Database(database_url)
    async with (
        LifespanManager(create_app(own)) as manager,  # connects `own` at start-up
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://test"
        ) as client,
    ):
        assert (await client.get("/users")).status_code == 200
        await own.disconnect()  # the database goes away under the running service
        response = await client.get("/users")
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        assert response.json()["error"] == "DatabaseUnavailableError"
        assert (await client.get("/health/database")).status_code == 503


# --8<-- [start:openapi]
def test_openapi_lists_the_generated_schemas_by_name() -> None:
    document = app.openapi()
    schemas = document["components"]["schemas"]
    for name in ("UserCreate", "UserUpdate", "UserRead", "PostCreate", "PostUpdate"):
        assert name in schemas
    assert "PostReadWithTags" in schemas  # PostRead, named for the nested tags
    assert "TagRead" in schemas
    create_user = document["paths"]["/users"]["post"]
    body = create_user["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/UserCreate"}
    assert schemas["UserCreate"]["properties"]["email"]["maxLength"] == 255
    assert set(schemas["UserCreate"]["required"]) == {"email", "name"}
    filters = {p["name"] for p in document["paths"]["/posts"]["get"]["parameters"]}
    assert {"author_id", "published", "title__icontains", "created_at__gte"} <= filters
    assert "body__icontains" not in filters


# --8<-- [end:openapi]


# --8<-- [start:migrations]
def orm_kit(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    """Run the `orm-kit` command in the project folder, as a deploy would."""
    return subprocess.run(
        [sys.executable, "-m", "orm_kit.cli", *args],
        cwd=PROJECT,
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_migrations_are_applied_and_match_the_models(
    orm_database: Database, database_url: str
) -> None:
    check = orm_kit("check", url=database_url)  # orm_database ran `migrate` on an empty database
    assert check.returncode == 0, check.stdout + check.stderr
    assert "Migrations: all applied." in check.stdout
    assert "Models: in sync with the database." in check.stdout
    assert len(list((MIGRATIONS / "versions").glob("*.py"))) == 1


# --8<-- [end:migrations]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
async def server(orm_session: object) -> AsyncIterator[str]:
    """The app under uvicorn on a free port (in this event loop, on the test's database)."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", log_level="warning")
    served = uvicorn.Server(config)
    task = asyncio.create_task(served.serve())
    try:
        async with asyncio.timeout(10):
            while not served.started:
                assert not task.done(), "uvicorn stopped before it started"
                await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        served.should_exit = True
        await asyncio.wait_for(task, 10)


async def test_under_a_real_uvicorn_server(server: str) -> None:
    async with httpx.AsyncClient(base_url=server) as client:
        user = await client.post("/users", json={"email": "a@x.io", "name": "A"})
        assert user.status_code == 201
        post = await client.post("/posts", json={"author_id": user.json()["id"], "title": "T"})
        assert post.status_code == 201
        tagged = await client.put(f"/posts/{post.json()['id']}/tags", json=["live"])
        assert [t["name"] for t in tagged.json()["tags"]] == ["live"]
        conflict = await client.post("/users/import", json=[{"email": "a@x.io", "name": "B"}])
        assert conflict.status_code == 409  # found at the commit, answered before any 201
        page = (await client.get("/posts", params={"tag": "live"})).json()
        assert [p["id"] for p in page["items"]] == [post.json()["id"]]
        assert (await client.get("/health/database")).status_code == 200
