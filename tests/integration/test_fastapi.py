"""orm_kit.contrib.fastapi through httpx: the request's session, commits before the response,
error responses, health, the acting user, background tasks and page responses."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from orm_kit import Database, DatabaseUnavailableError
from orm_kit.contrib.fastapi import make_lifespan
from tests.integration.fastapi_app.app import build_app, seen


@pytest.fixture
async def client(db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app whose lifespan finds the suite's default database connected."""
    async with (
        LifespanManager(build_app()) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://test"
        ) as client,
    ):
        yield client


async def rows(db: Database, sql: str) -> list[tuple[Any, ...]]:
    async with db.engine.connect() as conn:
        return [tuple(row) for row in await conn.execute(text(sql))]


async def test_create_read_update(client: httpx.AsyncClient, db: Database) -> None:
    created = await client.post("/users", json={"email": "ann@x.io", "name": "Ann"})
    assert created.status_code == 201
    body = created.json()
    assert body["email"] == "ann@x.io"
    assert await rows(db, "SELECT email, name FROM api_user") == [("ann@x.io", "Ann")]

    read = await client.get(f"/users/{body['id']}")
    assert read.status_code == 200
    assert read.json() == body

    updated = await client.patch(f"/users/{body['id']}", json={"name": "Annie"})
    assert updated.status_code == 200
    assert updated.json()["name"] == "Annie"
    # committed before the response: another connection sees it as soon as it arrived
    assert await rows(db, "SELECT name FROM api_user") == [("Annie",)]


async def test_session_is_ambient_only_for_endpoints_that_take_it(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.get("/ambient")).json() == {"ambient": True}
    assert (await client.get("/no-session")).json() == {"ambient": False}


async def test_error_in_the_endpoint_rolls_back(client: httpx.AsyncClient, db: Database) -> None:
    response = await client.post("/users/then-fail", json={"email": "a@x.io"})
    assert response.status_code == 400
    assert response.json() == {"detail": "refused after writing"}
    assert await rows(db, "SELECT email FROM api_user") == []


async def test_missing_row_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/users/999")
    assert response.status_code == 404
    assert response.json() == {
        "detail": "ApiUser matching query does not exist (filters: id).",
        "error": "NotFoundError",
    }


async def test_unique_violation_is_409(client: httpx.AsyncClient, db: Database) -> None:
    assert (await client.post("/users", json={"email": "a@x.io"})).status_code == 201
    response = await client.post("/users", json={"email": "a@x.io", "name": "other"})
    assert response.status_code == 409
    body = response.json()
    assert body["error"] == "ConflictError"
    assert body["constraint"] == "uq_api_user_email"
    assert body["kind"] == "unique"
    assert await rows(db, "SELECT name FROM api_user") == [("",)]


async def test_conflict_found_at_commit_is_409_not_201(
    client: httpx.AsyncClient, db: Database
) -> None:
    assert (await client.post("/users/deferred", json={"email": "a@x.io"})).status_code == 201
    # The endpoint only adds the object: the INSERT, and the violation, come at commit.
    response = await client.post("/users/deferred", json={"email": "a@x.io", "karma": 5})
    assert response.status_code == 409
    assert response.json()["constraint"] == "uq_api_user_email"
    assert await rows(db, "SELECT email, karma FROM api_user") == [("a@x.io", 0)]


async def test_update_conflicting_at_commit_is_409_and_rolled_back(
    client: httpx.AsyncClient, db: Database
) -> None:
    await client.post("/users", json={"email": "a@x.io"})
    b = (await client.post("/users", json={"email": "b@x.io"})).json()
    # update() only sets attributes; the UPDATE is flushed by the commit, after the endpoint
    # returned (and after the 200 body was built).
    response = await client.patch(f"/users/{b['id']}", json={"email": "a@x.io", "name": "B"})
    assert response.status_code == 409
    assert response.json()["constraint"] == "uq_api_user_email"
    assert await rows(db, "SELECT email, name FROM api_user ORDER BY id") == [
        ("a@x.io", ""),
        ("b@x.io", ""),
    ]


async def test_conflict_body_has_no_sql_and_no_values(
    client: httpx.AsyncClient, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "s3cr3t-Value-9f2c"
    assert (await client.post("/tokens", json={"secret": secret})).status_code == 201
    with caplog.at_level(logging.DEBUG, logger="orm_kit"):
        response = await client.post("/tokens", json={"secret": secret})
    assert response.status_code == 409
    assert response.json() == {
        "detail": "A unique constraint (uq_api_token_secret) was violated; nothing was "
        "saved. Change the conflicting values.",
        "error": "ConflictError",
        "constraint": "uq_api_token_secret",
        "kind": "unique",
    }
    assert secret not in response.text
    assert "INSERT" not in response.text.upper()
    logged = [r.getMessage() for r in caplog.records if r.name.startswith("orm_kit")]
    assert logged == ["orm_kit commit failed: ConflictError (uq_api_token_secret)"]


async def test_validation_and_lookup_errors_are_422(client: httpx.AsyncClient) -> None:
    user = (await client.post("/users", json={"email": "a@x.io"})).json()
    too_long = await client.patch(f"/users/{user['id']}", json={"name": "x" * 21})
    assert too_long.status_code == 422
    assert too_long.json()["error"] == "ValidationError"
    assert "ApiUser.name" in too_long.json()["detail"]

    bad_lookup = await client.get("/lookup/email__like", params={"value": "a"})
    assert bad_lookup.status_code == 422
    assert bad_lookup.json()["error"] == "InvalidLookupError"
    assert "Unsupported lookup 'like'" in bad_lookup.json()["detail"]

    unknown = await client.get("/lookup/password", params={"value": "a"})
    assert unknown.status_code == 422
    assert "ApiUser has no field 'password'" in unknown.json()["detail"]


async def test_other_orm_kit_errors_are_a_generic_500(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    await client.post("/users", json={"email": "a@x.io"})
    await client.post("/users", json={"email": "b@x.io"})
    with caplog.at_level(logging.ERROR, logger="orm_kit.contrib.fastapi"):
        response = await client.get("/any-user")
    assert response.status_code == 500
    assert response.json() == {
        "detail": "The server could not complete the request.",
        "error": "InternalServerError",
    }
    assert "GET /any-user failed: MultipleObjectsReturned" in caplog.text


async def test_actor_fills_audit_fields_through_the_commit(
    client: httpx.AsyncClient, db: Database
) -> None:
    created = await client.post("/users", json={"email": "a@x.io"}, headers={"x-user": "ann"})
    assert created.json()["created_by"] == "ann"
    user_id = created.json()["id"]
    # The UPDATE runs at commit, after the endpoint returned: the actor is still in force.
    await client.patch(f"/users/{user_id}", json={"name": "A"}, headers={"x-user": "bob"})
    assert await rows(db, "SELECT created_by, updated_by FROM api_user") == [("ann", "bob")]
    # Declared after SessionDep in the endpoint's own parameters: the same.
    await client.patch(f"/as/{user_id}", json={"name": "B"}, headers={"x-user": "cy"})
    assert await rows(db, "SELECT updated_by, name FROM api_user") == [("cy", "B")]
    # No header, no actor: the request before did not leak its actor.
    await client.patch(f"/users/{user_id}", json={"name": "C"})
    assert await rows(db, "SELECT updated_by FROM api_user") == [(None,)]


async def test_background_task_does_not_reuse_the_request_session(
    client: httpx.AsyncClient, db: Database
) -> None:
    seen.clear()
    response = await client.post(
        "/users/with-task", json={"email": "a@x.io"}, headers={"x-user": "ann"}
    )
    assert response.status_code == 201
    assert seen["task_actor"] == "ann"  # the request's actor is in force until it ends
    assert isinstance(seen["request_session"], AsyncSession)
    assert seen["task_session"] is None  # not ambient any more: the task runs in autocommit
    assert seen["request_session_active"] is False  # closed: committed before the response
    assert seen["visible"] is True  # the request's row was committed before the task ran
    assert await rows(db, "SELECT email FROM api_user ORDER BY id") == [
        ("a@x.io",),
        ("task-a@x.io",),
    ]


async def test_health_endpoint_healthy(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/database")
    assert response.status_code == 200
    body = response.json()
    assert body["healthy"] is True
    assert body["latency_ms"] >= 0
    assert body["error"] is None


async def test_database_stopped_is_503(db: Database, backend_url: str) -> None:
    own = Database(backend_url)
    async with (
        LifespanManager(build_app(make_lifespan(own))) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://test"
        ) as client,
    ):
        assert own.is_connected
        assert (await client.get("/health/database")).status_code == 200
        await own.disconnect()  # the database goes away under the running application
        response = await client.get("/users/1")
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        assert response.json() == {
            "detail": "The database is unavailable; try again later.",
            "error": "DatabaseUnavailableError",
        }
        health = await client.get("/health/database")
        assert health.status_code == 503
        assert health.json()["healthy"] is False
        assert health.json()["error"] == "The database is not connected."
        assert str(own.url.host or own.url.database) not in health.text
    assert not own.is_connected


async def test_make_lifespan_connects_and_disconnects_its_database(
    db: Database, backend_url: str
) -> None:
    own = Database(backend_url)
    app = build_app(make_lifespan(own))
    async with LifespanManager(app):
        assert own.is_connected
    assert not own.is_connected
    async with LifespanManager(build_app(make_lifespan(db))):
        pass
    assert db.is_connected  # connected before the application started: left connected


async def test_lifespan_of_an_unreachable_database_fails_at_startup(backend: str) -> None:
    app: FastAPI = build_app(make_lifespan(Database("postgresql+asyncpg://postgres@127.0.0.1:1/x")))
    with pytest.raises(DatabaseUnavailableError, match="could not be reached during connect"):
        async with LifespanManager(app):
            pass


async def test_offset_page_response(client: httpx.AsyncClient) -> None:
    for i in range(5):
        await client.post("/users", json={"email": f"u{i}@x.io", "karma": i})
    response = await client.get("/users", params={"page": 2, "size": 2})
    assert response.status_code == 200
    body = response.json()
    assert [u["email"] for u in body["items"]] == ["u2@x.io", "u3@x.io"]
    assert {k: body[k] for k in ("total", "page", "size", "pages")} == {
        "total": 5,
        "page": 2,
        "size": 2,
        "pages": 3,
    }


async def test_keyset_page_response(client: httpx.AsyncClient) -> None:
    for i in range(5):
        await client.post("/users", json={"email": f"u{i}@x.io", "karma": i})
    karmas: list[int] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"size": 2} if cursor is None else {"size": 2, "after": cursor}
        body = (await client.get("/feed", params=params)).json()
        assert set(body) == {"items", "size", "next_cursor"}
        karmas += [u["karma"] for u in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert karmas == [4, 3, 2, 1, 0]
    assert pages == 3
    bad = await client.get("/feed", params={"after": "not-a-cursor"})
    assert bad.status_code == 422
    assert "cursor is not valid" in bad.json()["detail"]
