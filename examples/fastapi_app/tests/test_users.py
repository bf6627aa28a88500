"""Users: CRUD, offset pages, and the 404 / 409 / 422 answers."""

from __future__ import annotations

import httpx

from app.models import User
from tests.factories import PostFactory, UserFactory

ANN = {"email": "ann@example.com", "name": "Ann"}


# --8<-- [start:create]
async def test_create_and_read_a_user(client: httpx.AsyncClient) -> None:
    created = await client.post("/users", json=ANN, headers={"x-user": "admin"})
    assert created.status_code == 201
    body = created.json()
    assert body["email"] == "ann@example.com"
    assert body["created_by"] == body["updated_by"] == "admin"  # from the X-User header
    assert body["created_at"] is not None

    read = await client.get(f"/users/{body['id']}")
    assert read.status_code == 200
    assert read.json() == body


# --8<-- [end:create]


async def test_duplicate_email_is_409(client: httpx.AsyncClient) -> None:
    assert (await client.post("/users", json=ANN)).status_code == 201
    again = await client.post("/users", json={**ANN, "name": "Another Ann"})
    assert again.status_code == 409
    assert again.json()["error"] == "ConflictError"
    assert again.json()["constraint"] == "uq_user_email"
    assert "ann@example.com" not in again.text  # no bound values in the body
    assert await User.objects.count() == 1


# --8<-- [start:commit_conflict]
async def test_conflict_found_only_at_commit_is_409_not_201(client: httpx.AsyncClient) -> None:
    await User.objects.create(**ANN)
    batch = [{"email": "bob@example.com", "name": "Bob"}, ANN]
    response = await client.post("/users/import", json=batch)  # INSERTs run at the commit
    assert response.status_code == 409
    assert response.json()["constraint"] == "uq_user_email"
    assert not await User.objects.filter(email="bob@example.com").exists()  # all rolled back


# --8<-- [end:commit_conflict]


async def test_import_commits_every_user(client: httpx.AsyncClient) -> None:
    batch = [{"email": f"u{i}@example.com", "name": f"U{i}"} for i in range(3)]
    response = await client.post("/users/import", json=batch, headers={"x-user": "importer"})
    assert response.status_code == 201
    assert response.json() == {"imported": 3}
    users = await User.objects.order_by("email")
    assert [u.email for u in users] == ["u0@example.com", "u1@example.com", "u2@example.com"]
    assert {u.created_by for u in users} == {"importer"}


async def test_missing_user_is_404(client: httpx.AsyncClient) -> None:
    for response in (
        await client.get("/users/999"),
        await client.patch("/users/999", json={"name": "X"}),
        await client.delete("/users/999"),
    ):
        assert response.status_code == 404
        assert response.json()["error"] == "NotFoundError"


async def test_bad_payloads_are_422(client: httpx.AsyncClient) -> None:
    too_long = await client.post("/users", json={**ANN, "email": "a" * 256})
    assert too_long.status_code == 422
    assert too_long.json()["detail"][0]["type"] == "string_too_long"
    missing = await client.post("/users", json={"email": "c@example.com"})
    assert missing.json()["detail"][0]["type"] == "missing"
    wrong_type = await client.post("/users", json={**ANN, "name": 7})
    assert wrong_type.json()["detail"][0]["type"] == "string_type"
    audit = await client.post("/users", json={**ANN, "created_by": "me"})  # not the client's
    assert audit.json()["detail"][0]["type"] == "extra_forbidden"
    assert await User.objects.count() == 0


async def test_update_sets_only_the_fields_sent(client: httpx.AsyncClient) -> None:
    user = await User.objects.create(**ANN)
    response = await client.patch(
        f"/users/{user.id}", json={"name": "Ann B."}, headers={"x-user": "editor"}
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["email"], body["name"], body["updated_by"]) == (ANN["email"], "Ann B.", "editor")
    assert body["created_by"] is None
    assert body["updated_at"] > body["created_at"]
    assert (await User.objects.get(id=user.id)).name == "Ann B."


async def test_update_to_a_taken_email_is_409(client: httpx.AsyncClient) -> None:
    await User.objects.create(**ANN)
    bob = await User.objects.create(email="bob@example.com", name="Bob")
    response = await client.patch(f"/users/{bob.id}", json={"email": ANN["email"]})
    assert response.status_code == 409
    assert (await User.objects.get(id=bob.id)).email == "bob@example.com"


async def test_delete_a_user(client: httpx.AsyncClient) -> None:
    user = await UserFactory.create_async()
    assert (await client.delete(f"/users/{user.id}")).status_code == 204
    assert (await client.get(f"/users/{user.id}")).status_code == 404


async def test_an_author_cannot_be_deleted_even_of_deleted_posts(
    client: httpx.AsyncClient,
) -> None:
    author = await UserFactory.create_async()
    post = await PostFactory.create_async(author_id=author.id)
    await post.delete()  # soft: the row stays, and so does its foreign key
    response = await client.delete(f"/users/{author.id}")
    assert response.status_code == 409
    assert response.json()["kind"] == "foreign_key"
    assert await User.objects.filter(id=author.id).exists()


# --8<-- [start:offset]
async def test_users_come_in_numbered_pages(client: httpx.AsyncClient) -> None:
    users = await UserFactory.create_batch_async(5)
    response = await client.get("/users", params={"page": 2, "size": 2})
    assert response.status_code == 200
    page = response.json()
    assert (page["total"], page["page"], page["size"], page["pages"]) == (5, 2, 2, 3)
    assert [u["id"] for u in page["items"]] == sorted(u.id for u in users)[2:4]
    assert (await client.get("/users", params={"size": 101})).status_code == 422


# --8<-- [end:offset]
