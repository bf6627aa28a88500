"""orm_kit.contrib.fastapi under a real uvicorn server on a free port, requests over TCP."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn
from sqlalchemy import text

from orm_kit import Database
from tests.integration.fastapi_app.app import build_app, seen


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
async def client(db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app served by uvicorn (its lifespan on) in a task of this loop."""
    port = free_port()
    config = uvicorn.Config(
        build_app(), host="127.0.0.1", port=port, lifespan="on", log_level="warning"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            while not server.started:
                assert not task.done(), "uvicorn stopped before it started"
                await asyncio.sleep(0.02)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            yield client
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def emails(db: Database) -> list[str]:
    async with db.engine.connect() as conn:
        return list(
            (await conn.execute(text("SELECT email FROM api_user ORDER BY email"))).scalars()
        )


async def test_crud_and_errors_over_http(client: httpx.AsyncClient, db: Database) -> None:
    created = await client.post("/users", json={"email": "a@x.io"}, headers={"x-user": "ann"})
    assert created.status_code == 201
    assert created.json()["created_by"] == "ann"
    user_id = created.json()["id"]
    assert (await client.get(f"/users/{user_id}")).json()["email"] == "a@x.io"
    assert (await client.get("/users/999")).status_code == 404
    assert (await client.get("/users", params={"email__regex": "a"})).status_code == 422
    assert (await client.get("/health/database")).json()["healthy"] is True


async def test_conflict_at_commit_is_409_over_http(client: httpx.AsyncClient, db: Database) -> None:
    assert (await client.post("/users/deferred", json={"email": "a@x.io"})).status_code == 201
    response = await client.post("/users/deferred", json={"email": "a@x.io"})
    assert response.status_code == 409
    assert response.json()["constraint"] == "uq_api_user_email"
    other = (await client.post("/users", json={"email": "b@x.io"})).json()
    response = await client.patch(f"/users/{other['id']}", json={"email": "a@x.io"})
    assert response.status_code == 409
    assert await emails(db) == ["a@x.io", "b@x.io"]


async def test_concurrent_requests_get_sessions_of_their_own(
    client: httpx.AsyncClient, db: Database
) -> None:
    responses = await asyncio.gather(
        *(
            client.post("/users", json={"email": f"u{i}@x.io"}, headers={"x-user": f"user-{i}"})
            for i in range(8)
        ),
        client.post("/users/deferred", json={"email": "u0@x.io"}),
    )
    # Two requests want u0@x.io: whichever commits second gets the 409.
    assert sorted(r.status_code for r in (responses[0], responses[-1])) == [201, 409]
    for i, response in enumerate(responses[1:-1], start=1):
        assert response.status_code == 201
        assert response.json()["created_by"] == f"user-{i}"
    assert await emails(db) == [f"u{i}@x.io" for i in range(8)]


async def test_background_task_after_the_response_over_http(
    client: httpx.AsyncClient, db: Database
) -> None:
    seen.clear()
    seen["done"] = done = asyncio.Event()
    response = await client.post("/users/with-task", json={"email": "a@x.io"})
    assert response.status_code == 201
    await asyncio.wait_for(done.wait(), 5)  # the task may still run when the response is in
    assert seen["task_session"] is None
    assert seen["visible"] is True
    assert await emails(db) == ["a@x.io", "task-a@x.io"]
