"""filter_params: query parameters become lookups from the allow-list, typed, and nothing else."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from orm_kit import Database, InvalidLookupError
from orm_kit.contrib.fastapi import filter_params
from tests.integration.fastapi_app.app import ApiUser, build_app


@pytest.fixture
async def client(db: Database) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=build_app()), base_url="http://test"
    ) as client:
        await ApiUser.objects.create_many(
            [
                {"email": "ann@example.com", "name": "Ann", "karma": 1},
                {"email": "bob@x.io", "name": "Bob", "karma": 5},
                {"email": "ANNA@x.io", "name": "Anna", "karma": 9},
            ]
        )
        yield client


async def emails(client: httpx.AsyncClient, params: Any) -> list[str]:
    pairs = list(params.items()) if isinstance(params, dict) else list(params)
    response = await client.get("/users", params=[*pairs, ("size", 10)])
    assert response.status_code == 200, response.text
    return [u["email"] for u in response.json()["items"]]


async def test_allowed_lookups_filter(client: httpx.AsyncClient) -> None:
    assert await emails(client, {}) == ["ann@example.com", "bob@x.io", "ANNA@x.io"]
    assert await emails(client, {"email": "bob@x.io"}) == ["bob@x.io"]
    assert await emails(client, {"email__icontains": "ann"}) == ["ann@example.com", "ANNA@x.io"]
    assert await emails(client, {"karma__gte": "5"}) == ["bob@x.io", "ANNA@x.io"]
    assert await emails(client, {"karma__gte": "2", "karma__lte": "6"}) == ["bob@x.io"]
    assert await emails(client, [("karma__in", "1"), ("karma__in", "9")]) == [
        "ann@example.com",
        "ANNA@x.io",
    ]
    assert await emails(client, [("karma__range", "4"), ("karma__range", "9")]) == [
        "bob@x.io",
        "ANNA@x.io",
    ]
    assert await emails(client, {"name__startswith": "An"}) == ["ann@example.com", "ANNA@x.io"]
    assert await emails(client, {"name__isnull": "true"}) == []
    assert await emails(client, {"name__isnull": "false", "email__icontains": "x.io"}) == [
        "bob@x.io",
        "ANNA@x.io",
    ]


async def test_datetime_values_are_converted_and_must_be_aware(
    client: httpx.AsyncClient, db: Database
) -> None:
    old = datetime(2020, 1, 1, tzinfo=UTC)
    async with db.engine.begin() as conn:
        await conn.execute(
            update(ApiUser).where(ApiUser.email == "bob@x.io").values(created_at=old)
        )
    cutoff = (old + timedelta(days=1)).isoformat()
    assert await emails(client, {"created_at__lte": cutoff}) == ["bob@x.io"]
    assert await emails(client, {"created_at__gte": cutoff}) == ["ann@example.com", "ANNA@x.io"]
    naive = await client.get("/users", params={"created_at__gte": "2020-01-02T00:00:00"})
    assert naive.status_code == 422
    assert naive.json()["detail"][0]["loc"] == ["query", "created_at__gte"]
    assert "timezone" in naive.json()["detail"][0]["msg"]


async def test_bad_values_are_422_naming_the_parameter(client: httpx.AsyncClient) -> None:
    response = await client.get("/users", params={"karma__gte": "lots"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "karma__gte"]
    one_bound = await client.get("/users", params={"karma__range": "4"})
    assert one_bound.status_code == 422
    assert one_bound.json()["detail"][0]["loc"] == ["query", "karma__range"]


@pytest.mark.parametrize(
    "param",
    ["email__regex", "email__startswith", "karma", "karma__gt", "secret__exact", "id"],
)
async def test_lookups_outside_the_allow_list_are_422(
    client: httpx.AsyncClient, param: str
) -> None:
    response = await client.get("/users", params={param: "1"})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["query", param]
    assert error["msg"] == (
        f"Filtering ApiUser by {param!r} is not allowed; allowed filters: email, "
        "email__icontains, karma__gte, karma__lte, karma__in, karma__range, "
        "created_at__gte, created_at__lte, name__isnull, name__startswith."
    )


async def test_other_query_parameters_are_left_to_the_endpoint(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/users", params={"page": 2, "size": 2, "utm_source": "x"})
    assert response.status_code == 200
    assert [u["email"] for u in response.json()["items"]] == ["ANNA@x.io"]


async def test_filters_are_in_the_openapi_document(client: httpx.AsyncClient) -> None:
    operation = (await client.get("/openapi.json")).json()["paths"]["/users"]["get"]
    params = {p["name"]: p for p in operation["parameters"]}
    assert "orm_kit_filter_request" not in params
    assert {"email", "email__icontains", "karma__in", "created_at__gte"} <= set(params)
    assert params["karma__in"]["schema"]["anyOf"][0] == {
        "type": "array",
        "items": {"type": "integer"},
    }
    assert params["created_at__gte"]["schema"]["anyOf"][0]["format"] == "date-time"


def test_allow_list_is_checked_when_declared() -> None:
    with pytest.raises(InvalidLookupError, match="'password', which is not a column of ApiUser"):
        filter_params(ApiUser, {"password": ["exact"]})
    with pytest.raises(InvalidLookupError, match=r"lookup 'icontains' for ApiUser\.karma"):
        filter_params(ApiUser, {"karma": ["icontains"]})
    with pytest.raises(InvalidLookupError, match=r"lookup 'like' for ApiUser\.email"):
        filter_params(ApiUser, {"email": ["like"]})
    assert filter_params(ApiUser, {"created_at": ["year", "date__gte"]}).__name__ == (
        "apiuser_filters"
    )
    # New-user trial: a list instead of the mapping raised a raw AttributeError.
    with pytest.raises(InvalidLookupError, match="takes a mapping of field name"):
        filter_params(ApiUser, ["email"])  # type: ignore[arg-type]
